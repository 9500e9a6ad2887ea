// The ingest API in file mode: runs created and filled over HTTP land as the SDK's files, once per seq.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { copyFixture, startTestServer, type TestServer, waitFor } from "../helpers/server.ts";

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s.close();
});

const RID = "20261204_101010_abcdef";
const runDir = () => join(s.root, "runs", "team", "exp", RID);
const create = (run_id = RID, path = "team/exp") =>
  s.api("/api/ingest/runs", {
    method: "POST",
    json: { run_id, path, meta: { alias: "a1", created_at: 1700000000, hostname: "h" }, status: { status: "running", started_at: 1700000000 } },
  });
const batch = (seq: unknown, extra: Record<string, unknown> = {}, id = RID) =>
  s.api(`/api/ingest/runs/${id}/batches`, { method: "POST", json: { seq, ...extra } });

describe("ingest API (file mode)", () => {
  test("a created run is written as meta.json, status.json and assets.json under its path and listed by the API", async () => {
    const r = await create();
    expect(r.status).toBe(201);
    expect(r.body).toEqual({ run_id: RID, created: true, last_seq: 0 });
    const meta = JSON.parse(readFileSync(join(runDir(), "meta.json"), "utf8"));
    expect(meta).toMatchObject({ id: RID, path: "team/exp", alias: "a1" });
    expect(JSON.parse(readFileSync(join(runDir(), "status.json"), "utf8")).status).toBe("running");
    const run = await waitFor(async () => ((await s.api(`/api/runs/${RID}`)).status === 200 ? true : undefined), 10000, "run indexed");
    expect(run).toBe(true);
  });

  test("creating the same run again answers 200 with its last seq; under another path it is a 409", async () => {
    const again = await create();
    expect(again.status).toBe(200);
    expect(again.body.created).toBe(false);
    const other = await create(RID, "elsewhere");
    expect(other.status).toBe(409);
    expect(String(other.body.detail)).toContain("team/exp");
  });

  test("batches append events, logs and JSON merges; a retried seq is acknowledged as a duplicate and stored once", async () => {
    const b1 = { events: [{ ts: 1, type: "metrics", data: { global_step: 1, loss: 0.5 } }], logs: ["hello", "world"] };
    expect((await batch(1, b1)).body).toEqual({ run_id: RID, seq: 1, duplicate: false });
    expect((await batch(1, b1)).body).toEqual({ run_id: RID, seq: 1, duplicate: true });
    const b2 = {
      events: [{ ts: 2, type: "metrics", data: { global_step: 2, loss: 0.25 } }],
      summary: { best: 0.25 },
      status: { status: "finished", ended_at: 3 },
    };
    expect((await batch(2, b2)).body.duplicate).toBe(false);
    expect((await batch(1, b1)).body.duplicate).toBe(true);
    const events = readFileSync(join(runDir(), "events.jsonl"), "utf8").trim().split("\n");
    expect(events.map((l) => JSON.parse(l).data.global_step)).toEqual([1, 2]);
    expect(readFileSync(join(runDir(), "logs.txt"), "utf8")).toBe("hello\nworld\n");
    expect(JSON.parse(readFileSync(join(runDir(), "summary.json"), "utf8"))).toEqual({ best: 0.25 });
    expect(JSON.parse(readFileSync(join(runDir(), "status.json"), "utf8"))).toMatchObject({ status: "finished", ended_at: 3, started_at: 1700000000 });
    expect((await create()).body.last_seq).toBe(2);
    const metrics = await waitFor(async () => {
      const r = await s.api(`/api/runs/${RID}/metrics_step`);
      return r.status === 200 && r.body.rows?.length === 2 ? r.body : undefined;
    }, 10000, "metrics served");
    expect(metrics.rows.map((r: any) => r.loss)).toEqual([0.5, 0.25]);
  });

  test("Python's NaN and Infinity tokens in a batch are accepted", async () => {
    const res = await fetch(`${s.url}/api/ingest/runs/${RID}/batches`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"seq": 3, "events": [{"ts": 4, "type": "metrics", "data": {"global_step": 3, "loss": NaN, "acc": Infinity}}]}',
    });
    expect(res.status).toBe(200);
    const last = readFileSync(join(runDir(), "events.jsonl"), "utf8").trim().split("\n").at(-1)!;
    expect(last).toContain("Infinity");
  });

  test("a media file is stored under media/ once; unsafe names are refused with 400", async () => {
    const put = (name: string, bytes = new Uint8Array([1, 2, 3])) =>
      fetch(`${s.url}/api/ingest/runs/${RID}/media/${name}`, { method: "PUT", headers: { "content-type": "image/png" }, body: bytes });
    expect((await put("img_1.png")).status).toBe(200);
    expect((await put("img_1.png", new Uint8Array([9]))).status).toBe(200);
    expect([...readFileSync(join(runDir(), "media", "img_1.png"))]).toEqual([1, 2, 3]);
    for (const bad of ["..", "%2e%2e", "..%2Fmeta.json", ".hidden", "a%2Fb.png", "a%5Cb.png"]) {
      const r = await put(bad);
      expect([400, 404]).toContain(r.status);
      expect((await r.json()).detail).toBeTruthy();
    }
    expect(readdirSync(join(runDir(), "media"))).toEqual(["img_1.png"]);
  });

  test("bad run ids, bad paths and bad seqs are refused with a clear 4xx naming the problem and store nothing", async () => {
    const before = readFileSync(join(runDir(), "events.jsonl"), "utf8");
    for (const id of ["..", "a/b", ".x", "-x", "x".repeat(200)]) {
      const r = await create(id, "p");
      expect(r.status).toBe(400);
      expect(r.body.detail).toBeTruthy();
    }
    for (const path of ["../up", "a//b", "/abs", "a b", "a/../b"]) {
      const r = await create("20261204_101010_000001", path);
      expect(r.status).toBe(400);
    }
    expect(existsSync(join(s.root, "runs", "20261204_101010_000001"))).toBe(false);
    for (const seq of [0, -1, 1.5, "7", null, undefined, 2 ** 60]) {
      const r = await batch(seq, { events: [{ ts: 9, type: "metrics", data: { global_step: 99 } }] });
      expect(r.status).toBe(400);
      expect(JSON.stringify(r.body.detail)).toContain("seq");
      expect(r.body.detail).toBeTruthy();
    }
    const nl = await batch(50, { logs: ["two\nlines"] });
    expect(nl.status).toBe(400);
    const badEvent = await batch(51, { events: [{ ts: "x", type: "metrics" }] });
    expect(badEvent.status).toBe(422); // schema failures answer as FastAPI's did, naming the field
    expect(JSON.stringify(badEvent.body.detail)).toContain("events");
    expect(readFileSync(join(runDir(), "events.jsonl"), "utf8")).toBe(before);
  });

  test("a run written by an SDK on the server is not the ingest's: create and batches answer 409 and its files stay as they were", async () => {
    const id = "20261129_031703_34b3d6";
    const dest = join(s.root, "runs", "demo", "exp1");
    mkdirSync(dest, { recursive: true });
    copyFixture(join("rn-data", "runs", "demo", "exp1", id), join(dest, id));
    const before = readFileSync(join(dest, id, "events.jsonl"), "utf8");
    const c = await create(id, "demo/exp1");
    expect(c.status).toBe(409);
    expect(String(c.body.detail)).toContain("not created through the ingest API");
    const b = await batch(1, { events: [{ ts: 1, type: "metrics", data: { global_step: 1 } }] }, id);
    expect(b.status).toBe(409);
    expect(readFileSync(join(dest, id, "events.jsonl"), "utf8")).toBe(before);
    expect(existsSync(join(dest, id, "ingest.json"))).toBe(false);
  });

  test("a batch for an unknown run is a 404", async () => {
    const r = await batch(1, {}, "20261204_101010_ffffff");
    expect(r.status).toBe(404);
  });

  test("bodies over the contract's limits are refused with 413; a batch over 1 MiB but under 8 MiB is accepted", async () => {
    const big = "x".repeat(2 * 1024 * 1024);
    const ok = await batch(10, { logs: [big] });
    expect(ok.status).toBe(200);
    const huge = "y".repeat(9 * 1024 * 1024);
    const r = await batch(11, { logs: [huge] });
    expect(r.status).toBe(413);
    expect((await create()).body.last_seq).toBe(10);
    // chunked (no Content-Length): counted while streaming
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < 10; i++) c.enqueue(new TextEncoder().encode("z".repeat(1024 * 1024)));
        c.close();
      },
    });
    const res = await fetch(`${s.url}/api/ingest/runs/${RID}/batches`, { method: "POST", headers: { "content-type": "application/json" }, body: stream });
    expect(res.status).toBe(413);
    // other routes keep their 1 MiB limit
    const other = await s.api("/api/runs/soft-delete", { method: "POST", json: { run_ids: [big] } });
    expect(other.status).toBe(413);
  });
});

describe("ingest API with a token", () => {
  test("a server with a token refuses ingest without it and accepts it with Bearer", async () => {
    const t = await startTestServer({ flags: { token: "sekrit-token-1234567890" } as any });
    try {
      const body = JSON.stringify({ run_id: RID, path: "", meta: {}, status: { status: "running" } });
      const no = await fetch(`${t.url}/api/ingest/runs`, { method: "POST", headers: { "content-type": "application/json" }, body });
      expect(no.status).toBe(401);
      expect(existsSync(join(t.root, "runs", RID))).toBe(false);
      const yes = await fetch(`${t.url}/api/ingest/runs`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer sekrit-token-1234567890" },
        body,
      });
      expect(yes.status).toBe(201);
      expect(existsSync(join(t.root, "runs", RID, "meta.json"))).toBe(true);
    } finally {
      await t.close();
    }
  });
});
