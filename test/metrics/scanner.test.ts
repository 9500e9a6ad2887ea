// The byte scanner of SDK metrics lines against the general JSON path: same cells, same rows, honest fallbacks.
import { afterEach, describe, expect, it } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openIndexDb } from "../../src/index/db.ts";
import { MetricStore } from "../../src/index/metric-store.ts";
import { K_NULL, K_STR } from "../../src/metrics/chunk.ts";
import { Cells, LineScanner } from "../../src/metrics/line-scanner.ts";
import { buildMetricsStep } from "../../src/metrics/query.ts";
import { parseTolerant } from "../../src/store/json.ts";
import { tempDir } from "../helpers/server.ts";

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** The cells the general path makes of a line (JSON.parse, NaN/Infinity tolerated). */
function reference(line: string): Cells {
  const evt = parseTolerant(line, "infinity") as { ts: unknown; data: Record<string, unknown> };
  const c = new Cells();
  c.fromObject(evt.data, evt.ts);
  return c;
}

function cellsOf(c: Cells) {
  const out = [];
  for (let i = 0; i < c.n; i++) {
    // a null cell's number is never read: leave it out of the comparison
    const kind = c.kinds[i];
    out.push({ key: c.keys[i], role: c.roles[i], kind, val: kind === K_STR ? c.strs[i] : kind === K_NULL ? null : c.vals[i] });
  }
  return { cells: out, ts: c.ts, gs: c.gs, st: c.st, tm: c.tm };
}

/** Scans `lines` in order with one scanner (its caches carry over), returning each line's cells or null. */
function scanAll(lines: string[]) {
  const sc = new LineScanner();
  const buf = Buffer.from(lines.join("\n") + "\n");
  const out: (ReturnType<typeof cellsOf> | null)[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(10, pos);
    out.push(sc.scan(buf, pos, nl) ? cellsOf(sc.cells) : null);
    pos = nl + 1;
  }
  return out;
}

/** A small deterministic generator. */
function rng(seed: number) {
  return () => {
    seed = (seed * 48271) % 2147483647;
    return seed / 2147483647;
  };
}

