// What survives a restart: the per-run summary row (catalogue, key summaries) and stored query results.
import { afterEach, describe, expect, it } from "bun:test";
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openIndexDb, type IndexDb } from "../../src/index/db.ts";
import { MetricStore, type QueryResult, type RunState } from "../../src/index/metric-store.ts";
import { buildKeys, buildMetricsStep, buildSeries } from "../../src/metrics/query.ts";
import { tempDir } from "../helpers/server.ts";
import { sdkLine } from "./harness.ts";

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A run dir with an events file and an index that can be closed and reopened (a server restart). */
async function setup() {
  const tmp = tempDir("rn-restart-");
  const runDir = join(tmp.dir, "run");
  mkdirSync(runDir);
  const path = join(tmp.dir, "index.sqlite");
  const ctx = {
    runDir,
    events: join(runDir, "events.jsonl"),
    idx: await openIndexDb(path),
    async restart(): Promise<MetricStore> {
      await ctx.idx.close();
      ctx.idx = await openIndexDb(path);
      return new MetricStore(ctx.idx);
    },
  };
  cleanups.push(async () => {
    await ctx.idx.close();
    tmp.cleanup();
  });
  return ctx;
}

/** `n` SDK lines from step `from` with a spike in `loss` at `spike`. */
function lines(from: number, n: number, spike = -1): string {
  let s = "";
  for (let i = from; i < from + n; i++) {
    s += sdkLine(i, { loss: i === spike ? 1e6 : 1 / (1 + i), acc: (i % 97) / 97, stage: i < from + n / 2 ? "a" : "b" });
  }
  return s;
}

/** A fresh store's view of the same file (parsed from scratch into its own index). */
async function fromScratch(events: string, runDir: string) {
  const tmp = tempDir("rn-scratch-");
  const idx: IndexDb = await openIndexDb(join(tmp.dir, "index.sqlite"));
  cleanups.push(async () => {
    await idx.close();
    tmp.cleanup();
  });
  return new MetricStore(idx).sync(runDir);
}

function seriesResult(state: RunState): QueryResult {
  return { body: JSON.stringify(buildSeries(state, "r", { x: "step", points: 200, mode: "lttb" })), rowCount: 0, total: 0, lastStep: null };
}

describe("restarts", () => {
  it("loads a run from its summary row after a restart and answers exactly as before, parsing nothing", async () => {
    const s = await setup();
    writeFileSync(s.events, lines(1, 9000, 4321));
    const before = await new MetricStore(s.idx).sync(s.runDir);
    const rows = buildMetricsStep(before, 500).json;
    const keys = buildKeys(before, "r");
    const store = await s.restart();
    const after = await store.sync(s.runDir);
    expect(store.counters.lines_parsed).toBe(0);
    expect(store.counters.index_loads).toBe(1);
    expect(after.chunks.every((c) => c.stats === undefined)).toBe(true); // per-chunk summaries stay on disk
    expect(buildMetricsStep(after, 500).json).toBe(rows);
    expect(buildKeys(after, "r")).toEqual(keys);
    expect(buildKeys(after, "r").keys.find((k) => k.key === "loss")!.max).toBe(1e6);
  });

  it("keeps the summary right when rows are appended after a restart (new key, new extreme, new stage)", async () => {
    const s = await setup();
    writeFileSync(s.events, lines(1, 5000));
    await new MetricStore(s.idx).sync(s.runDir);
    let store = await s.restart();
    await store.sync(s.runDir);
    appendFileSync(s.events, lines(5001, 3000, 6000) + sdkLine(8001, { extra: -5, stage: "c" }));
    await store.sync(s.runDir);
    store = await s.restart();
    const after = await store.sync(s.runDir);
    const scratch = await fromScratch(s.events, s.runDir);
    expect(buildKeys(after, "r")).toEqual(buildKeys(scratch, "r"));
    expect(buildMetricsStep(after, 1000).json).toBe(buildMetricsStep(scratch, 1000).json);
    expect(buildKeys(after, "r").stages.map((g) => g.stage)).toEqual(["a", "b", "a", "b", "c"]);
  });

  it("answers a query from its stored result after a restart and recomputes once rows change", async () => {
    const s = await setup();
    writeFileSync(s.events, lines(1, 6000, 100));
    await new MetricStore(s.idx).sync(s.runDir);
    // a restarted run has been quiet: its result is stored right after it is computed
    let store = await s.restart();
    let state = await store.sync(s.runDir);
    let computed = 0;
    const compute = () => {
      computed++;
      return seriesResult(state);
    };
    const first = await store.result(state, "series:default", true, compute);
    expect(await store.result(state, "series:default", true, compute)).toBe(first);
    await Bun.sleep(20);
    expect(store.counters.results_stored).toBe(1);

    store = await s.restart();
    state = await store.sync(s.runDir);
    const again = await store.result(state, "series:default", true, compute);
    expect(computed).toBe(1);
    expect(store.counters.result_loads).toBe(1);
    expect(new TextDecoder().decode(again.body as Uint8Array)).toBe(first.body as string);

    appendFileSync(s.events, lines(6001, 10, 6005));
    state = await store.sync(s.runDir);
    const changed = await store.result(state, "series:default", true, compute);
    expect(computed).toBe(2);
    expect(JSON.parse(changed.body as string).series.loss).toContain(1e6);

    // the stale stored row is gone: a restart computes again rather than answering the old rows
    store = await s.restart();
    state = await store.sync(s.runDir);
    await store.result(state, "series:default", true, compute);
    expect(computed).toBe(3);
  });

  it("keeps results stored by different restarts side by side", async () => {
    const s = await setup();
    writeFileSync(s.events, lines(1, 400));
    await new MetricStore(s.idx).sync(s.runDir);
    const keys = Array.from({ length: 20 }, (_, i) => `series:${i}`);
    // each restart computes and stores a few keys, as pages opened one after another would
    for (let i = 0; i < keys.length; i += 5) {
      const store = await s.restart();
      const state = await store.sync(s.runDir);
      for (const key of keys.slice(i, i + 5)) await store.result(state, key, true, () => seriesResult(state));
      await Bun.sleep(20);
    }
    const store = await s.restart();
    const state = await store.sync(s.runDir);
    let computed = 0;
    for (const key of keys) await store.result(state, key, true, () => (computed++, seriesResult(state)));
    // 16 rows per run: the four oldest were replaced, the sixteen newest answer without computing
    expect(computed).toBe(4);
    expect(store.counters.result_loads).toBe(16);
  });

  it("never stores results that were not asked to be stored, and forgets results when the file is replaced", async () => {
    const s = await setup();
    writeFileSync(s.events, lines(1, 300));
    await new MetricStore(s.idx).sync(s.runDir);
    let store = await s.restart();
    let state = await store.sync(s.runDir);
    await store.result(state, "zoom", false, () => seriesResult(state));
    await store.result(state, "full", true, () => seriesResult(state));
    await Bun.sleep(20);
    expect(store.counters.results_stored).toBe(1);

    writeFileSync(s.events + ".new", lines(1, 5));
    const { renameSync } = await import("node:fs");
    renameSync(s.events + ".new", s.events);
    state = await store.sync(s.runDir);
    let computed = 0;
    const r = await store.result(state, "full", true, () => {
      computed++;
      return seriesResult(state);
    });
    expect(computed).toBe(1);
    expect(JSON.parse(r.body as string).x).toEqual([1, 2, 3, 4, 5]);
    store = await s.restart();
    state = await store.sync(s.runDir);
    expect(state.totalRows).toBe(5);
  });
});
