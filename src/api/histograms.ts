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

interface Parsed {
  ino: number;
  /** Bytes read so far (always the end of a complete line). */
  offset: number;
  bySteps: Map<string, Map<number, HistogramEntry>>;
  byKey: Map<string, HistogramEntry[]>;
}

const cache = new Map<string, Parsed>();

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

/**
 * The run's histograms by key (steps ascending, the last one logged for a step wins). Only the bytes appended
 * since the last call are parsed (from the start again if the file was replaced or shrank), so a live run's
 * query costs its new lines, not the whole file.
 */
export function readHistograms(runDir: string): Map<string, HistogramEntry[]> {
  const path = join(runDir, "histograms.jsonl");
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return new Map(); // nothing logged
  }
  if (!st.isFile()) throw new HttpError(404, "histograms.jsonl is not a regular file");
  if (st.size > MAX_HISTOGRAM_FILE) throw new HttpError(413, `histograms.jsonl is larger than ${MAX_HISTOGRAM_FILE} bytes`);
  let hit = cache.get(runDir);
  if (hit && hit.ino === st.ino && hit.offset === st.size) return hit.byKey;
  if (!hit || hit.ino !== st.ino || st.size < hit.offset) hit = { ino: st.ino, offset: 0, bySteps: new Map(), byKey: new Map() };
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
  const touched = new Set<string>();
  let pos = 0;
  while (pos < end) {
    const nl = buf.indexOf(10, pos);
    const line = buf.toString("utf8", pos, nl);
    pos = nl + 1;
    if (!line.trim()) continue;
    const p = parseLine(line);
    if (!p) continue;
    let m = hit.bySteps.get(p.key);
    if (!m) hit.bySteps.set(p.key, (m = new Map()));
    const list = hit.byKey.get(p.key);
    const last = list && list.length ? list[list.length - 1].step : -Infinity;
    m.set(p.entry.step, p.entry);
    if (list && p.entry.step > last && !touched.has(p.key)) list.push(p.entry); // the usual case: steps only grow
    else touched.add(p.key);
  }
  for (const k of touched) hit.byKey.set(k, [...hit.bySteps.get(k)!.values()].sort((a, b) => a.step - b.step));
  const next: Parsed = { ...hit, offset: hit.offset + end };
  cache.delete(runDir);
  if (cache.size >= CACHE_RUNS) cache.delete(cache.keys().next().value as string);
  cache.set(runDir, next);
  return next.byKey;
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
      const byKey = readHistograms(run.run_dir);
      if (query.key === undefined) {
        const keys = [...byKey.entries()]
          .map(([key, list]) => ({ key, steps: list.length, first_step: list[0].step, last_step: list[list.length - 1].step }))
          .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
        return { run_id: params.run_id, keys };
      }
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
      const all = (byKey.get(query.key) ?? []).filter((e) => e.step >= from && e.step <= to);
      const steps = pickSteps(all, points);
      return { run_id: params.run_id, key: query.key, steps, total: all.length, sampled: steps.length < all.length };
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
