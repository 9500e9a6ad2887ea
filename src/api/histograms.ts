// Histograms API: the bins an SDK logged with rn.Histogram (ROOT/runs/.../histograms.jsonl), per key over steps.
import { closeSync, fstatSync, lstatSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { Elysia, t } from "elysia";
import type { AppContext } from "./context.ts";
import { HttpError } from "./errors.ts";
import { getLiveRun } from "./run-ids.ts";

/** Largest histograms.jsonl read (bins are small: this is millions of histograms). */
export const MAX_HISTOGRAM_FILE = 256 << 20;
const DEFAULT_POINTS = 200;
const MAX_POINTS = 10000;
const CACHE_RUNS = 32;

/** One logged histogram. */
export interface HistogramEntry {
  step: number;
  ts: number | null;
  edges: number[];
  counts: number[];
  count: number;
  sum: number | null;
  min: number | null;
  max: number | null;
}

/** One line of histograms.jsonl: where it is, and its parsed bins once a query needed them. */
interface Slot {
  step: number;
  off: number;
  len: number;
  /** Parsed on first use; null when the line is not a well-formed histogram. */
  entry?: HistogramEntry | null;
}

/** An index of line offsets per key: a query parses only the lines it returns. */
interface Indexed {
  ino: number;
  /** Bytes indexed so far (always the end of a complete line). */
  offset: number;
  bySteps: Map<string, Map<number, Slot>>;
  /** Steps ascending, rebuilt lazily after a key changed. */
  sorted: Map<string, Slot[]>;
}

const cache = new Map<string, Indexed>();

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const numList = (v: unknown): number[] | null => (Array.isArray(v) && v.every((x) => typeof x === "number") ? (v as number[]) : null);

/** Parses one line; undefined for lines that are not a well-formed histogram (torn, foreign or bad shape). */
function parseLine(line: string): { key: string; entry: HistogramEntry } | undefined {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof o !== "object" || o === null || typeof o.key !== "string") return undefined;
  const step = num(o.step);
  const edges = numList(o.edges);
  const counts = numList(o.counts);
  if (step === null || !Number.isInteger(step) || !edges || !counts) return undefined;
  if (counts.length && edges.length !== counts.length + 1) return undefined;
  const count = num(o.count) ?? counts.reduce((a, b) => a + b, 0);
  return { key: o.key, entry: { step, ts: num(o.ts), edges, counts, count, sum: num(o.sum), min: num(o.min), max: num(o.max) } };
}

const HEAD = /"step":\s*(-?\d+)\s*[,}]/;
const KEY = /"key":\s*"([^"\\]*)"/;

/** Key and step of a line from its first bytes (the SDKs write them before the bins), else from the whole line. */
function keyStep(buf: Buffer, from: number, to: number): { key: string; step: number; entry?: HistogramEntry } | undefined {
  for (const span of [160, 1024]) {
    const head = buf.toString("utf8", from, Math.min(to, from + span));
    const st = HEAD.exec(head);
    const k = KEY.exec(head);
    if (st && k && head.indexOf('"edges"') > Math.max(st.index, k.index)) return { key: k[1], step: Number(st[1]) };
    if (to - from <= span) break;
  }
  const p = parseLine(buf.toString("utf8", from, to)); // another field order, a long or escaped key
  return p && { key: p.key, step: p.entry.step, entry: p.entry };
}

/**
 * The run's index of histograms.jsonl: per key, the line of each step (the last one logged for a step wins).
 * Only the bytes appended since the last call are indexed (from the start again if the file was replaced or
 * shrank), and indexing reads keys and steps, not bins: a query parses only the lines it returns.
 */
function indexHistograms(runDir: string): Indexed | undefined {
  const path = join(runDir, "histograms.jsonl");
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return undefined; // nothing logged
  }
  if (!st.isFile()) throw new HttpError(404, "histograms.jsonl is not a regular file");
  if (st.size > MAX_HISTOGRAM_FILE) throw new HttpError(413, `histograms.jsonl is larger than ${MAX_HISTOGRAM_FILE} bytes`);
  let hit = cache.get(runDir);
  if (hit && hit.ino === st.ino && hit.offset === st.size) return hit;
  if (!hit || hit.ino !== st.ino || st.size < hit.offset) hit = { ino: st.ino, offset: 0, bySteps: new Map(), sorted: new Map() };
  const fd = openSync(path, "r");
  let buf: Buffer;
  let got = 0;
  try {
    const size = Math.min(fstatSync(fd).size, MAX_HISTOGRAM_FILE);
    buf = Buffer.allocUnsafe(Math.max(0, size - hit.offset));
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, hit.offset + got);
      if (n <= 0) break;
      got += n;
    }
  } finally {
    closeSync(fd);
  }
  const end = buf.lastIndexOf(10, got - 1) + 1; // a torn last line waits for its newline
  let pos = 0;
  while (pos < end) {
    const nl = buf.indexOf(10, pos);
    const from = pos;
    pos = nl + 1;
    if (nl - from < 2) continue;
    const ks = keyStep(buf, from, nl);
    if (!ks || !Number.isInteger(ks.step)) continue;
    let m = hit.bySteps.get(ks.key);
    if (!m) hit.bySteps.set(ks.key, (m = new Map()));
    const slot: Slot = { step: ks.step, off: hit.offset + from, len: nl - from, entry: ks.entry };
    const list = hit.sorted.get(ks.key);
    const last = list && list.length ? list[list.length - 1].step : -Infinity;
    if (list && ks.step > last) list.push(slot); // the usual case: steps only grow
    else hit.sorted.delete(ks.key);
    m.set(ks.step, slot);
  }
  const next: Indexed = { ...hit, offset: hit.offset + end };
  cache.delete(runDir);
  if (cache.size >= CACHE_RUNS) cache.delete(cache.keys().next().value as string);
  cache.set(runDir, next);
  return next;
}

