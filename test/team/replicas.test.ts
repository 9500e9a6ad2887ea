// Two team-server replicas on one real PostgreSQL: tokens, ingest through one and reading through the
// other, live pushes across replicas, a replica killed -9 mid-run, and duplicate batches.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../helpers/server.ts";
import { startPostgres, type TestPostgres } from "../helpers/postgres.ts";
import { call, createTokenCli, type Replica, runCli, sdkEvent, startReplica } from "./team-server.ts";

describe("team server replicas on PostgreSQL", () => {
  let pg: TestPostgres;
  let db: string;
  let root: string;
  let a: Replica;
  let b: Replica;
  let alice: string;
  beforeAll(async () => {
    pg = await startPostgres();
    db = await pg.createDatabase("team_replicas");
    root = mkdtempSync(join(tmpdir(), "rn-team-"));
  }, 60_000);
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await pg?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("refuses to start with no token in the database and says how to create one", async () => {
    const r = runCli(["serve", "--db", db, "--root", root, "--port", "0"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr + r.stdout).toContain("runicorn token create");
  });

  it("answers 401 without a token, with a wrong one and with a revoked one; a right one works", async () => {
    alice = createTokenCli(db, "alice");
    const bob = createTokenCli(db, "bob");
    expect(alice).toMatch(/^rnt_/);
    a = await startReplica(db, root);
    b = await startReplica(db, root);
    expect((await call(a.url, null, "GET", "/api/runs")).status).toBe(401);
    expect((await call(a.url, `${alice}x`, "GET", "/api/runs")).status).toBe(401);
    expect((await call(a.url, alice, "GET", "/api/runs")).status).toBe(200);
    expect((await call(a.url, bob, "GET", "/api/runs")).status).toBe(200);
    expect(runCli(["token", "revoke", "--db", db, "--name", "bob"]).code).toBe(0);
    // replicas cache a verdict for at most a second
    await waitFor(async () => (await call(b.url, bob, "GET", "/api/runs")).status === 401, 3000, "revocation");
    const denied = await call(a.url, null, "POST", "/api/ingest/runs", { run_id: "20260102_000000_000001", path: "", meta: {}, status: {} });
    expect(denied.status).toBe(401);
    expect(denied.body).toEqual({ detail: "Missing or invalid token" });
    // the UI opened with ?token= gets the cookie its API calls then carry; a socket needs the token too
    const page = await fetch(`${a.url}/?token=${alice}`);
    await page.arrayBuffer();
    const cookie = page.headers.get("set-cookie") ?? "";
    expect(cookie).toContain("HttpOnly");
    expect((await fetch(`${a.url}/api/runs`, { headers: { cookie: cookie.split(";")[0] } })).status).toBe(200);
    const noToken = new WebSocket(`${a.url.replace("http", "ws")}/api/live`);
    const closed = await new Promise<string>((res) => {
      noToken.onopen = () => res("open");
      noToken.onerror = () => res("refused");
      noToken.onclose = () => res("refused");
    });
    expect(closed).toBe("refused");
    const list = runCli(["token", "list", "--db", db]);
    expect(list.stdout).toContain("alice");
    expect(list.stdout).toMatch(/bob .*revoked/);
    expect(list.stdout).not.toContain(alice);
  }, 60_000);

  it("answers the whole run list on replica B with every change made through replica A at once (its kept copy is checked per request)", async () => {
    const id = "20260102_000000_0000c4";
    const whole = async () => (await call(b.url, alice, "GET", "/api/runs")).body as { id: string; alias: string | null; status: string }[];
    await whole();
    await call(a.url, alice, "POST", "/api/ingest/runs", { run_id: id, path: "team/cache", meta: {}, status: { status: "running" } });
    expect((await whole()).find((r) => r.id === id)?.status).toBe("running");
    await call(a.url, alice, "PATCH", `/api/runs/${id}`, { alias: "renamed" });
    expect((await whole()).find((r) => r.id === id)?.alias).toBe("renamed");
    await call(a.url, alice, "POST", `/api/ingest/runs/${id}/batches`, { seq: 1, status: { status: "finished" } });
    expect((await whole()).find((r) => r.id === id)?.status).toBe("finished");
    await call(a.url, alice, "POST", "/api/runs/soft-delete", { run_ids: [id] });
    expect((await whole()).some((r) => r.id === id)).toBe(false);
    await call(a.url, alice, "POST", "/api/recycle-bin/restore", { run_ids: [id] });
    expect((await whole()).some((r) => r.id === id)).toBe(true);
    await call(a.url, alice, "DELETE", `/api/runs/${id}/permanent`);
    expect((await whole()).some((r) => r.id === id)).toBe(false);
  });

  it("answers list queries on replica B with each item as the database holds it after changes through replica A (its copy of the items is checked by version)", async () => {
    const id = "20260102_000000_0000c5";
    const query = async (q: string) => (await call(b.url, alice, "GET", `/api/runs?${q}`)).body as { id: string; alias: string | null; status: string; tags: string[] }[];
    const find = async (q: string) => (await query(q)).find((r) => r.id === id);
    await call(a.url, alice, "POST", "/api/ingest/runs", { run_id: id, path: "team/items", meta: {}, status: { status: "running" } });
    expect((await find("order=desc"))?.status).toBe("running");
    expect((await find("path=team/items&limit=5"))?.alias).toBeNull();
    await call(a.url, alice, "PATCH", `/api/runs/${id}`, { alias: "second name", tags: ["x"] });
    expect(await find("order=desc")).toMatchObject({ alias: "second name", tags: ["x"] });
    expect(await find("sort=alias&order=asc&limit=500")).toMatchObject({ alias: "second name" });
    await call(a.url, alice, "POST", `/api/ingest/runs/${id}/batches`, { seq: 1, status: { status: "failed" } });
    expect((await find("status=failed"))?.status).toBe("failed");
    await call(a.url, alice, "POST", "/api/runs/soft-delete", { run_ids: [id] });
    expect(await find("order=desc")).toBeUndefined();
    await call(a.url, alice, "POST", "/api/recycle-bin/restore", { run_ids: [id] });
    expect((await find("q=0000c5"))?.alias).toBe("second name");
    await call(a.url, alice, "DELETE", `/api/runs/${id}/permanent`);
    expect(await find("order=desc")).toBeUndefined();
    const total = await fetch(`${b.url}/api/runs?order=desc`, { headers: { authorization: `Bearer ${alice}` } });
    expect(Number(total.headers.get("x-total-count"))).toBe(((await total.json()) as unknown[]).length);
  });

  it("lists a run created through replica A on replica B within a second, with who created it", async () => {
    const id = "20260102_000000_0000a1";
    const created = await call(a.url, alice, "POST", "/api/ingest/runs", { run_id: id, path: "team/x", meta: { alias: "first" }, status: { status: "running", started_at: 1 } });
    expect(created.status).toBe(201);
    const t0 = Date.now();
    const seen = await waitFor(async () => {
      const r = await call(b.url, alice, "GET", "/api/runs?path=team/x");
      return r.body.find((x: { id: string }) => x.id === id);
    }, 1000, "run on replica B");
    expect(Date.now() - t0).toBeLessThanOrEqual(1000);
    expect(seen).toMatchObject({ id, path: "team/x", alias: "first", status: "running", created_by: "alice" });
    const again = await call(b.url, alice, "POST", "/api/ingest/runs", { run_id: id, path: "team/x", meta: {}, status: {} });
    expect(again).toMatchObject({ status: 200, body: { created: false, last_seq: 0 } });
    const other = await call(b.url, alice, "POST", "/api/ingest/runs", { run_id: id, path: "elsewhere", meta: {}, status: {} });
    expect(other.status).toBe(409);
    // edits and batches through one replica show in the other's list
    expect((await call(b.url, alice, "PATCH", `/api/runs/${id}`, { alias: "renamed", tags: ["t1"] })).status).toBe(200);
    await call(b.url, alice, "POST", `/api/ingest/runs/${id}/batches`, { seq: 1, status: { status: "finished" }, summary: { best_metric_value: 0.9, best_metric_name: "acc" } });
    const listed = await call(a.url, alice, "GET", "/api/runs?path=team/x");
    expect(listed.headers.get("x-total-count")).toBe("1");
    expect(listed.body[0]).toMatchObject({ id, alias: "renamed", tags: ["t1"], status: "finished", best_metric_value: 0.9, best_metric_name: "acc" });
    expect((await call(a.url, alice, "GET", "/api/runs?sort=nope")).status).toBe(400);
  });

  it("pushes rows stored through replica A to a browser socket on replica B", async () => {
    const id = "20260102_000000_0000b2";
    await call(a.url, alice, "POST", "/api/ingest/runs", { run_id: id, path: "", meta: {}, status: { status: "running" } });
    const ws = new WebSocket(`${b.url.replace("http", "ws")}/api/live?token=${alice}`);
    const got: any[] = [];
    ws.onmessage = (m) => got.push(JSON.parse(String(m.data)));
    await new Promise((res, rej) => {
      ws.onopen = res;
      ws.onerror = rej;
    });
    ws.send(JSON.stringify({ op: "subscribe", run_ids: [id], logs: true }));
    await Bun.sleep(200);
    const ack = await call(a.url, alice, "POST", `/api/ingest/runs/${id}/batches`, { seq: 1, events: [sdkEvent(1), sdkEvent(2)], logs: ["epoch 1"], status: { status: "finished" } });
    expect(ack.body).toEqual({ run_id: id, seq: 1, duplicate: false });
    await waitFor(() => got.some((m) => m.type === "status"), 3000, "pushes on B");
    ws.close();
    const metrics = got.find((m) => m.type === "metrics");
    expect(metrics.rows.map((r: { step: number }) => r.step)).toEqual([1, 2]);
    expect(got.find((m) => m.type === "logs").lines).toEqual(["epoch 1"]);
    expect(got.find((m) => m.type === "status").status).toBe("finished");
  });

  it("loses nothing acknowledged when replica A is killed -9 mid-run: B serves every run complete, each step once", async () => {
    const ids = ["20260102_000000_0000c1", "20260102_000000_0000c2", "20260102_000000_0000c3"];
    const STEPS = 3000;
    const PER_BATCH = 100;
    const port = a.port;
    // three writers that retry each batch (on either replica) until it is acknowledged, as the SDK's spool does
    const writer = async (id: string) => {
      const send = async (method: string, path: string, body: unknown) => {
        for (let i = 0; ; i++) {
          for (const base of [`http://127.0.0.1:${port}`, b.url]) {
            try {
              const r = await call(base, alice, method, path, body);
              if (r.status < 300) return r.body;
              if (r.status < 500) throw new Error(`refused: ${r.status} ${JSON.stringify(r.body)}`);
            } catch (e) {
              if ((e as Error).message.startsWith("refused")) throw e;
            }
          }
          await Bun.sleep(50);
        }
      };
      await send("POST", "/api/ingest/runs", { run_id: id, path: "crash", meta: {}, status: { status: "running" } });
      for (let seq = 1; seq <= STEPS / PER_BATCH; seq++) {
        const events = Array.from({ length: PER_BATCH }, (_, i) => sdkEvent((seq - 1) * PER_BATCH + i + 1));
        await send("POST", `/api/ingest/runs/${id}/batches`, { seq, events, logs: [`batch ${seq}`] });
        // paced as a training loop is, so the kill lands mid-run
        await Bun.sleep(40);
      }
      await send("POST", `/api/ingest/runs/${id}/batches`, { seq: STEPS / PER_BATCH + 1, status: { status: "finished", ended_at: 2 } });
    };
    const writers = ids.map(writer);
    await waitFor(async () => ((await call(b.url, alice, "GET", `/api/runs/${ids[0]}`)).body.total_steps ?? 0) >= 500, 30_000, "first rows");
    await a.kill9();
    const atKill = await call(b.url, alice, "GET", `/api/runs/${ids[0]}`);
    expect(atKill.body.status).toBe("running");
    expect(atKill.body.total_steps).toBeLessThan(STEPS);
    a = await startReplica(db, root, port);
    await Promise.all(writers);
    for (const id of ids) {
      const run = await call(b.url, alice, "GET", `/api/runs/${id}`);
      expect(run.body.status).toBe("finished");
      const rows = await call(b.url, alice, "GET", `/api/runs/${id}/metrics_step`);
      const steps = rows.body.rows.map((r: { global_step: number }) => r.global_step);
      expect(steps.length).toBe(STEPS);
      expect(new Set(steps).size).toBe(STEPS);
      expect(steps[STEPS - 1]).toBe(STEPS);
      expect(rows.headers.get("x-total-count")).toBe(String(STEPS));
    }
  }, 120_000);

  it("acknowledges a repeated batch as a duplicate and stores it once", async () => {
    const id = "20260102_000000_0000d1";
    await call(a.url, alice, "POST", "/api/ingest/runs", { run_id: id, path: "", meta: {}, status: {} });
    const batch = { seq: 1, events: [sdkEvent(1)], logs: ["x"] };
    expect((await call(a.url, alice, "POST", `/api/ingest/runs/${id}/batches`, batch)).body.duplicate).toBe(false);
    expect((await call(b.url, alice, "POST", `/api/ingest/runs/${id}/batches`, batch)).body.duplicate).toBe(true);
    const rows = await call(b.url, alice, "GET", `/api/runs/${id}/metrics_step`);
    expect(rows.body.rows.length).toBe(1);
  });

  it("stores a batch of 5,000 steps and pushes it to another replica's socket (the change notice stays under NOTIFY's size limit)", async () => {
    const id = "20260102_000000_0000f1";
    await call(a.url, alice, "POST", "/api/ingest/runs", { run_id: id, path: "", meta: {}, status: { status: "running" } });
    const ws = new WebSocket(`${b.url.replace("http", "ws")}/api/live?token=${alice}`);
    const got: any[] = [];
    ws.onmessage = (m) => got.push(JSON.parse(String(m.data)));
    await new Promise((res, rej) => {
      ws.onopen = res;
      ws.onerror = rej;
    });
    ws.send(JSON.stringify({ op: "subscribe", run_ids: [id] }));
    await Bun.sleep(200);
    const events = Array.from({ length: 5000 }, (_, i) => sdkEvent(i + 1));
    expect((await call(a.url, alice, "POST", `/api/ingest/runs/${id}/batches`, { seq: 1, events })).status).toBe(200);
    const push = await waitFor(() => got.find((m) => m.type === "metrics"), 5000, "metrics push");
    ws.close();
    expect(push.rows.length).toBe(5000);
    expect(push.rows[4999].step).toBe(5000);
  });

  it("answers bad ingest input with a 4xx detail and stores nothing", async () => {
    const id = "20260102_000000_0000e1";
    expect((await call(a.url, alice, "POST", "/api/ingest/runs", { run_id: "../x", path: "", meta: {}, status: {} })).status).toBe(400);
    expect((await call(a.url, alice, "POST", "/api/ingest/runs", { run_id: id, path: "../up", meta: {}, status: {} })).status).toBe(400);
    await call(a.url, alice, "POST", "/api/ingest/runs", { run_id: id, path: "", meta: {}, status: {} });
    const bad = await call(a.url, alice, "POST", `/api/ingest/runs/${id}/batches`, { seq: 0, events: [] });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toBe("seq must be an integer >= 1 (got 0)");
    expect((await call(a.url, alice, "POST", `/api/ingest/runs/20260102_000000_0000ff/batches`, { seq: 1 })).status).toBe(404);
    expect((await call(a.url, alice, "GET", `/api/runs/${id}`)).body.total_steps).toBe(0);
  });
});
