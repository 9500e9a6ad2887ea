// Every route the file mode serves (its OpenAPI list, built from src/api/features.ts), called on a team server:
// none answers 500 or hangs, and none falls through as an unknown path; what a team server cannot serve
// answers 501 with a `detail` saying why (src/team/unserved.ts).
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { type TestServer } from "../helpers/server.ts";
import { call, type Replica, sdkEvent, startTeamCluster, type TeamCluster } from "./team-server.ts";

const RUN = "20260108_000000_ba11ad";

/** A concrete URL path for an OpenAPI path template. */
function concrete(template: string): string {
  return template
    .replace("{run_id}", RUN)
    .replace("{file}", "a.png")
    .replace("{name}", "a.png")
    .replace("{key}", "k")
    .replace("{project}", "p")
    .replace("{session_id}", "s")
    .replace("/*", "/x");
}

describe("a team server walked over every file-mode route", () => {
  let c: TeamCluster;
  let file: TestServer;
  let team: Replica;
  let token: string;
  beforeAll(async () => {
    c = await startTeamCluster("walk", { file: true });
    ({ file, team, token } = c);
    await call(team.url, token, "POST", "/api/ingest/runs", { run_id: RUN, path: "walk/a", meta: {}, status: { status: "running" } });
    await call(team.url, token, "POST", `/api/ingest/runs/${RUN}/batches`, { seq: 1, events: [sdkEvent(1), sdkEvent(2)], logs: ["x"], status: { status: "finished" } });
  }, 120_000);
  afterAll(async () => {
    await c?.close();
  });

  it("says in the detail of a route it cannot serve that a team server does not serve it, and why; an unknown path is a 404", async () => {
    const res = await call(team.url, token, "GET", "/api/remote/sessions");
    expect(res.status).toBe(501);
    expect(res.body.detail).toContain("not available on a team (PostgreSQL) server: a team server is not where SSH sessions live");
    expect(await call(team.url, token, "GET", "/api/no/such/route")).toMatchObject({ status: 404, body: { detail: "Not Found" } });
    expect(await call(team.url, token, "POST", "/api/no/such/route", {})).toMatchObject({ status: 404, body: { detail: "Not Found" } });
  });

  it("serves the path list and tree of its runs", async () => {
    const res = await call(team.url, token, "GET", "/api/paths?include_stats=true");
    expect(res.status).toBe(200);
    expect(res.body.paths).toEqual(["walk", "walk/a"]);
    expect(res.body.tree).toEqual({ walk: { a: {} } });
    expect(res.body.stats["walk/a"]).toEqual({ total: 1, running: 0, finished: 1, failed: 0 });
  });
  it("refuses bodies over the file mode's limits with 413 whatever their type, and multipart with 415", async () => {
    const auth = { authorization: `Bearer ${token}` };
    const big = "x".repeat((1 << 20) + 10);
    for (const type of ["application/json", "text/plain", "application/x-www-form-urlencoded", "application/octet-stream"]) {
      const res = await fetch(`${team.url}/api/runs/soft-delete`, { method: "POST", headers: { ...auth, "content-type": type }, body: big });
      expect({ type, status: res.status, detail: ((await res.json()) as { detail: string }).detail }).toEqual({ type, status: 413, detail: `Request body too large (limit ${1 << 20} bytes)` });
    }
    const form = new FormData();
    form.append("file", new Blob([new Uint8Array(10)]), "a.zip");
    const multipart = await fetch(`${team.url}/api/import/archive`, { method: "POST", headers: auth, body: form });
    expect(multipart.status).toBe(415);
    expect(((await multipart.json()) as { detail: string }).detail).toContain("no multipart uploads");
  });

  // last: the walk also calls the destructive routes
  it("answers every route without a 500, each error with a JSON detail", async () => {
    const spec = (await file.api("/openapi.json")).body as { paths: Record<string, Record<string, unknown>> };
    const calls: [string, string][] = [];
    for (const [template, methods] of Object.entries(spec.paths)) {
      if (!template.startsWith("/api/")) continue;
      for (const m of Object.keys(methods)) if (m !== "ws") calls.push([m.toUpperCase(), concrete(template)]);
    }
    expect(calls.length).toBeGreaterThan(60);
    // destructive calls last, so every other route still finds the run
    calls.sort((a, b) => Number(a[0] === "DELETE" || a[1].includes("delete")) - Number(b[0] === "DELETE" || b[1].includes("delete")));
    const bad: unknown[] = [];
    for (const [method, path] of calls) {
      const body = method === "GET" || method === "DELETE" ? undefined : {};
      const res = await Promise.race([
        call(team.url, token, method, path, body),
        Bun.sleep(10_000).then(() => ({ status: -1, body: "no answer in 10 s", headers: new Headers() })),
      ]);
      const errorWithoutDetail = res.status >= 400 && (typeof res.body !== "object" || res.body === null || !("detail" in res.body));
      // a route neither served nor listed in src/team/unserved.ts falls through to the generic 404
      const unrouted = res.status === 404 && res.body?.detail === "Not Found";
      if ((res.status >= 500 && res.status !== 501) || res.status < 0 || errorWithoutDetail || unrouted) bad.push({ method, path, status: res.status, body: res.body });
    }
    expect(bad).toEqual([]);
  }, 120_000);

});
