import { afterEach, describe, expect, it } from "bun:test";
import { mkdirSync, rmSync, renameSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { INDEX_FILE } from "../../src/index/db.ts";
import { startTestServer, type TestServer, waitFor } from "../helpers/server.ts";

function writeRun(root: string, path: string, id: string, status: object, meta: object = {}) {
  const dir = join(root, "runs", path, id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "meta.json"), JSON.stringify({ id, path, alias: null, created_at: 1700000000, hostname: "elsewhere", pid: 1, ...meta }));
  writeFileSync(join(dir, "status.json"), JSON.stringify(status));
  return dir;
}

const ids = async (s: TestServer) => (await s.api("/api/runs")).body.map((x: any) => x.id);

describe("the run index", () => {
  let s: TestServer | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  it("picks up a run created while the server runs, without a sweep", async () => {
    s = await startTestServer({ fixture: "rn-data", sweepSeconds: 3600 });
    writeRun(s.root, "new/path", "20250101_000000_aaaaaa", { status: "running", started_at: 1 });
    await waitFor(async () => (await ids(s!)).includes("20250101_000000_aaaaaa"), 5000, "new run");
    expect((await s.api("/api/paths")).body.paths).toContain("new/path");
  });

  it("shows a status change written by the SDK", async () => {
    s = await startTestServer({ fixture: "rn-data", sweepSeconds: 3600 });
    const dir = writeRun(s.root, "p", "20250101_000000_bbbbbb", { status: "running", started_at: 1, heartbeat_at: Date.now() / 1000 });
    await waitFor(async () => (await s!.api("/api/runs/20250101_000000_bbbbbb")).status === 200, 5000, "run");
    writeFileSync(join(dir, "status.json"), JSON.stringify({ status: "finished", started_at: 1, ended_at: 2 }));
    await waitFor(async () => (await s!.api("/api/runs/20250101_000000_bbbbbb")).body.status === "finished", 5000, "status");
  });

  it("forgets a run whose folder is removed or moved", async () => {
    s = await startTestServer({ fixture: "rn-data", sweepSeconds: 3600 });
    writeRun(s.root, "gone", "20250101_000000_cccccc", { status: "finished" });
    await waitFor(async () => (await ids(s!)).includes("20250101_000000_cccccc"), 5000, "run");
    renameSync(join(s.root, "runs", "gone"), join(s.root, "runs", "moved"));
    await waitFor(async () => String((await s!.api("/api/runs/20250101_000000_cccccc")).body.run_dir).includes("/runs/moved/"), 5000, "moved run");
    rmSync(join(s.root, "runs", "moved"), { recursive: true });
    await waitFor(async () => !(await ids(s!)).includes("20250101_000000_cccccc"), 5000, "removal");
  });

  it("rebuilds everything after the index file is deleted", async () => {
    s = await startTestServer({ fixture: "rn-probe" });
    const before = (await s.api("/api/runs")).body;
    const stats = (await s.api("/api/paths?include_stats=true")).body;
    await s.stop();
    for (const suffix of ["", "-wal", "-shm"]) rmSync(join(s.root, "index", INDEX_FILE + suffix), { force: true });
    const { startServer } = await import("../../src/cli/serve.ts");
    const again = await startServer(s.ctx.config);
    try {
      const after = await (await fetch(again.url + "/api/runs")).json();
      expect(after).toEqual(before);
      expect(await (await fetch(again.url + "/api/paths?include_stats=true")).json()).toEqual(stats);
    } finally {
      await again.stop();
    }
  });

  it("re-reads nothing on a restart when no file changed", async () => {
    s = await startTestServer({ fixture: "rn-probe" });
    await s.ctx.storage.runs.ready;
    expect(await s.ctx.storage.runs.sync()).toEqual({ added: 0, updated: 0, removed: 0 });
  });

  it("dates a lost run's end at its last heartbeat or event, not when the loss was noticed", async () => {
    s = await startTestServer({ fixture: "rn-data", sweepSeconds: 3600 });
    const now = Date.now() / 1000;
    const dir = writeRun(s.root, "hb", "20250101_000000_aaaaab", { status: "running", started_at: now - 600, heartbeat_at: now - 300 }, { hostname: "gpu-box-7" });
    writeFileSync(join(dir, "events.jsonl"), '{"ts": 1, "type": "metrics", "data": {"loss": 1, "global_step": 1, "time": 1}}\n');
    utimesSync(join(dir, "events.jsonl"), now - 200, now - 200);
    await waitFor(async () => (await ids(s!)).includes("20250101_000000_aaaaab"), 5000, "runs");
    await s.api("/api/status/check", { method: "POST" });
    const body = (await s.api("/api/runs/20250101_000000_aaaaab")).body;
    expect(body).toMatchObject({ status: "failed", exit_reason: "heartbeat_lost" });
    expect(Math.abs(body.ended_at - (now - 200))).toBeLessThan(2);
  });

  it("marks a running run with a heartbeat older than a minute as failed, on any host", async () => {
    s = await startTestServer({ fixture: "rn-data", sweepSeconds: 3600 });
    const old = Date.now() / 1000 - 120;
    writeRun(s.root, "hb", "20250101_000000_dddddd", { status: "running", started_at: old, heartbeat_at: old }, { hostname: "gpu-box-7" });
    writeRun(s.root, "hb", "20250101_000000_eeeeee", { status: "running", started_at: old, heartbeat_at: Date.now() / 1000 }, { hostname: "gpu-box-7" });
    writeRun(s.root, "hb", "20250101_000000_ffffff", { status: "running", started_at: old }, { hostname: "gpu-box-7" });
    await waitFor(async () => (await ids(s!)).includes("20250101_000000_ffffff"), 5000, "runs");
    const r = await s.api("/api/status/check", { method: "POST" });
    expect(r.body).toMatchObject({ checked: 3, updated: 1, message: "Checked 3 running experiments, updated 1 statuses" });
    expect((await s.api("/api/runs/20250101_000000_dddddd")).body).toMatchObject({ status: "failed", exit_reason: "heartbeat_lost" });
    expect((await s.api("/api/runs/20250101_000000_eeeeee")).body.status).toBe("running");
    // no heartbeat and another host: the original's rule cannot judge it, so it stays running
    expect((await s.api("/api/runs/20250101_000000_ffffff")).body.status).toBe("running");
  });

  it("keeps a running run whose process is alive on this host", async () => {
    s = await startTestServer({ fixture: "rn-data", sweepSeconds: 3600 });
    const { hostname } = await import("node:os");
    writeRun(s.root, "live", "20250101_000000_abcabc", { status: "running", started_at: 1 }, { hostname: hostname(), pid: process.pid });
    await waitFor(async () => (await ids(s!)).includes("20250101_000000_abcabc"), 5000, "run");
    await s.api("/api/status/check", { method: "POST" });
    expect((await s.api("/api/runs/20250101_000000_abcabc")).body.status).toBe("running");
  });

  it("reads runs with torn or missing JSON files without failing", async () => {
    s = await startTestServer({ fixture: "rn-data", sweepSeconds: 3600 });
    const dir = join(s.root, "runs", "torn", "20250101_000000_a0a0a0");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "meta.json"), '{"id": "20250101_000000_a0a0a0", "path": "to');
    writeFileSync(join(dir, "summary.json"), '{"best_metric_value": NaN, "best_metric_name": "acc"}');
    await waitFor(async () => (await ids(s!)).includes("20250101_000000_a0a0a0"), 5000, "torn run");
    const item = (await s.api("/api/runs")).body.find((x: any) => x.id === "20250101_000000_a0a0a0");
    expect(item).toMatchObject({ status: "finished", path: "torn", best_metric_value: null, best_metric_name: "acc" });
    expect(typeof item.created_time).toBe("number");
  });
});

