// On a fresh index the server reads the newest runs' metrics ahead, on the ingest worker, so that the first chart a user opens is ready.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { mkdirSync, openSync, writeFileSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { sharedIngestWorker } from "../../src/metrics/ingest-pool.ts";
import { startTestServer, type TestServer, waitFor } from "../helpers/server.ts";

/** A v0.6 run dir with `steps` metric lines, created at `created`. */
function writeRun(root: string, id: string, created: number, steps: number): string {
  const dir = join(root, "runs", "ahead", "exp", id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "meta.json"), JSON.stringify({ id, path: "ahead/exp", created_at: created, pid: 1, hostname: "h" }));
  writeFileSync(join(dir, "status.json"), JSON.stringify({ status: "finished", started_at: created, ended_at: created + 10 }));
  const lines = Array.from({ length: steps }, (_, i) => `{"ts": ${created + i}, "type": "metrics", "data": {"loss": ${1 / (i + 1)}, "global_step": ${i + 1}, "time": ${created + i}}}\n`);
  writeFileSync(join(dir, "events.jsonl"), lines.join(""));
  return dir;
}

describe("reading ahead on a fresh index", () => {
  let s: TestServer;
  const dirs: Record<string, string> = {};
  let piecesBefore = 0;
  beforeAll(async () => {
    piecesBefore = sharedIngestWorker().piecesBuilt;
    s = await startTestServer({
      prepare: (root) => {
        dirs.oldest = writeRun(root, "20261201_000000_aaaaaa", 1796000000, 50);
        dirs.older = writeRun(root, "20261202_000000_bbbbbb", 1796100000, 60);
        // large enough for a split first read (4 MB): the worker builds it alone
        dirs.newer = writeRun(root, "20261203_000000_cccccc", 1796200000, 60000);
        // the newest run's events.jsonl is past 64 MB: read when asked for, not ahead
        dirs.huge = writeRun(root, "20261204_000000_dddddd", 1796300000, 10);
        const fd = openSync(join(dirs.huge, "events.jsonl"), "a");
        const line = Buffer.from(`{"ts": 1796300011, "type": "metrics", "data": {"loss": 0.5, "global_step": 11, "time": 1796300011, "pad": "${"x".repeat(4000)}"}}\n`);
        const block = Buffer.concat(Array.from({ length: 256 }, () => line));
        for (let written = 0; written <= 65 << 20; written += block.length) writeSync(fd, block);
        closeSync(fd);
      },
    });
  });
  afterAll(() => s.close());

  it("reads the two newest runs that are not too large, before anyone asks", async () => {
    const store = () => s.ctx.metrics();
    await waitFor(() => store().peek(dirs.newer)?.progress === 1 && store().peek(dirs.older)?.progress === 1, 20000, "the read-ahead");
    expect(store().peek(dirs.newer)!.totalRows).toBe(60000);
    expect(store().peek(dirs.older)!.totalRows).toBe(60);
    expect(store().peek(dirs.oldest)).toBeUndefined();
    expect(store().peek(dirs.huge)).toBeUndefined();
    expect(store().counters.misses).toBe(0);
    // the split read of the 5 MB run went to the worker (pieces of at least 2 MB: 3 or 4 of them)
    expect(sharedIngestWorker().piecesBuilt - piecesBefore).toBeGreaterThanOrEqual(3);
  });

  it("answers the first chart of a run read ahead from what it read, counted as the original counts it", async () => {
    const c = s.ctx.metrics().counters;
    const parsed = { lines: c.lines_parsed, full: c.full_parses };
    // nothing asked for yet: the cache is empty as the original's is (spec §3.4)
    expect((await s.api("/api/health")).body.cache).toMatchObject({ size: 0, hits: 0, misses: 0 });
    const r = await s.api("/api/runs/20261203_000000_cccccc/metrics_step?downsample=500");
    expect(r.status).toBe(200);
    expect(r.body.total).toBe(60000);
    expect(r.body.rows.at(-1).global_step).toBe(60000);
    // no line read again for it; the first request of a run is a miss, the next a hit
    expect({ lines: c.lines_parsed, full: c.full_parses }).toEqual(parsed);
    await s.api("/api/runs/20261203_000000_cccccc/metrics_step?downsample=500");
    expect((await s.api("/api/health")).body.cache).toMatchObject({ size: 1, hits: 1, misses: 1 });
  });

  it("reads the others when asked for", async () => {
    const r = await s.api("/api/runs/20261201_000000_aaaaaa/metrics_step");
    expect(r.body.total).toBe(50);
    expect(s.ctx.metrics().counters.misses).toBe(2);
  });
});
