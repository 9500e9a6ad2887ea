// The metric column store on real files and a real index db: row semantics, torn lines, rewrites, restarts.
import { afterEach, describe, expect, it } from "bun:test";
import { appendFileSync, cpSync, mkdirSync, renameSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openIndexDb, type IndexDb } from "../../src/index/db.ts";
import { decodeChunk, encodeChunk } from "../../src/index/metric-codec.ts";
import { MetricStore, warmUpMetricCode } from "../../src/index/metric-store.ts";
import { Chunk, K_BOOL, K_INF, K_NULL, K_NUM, K_STR } from "../../src/metrics/chunk.ts";
import { buildKeys, buildMetricsStep } from "../../src/metrics/query.ts";
import { syntheticLines } from "../../src/metrics/warm-lines.ts";
import { FIXTURES, tempDir } from "../helpers/server.ts";
import { sdkLine } from "./harness.ts";

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A temp run dir and an index db in a temp dir, closed after the test. */
async function setup(): Promise<{ dir: string; runDir: string; events: string; idx: IndexDb; store: MetricStore; reopen(): Promise<MetricStore> }> {
  const tmp = tempDir("rn-store-");
  const runDir = join(tmp.dir, "run");
  mkdirSync(runDir);
  let idx = await openIndexDb(join(tmp.dir, "index.sqlite"));
  const ctx = {
    dir: tmp.dir,
    runDir,
    events: join(runDir, "events.jsonl"),
    idx,
    store: new MetricStore(idx),
    async reopen() {
      await ctx.idx.close();
      idx = await openIndexDb(join(tmp.dir, "index.sqlite"));
      ctx.idx = idx;
      ctx.store = new MetricStore(idx);
      return ctx.store;
    },
  };
  cleanups.push(async () => {
    await ctx.idx.close();
    tmp.cleanup();
  });
  return ctx;
}

async function rows(store: MetricStore, runDir: string, downsample?: number) {
  const state = await store.sync(runDir);
  return JSON.parse(buildMetricsStep(state, downsample).json) as { columns: string[]; rows: Record<string, unknown>[]; total: number; sampled: number };
}

describe("row semantics (spec §3.3)", () => {
  it("builds one row per step; later events merge into the row and overwrite its keys", async () => {
    const s = await setup();
    writeFileSync(s.events, sdkLine(1, { a: 1.5 }) + sdkLine(1, { b: 2.5 }) + sdkLine(2, { a: 3.5 }) + sdkLine(1, { a: 9.5 }));
    const body = await rows(s.store, s.runDir);
    expect(body.columns).toEqual(["global_step", "a", "b", "time"]);
    expect(body.rows.map((r) => [r.global_step, r.a, r.b])).toEqual([
      [1, 9.5, 2.5],
      [2, 3.5, null],
    ]);
    expect(body.total).toBe(2);
  });

  it("takes global_step, else the legacy step, coerced like int(); events without a usable step are dropped", async () => {
    const s = await setup();
    const lines = [
      { ts: 1, type: "metrics", data: { step: 4, m: 1 } },
      { ts: 2, type: "metrics", data: { global_step: null, step: "5", m: 2 } },
      { ts: 3, type: "metrics", data: { global_step: 6.9, m: 3 } },
      { ts: 4, type: "metrics", data: { global_step: "x", m: 4 } },
      { ts: 5, type: "metrics", data: { m: 5 } },
      { ts: 6, type: "metrics", data: { global_step: true, m: 6 } },
      { ts: 7, type: "other", data: { global_step: 8, m: 7 } },
      { ts: 8, type: "metrics", data: [1, 2] },
    ];
    writeFileSync(s.events, lines.map((l) => JSON.stringify(l)).join("\n") + "\nnot json\n");
    const body = await rows(s.store, s.runDir);
    expect(body.rows.map((r) => [r.global_step, r.m])).toEqual([
      [1, 6],
      [4, 1],
      [5, 2],
      [6, 3],
    ]);
    expect(s.store.counters.lines_parsed).toBe(9);
  });

  it("keeps strings, bools and nulls, ignores lists and objects, and leaves out epoch (fixture rn-data)", async () => {
    const s = await setup();
    cpSync(join(FIXTURES, "rn-data/runs/demo/exp1/20261129_031703_34b3d6/events.jsonl"), s.events);
    const body = await rows(s.store, s.runDir);
    expect(body.columns).toEqual(["global_step", "acc", "flag", "loss", "note", "stage", "time"]);
    expect(body.rows[2]).toEqual({
      global_step: 3,
      acc: 0.75,
      flag: true,
      loss: null,
      note: "hello",
      stage: "eval",
      time: 1795922224.0194407,
    });
    expect(body.rows[0].stage).toBeNull();
  });

  it("writes NaN and ±Infinity as null but keeps their column and the other values (fixture rn-probe)", async () => {
    const s = await setup();
    cpSync(join(FIXTURES, "rn-probe/runs/cv/yolo/20261129_032935_bfa7ab/events.jsonl"), s.events);
    const body = await rows(s.store, s.runDir);
    expect(body.total).toBe(300);
    expect(body.rows[99]).toMatchObject({ global_step: 100, loss: null, note: "checkpoint-100", stage: "train", val_acc: 0.3333333333333333 });
    expect(body.rows[100]).toMatchObject({ global_step: 101, loss: null, lr: 0.001, note: null, val_acc: null });
    const keys = buildKeys(await s.store.sync(s.runDir), "r");
    const loss = keys.keys.find((k) => k.key === "loss")!;
    expect(loss.count).toBe(300);
    expect(loss.max).toBe(2); // Infinity is not a maximum anyone can chart
    expect(keys.stages).toEqual([
      { stage: "warmup", first_step: 1, last_step: 50 },
      { stage: "train", first_step: 51, last_step: 250 },
      { stage: "eval", first_step: 251, last_step: 300 },
    ]);
  });

  it("orders rows by step whatever order they were logged in, across chunk splits", async () => {
    const s = await setup();
    let text = "";
    for (let i = 6000; i >= 1; i--) text += sdkLine(i * 2, { v: i });
    writeFileSync(s.events, text);
    let body = await rows(s.store, s.runDir);
    expect(body.total).toBe(6000);
    expect(body.rows[0]).toMatchObject({ global_step: 2, v: 1 });
    expect(body.rows[5999]).toMatchObject({ global_step: 12000, v: 6000 });
    for (let i = 1; i < body.rows.length; i++) expect(body.rows[i].global_step as number).toBeGreaterThan(body.rows[i - 1].global_step as number);
    // odd steps land between existing rows of full chunks
    appendFileSync(s.events, sdkLine(4001, { v: -1 }) + sdkLine(1, { v: -2 }) + sdkLine(12001, { v: -3 }));
    body = await rows(s.store, s.runDir);
    expect(body.total).toBe(6003);
    expect(body.rows[0]).toMatchObject({ global_step: 1, v: -2 });
    expect(body.rows.find((r) => r.global_step === 4001)).toMatchObject({ v: -1 });
    const again = await rows(await s.reopen(), s.runDir);
    expect(again.rows).toEqual(body.rows);
  });
});

