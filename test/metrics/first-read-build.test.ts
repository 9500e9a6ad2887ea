// First reads built whole on worker threads (side by side, joined, or again in one pass): the same rows as a read on this thread, answered before they are stored.
import { afterAll, afterEach, describe, expect, it } from "bun:test";
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openIndexDb } from "../../src/index/db.ts";
import { MetricStore, type MetricStoreOptions } from "../../src/index/metric-store.ts";
import { eventsBuiltHere } from "../../src/metrics/events.ts";
import { IngestWorker } from "../../src/metrics/ingest-pool.ts";
import { syntheticLines } from "../../src/metrics/warm-lines.ts";
import { buildKeys, buildMetricsStep, buildSeries } from "../../src/metrics/query.ts";
import { tempDir } from "../helpers/server.ts";

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

// two workers of this file's own (the shared ones serve other tests); ended at the end
const workers = [new IngestWorker(), new IngestWorker()];
afterAll(() => {
  for (const w of workers) w.close();
});

/** SDK lines for steps `from .. from + n - 1`, every 500th step with an image event after it. */
function sdkLines(from: number, n: number): string {
  let out = "";
  for (let i = from; i < from + n; i++) {
    const t = (1795922975 + i / 1000).toFixed(6);
    out += `{"ts": ${t}, "type": "metrics", "data": {"loss": ${2 / Math.sqrt(i + 1)}, "acc": ${(i % 97) / 97}, "lr": ${0.001 * (1 - i / 1e6)}, "global_step": ${i}, "time": ${t}, "stage": "${i < 10000 ? "warmup" : "train"}"}}\n`;
    if (i % 500 === 0) out += `{"ts": ${t}, "type": "image", "data": {"key": "sample", "step": ${i}, "path": "media/s${i}.png", "caption": "c${i}"}}\n`;
  }
  return out;
}

/** A run holding `text` as its events.jsonl in a fresh temp dir. */
function runWith(text: string) {
  const tmp = tempDir("rn-build-");
  const runDir = join(tmp.dir, "run");
  mkdirSync(runDir);
  writeFileSync(join(runDir, "events.jsonl"), text);
  cleanups.push(() => tmp.cleanup());
  return { dir: tmp.dir, runDir, events: join(runDir, "events.jsonl") };
}

/** A store over a fresh index in `dir` (or the index at `path`). */
async function storeIn(dir: string, opts: MetricStoreOptions, name = `index-${Math.random()}.sqlite`) {
  const idx = await openIndexDb(join(dir, name));
  cleanups.push(() => idx.close());
  return { idx, store: new MetricStore(idx, opts) };
}

/** Everything the API shows of a run's rows. */
async function snapshot(store: MetricStore, runDir: string) {
  const state = await store.sync(runDir);
  return {
    lines: state.lines,
    rows: buildMetricsStep(state).json,
    keys: buildKeys(state, "r"),
    stages: state.stages,
    images: await store.images(state),
    total: state.totalRows,
  };
}

/** The same run read on this thread alone, for comparison. */
async function inline(dir: string, runDir: string) {
  const { store } = await storeIn(dir, { worker: null });
  return snapshot(store, runDir);
}

const built = { worker: null, builders: workers, buildMinBytes: 0 } satisfies MetricStoreOptions;

