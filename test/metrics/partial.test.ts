// First chart of a huge run: answered from the rows read so far (flagged partial), the rest ingested and pushed after.
import { afterEach, describe, expect, it } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openIndexDb } from "../../src/index/db.ts";
import { type IngestEvent, MetricStore } from "../../src/index/metric-store.ts";
import { buildSeries } from "../../src/metrics/query.ts";
import { tempDir } from "../helpers/server.ts";
import { sdkLine } from "./harness.ts";

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

const STEPS = 30000;

async function setup() {
  const tmp = tempDir("rn-partial-");
  const runDir = join(tmp.dir, "run");
  mkdirSync(runDir);
  let s = "";
  for (let i = 1; i <= STEPS; i++) s += sdkLine(i, { loss: i === STEPS - 5 ? -1e6 : 1 / i, acc: (i % 17) / 17 });
  writeFileSync(join(runDir, "events.jsonl"), s);
  const idx = await openIndexDb(join(tmp.dir, "index.sqlite"));
  cleanups.push(async () => {
    await idx.close();
    tmp.cleanup();
  });
  // small slices: the file takes many commits, as a file of hundreds of MB does with the real sizes
  const store = new MetricStore(idx, { worker: null, sliceBytes: 16 * 1024 });
  return { runDir, store };
}

const series = (store: MetricStore, state: Awaited<ReturnType<MetricStore["sync"]>>) =>
  store.result(state, "series", true, () => ({
    body: JSON.stringify(buildSeries(state, "r", { x: "step", points: 500, mode: "lttb" })),
    rowCount: 0,
    total: 0,
    lastStep: null,
  }));

describe("partial first answers", () => {
  it("answers from the rows read so far, flagged with the share read, and in full once the read ends", async () => {
    const { runDir, store } = await setup();
    const events: IngestEvent[] = [];
    store.onIngest((e) => events.push(e));
    const state = await store.sync(runDir, "query", { partialAfterMs: 0 });
    expect(state.progress).toBeGreaterThan(0);
    expect(state.progress).toBeLessThan(1);
    const first = await series(store, state);
    expect(first.partial!).toBeGreaterThan(0);
    expect(first.partial!).toBeLessThan(1);
    const early = JSON.parse(first.body as string);
    // a prefix of the run, from its first step, with nothing invented
    expect(early.x[0]).toBe(1);
    expect(early.x.at(-1)).toBeLessThan(STEPS);
    expect(early.series.loss).not.toContain(-1e6);

    // the read goes on by itself; the next sync waits for it and the answer is complete (and not the partial one kept)
    const done = await store.sync(runDir);
    expect(done.progress).toBe(1);
    expect(done.totalRows).toBe(STEPS);
    const full = await series(store, done);
    expect(full.partial).toBeUndefined();
    const body = JSON.parse(full.body as string);
    expect(body.x[0]).toBe(1);
    expect(body.x.at(-1)).toBe(STEPS);
    expect(body.series.loss).toContain(-1e6);
    expect(store.counters.results_computed).toBe(2);

    // the rows read after the partial answer were announced for live push, up to the last step
    const pushed = events.flatMap((e) => e.steps);
    expect(pushed.at(-1)).toBe(STEPS);
    expect(new Set(pushed).size).toBe(STEPS);
  });

  it("answers in full when the read ends before the deadline", async () => {
    const { runDir, store } = await setup();
    const state = await store.sync(runDir, "query", { partialAfterMs: 60_000 });
    expect(state.progress).toBe(1);
    const r = await series(store, state);
    expect(r.partial).toBeUndefined();
    expect(JSON.parse(r.body as string).x.at(-1)).toBe(STEPS);
  });
});