describe("incremental ingest", () => {
  it("keeps a torn last line until its newline arrives, and never loses it", async () => {
    const s = await setup();
    const l2 = sdkLine(2, { loss: 0.5 });
    writeFileSync(s.events, sdkLine(1, { loss: 1 }) + l2.slice(0, 30));
    expect((await rows(s.store, s.runDir)).total).toBe(1);
    appendFileSync(s.events, l2.slice(30, 60));
    expect((await rows(s.store, s.runDir)).total).toBe(1);
    appendFileSync(s.events, l2.slice(60));
    const body = await rows(s.store, s.runDir);
    expect(body.rows.map((r) => r.loss)).toEqual([1, 0.5]);
    expect(s.store.counters.lines_parsed).toBe(2);
  });

  it("parses only appended bytes, and answers from memory when nothing changed", async () => {
    const s = await setup();
    const first = sdkLine(1, { a: 1 }) + sdkLine(2, { a: 2 });
    writeFileSync(s.events, first);
    await rows(s.store, s.runDir);
    const more = sdkLine(3, { a: 3 });
    appendFileSync(s.events, more);
    await rows(s.store, s.runDir);
    await rows(s.store, s.runDir);
    const c = s.store.counters;
    expect(c.bytes_parsed).toBe(Buffer.byteLength(first + more));
    expect(c.lines_parsed).toBe(3);
    expect([c.misses, c.incremental_updates, c.hits]).toEqual([1, 1, 1]);
  });

  it("re-reads a file that shrank, one replaced by rename, and one rewritten in place", async () => {
    const s = await setup();
    writeFileSync(s.events, sdkLine(1, { a: 1 }) + sdkLine(2, { a: 2 }) + sdkLine(3, { a: 3 }));
    expect((await rows(s.store, s.runDir)).total).toBe(3);
    // shrank
    truncateSync(s.events, 0);
    appendFileSync(s.events, sdkLine(7, { b: 7 }));
    let body = await rows(s.store, s.runDir);
    expect(body.columns).toEqual(["global_step", "b", "time"]);
    expect(body.rows.map((r) => r.global_step)).toEqual([7]);
    // replaced (new inode), larger than before
    const tmp = join(s.dir, "new.jsonl");
    writeFileSync(tmp, sdkLine(1, { c: 1 }) + sdkLine(2, { c: 2 }) + sdkLine(3, { c: 3 }) + sdkLine(4, { c: 4 }));
    renameSync(tmp, s.events);
    body = await rows(s.store, s.runDir);
    expect(body.columns).toEqual(["global_step", "c", "time"]);
    expect(body.total).toBe(4);
    // rewritten in place with the same length
    const same = sdkLine(1, { d: 1 }) + sdkLine(2, { d: 2 }) + sdkLine(3, { d: 3 }) + sdkLine(4, { d: 4 });
    writeFileSync(s.events, same);
    body = await rows(s.store, s.runDir);
    expect(body.columns).toEqual(["global_step", "d", "time"]);
    expect(s.store.counters.full_parses).toBe(4);
  });

  it("empties the run when events.jsonl is removed", async () => {
    const s = await setup();
    writeFileSync(s.events, sdkLine(1, { a: 1 }));
    expect((await rows(s.store, s.runDir)).total).toBe(1);
    rmSync(s.events);
    expect(await rows(s.store, s.runDir)).toEqual({ columns: [], rows: [], total: 0, sampled: 0 });
  });

  it("indexes image events and drops them when the file is re-read", async () => {
    const s = await setup();
    cpSync(join(FIXTURES, "rn-data2/runs/cv/yolo/20261129_031719_94b4ef/events.jsonl"), s.events);
    const state = await s.store.sync(s.runDir);
    expect(await s.store.images(state)).toEqual([
      { key: "sample", step: 3, caption: "cap", path: "media/1795922239484_aad643_sample.png", ts: 1795922239.4848783 },
    ]);
    writeFileSync(s.events, sdkLine(1, { a: 1 }));
    expect(await s.store.images(await s.store.sync(s.runDir))).toEqual([]);
  });
});