describe("index location", () => {
  it("falls back to the per-user cache when ROOT/index cannot be written", async () => {
    const { indexPathFor } = await import("../../src/index/db.ts");
    const { tempDir } = await import("../helpers/server.ts");
    const t = tempDir();
    try {
      mkdirSync(join(t.dir, "root"));
      writeFileSync(join(t.dir, "root", "index"), "not a folder");
      const p = indexPathFor(join(t.dir, "root"), join(t.dir, "cache"));
      expect(p.startsWith(join(t.dir, "cache", "index"))).toBe(true);
      expect(indexPathFor(join(t.dir, "root2"), join(t.dir, "cache"))).toBe(join(t.dir, "root2", "index", INDEX_FILE));
    } finally {
      t.cleanup();
    }
  });
});

describe("sweeps", () => {
  it("re-stats only running and recently changed runs on a light sweep, every run on a full sweep", async () => {
    const { openIndexDb } = await import("../../src/index/db.ts");
    const { RunIndex } = await import("../../src/index/run-index.ts");
    const { createLogger } = await import("../../src/util/log.ts");
    const { tempDir } = await import("../helpers/server.ts");
    const t = tempDir();
    const root = join(t.dir, "root");
    const done = writeRun(root, "p", "20250101_000000_a1a1a1", { status: "finished" });
    const live = writeRun(root, "p", "20250101_000000_b2b2b2", { status: "running", heartbeat_at: Date.now() / 1000 });
    const idx = await openIndexDb(join(t.dir, "index.sqlite"));
    try {
      // a first process indexes the root; a second one starts from that index (its runs are "quiet")
      const first = new RunIndex(root, idx, createLogger("error"), { sweepSeconds: 3600, watch: false });
      await first.start();
      await first.ready;
      await first.stop();
      const index = new RunIndex(root, idx, createLogger("error"), { sweepSeconds: 3600, watch: false });
      await index.start();
      await index.ready;
      writeFileSync(join(done, "meta.json"), JSON.stringify({ id: "20250101_000000_a1a1a1", path: "p", alias: "edited by hand" }));
      writeFileSync(join(live, "status.json"), JSON.stringify({ status: "finished" }));
      expect(await index.sweepActive()).toEqual({ updated: 1, removed: 0 });
      expect(index.findRun("20250101_000000_b2b2b2")?.status).toBe("finished");
      expect(await index.sync()).toEqual({ added: 0, updated: 1, removed: 0 });
      // the light sweep still re-stats what changed lately (gone: dropped), but finds no new folders:
      // those come from fs events, and without them from the full sweep
      writeRun(root, "p", "20250101_000000_c3c3c3", { status: "finished" });
      rmSync(done, { recursive: true });
      expect(await index.sweepActive()).toEqual({ updated: 0, removed: 1 });
      expect(index.findRun("20250101_000000_c3c3c3")).toBeUndefined();
      expect(await index.sync()).toEqual({ added: 1, updated: 0, removed: 0 });
      await index.stop();
    } finally {
      await idx.close();
      t.cleanup();
    }
  });
});
