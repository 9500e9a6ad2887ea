// Reliability: a Python SDK process killed with SIGKILL mid-run — the heartbeat rule marks it failed, every flushed line is served.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { HEARTBEAT_TIMEOUT_S } from "../../src/index/run-index.ts";
import { isolatedEnv, tempDir, waitFor } from "../helpers/server.ts";
import { apiRows, lossAt, PY_SDK, rowsChecksum, rowsFromFile, type ServerProc, spawnServe, writeJsonAtomic, writeRun } from "./helpers.ts";

const t = tempDir("rn-rel-sdk-");
const root = join(t.dir, "root");
const env = isolatedEnv(t.dir);
let server: ServerProc;

// Logs 100 steps, flushes, prints the last flushed step; forever, until killed.
const TRAINER = `
import sys, math, time
sys.path.insert(0, ${JSON.stringify(PY_SDK)})
import runicorn as rn
run = rn.init(path="rel/killed", storage=${JSON.stringify(root)})
print("run", run.id, flush=True)
step = 0
while True:
    for _ in range(100):
        step += 1
        run.log({"loss": round(((math.sin(step * 0.001) + 1.5) / (1 + step * 1e-5)) * 1e9) / 1e9, "acc": step / 1e6}, step=step)
    run.log_text("flushed up to %d" % step)
    run.flush()
    print("flushed", step, flush=True)
    time.sleep(0.002)
`;

beforeAll(async () => {
  server = await spawnServe(root, env);
});
afterAll(async () => {
  await server?.stop();
  t.cleanup();
});

describe("a Python SDK process killed with SIGKILL", () => {
  let runId = "";
  let flushed = 0;
  let checkedAlive = false;

  it("keeps a live SDK run running through a status check", async () => {
    const py = Bun.spawn(["python3", "-c", TRAINER], { cwd: t.dir, env: { ...env, PYTHONUNBUFFERED: "1" }, stdout: "pipe", stderr: "pipe" });
    const reader = py.stdout.getReader();
    const dec = new TextDecoder();
    let out = "";
    try {
      while (flushed < 20000) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`trainer exited: ${out}${await new Response(py.stderr).text()}`);
        out += dec.decode(value);
        const id = /run (\S+)/.exec(out);
        if (id) runId = id[1];
        const all = [...out.matchAll(/flushed (\d+)/g)];
        if (all.length) flushed = Number(all[all.length - 1][1]);
        if (runId && flushed >= 5000 && !checkedAlive) {
          checkedAlive = true;
          await waitFor(async () => (await server.call(`/api/runs/${runId}`)).status === 200, 10000, "the run to be indexed");
          const check = await server.call("/api/status/check", { method: "POST" });
          expect(check.status).toBe(200);
          const live = await server.call(`/api/runs/${runId}`);
          expect(live.body.status).toBe("running");
          // an ingest while the writer appends (a torn last line is likely): everything flushed so far is there
          const mid = await server.call(`/api/runs/${runId}/metrics_step`);
          expect(mid.status).toBe(200);
          expect(mid.body.total).toBeGreaterThanOrEqual(flushed);
        }
      }
    } finally {
      // SIGKILL mid-run: no atexit, no finish(), the flusher thread may be half-way through a write
      py.kill(9);
      await py.exited;
    }
    expect(checkedAlive).toBe(true);
    expect(py.signalCode).toBe("SIGKILL");
  });

  it("serves every line flushed before the kill, none twice, a torn last line ignored", async () => {
    const file = join(root, "runs", "rel/killed", runId, "events.jsonl");
    const expected = rowsFromFile(file);
    expect(expected.size).toBeGreaterThanOrEqual(flushed);
    const missing: number[] = [];
    for (let s = 1; s <= flushed; s++) if (!expected.has(s)) missing.push(s);
    expect(missing).toEqual([]);
    const res = await server.call(`/api/runs/${runId}/metrics_step`);
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(expected.size);
    expect(res.body.rows).toHaveLength(expected.size);
    expect(rowsChecksum(apiRows(res.body), ["loss", "acc"])).toBe(rowsChecksum(expected, ["loss", "acc"]));
    expect(res.body.rows[flushed - 1]).toMatchObject({ global_step: flushed, loss: lossAt(flushed) });
  });

  it("marks the killed run failed with exit_reason heartbeat_lost once its heartbeat is older than the timeout", async () => {
    const dir = join(root, "runs", "rel/killed", runId);
    const status = JSON.parse(readFileSync(join(dir, "status.json"), "utf8"));
    expect(status.status).toBe("running");
    // the test hook of the brief: age the heartbeat by hand instead of waiting a minute
    writeJsonAtomic(join(dir, "status.json"), { ...status, heartbeat_at: Date.now() / 1000 - HEARTBEAT_TIMEOUT_S - 5 });
    const check = await server.call("/api/status/check", { method: "POST" });
    expect(check.status).toBe(200);
    expect(check.body.updated).toBeGreaterThanOrEqual(1);
    const run = await server.call(`/api/runs/${runId}`);
    expect(run.body).toMatchObject({ status: "failed", exit_reason: "heartbeat_lost" });
    const onDisk = JSON.parse(readFileSync(join(dir, "status.json"), "utf8"));
    expect(onDisk).toMatchObject({ status: "failed", exit_reason: "heartbeat_lost" });
    expect(typeof onDisk.ended_at).toBe("number");
    const listed = (await server.call("/api/runs")).body.find((r: { id: string }) => r.id === runId);
    expect(listed.status).toBe("failed");
  });

  it("still serves the killed run's metrics after it is marked failed", async () => {
    const res = await server.call(`/api/runs/${runId}/metrics_step`);
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(rowsFromFile(join(root, "runs", "rel/killed", runId, "events.jsonl")).size);
  });
});

describe("the heartbeat rule across hosts", () => {
  it("marks a running run of another host failed when its heartbeat is older than the timeout", async () => {
    const now = Date.now() / 1000;
    writeRun(root, "rel/remote-host", "20260101_000000_aaaaaa", { hostname: "gpu-node-17", pid: 1, heartbeatAt: now - HEARTBEAT_TIMEOUT_S - 1 });
    writeRun(root, "rel/remote-host", "20260101_000000_bbbbbb", { hostname: "gpu-node-17", pid: 1, heartbeatAt: now });
    await waitFor(async () => (await server.call("/api/runs/20260101_000000_bbbbbb")).status === 200, 10000, "the runs to be indexed");
    const check = await server.call("/api/status/check", { method: "POST" });
    expect(check.status).toBe(200);
    const stale = await server.call("/api/runs/20260101_000000_aaaaaa");
    const fresh = await server.call("/api/runs/20260101_000000_bbbbbb");
    expect(stale.body).toMatchObject({ status: "failed", exit_reason: "heartbeat_lost" });
    // another host's pid means nothing here: a fresh heartbeat keeps it running
    expect(fresh.body.status).toBe("running");
  });
});
