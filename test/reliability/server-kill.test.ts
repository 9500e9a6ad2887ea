// Reliability: the server killed with SIGKILL during the ingest of a large run, restarted — index consistent, no point lost or doubled.
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { appendFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isolatedEnv, tempDir } from "../helpers/server.ts";
import { apiRows, lossAt, metricsLine, rowsChecksum, rowsFromFile, type ServerProc, spawnServe, writeRun } from "./helpers.ts";

const t = tempDir("rn-rel-kill-");
const root = join(t.dir, "root");
const env = isolatedEnv(t.dir);
const RUN = "20260101_000000_b16b16";
const STEPS = 600_000;
const KEYS = ["loss", "val_acc", "note"];
let file = "";
let server: ServerProc | undefined;

/** Appends steps [from, to] as the SDK would, with a re-logged step every 1000 (later values win) and a sparse second key. */
function appendSteps(from: number, to: number): void {
  let parts: string[] = [];
  for (let s = from; s <= to; s++) {
    const ts = 1767225600 + s * 0.01;
    parts.push(metricsLine(s, ts, s % 100 === 0 ? { loss: lossAt(s), val_acc: lossAt(s, 1) } : { loss: lossAt(s) }));
    if (s % 1000 === 0) parts.push(metricsLine(s, ts + 0.001, { loss: lossAt(s, 2), note: `again-${s}` }));
    if (parts.length >= 50000) {
      appendFileSync(file, parts.join(""));
      parts = [];
    }
  }
  appendFileSync(file, parts.join(""));
}

beforeAll(() => {
  const dir = writeRun(root, "big/ingest", RUN, { status: "finished" });
  file = join(dir, "events.jsonl");
  writeFileSync(file, "");
  appendSteps(1, STEPS);
});
afterAll(async () => {
  await server?.kill9();
  t.cleanup();
});

/** Lines and bytes the store has parsed so far in this server process. */
async function parsed(s: ServerProc): Promise<number> {
  const r = await s.call("/api/metrics/cache/stats");
  return r.status === 200 ? r.body.lines_parsed : -1;
}

describe("the server killed with SIGKILL during the ingest of a large run", () => {
  const killedAt: number[] = [];

  it("is killed mid-ingest several times, each restart resuming where the last commit left off", async () => {
    const lines = STEPS + STEPS / 1000;
    for (let round = 0; round < 3; round++) {
      server = await spawnServe(root, env, ["--log-level", "error"]);
      // the query starts the ingest; the server dies before it answers
      let answered = false;
      server
        .call(`/api/runs/${RUN}/metrics_step?downsample=500`)
        .then(() => (answered = true))
        .catch(() => undefined);
      let seen = 0;
      const deadline = Date.now() + 20000;
      while (seen <= 0 && !answered && Date.now() < deadline) seen = await parsed(server);
      await Bun.sleep(round * 7); // vary the moment within a slice's parse and commit
      await server.kill9();
      server = undefined;
      killedAt.push(seen);
      if (answered) break; // the ingest finished before the kill: nothing left to interrupt
      if (process.env.RN_REL_DEBUG) console.log(`round ${round}: killed after ${seen} lines parsed`);
    }
    // at least one kill landed strictly inside the ingest (not before it began, not after it ended)
    expect(killedAt.some((n) => n > 0 && n < lines)).toBe(true);
  }, 120000);

  it("keeps the index database intact after the kills", () => {
    const db = new Database(join(root, "index", "viewer-index.sqlite"));
    try {
      expect(db.query("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
      const mark = db.query("SELECT byte_offset, lines FROM metric_run").all() as { byte_offset: number; lines: number }[];
      expect(mark).toHaveLength(1);
      expect(mark[0].byte_offset).toBeLessThanOrEqual(statSync(file).size);
    } finally {
      db.close();
    }
  });

  it("serves exactly the file's rows after a restart: count and checksum match, no step twice", async () => {
    server = await spawnServe(root, env, ["--log-level", "error"]);
    const expected = rowsFromFile(file);
    expect(expected.size).toBe(STEPS);
    const res = await server.call(`/api/runs/${RUN}/metrics_step`);
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(STEPS);
    // the restart resumed from the committed offset instead of parsing the file from the start
    expect(await parsed(server)).toBeLessThan(STEPS + STEPS / 1000);
    const rows = apiRows(res.body);
    expect(new Set(rows.map(([s]) => s)).size).toBe(STEPS);
    expect(rowsChecksum(rows, KEYS)).toBe(rowsChecksum(expected, KEYS));
    // the re-logged step kept its later values (spec §3.3: later events merge into the row)
    expect(res.body.rows[999]).toMatchObject({ global_step: 1000, loss: lossAt(1000, 2), note: "again-1000", val_acc: lossAt(1000, 1) });
  }, 60000);

  it("ingests only what was appended after the restart, and the totals still match the file", async () => {
    const before = await parsed(server!);
    appendSteps(STEPS + 1, STEPS + 5000);
    const res = await server!.call(`/api/runs/${RUN}/metrics_step`);
    expect(res.body.total).toBe(STEPS + 5000);
    expect(rowsChecksum(apiRows(res.body), KEYS)).toBe(rowsChecksum(rowsFromFile(file), KEYS));
    expect((await parsed(server!)) - before).toBe(5000 + 5);
  }, 60000);

  it("rebuilds the same rows from the files after its index is deleted", async () => {
    await server!.stop();
    server = undefined;
    for (const suffix of ["", "-wal", "-shm"]) rmSync(join(root, "index", `viewer-index.sqlite${suffix}`), { force: true });
    server = await spawnServe(root, env, ["--log-level", "error"]);
    const res = await server.call(`/api/runs/${RUN}/metrics_step`);
    expect(res.body.total).toBe(STEPS + 5000);
    expect(rowsChecksum(apiRows(res.body), KEYS)).toBe(rowsChecksum(rowsFromFile(file), KEYS));
  }, 60000);
});
