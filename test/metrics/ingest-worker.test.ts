// The ingest worker and the batch path: same rows as the calling thread, claims, and falling back when the worker is gone.
import { afterEach, describe, expect, it } from "bun:test";
import { appendFileSync, closeSync, mkdirSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openIndexDb } from "../../src/index/db.ts";
import { MetricStore, type MetricStoreOptions } from "../../src/index/metric-store.ts";
import { parseHere } from "../../src/metrics/events.ts";
import { CLAIM_SENDER, IngestWorker } from "../../src/metrics/ingest-pool.ts";
import { buildRange, readFd } from "../../src/metrics/range-build.ts";
import { buildKeys, buildMetricsStep } from "../../src/metrics/query.ts";
import { tempDir } from "../helpers/server.ts";

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A small deterministic generator. */
function rng(seed: number) {
  return () => {
    seed = (seed * 48271) % 2147483647;
    return seed / 2147483647;
  };
}

/**
 * An events.jsonl of `n` lines mixing what the store meets: SDK metrics lines (16–17-digit floats,
 * NaN, ±Infinity, stages), key sets that change, steps logged again or out of order, the legacy
 * `step`, bools and nulls, lines only JSON.parse can read (escapes, lists), image events, malformed
 * and blank lines.
 */
function mixedEvents(n: number, seed = 1): string {
  const rnd = rng(seed);
  let out = "";
  let ts = 1795922975.044536;
  let step = 0;
  for (let i = 0; i < n; i++) {
    ts += 0.000137;
    const t = String(Math.round(ts * 1e6) / 1e6);
    const r = rnd();
    if (r < 0.01) out += `{"ts": ${t}, "type": "image", "data": {"key": "sample", "step": ${step}, "path": "media/s${i}.png", "caption": "c${i}"}}\n`;
    else if (r < 0.015) out += "not json at all\n";
    else if (r < 0.02) out += "\n";
    else if (r < 0.03) out += `{"ts": ${t}, "type": "metrics", "data": {"note": "a\\"b${i}", "l": [1, 2], "global_step": ${step}}}\n`;
    else if (r < 0.035) out += `{"ts": ${t}, "type": "metrics", "data": {"n\\u0061": "q", "a": null, "b": ${rnd()}, "c": null, "global_step": ${step}}}\n`;
    else if (r < 0.05) out += `{"ts": ${t}, "type": "metrics", "data": {"val_acc": ${rnd()}, "ok": ${rnd() < 0.5}, "none": null, "global_step": ${Math.floor(rnd() * (step + 1))}}}\n`;
    else if (r < 0.06) out += `{"ts": ${t}, "type": "metrics", "data": {"loss": ${rnd()}, "step": ${step}, "epoch": 2}}\n`;
    else {
      if (rnd() < 0.95) step++;
      const loss = i % 97 === 0 ? "NaN" : i % 89 === 0 ? "-Infinity" : String(2 / Math.sqrt(step + 1) + rnd() * 0.1);
      const stage = step < n * 0.3 ? "warmup" : step < n * 0.8 ? "train" : "eval";
      out += `{"ts": ${t}, "type": "metrics", "data": {"loss": ${loss}, "acc": ${rnd()}, "lr": ${0.001 * (1 - i / n) + 1e-6}, "grad_norm": ${rnd() * 10}, "global_step": ${step}, "time": ${t}, "stage": "${stage}"}}\n`;
    }
  }
  return out;
}

/** A run dir holding `text` as its events.jsonl, and a store over a fresh index with `opts`. */
async function storeOver(text: string, opts: MetricStoreOptions) {
  const tmp = tempDir("rn-ingest-");
  const runDir = join(tmp.dir, "run");
  mkdirSync(runDir);
  writeFileSync(join(runDir, "events.jsonl"), text);
  const idx = await openIndexDb(join(tmp.dir, "index.sqlite"));
  cleanups.push(async () => {
    await idx.close();
    tmp.cleanup();
  });
  return { runDir, events: join(runDir, "events.jsonl"), store: new MetricStore(idx, opts) };
}