function sortedSlots(idx: Indexed, key: string): Slot[] {
  let list = idx.sorted.get(key);
  if (!list) {
    list = [...(idx.bySteps.get(key)?.values() ?? [])].sort((a, b) => a.step - b.step);
    idx.sorted.set(key, list);
  }
  return list;
}

/** Parses the slots not parsed yet (one read each); a line that is not a histogram of `key` leaves the index. */
function loadSlots(runDir: string, idx: Indexed, key: string, slots: Slot[]): HistogramEntry[] {
  const todo = slots.filter((s) => s.entry === undefined);
  if (todo.length) {
    const fd = openSync(join(runDir, "histograms.jsonl"), "r");
    try {
      for (const s of todo) {
        const b = Buffer.allocUnsafe(s.len);
        const n = readSync(fd, b, 0, s.len, s.off);
        const p = n === s.len ? parseLine(b.toString("utf8")) : undefined;
        s.entry = p && p.key === key && p.entry.step === s.step ? p.entry : null;
      }
    } finally {
      closeSync(fd);
    }
  }
  const bad = slots.filter((s) => s.entry === null);
  if (bad.length) {
    const m = idx.bySteps.get(key)!;
    for (const s of bad) if (m.get(s.step) === s) m.delete(s.step);
    idx.sorted.delete(key);
  }
  return slots.filter((s) => s.entry).map((s) => s.entry as HistogramEntry);
}

/** The run's histogram keys with their step counts and first and last steps. */
export function histogramKeys(runDir: string): { key: string; steps: number; first_step: number; last_step: number }[] {
  const idx = indexHistograms(runDir);
  if (!idx) return [];
  const out = [];
  for (const key of idx.bySteps.keys()) {
    const list = sortedSlots(idx, key);
    if (list.length) out.push({ key, steps: list.length, first_step: list[0].step, last_step: list[list.length - 1].step });
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** One key's histograms with steps in [from, to], at most `points` of them spread evenly; `total` counts them all. */
export function histogramSeries(runDir: string, key: string, from: number, to: number, points: number): { steps: HistogramEntry[]; total: number } {
  const idx = indexHistograms(runDir);
  if (!idx) return { steps: [], total: 0 };
  const all = sortedSlots(idx, key).filter((s) => s.step >= from && s.step <= to);
  const picked = pickSteps(all, points);
  const steps = loadSlots(runDir, idx, key, picked);
  return { steps, total: all.length - (picked.length - steps.length) };
}

/** At most `points` entries spread evenly over the list, the first and the last always kept. */
export function pickSteps<T>(items: T[], points: number): T[] {
  if (items.length <= points) return items;
  const out: T[] = [];
  const n = items.length;
  for (let i = 0; i < points; i++) out.push(items[Math.round((i * (n - 1)) / (points - 1))]);
  return out;
}

function numberParam(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined || raw === "") return undefined;
  const v = Number(raw);
  if (!Number.isFinite(v)) throw new HttpError(422, [{ type: "float_parsing", loc: ["query", name], msg: "Input should be a valid number", input: raw }]);
  return v;
}

/** GET /api/runs/{id}/histograms. */
export function histogramsRoutes(ctx: AppContext) {
  return new Elysia({ name: "histograms" }).get(
    "/api/runs/:run_id/histograms",
    ({ params, query }) => {
      const run = getLiveRun(ctx, params.run_id);
      if (query.key === undefined) return { run_id: params.run_id, keys: histogramKeys(run.run_dir) };
      const from = numberParam("from", query.from) ?? -Infinity;
      const to = numberParam("to", query.to) ?? Infinity;
      const pointsRaw = query.points;
      let points = DEFAULT_POINTS;
      if (pointsRaw !== undefined) {
        points = Number(pointsRaw);
        if (!Number.isInteger(points) || points < 2 || points > MAX_POINTS) {
          throw new HttpError(422, [
            { type: "range", loc: ["query", "points"], msg: `Input should be an integer from 2 to ${MAX_POINTS}`, input: pointsRaw },
          ]);
        }
      }
      const { steps, total } = histogramSeries(run.run_dir, query.key, from, to, points);
      return { run_id: params.run_id, key: query.key, steps, total, sampled: steps.length < total };
    },
    {
      query: t.Object({
        key: t.Optional(t.String({ description: "The histogram's key; without it, the list of keys" })),
        from: t.Optional(t.String({ description: "Lowest step kept" })),
        to: t.Optional(t.String({ description: "Highest step kept" })),
        points: t.Optional(t.String({ description: `Most steps returned, 2..${MAX_POINTS} (default ${DEFAULT_POINTS}), spread evenly` })),
      }),
      detail: {
        summary: "Histograms logged with rn.Histogram: keys, or one key's bins (edges, counts) over steps",
      },
    },
  );
}