describe("first reads built on worker threads", () => {
  it("builds a large first read on two workers side by side and gives exactly the rows, keys, stages and images of a read on this thread", async () => {
    const r = runWith(sdkLines(1, 24000)); // about 5 MB: one part per worker (and this thread's, once warm)
    const expected = await inline(r.dir, r.runDir);
    const { store } = await storeIn(r.dir, built);
    const got = await snapshot(store, r.runDir);
    expect(got).toEqual(expected);
    expect(got.total).toBe(24000);
    // joined parts: a part's last chunk is short, where one pass fills every chunk but the last
    const rows = store.peek(r.runDir)!.chunks.map((c) => c.rows);
    expect(rows.slice(0, -1).some((n) => n < 4096)).toBe(true);
    expect(store.counters.full_parses).toBe(1);
  });

  it("takes a part on this thread too once it has built many rows, with the same rows", async () => {
    const r = runWith(sdkLines(1, 24000));
    const expected = await inline(r.dir, r.runDir); // 24,000 events built here: this thread counts as warm
    expect(eventsBuiltHere()).toBeGreaterThanOrEqual(20000);
    const { store } = await storeIn(r.dir, { ...built, builders: workers.slice(0, 1) });
    expect(await snapshot(store, r.runDir)).toEqual(expected);
    const rows = store.peek(r.runDir)!.chunks.map((c) => c.rows);
    expect(rows.slice(0, -1).some((n) => n < 4096)).toBe(true);
  });

  it("builds the file again in one pass when a later part logs steps of an earlier one (a resumed run): later events win", async () => {
    // steps 1..12000, then a resume from 6001 with other values: the second half rewrites rows of the first
    const resumed = sdkLines(6001, 12000).replaceAll('"loss": ', '"loss": 1').replaceAll('"stage": "train"', '"stage": "resumed"');
    const r = runWith(sdkLines(1, 12000) + resumed);
    const expected = await inline(r.dir, r.runDir);
    const { store } = await storeIn(r.dir, built);
    const got = await snapshot(store, r.runDir);
    expect(got).toEqual(expected);
    expect(got.total).toBe(18000);
    const rows = store.peek(r.runDir)!.chunks.map((c) => c.rows);
    expect(rows.slice(0, -1).every((n) => n === 4096)).toBe(true); // one pass: only the last chunk is short
  });

  it("answers from memory before the rows are stored, and a restart finds them stored and parses nothing", async () => {
    const r = runWith(sdkLines(1, 15000));
    const { store } = await storeIn(r.dir, built, "index.sqlite");
    const state = await store.sync(r.runDir, "query", { beforeStored: true });
    expect(state.saving).toBeDefined(); // answered before the write
    const answer = buildMetricsStep(state, 500).json;
    const series = JSON.stringify(buildSeries(state, "r", { x: "step", points: 300, mode: "lttb" }));
    expect((await store.images(state)).length).toBe(30); // images wait for the write
    expect(state.saving).toBeUndefined();
    await store.flushResults();
    const again = await storeIn(r.dir, { worker: null }, "index.sqlite");
    const after = await again.store.sync(r.runDir);
    expect(again.store.counters.lines_parsed).toBe(0);
    expect(buildMetricsStep(after, 500).json).toBe(answer);
    expect(JSON.stringify(buildSeries(after, "r", { x: "step", points: 300, mode: "lttb" }))).toBe(series);
  });

  it("lets a second sync of the run wait for the write, then reads appended bytes only", async () => {
    const r = runWith(sdkLines(1, 15000));
    const { store } = await storeIn(r.dir, built);
    const first = store.sync(r.runDir, "query", { beforeStored: true });
    const second = store.sync(r.runDir); // waits for the first read and its write
    await first;
    appendFileSync(r.events, sdkLines(15001, 100));
    const state = await second;
    expect(state.saving).toBeUndefined();
    const latest = await store.sync(r.runDir);
    expect(latest.totalRows).toBe(15100);
    expect(store.counters.full_parses).toBe(1);
    expect(await snapshot(store, r.runDir)).toEqual(await inline(r.dir, r.runDir));
  });

  it("keeps a torn last line of a built read until its newline arrives", async () => {
    const text = sdkLines(1, 15000);
    const next = sdkLines(15001, 1);
    const r = runWith(text + next.slice(0, 40));
    const { store } = await storeIn(r.dir, built);
    expect((await store.sync(r.runDir)).totalRows).toBe(15000);
    appendFileSync(r.events, next.slice(40));
    expect((await store.sync(r.runDir)).totalRows).toBe(15001);
    expect(await snapshot(store, r.runDir)).toEqual(await inline(r.dir, r.runDir));
  });

  it("reads the file on this thread when a build worker cannot start, losing nothing", async () => {
    const r = runWith(sdkLines(1, 15000));
    const broken = new IngestWorker(new URL("./no-such-worker.ts", import.meta.url).href);
    const { store } = await storeIn(r.dir, { ...built, builders: [broken] });
    expect(await snapshot(store, r.runDir)).toEqual(await inline(r.dir, r.runDir));
    expect(broken.usable).toBe(false);
  });
});

describe("synthetic warm-up lines", () => {
  it("are SDK metrics lines with rising global steps and float32-like values", () => {
    const lines = syntheticLines(10, 50, 100).toString().trimEnd().split("\n");
    expect(lines).toHaveLength(50);
    const events = lines.map((l) => JSON.parse(l) as { type: string; data: Record<string, number | string> });
    expect(events.every((e) => e.type === "metrics")).toBe(true);
    expect(events.map((e) => e.data.global_step)).toEqual(Array.from({ length: 50 }, (_, i) => 10 + i));
    expect(String(events[0].data.acc).length).toBeGreaterThan(12); // long mantissas, as Python prints float32 values
  });
});