/** Everything a run's ingest produces that the API shows. */
async function snapshot(store: MetricStore, runDir: string) {
  const state = await store.sync(runDir);
  return {
    lines: state.lines,
    rows: JSON.parse(buildMetricsStep(state).json),
    keys: buildKeys(state, "run"),
    stages: state.stages,
    images: await store.images(state),
  };
}

/** Options that send every slice of a small file through the worker. */
const THROUGH_WORKER: MetricStoreOptions = { alwaysWorker: true, pipelineMinBytes: 0, pipelineSliceBytes: 32 * 1024 };

describe("ingest worker", () => {
  it("parses a slice into the same batch as the calling thread does", async () => {
    const text = mixedEvents(3000, 3);
    const bytes = Buffer.from(text);
    const worker = new IngestWorker();
    cleanups.push(() => worker.close());
    const ab = new ArrayBuffer(bytes.length);
    new Uint8Array(ab).set(bytes);
    const batch = await worker.parse(ab, bytes.length, new Int32Array(new SharedArrayBuffer(4)));
    // this thread's reader has read other lines before (as in a server): its reused cells must not leak into the batch
    const other = Buffer.from(
      `${mixedEvents(500, 99)}{"ts": 1, "type": "metrics", "data": {"n\\u0061": 0.5, "b": 1.5, "c": 2.5, "d": 3.5, "e": 4.5, "f": 5.5, "g": 6.5}}\n`,
    );
    parseHere(other, 0, other.length);
    const here = parseHere(bytes, 0, bytes.length);
    expect(batch).not.toBeNull();
    expect(batch!.shape.length).toBeGreaterThan(2500);
    expect(Array.from(batch!.shape)).toEqual(Array.from(here.shape));
    expect(Array.from(batch!.kinds)).toEqual(Array.from(here.kinds));
    // NaN-free number slots compare exactly
    expect(Array.from(batch!.vals)).toEqual(Array.from(here.vals));
    expect(Array.from(batch!.ts)).toEqual(Array.from(here.ts));
    expect(batch!.strs).toEqual(here.strs);
    expect(batch!.shapes).toEqual(here.shapes);
    expect(batch!.images).toEqual(here.images);
    expect(batch!.counts).toEqual(here.counts);
  });

  it("skips a slice whose claim the sender took first, and gives its buffer back", async () => {
    const worker = new IngestWorker();
    cleanups.push(() => worker.close());
    const bytes = Buffer.from(mixedEvents(50));
    const ab = new ArrayBuffer(bytes.length);
    new Uint8Array(ab).set(bytes);
    const claim = new Int32Array(new SharedArrayBuffer(4));
    claim[0] = CLAIM_SENDER;
    expect(await worker.parse(ab, bytes.length, claim)).toBeNull();
    expect(ab.byteLength).toBe(0); // transferred away
    expect(worker.takeBuffer(bytes.length).byteLength).toBe(bytes.length); // the same buffer, back for reuse
    expect(worker.usable).toBe(true);
  });

  it("builds the same rows, key summaries, stages and images whether slices go through the worker or not", async () => {
    const text = mixedEvents(12000, 7);
    const inline = await storeOver(text, { worker: null });
    const smallSlices = await storeOver(text, { worker: null, sliceBytes: 24 * 1024 });
    const pipelined = await storeOver(text, THROUGH_WORKER);
    const want = await snapshot(inline.store, inline.runDir);
    expect(want.rows.rows.length).toBeGreaterThan(6000);
    expect(want.images.length).toBeGreaterThan(60);
    expect(await snapshot(smallSlices.store, smallSlices.runDir)).toEqual(want);
    expect(await snapshot(pipelined.store, pipelined.runDir)).toEqual(want);
  });

  it("keeps a torn last line through the worker path until its newline arrives, then continues from the mark", async () => {
    const text = mixedEvents(6000, 11);
    const torn = `{"ts": 1795923999.5, "type": "metrics", "data": {"loss": 0.25, "global_step": 999999`;
    const pipelined = await storeOver(text + torn, THROUGH_WORKER);
    const first = await snapshot(pipelined.store, pipelined.runDir);
    expect(first.rows.rows.some((r: Record<string, unknown>) => r.global_step === 999999)).toBe(false);
    appendFileSync(pipelined.events, `}}\n${mixedEvents(3000, 12)}`);
    const inline = await storeOver(text + torn + `}}\n${mixedEvents(3000, 12)}`, { worker: null });
    const got = await snapshot(pipelined.store, pipelined.runDir);
    expect(got.rows.rows.some((r: Record<string, unknown>) => r.global_step === 999999)).toBe(true);
    expect(got).toEqual(await snapshot(inline.store, inline.runDir));
  });

  it("reads a line longer than a slice on the way, and the slices after it through the worker again", async () => {
    const long = `{"ts": 1795923000.5, "type": "metrics", "data": {"note": "${"x".repeat(100 * 1024)}", "loss": 0.5, "global_step": 424242}}\n`;
    const text = mixedEvents(3000, 21) + long + mixedEvents(3000, 22);
    const pipelined = await storeOver(text, THROUGH_WORKER);
    const inline = await storeOver(text, { worker: null });
    const got = await snapshot(pipelined.store, pipelined.runDir);
    expect(got.rows.rows.find((r: Record<string, unknown>) => r.global_step === 424242)?.loss).toBe(0.5);
    expect(got).toEqual(await snapshot(inline.store, inline.runDir));
  });

  it("parses on the calling thread when the worker cannot start, losing no line", async () => {
    const missing = new IngestWorker(new URL("./no-such-ingest-worker.ts", import.meta.url).href);
    cleanups.push(() => missing.close());
    const text = mixedEvents(8000, 5);
    const fallback = await storeOver(text, { ...THROUGH_WORKER, worker: missing });
    const inline = await storeOver(text, { worker: null });
    expect(await snapshot(fallback.store, fallback.runDir)).toEqual(await snapshot(inline.store, inline.runDir));
    expect(missing.usable).toBe(false);
    expect(missing.error).toBeString();
  });
});