describe("restarts and concurrency", () => {
  it("parses nothing again after a restart, and continues from the saved offset", async () => {
    const s = await setup();
    let text = "";
    for (let i = 1; i <= 9000; i++) text += sdkLine(i, { loss: 1 / i, acc: i % 7, stage: i < 100 ? "warmup" : "train" });
    writeFileSync(s.events, text);
    const before = await rows(s.store, s.runDir);
    const beforeDs = await rows(s.store, s.runDir, 500);
    const store = await s.reopen();
    const after = await rows(store, s.runDir);
    expect(store.counters.lines_parsed).toBe(0);
    expect(store.counters.bytes_parsed).toBe(0);
    expect(store.counters.index_loads).toBe(1);
    expect(after).toEqual(before);
    expect(await rows(store, s.runDir, 500)).toEqual(beforeDs);
    appendFileSync(s.events, sdkLine(9001, { loss: 0 }));
    expect((await rows(store, s.runDir)).total).toBe(9001);
    expect(store.counters.lines_parsed).toBe(1);
  });

  it("ingests concurrent appends by two processes while reading, losing no row", async () => {
    const s = await setup();
    writeFileSync(s.events, "");
    const n = 3000;
    // halfway, each writer waits until the store has read twice: reads overlap the writes on any machine
    const go = join(s.dir, "go");
    const writer = (key: string) => `
      const { appendFileSync, existsSync } = require("node:fs");
      for (let i = 1; i <= ${n}; i++) {
        const ts = 1795922975 + i / 1000;
        appendFileSync(${JSON.stringify(s.events)}, '{"ts": ' + ts + ', "type": "metrics", "data": {"${key}": ' + i + '.5, "global_step": ' + i + ', "time": ' + ts + '}}\\n');
        if (i === ${n / 2}) for (let t = 0; t < 10000 && !existsSync(${JSON.stringify(go)}); t++) Bun.sleepSync(1);
      }`;
    const procs = ["a", "b"].map((k) => Bun.spawn([process.execPath, "-e", writer(k)], { stdout: "ignore", stderr: "inherit" }));
    let done = false;
    const exited = Promise.all(procs.map((p) => p.exited)).then((codes) => {
      done = true;
      return codes;
    });
    let reads = 0;
    while (!done) {
      const state = await s.store.sync(s.runDir);
      if (state.totalRows > 0 && ++reads === 2) writeFileSync(go, "");
      await Bun.sleep(5);
    }
    expect(await exited).toEqual([0, 0]);
    const body = await rows(s.store, s.runDir);
    expect(reads).toBeGreaterThan(1);
    expect(body.total).toBe(n);
    for (let i = 0; i < n; i++) expect([body.rows[i].global_step, body.rows[i].a, body.rows[i].b]).toEqual([i + 1, i + 1.5, i + 1.5]);
  });
});

