// One connection, one lock: metric commits and chunk reads never run inside another owner's open transaction.
import { afterEach, describe, expect, it } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sql } from "kysely";
import { openIndexDb, type IndexDb } from "../../src/index/db.ts";
import { MetricStore } from "../../src/index/metric-store.ts";
import { buildMetricsStep, buildSeries } from "../../src/metrics/query.ts";
import { tempDir } from "../helpers/server.ts";
import { sdkLine } from "./harness.ts";

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function setup(steps: number) {
  const tmp = tempDir("rn-lock-");
  const runDir = join(tmp.dir, "run");
  mkdirSync(runDir);
  let s = "";
  for (let i = 1; i <= steps; i++) s += sdkLine(i, { loss: i === 777 ? 1e6 : 1 / i, acc: (i % 13) / 13 });
  writeFileSync(join(runDir, "events.jsonl"), s);
  const path = join(tmp.dir, "index.sqlite");
  const ctx = { runDir, path, idx: await openIndexDb(path) };
  cleanups.push(async () => {
    await ctx.idx.close();
    tmp.cleanup();
  });
  return ctx;
}

/** Opens a run-index style transaction (kysely, async) that writes a row and stays open until `end(fail)`. */
async function openIndexTransaction(idx: IndexDb, key: string) {
  let entered!: () => void;
  const inside = new Promise<void>((r) => (entered = r));
  let finish!: (fail: boolean) => void;
  const gate = new Promise<boolean>((r) => (finish = r));
  const done = idx.db.transaction().execute(async (trx) => {
    await trx.insertInto("index_state").values({ key, value: "written by the run index" }).execute();
    entered();
    if (await gate) throw new Error("run index batch failed");
  });
  await inside;
  return { done, end: (fail: boolean) => finish(fail) };
}

async function stateRows(idx: IndexDb, key: string): Promise<number> {
  return (await idx.db.selectFrom("index_state").select("key").where("key", "=", key).execute()).length;
}

async function metricRows(idx: IndexDb): Promise<{ runs: number; chunks: number }> {
  const runs = await idx.db.selectFrom("metric_run").select("sid").execute();
  const chunks = await idx.db.selectFrom("metric_chunk").select("sid").execute();
  return { runs: runs.length, chunks: chunks.length };
}

describe("one connection lock", () => {
  it("keeps a metric commit made while a run-index transaction is open when that transaction rolls back", async () => {
    const s = await setup(5000);
    const store = new MetricStore(s.idx, { worker: null });
    const tx = await openIndexTransaction(s.idx, "k1");
    let synced = false;
    const sync = store.sync(s.runDir).then((st) => ((synced = true), st));
    await Bun.sleep(50);
    // the metric commit waits for the connection instead of becoming a savepoint inside the open transaction
    expect(synced).toBe(false);
    tx.end(true);
    await expect(tx.done).rejects.toThrow("run index batch failed");
    const state = await sync;
    expect(state.totalRows).toBe(5000);
    expect(await stateRows(s.idx, "k1")).toBe(0);
    expect((await metricRows(s.idx)).chunks).toBeGreaterThan(0);

    // a restart finds every row: nothing of the metric commit was rolled back with the other transaction
    await s.idx.close();
    s.idx = await openIndexDb(s.path);
    const again = new MetricStore(s.idx, { worker: null });
    const reloaded = await again.sync(s.runDir);
    expect(again.counters.lines_parsed).toBe(0);
    expect(reloaded.totalRows).toBe(5000);
    expect(buildMetricsStep(reloaded, 200).json).toBe(buildMetricsStep(state, 200).json);
  });

  it("keeps a run-index transaction when a metric commit made meanwhile fails, and loses no metric line", async () => {
    const s = await setup(3000);
    // every metric chunk write fails (as a full disk would) until the trigger is dropped
    await sql`CREATE TRIGGER no_chunks BEFORE INSERT ON metric_chunk BEGIN SELECT RAISE(ABORT, 'disk full'); END`.execute(s.idx.db);
    const store = new MetricStore(s.idx, { worker: null });
    const tx = await openIndexTransaction(s.idx, "k2");
    const sync = store.sync(s.runDir);
    // (not `expect().rejects` here: it would wait for the sync, which waits for the open transaction)
    const failed = sync.then(
      () => "committed",
      (e: Error) => e.message,
    );
    await Bun.sleep(50);
    tx.end(false);
    await tx.done;
    expect(await failed).toContain("disk full");
    expect(await stateRows(s.idx, "k2")).toBe(1);
    expect(await metricRows(s.idx)).toEqual({ runs: 0, chunks: 0 });

    await sql`DROP TRIGGER no_chunks`.execute(s.idx.db);
    const state = await store.sync(s.runDir);
    expect(state.totalRows).toBe(3000);
    expect(state.lines).toBe(3000);
    expect(await stateRows(s.idx, "k2")).toBe(1);
  });

  it("answers a query that must read chunks while a run-index transaction is open, once it ends, exactly", async () => {
    const s = await setup(20000);
    const expected = buildMetricsStep(await new MetricStore(s.idx, { worker: null }).sync(s.runDir), 500).json;
    // a fresh store (as after a restart): its chunks are on disk only
    const store = new MetricStore(s.idx, { worker: null });
    const state = await store.sync(s.runDir);
    const tx = await openIndexTransaction(s.idx, "k3");
    let answered = false;
    const query = store.compute(() => buildMetricsStep(state, 500).json).then((j) => ((answered = true), j));
    const series = store.compute(() => buildSeries(state, "r", { x: "step", points: 300, mode: "lttb" }));
    await Bun.sleep(50);
    expect(answered).toBe(false);
    tx.end(false);
    await tx.done;
    expect(await query).toBe(expected);
    expect((await series).series.loss).toContain(1e6);
    expect(await stateRows(s.idx, "k3")).toBe(1);
  });
});