/** Options that split a first read of a small file into pieces for this thread and the worker. */
function split(worker: IngestWorker | null): MetricStoreOptions {
  return { worker, splitMinBytes: 16 * 1024 };
}

/** The snapshot plus where the run's chunks start and end: the same however the file was read. */
async function layout(store: MetricStore, runDir: string) {
  const snap = await snapshot(store, runDir);
  const state = await store.sync(runDir);
  return { ...snap, chunks: state.slots.map((s) => [s.rows, s.firstStep, s.lastStep]) };
}

describe("split first read", () => {
  it("builds pieces on the worker into the same chunks as this thread builds them", async () => {
    const worker = new IngestWorker();
    cleanups.push(() => worker.close());
    const text = mixedEvents(6000, 31);
    const got = await storeOver(text, { worker: null });
    const fd = openSync(got.events, "r");
    cleanups.push(() => closeSync(fd));
    const size = Buffer.byteLength(text);
    const mid = text.indexOf("\n", size >> 1) + 1;
    const bounds = [0, mid, size];
    // this thread claims nothing: the worker builds both pieces
    const pieces = await worker.buildPieces(fd, bounds, new Int32Array(new SharedArrayBuffer(4)));
    expect([...pieces.keys()].sort()).toEqual([0, 1]);
    for (const k of [0, 1]) {
      const here = buildRange(readFd(fd), bounds[k], bounds[k + 1]);
      const there = pieces.get(k)!;
      expect(there.consumed).toBe(bounds[k + 1] - bounds[k]);
      expect(there.counts).toEqual(here.counts);
      expect(there.images).toEqual(here.images);
      expect(there.chunks.length).toBe(here.chunks.length);
      there.chunks.forEach((c, i) => {
        const h = here.chunks[i];
        expect(c.n).toBe(h.n);
        expect(Array.from(c.steps.subarray(0, c.n))).toEqual(Array.from(h.steps.subarray(0, h.n)));
        expect([...c.cols.keys()]).toEqual([...h.cols.keys()]);
        for (const [key, col] of c.cols) expect(Array.from(col.kinds.subarray(0, c.n))).toEqual(Array.from(h.cols.get(key)!.kinds.subarray(0, h.n)));
        expect(c.strs).toEqual(h.strs);
      });
    }
  });

  it("gives the same rows, summaries, images and chunk boundaries as a read on one thread", async () => {
    const worker = new IngestWorker();
    cleanups.push(() => worker.close());
    await worker.warmUp(2000, 1000);
    // steps logged again and out of order land in other pieces than their rows: those pieces are merged line by line
    const text = mixedEvents(20000, 41);
    const inline = await storeOver(text, { worker: null });
    const want = await layout(inline.store, inline.runDir);
    expect(want.chunks.length).toBeGreaterThan(3);
    for (let attempt = 0; attempt < 3; attempt++) {
      const s = await storeOver(text, split(worker));
      expect(await layout(s.store, s.runDir)).toEqual(want);
    }
    // both threads took part (which pieces each took varies from read to read)
    expect(worker.piecesBuilt).toBeGreaterThan(0);
    // rows whose steps only rise: every piece is appended as it was built
    const rising = Array.from({ length: 30000 }, (_, i) => `{"ts": ${1795922975 + i}, "type": "metrics", "data": {"loss": ${1 / (i + 1)}, "stage": "${i < 9000 ? "a" : "b"}", "global_step": ${i + 1}}}\n`).join("");
    const a = await storeOver(rising, { worker: null });
    const b = await storeOver(rising, split(worker));
    const wantRising = await layout(a.store, a.runDir);
    expect(wantRising.chunks.map((c) => c[0])).toEqual([4096, 4096, 4096, 4096, 4096, 4096, 4096, 1328]);
    expect(await layout(b.store, b.runDir)).toEqual(wantRising);
    expect(worker.usable).toBe(true);
  });

  it("leaves every piece of a background read to the worker, with the same result as a read on one thread", async () => {
    const worker = new IngestWorker();
    cleanups.push(() => worker.close());
    const text = mixedEvents(20000, 43);
    const inline = await storeOver(text, { worker: null });
    const want = await layout(inline.store, inline.runDir);
    const s = await storeOver(text, split(worker));
    const before = worker.piecesBuilt;
    const state = await s.store.sync(s.runDir, "watch", { background: true });
    // 8 pieces (each at least half of splitMinBytes): all built by the worker, none here
    expect(worker.piecesBuilt - before).toBe(8);
    expect(state.progress).toBe(1);
    expect(s.store.counters.misses + s.store.counters.hits).toBe(0); // nobody's query
    const parsed = s.store.counters.lines_parsed;
    expect(await layout(s.store, s.runDir)).toEqual(want);
    // the queries after it read nothing again (the first still counts as a miss, as in the original)
    expect(s.store.counters.lines_parsed).toBe(parsed);
    expect(s.store.counters).toMatchObject({ misses: 1, hits: 1 });
  });

  it("leaves a torn last line for later and reads on from the mark once it is complete", async () => {
    const worker = new IngestWorker();
    cleanups.push(() => worker.close());
    const text = mixedEvents(9000, 51);
    const torn = `{"ts": 1795923999.5, "type": "metrics", "data": {"loss": 0.25, "global_step": 999999`;
    const s = await storeOver(text + torn, split(worker));
    const first = await snapshot(s.store, s.runDir);
    expect(first.rows.rows.some((r: Record<string, unknown>) => r.global_step === 999999)).toBe(false);
    appendFileSync(s.events, `}}\n${mixedEvents(2000, 52)}`);
    const inline = await storeOver(text + torn + `}}\n${mixedEvents(2000, 52)}`, { worker: null });
    const got = await snapshot(s.store, s.runDir);
    expect(got.rows.rows.some((r: Record<string, unknown>) => r.global_step === 999999)).toBe(true);
    expect(got).toEqual(await snapshot(inline.store, inline.runDir));
  });

  it("builds every piece on this thread when the worker cannot start, losing no line", async () => {
    const missing = new IngestWorker(new URL("./no-such-ingest-worker.ts", import.meta.url).href);
    cleanups.push(() => missing.close());
    const text = mixedEvents(8000, 61);
    const s = await storeOver(text, split(missing));
    const inline = await storeOver(text, { worker: null });
    expect(await layout(s.store, s.runDir)).toEqual(await layout(inline.store, inline.runDir));
  });
});