describe("chunk codec", () => {
  it("round-trips every cell kind, consecutive and sparse steps, and the time column", () => {
    const c = new Chunk(8);
    const steps = [1, 2, 3, 4, 10, 11];
    steps.forEach((st, r) => {
      c.appendRow(st);
      c.times[r] = 100 + r;
    });
    const time = c.column("time");
    const mixed = c.column("mixed");
    const stage = c.column("stage");
    const kinds = [K_NUM, K_NULL, K_BOOL, K_STR, K_INF, 0];
    steps.forEach((_, r) => {
      time.kinds[r] = K_NUM;
      time.vals[r] = 100 + r;
      stage.kinds[r] = K_STR;
      stage.vals[r] = c.internString(r < 3 ? "train" : "eval");
      mixed.kinds[r] = kinds[r];
    });
    mixed.vals[0] = 0.25;
    mixed.vals[2] = 1;
    mixed.vals[3] = c.internString("note");
    mixed.vals[4] = -Infinity;
    const back = decodeChunk(encodeChunk(c));
    expect(back.n).toBe(6);
    expect(Array.from(back.steps)).toEqual(steps);
    expect(Array.from(back.times)).toEqual([100, 101, 102, 103, 104, 105]);
    for (const key of ["time", "mixed", "stage"]) {
      const a = c.cols.get(key)!;
      const b = back.cols.get(key)!;
      for (let r = 0; r < 6; r++) {
        expect(b.kinds[r]).toBe(a.kinds[r]);
        if (a.kinds[r] === K_STR) expect(back.strs[b.vals[r]]).toBe(c.strs[a.vals[r]]);
        else if (a.kinds[r] !== K_NULL && a.kinds[r] !== 0) expect(b.vals[r]).toBe(a.vals[r]);
      }
    }
    // a decoded consecutive-step chunk rebuilds its steps
    const d = new Chunk(4);
    for (let r = 0; r < 4; r++) d.appendRow(50 + r);
    expect(Array.from(decodeChunk(encodeChunk(d)).steps)).toEqual([50, 51, 52, 53]);
  });
});

describe("background work the health check reports", () => {
  it("counts a run as being read from the start of its sync until it is committed, and none after", async () => {
    const s = await setup();
    let text = "";
    for (let i = 1; i <= 500; i++) text += sdkLine(i, { loss: 1 / i });
    writeFileSync(s.events, text);
    expect(s.store.reading).toBe(0);
    const pending = s.store.sync(s.runDir);
    expect(s.store.reading).toBe(1);
    const state = await pending;
    expect(s.store.reading).toBe(0);
    expect(state.totalRows).toBe(500);
  });
});

describe("the metric code warm-up", () => {
  it("waits between slices while requests are in flight, then finishes; stop() ends it at the next slice", async () => {
    let pauseChecks = 0;
    const busyUntil = Date.now() + 150;
    const t0 = Date.now();
    await warmUpMetricCode(() => false, 1000, 500, () => {
      pauseChecks++;
      return Date.now() < busyUntil;
    });
    // it could not finish before the requests were done, and it asked again while waiting
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(pauseChecks).toBeGreaterThan(3);

    let slices = 0;
    await warmUpMetricCode(() => ++slices > 2, 100000, 500);
    expect(slices).toBeLessThan(10);
  });

  it("runs lines shaped like the SDK's: one row per line, rising steps, float32 values with long mantissas", async () => {
    const text = syntheticLines(1, 3000, 3000).toString();
    const events = text.trimEnd().split("\n").map((l) => JSON.parse(l) as { type: string; data: Record<string, number | string> });
    expect(events.map((e) => e.data.global_step)).toEqual(Array.from({ length: 3000 }, (_, i) => i + 1));
    expect(events.every((e) => e.type === "metrics" && String(e.data.acc).length > 12)).toBe(true);
    const tmp = tempDir("rn-warm-");
    const runDir = join(tmp.dir, "run");
    mkdirSync(runDir);
    writeFileSync(join(runDir, "events.jsonl"), text);
    const idx = await openIndexDb(join(tmp.dir, "index.sqlite"));
    try {
      const state = await new MetricStore(idx, { worker: null }).sync(runDir);
      expect(state.totalRows).toBe(3000);
      expect(state.columns).toEqual(["acc", "grad_norm", "loss", "lr", "stage", "time", "val_loss"]);
      expect(state.stages.map((s) => s.stage)).toEqual(["warmup", "train", "eval"]);
    } finally {
      await idx.close();
      tmp.cleanup();
    }
  });
});