describe("LineScanner", () => {
  it("reads numbers exactly as JSON.parse does, including 17-digit and exponent forms", () => {
    const rnd = rng(7);
    const numbers: string[] = ["0", "-0", "-0.0", "1e-06", "1e+16", "2.5E-3", "9007199254740993", "123456789012345678", "1234567890123456789", "0.30000000000000004", "1.7976931348623157e308", "5e-324", "1e999", "-1e999", "0.000925666"];
    for (let i = 0; i < 4000; i++) {
      numbers.push(String(rnd()), String(rnd() * 10 ** Math.floor(rnd() * 30 - 15)), String(-Math.fround(rnd() * 100)));
      let d = String(1 + Math.floor(rnd() * 9));
      for (let k = 0; k < 16; k++) d += Math.floor(rnd() * 10);
      const at = 1 + Math.floor(rnd() * 15);
      numbers.push(`${d.slice(0, at)}.${d.slice(at)}`, `0.00${d}`);
    }
    const lines = numbers.map((v, i) => `{"ts": ${v}, "type": "metrics", "data": {"v": ${v}, "global_step": ${i}, "time": ${v}}}`);
    const got = scanAll(lines);
    lines.forEach((line, i) => {
      expect(got[i]).not.toBeNull();
      expect(got[i]).toEqual(cellsOf(reference(line)));
    });
  });

  it("reads 200,000 random 15- to 19-digit decimals, the divided fast path, exactly as JSON.parse does", () => {
    const rnd = rng(11);
    const sc = new LineScanner();
    let checked = 0;
    for (let round = 0; round < 4; round++) {
      const numbers: string[] = [];
      for (let i = 0; i < 50_000; i++) {
        const k = 15 + Math.floor(rnd() * 5);
        let d = String(1 + Math.floor(rnd() * 9));
        while (d.length < k) d += Math.floor(rnd() * 10);
        const at = Math.floor(rnd() * (k + 3)) - 2; // sometimes 0.0…, sometimes no fraction
        numbers.push(at <= 0 ? `${rnd() < 0.5 ? "-" : ""}0.${"0".repeat(-at)}${d}` : at >= k ? d : `${d.slice(0, at)}.${d.slice(at)}`);
      }
      const buf = Buffer.from(numbers.map((v, i) => `{"ts": 1.5, "type": "metrics", "data": {"v": ${v}, "global_step": ${i}}}`).join("\n") + "\n");
      let pos = 0;
      for (const v of numbers) {
        const nl = buf.indexOf(10, pos);
        expect(sc.scan(buf, pos, nl)).toBe(true);
        if (!Object.is(sc.cells.vals[0], JSON.parse(v))) expect(`${v} → ${sc.cells.vals[0]}`).toBe(`${v} → ${JSON.parse(v)}`);
        pos = nl + 1;
        checked++;
      }
    }
    expect(checked).toBe(200_000);
  });

  it("gives the same cells as the general path for strings, bools, nulls, NaN and ±Infinity", () => {
    const lines = [
      `{"ts": 1795922975.5084567, "type": "metrics", "data": {"loss": NaN, "acc": Infinity, "lr": -Infinity, "ok": true, "bad": false, "none": null, "global_step": 1, "time": 1795922975.5084567, "stage": "warmup"}}`,
      `{"ts": 1795922975.6, "type": "metrics", "data": {"loss": 0.5, "acc": 1, "lr": 2, "ok": false, "bad": true, "none": 3, "global_step": 2, "time": 1795922975.61, "stage": "train"}}`,
      `{"ts": NaN, "type": "metrics", "data": {"step": 3, "epoch": 1, "time": "late", "name": "ünïcode ✓"}}`,
      `{"ts":1,"type":"metrics","data":{"a":1,"global_step":null,"step":4}}`,
      `  {"ts" : 2 , "type" : "metrics" , "data" : { "a" : 2 , "global_step" : 5 } }  `,
      `{"ts": 3, "type": "metrics", "data": {}}`,
    ];
    const got = scanAll(lines);
    lines.forEach((line, i) => {
      expect(got[i]).not.toBeNull();
      expect(got[i]).toEqual(cellsOf(reference(line)));
    });
  });

  it("keeps its key cache right when consecutive lines change keys, order and count", () => {
    const shapes = [["a", "b"], ["b", "a"], ["a"], ["a", "b", "c"], ["c", "b", "a"], ["a", "b"], ["x"], []];
    const lines: string[] = [];
    for (let i = 0; i < 64; i++) {
      const keys = shapes[(i * 5) % shapes.length];
      const data = [...keys.map((k, j) => `"${k}": ${i + j / 10}`), `"global_step": ${i}`].join(", ");
      lines.push(`{"ts": ${i}.25, "type": "metrics", "data": {${data}}}`);
    }
    const got = scanAll(lines);
    lines.forEach((line, i) => expect(got[i]).toEqual(cellsOf(reference(line))));
  });

  it("leaves to the general path what it does not recognise", () => {
    const lines = [
      `{"ts": 1, "type": "metrics", "data": {"a": 1, "a": 2, "global_step": 1}}`, // duplicate key
      `{"ts": 1, "type": "metrics", "data": {"a\\u0041": 1, "global_step": 1}}`, // escape in a key
      `{"ts": 1, "type": "metrics", "data": {"s": "x\\"y", "global_step": 1}}`, // escape in a string
      `{"ts": 1, "type": "metrics", "data": {"l": [1, 2], "global_step": 1}}`, // list
      `{"type": "metrics", "ts": 1, "data": {"a": 1, "global_step": 1}}`, // another key order
      `{"ts": 1, "type": "image", "data": {"key": "k", "path": "media/a.png"}}`,
      `{"ts": 01, "type": "metrics", "data": {"a": 1}}`, // not JSON
      `{"ts": 1, "type": "metrics", "data": {"a": 1.}}`,
      `{"ts": 1, "type": "metrics", "data": {"a": 1}} trailing`,
      `not json`,
      ``,
    ];
    expect(scanAll(lines)).toEqual(lines.map(() => null));
  });

  it("builds the same rows through the store whichever path a line takes", async () => {
    const tmp = tempDir("rn-scan-");
    const runDir = join(tmp.dir, "run");
    mkdirSync(runDir);
    const idx = await openIndexDb(join(tmp.dir, "index.sqlite"));
    cleanups.push(async () => {
      await idx.close();
      tmp.cleanup();
    });
    const lines = [
      `{"ts": 10.5, "type": "metrics", "data": {"a": 1, "b": 2, "global_step": 1, "time": 10.5}}`,
      `{"ts": 11.5, "type": "metrics", "data": {"a": 3, "a": 4, "global_step": 2}}`,
      `{"ts": 12.5, "type": "metrics", "data": {"b": "x\\ty", "l": [1], "global_step": 3}}`,
      `{"ts": 13.5, "type": "metrics", "data": {"a": NaN, "b": -Infinity, "global_step": 1}}`,
      `{"ts": 14.5, "type": "metrics", "data": {"a": 5, "global_step": "4"}}`,
    ];
    writeFileSync(join(runDir, "events.jsonl"), lines.join("\n") + "\n");
    const state = await new MetricStore(idx).sync(runDir);
    const body = JSON.parse(buildMetricsStep(state).json);
    expect(body.columns).toEqual(["global_step", "a", "b", "time"]);
    expect(body.rows).toEqual([
      { global_step: 1, a: null, b: null, time: 10.5 },
      { global_step: 2, a: 4, b: null, time: null },
      { global_step: 3, a: null, b: "x\ty", time: null },
      { global_step: 4, a: 5, b: null, time: null },
    ]);
  });
});
