// The path tree, runs under a path, soft-deleting a path and the legacy projects view on a team server answer
// as the file mode does for the same runs, sent to both through the one ingest route.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { type TestServer, waitFor } from "../helpers/server.ts";
import { type Replica, startTeamCluster, type TeamCluster } from "./team-server.ts";

const PATHS = ["a/b", "a/b", "a/c", "a/b/d", "x", "a_b", "a/b_c"];
const RUNS = PATHS.map((path, i) => ({ run_id: `20260112_00000${i}_9a7h00`, path, status: i === 2 ? "running" : i === 4 ? "failed" : "finished" }));

describe("paths and projects on a team server", () => {
  let c: TeamCluster;
  let file: TestServer;
  let team: Replica;
  let token: string;
  const both = async (method: string, path: string, body?: unknown) => {
    const init = (auth: Record<string, string>) => ({
      method,
      headers: { ...auth, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const [a, b] = await Promise.all([fetch(file.url + path, init({})), fetch(team.url + path, init({ authorization: `Bearer ${token}` }))]);
    return { file: { status: a.status, body: await a.json() }, team: { status: b.status, body: await b.json() } };
  };
  beforeAll(async () => {
    c = await startTeamCluster("paths", { file: true });
    ({ file, team, token } = c);
    for (const [base, auth] of [
      [file.url, {}],
      [team.url, { authorization: `Bearer ${token}` }],
    ] as const) {
      for (const [i, r] of RUNS.entries()) {
        const res = await fetch(`${base}/api/ingest/runs`, {
          method: "POST",
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify({ run_id: r.run_id, path: r.path, meta: { created_at: 1767225600 + i, alias: i % 2 ? `al${i}` : undefined }, status: { status: r.status } }),
        });
        if (res.status !== 201) throw new Error(await res.text());
      }
    }
    await waitFor(async () => (await file.api("/api/runs")).body?.length === RUNS.length, 20_000, "file mode indexed the runs");
  }, 120_000);
  afterAll(async () => {
    await c?.close();
  });

  it("answers the path list with stats, the tree and the legacy projects view as the file mode does", async () => {
    for (const q of ["/api/paths", "/api/paths?include_stats=true", "/api/paths/tree", "/api/projects", "/api/projects/a/names", "/api/projects/a/names/b/runs", "/api/projects/zz/names"]) {
      const r = await both("GET", q);
      expect({ q, status: r.team.status, body: r.team.body }).toEqual({ q, status: r.file.status, body: r.file.body });
    }
  });

  it("lists the runs under a path, with and without exact, as the file mode does", async () => {
    for (const q of ["/api/paths/runs", "/api/paths/runs?path=a", "/api/paths/runs?path=a/b", "/api/paths/runs?path=a/b&exact=true", "/api/paths/runs?path=/a/", "/api/paths/runs?path=nope"]) {
      const r = await both("GET", q);
      const ids = (body: { id: string }[]) => body.map((x) => x.id).sort();
      expect({ q, status: r.team.status, ids: ids(r.team.body) }).toEqual({ q, status: r.file.status, ids: ids(r.file.body) });
    }
  });

  it("exports runs as JSON as the file mode does, and the archive formats with the file mode's types (export-report.test.ts reads them)", async () => {
    const byId = (body: { runs: { run_id: string }[] }) => ({ ...body, runs: [...body.runs].sort((x, y) => x.run_id.localeCompare(y.run_id)) });
    for (const q of ["/api/paths/export?path=a", "/api/paths/export?path=a/b&exact=true", "/api/export", `/api/export?path=a&run_ids=${RUNS[0].run_id},${RUNS[4].run_id}`, "/api/export?path=x&exact=true"]) {
      const r = await both("GET", q);
      expect({ q, status: r.team.status, body: byId(r.team.body) }).toEqual({ q, status: r.file.status, body: byId(r.file.body) });
    }
    for (const [q, type] of [["/api/paths/export?path=a&format=zip", "application/zip"], ["/api/export?format=tar.gz", "application/gzip"]]) {
      const [a, b] = await Promise.all([fetch(file.url + q), fetch(team.url + q, { headers: { authorization: `Bearer ${token}` } })]);
      expect({ q, status: b.status, type: b.headers.get("content-type"), disposition: b.headers.get("content-disposition") }).toEqual({ q, status: a.status, type, disposition: a.headers.get("content-disposition") });
      expect((await b.arrayBuffer()).byteLength).toBeGreaterThan(100);
      await a.arrayBuffer();
    }
    const bad = await both("GET", "/api/export?format=xml");
    expect(bad.team).toEqual(bad.file);
  });

  it("answers a run's progress and environment as the file mode does for a run without environment.json", async () => {
    for (const q of [`/api/runs/${RUNS[0].run_id}/progress`, `/api/environment/${RUNS[0].run_id}`, "/api/environment/20260112_000000_000000"]) {
      const r = await both("GET", q);
      expect({ q, ...r.team }).toEqual({ q, ...r.file });
    }
  });

  it("soft-deletes every run under a path into the bin, as the file mode does", async () => {
    expect((await both("POST", "/api/paths/soft-delete", {})).team).toEqual({ status: 400, body: { detail: "path is required" } });
    const r = await both("POST", "/api/paths/soft-delete", { path: "a/b" });
    expect(r.team).toEqual(r.file);
    expect(r.team.body.deleted_count).toBe(3);
    const bin = await both("GET", "/api/recycle-bin");
    const view = (body: { deleted_runs: { id: string; delete_reason: string }[] }) => body.deleted_runs.map((d) => [d.id, d.delete_reason]).sort();
    expect(view(bin.team.body)).toEqual(view(bin.file.body));
    const left = await both("GET", "/api/paths");
    expect(left.team.body).toEqual(left.file.body);
    const withDeleted = await both("GET", "/api/export?path=a&include_deleted=true");
    const ids = (body: { runs: { run_id: string }[] }) => body.runs.map((r) => r.run_id).sort();
    expect(ids(withDeleted.team.body)).toEqual(ids(withDeleted.file.body));
  });
});
