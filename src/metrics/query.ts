// Chart queries over a run's columns: metrics_step rows (spec §3.3), columnar series, key summaries.
import { type Chunk, isNumericKind, K_BOOL, K_NUM, K_STR } from "./chunk.ts";
import { DIGEST_BLOCKS, NON_METRIC_KEYS, selectPoints } from "./downsample.ts";
import type { ChunkRef, RunData } from "./run-data.ts";
import type { Cell, StageSegment } from "./stats.ts";

/** Which axis a series is laid out on. */
export type XKey = "step" | "time";

/** Options of a series query. */
export interface SeriesOptions {
  /** Keys to return; default every numeric metric (not `time`). */
  keys?: string[];
  x: XKey;
  points: number;
  from?: number;
  to?: number;
  mode: "lttb" | "minmax";
  /** Keys returned at every x kept (e.g. `epoch`, to lay charts out by epoch); they do not choose the rows. */
  columns?: string[];
}

/** The `/series` body: one shared x array, one array per key with null where it kept no point. */
export interface SeriesBody {
  run_id: string;
  x_key: XKey;
  x: number[];
  series: Record<string, (number | null)[]>;
  total: number;
  sampled: boolean;
  /** Asked-for `columns`: each key's value at every x (null where that row has no number). */
  columns?: Record<string, (number | null)[]>;
}

/** A compatible metrics_step answer: the JSON text and the values of its headers. */
export interface MetricsStepResult {
  json: string;
  rowCount: number;
  total: number;
  lastStep: number | null;
}

/** The `/keys` body. */
export interface KeysBody {
  run_id: string;
  keys: { key: string; count: number; numeric: boolean; min: number | null; max: number | null; last: Cell; last_step: number | null }[];
  stages: StageSegment[];
  last_step: number | null;
  total_steps: number;
}

/** Rows `[start, end)` of a chunk taking part in a query. */
interface Segment {
  chunk: Chunk;
  start: number;
  end: number;
}

/** The rows a query works on: raw rows, or a digest level where the range is large. */
interface RowSet {
  segs: Segment[];
  /** Rows of the run in the range (at full resolution). */
  total: number;
  level: number;
}

/** Keys that the compatible metrics_step answer leaves out (the original dropped them; every other endpoint shows them). */
export const STEP_ENDPOINT_EXCLUDED = new Set(["epoch"]);

/** Numeric metric keys of a run that drive downsampling (everything numeric but `time`). */
export function metricKeys(run: RunData): string[] {
  return run.columns.filter((k) => !NON_METRIC_KEYS.has(k) && (run.keyStats.get(k)?.num ?? 0) > 0);
}

/** The digest level that still leaves every metric at least `points/2` buckets of candidates. */
export function chooseLevel(rows: number, points: number): number {
  if (rows <= points) return 0;
  for (let level = DIGEST_BLOCKS.length; level >= 1; level--) {
    if (rows / DIGEST_BLOCKS[level - 1] >= points / 2) return level;
  }
  return 0;
}

function xOf(seg: Segment, r: number, x: XKey): number {
  return x === "step" ? seg.chunk.steps[r] : seg.chunk.times[r];
}

/** Gathers the rows of `[from, to]` on axis `x`, at the coarsest level that keeps `points` per key. */
function collectRows(run: RunData, x: XKey, points: number, from = -Infinity, to = Infinity): RowSet {
  const lo = (c: ChunkRef) => (x === "step" ? c.firstStep : c.minTime);
  const hi = (c: ChunkRef) => (x === "step" ? c.lastStep : c.maxTime);
  const overlapping = run.chunks.filter((c) => c.rows > 0 && hi(c) >= from && lo(c) <= to);
  let estimate = 0;
  for (const c of overlapping) estimate += c.rows;
  const build = (level: number): RowSet => {
    if (level > 0) run.prefetch?.(overlapping, level);
    const segs: Segment[] = [];
    let total = 0;
    for (const c of overlapping) {
      const inside = lo(c) >= from && hi(c) <= to;
      if (inside) {
        total += c.rows;
        const chunk = run.load(c, level);
        segs.push({ chunk, start: 0, end: chunk.n });
        continue;
      }
      // a chunk cut by the range is read raw, so its edge rows keep their extremes
      const chunk = run.load(c, 0);
      if (x === "step") {
        const start = chunk.lowerBound(from);
        let end = chunk.lowerBound(to);
        while (end < chunk.n && chunk.steps[end] <= to) end++;
        if (end > start) segs.push({ chunk, start, end });
        total += end - start;
      } else {
        let start = -1;
        let end = -1;
        for (let r = 0; r < chunk.n; r++) {
          const t = chunk.times[r];
          if (t >= from && t <= to) {
            if (start < 0) start = r;
            end = r + 1;
            total++;
          }
        }
        if (start >= 0) segs.push({ chunk, start, end });
      }
    }
    return { segs, total, level };
  };
  const level = chooseLevel(estimate, points);
  const set = build(level);
  // the estimate counts whole edge chunks; at full resolution when the window really is small
  if (set.level > 0 && set.total <= points) return build(0);
  return set;
}

/** Per-key selections over a row set: kept[g] for global row g (segments concatenated). */
function selectRows(set: RowSet, keys: string[], x: XKey, points: number, mode: "lttb" | "minmax", from: number, to: number) {
  let rows = 0;
  for (const s of set.segs) rows += s.end - s.start;
  const xs = new Float64Array(rows);
  const ys = new Float64Array(rows);
  const refs = new Int32Array(rows);
  const kept = new Map<string, Uint8Array>();
  const downsample = set.total > points;
  for (const key of keys) {
    let m = 0;
    let g = 0;
    for (const seg of set.segs) {
      const col = seg.chunk.cols.get(key);
      if (!col) {
        g += seg.end - seg.start;
        continue;
      }
      for (let r = seg.start; r < seg.end; r++, g++) {
        if (!isNumericKind(col.kinds[r])) continue;
        const xv = xOf(seg, r, x);
        if (!(xv >= from && xv <= to)) continue;
        xs[m] = xv;
        ys[m] = col.vals[r];
        refs[m] = g;
        m++;
      }
    }
    const mark = new Uint8Array(rows);
    if (m > 0) {
      const sel = downsample ? selectPoints(xs, ys, m, points, mode) : null;
      if (sel) for (let i = 0; i < sel.length; i++) mark[refs[sel[i]]] = 1;
      else for (let i = 0; i < m; i++) mark[refs[i]] = 1;
    }
    kept.set(key, mark);
  }
  return { rows, kept };
}

/** The columnar series of a run (the new `/series` endpoint). */
export function buildSeries(run: RunData, runId: string, opts: SeriesOptions): SeriesBody {
  const keys = opts.keys && opts.keys.length ? opts.keys : metricKeys(run);
  const from = opts.from ?? -Infinity;
  const to = opts.to ?? Infinity;
  const set = collectRows(run, opts.x, opts.points, from, to);
  const { rows, kept } = selectRows(set, keys, opts.x, opts.points, opts.mode, from, to);
  const union = new Uint8Array(rows);
  for (const mark of kept.values()) for (let g = 0; g < rows; g++) union[g] |= mark[g];
  // the kept rows in x order (step order is chunk order; time is sorted, stably)
  const order: { seg: Segment; r: number; g: number; x: number }[] = [];
  let g = 0;
  for (const seg of set.segs) {
    for (let r = seg.start; r < seg.end; r++, g++) {
      if (union[g]) order.push({ seg, r, g, x: xOf(seg, r, opts.x) });
    }
  }
  if (opts.x === "time") order.sort((a, b) => a.x - b.x || a.g - b.g);
  const xsOut = new Array<number>(order.length);
  for (let i = 0; i < order.length; i++) xsOut[i] = order[i].x;
  const series: Record<string, (number | null)[]> = {};
  for (const key of keys) {
    const mark = kept.get(key)!;
    const out = new Array<number | null>(order.length);
    for (let i = 0; i < order.length; i++) {
      const o = order[i];
      if (!mark[o.g]) {
        out[i] = null;
        continue;
      }
      const col = o.seg.chunk.cols.get(key)!;
      out[i] = col.vals[o.r];
    }
    series[key] = out;
  }
  const body: SeriesBody = { run_id: runId, x_key: opts.x, x: xsOut, series, total: set.total, sampled: set.total > opts.points };
  if (opts.columns?.length) {
    body.columns = {};
    for (const key of opts.columns) {
      const out = new Array<number | null>(order.length);
      for (let i = 0; i < order.length; i++) {
        const o = order[i];
        const col = o.seg.chunk.cols.get(key);
        out[i] = col && isNumericKind(col.kinds[o.r]) ? col.vals[o.r] : null;
      }
      body.columns[key] = out;
    }
  }
  return body;
}

/** The compatible `/metrics_step` body (spec §3.3); downsampled rows are the union of every metric's own LTTB. */
export function buildMetricsStep(run: RunData, downsample?: number): MetricsStepResult {
  const total = run.totalRows;
  if (total === 0) return { json: '{"columns":[],"rows":[],"total":0,"sampled":0}', rowCount: 0, total: 0, lastStep: null };
  const stepCols = run.columns.filter((k) => !STEP_ENDPOINT_EXCLUDED.has(k));
  const columns = ["global_step", ...stepCols];
  const head = `{"columns":${JSON.stringify(columns)},"rows":[`;
  const fmt = rowFormat(stepCols);
  if (downsample === undefined || total <= downsample) {
    const parts: string[] = [];
    let lastStep: number | null = null;
    for (const ref of run.chunks) {
      if (ref.rows === 0) continue;
      const chunk = run.load(ref, 0);
      parts.push(chunkJson(chunk, fmt));
      lastStep = chunk.steps[chunk.n - 1];
    }
    return { json: `${head}${parts.join(",")}],"total":${total},"sampled":${total}}`, rowCount: total, total, lastStep };
  }
  const set = collectRows(run, "step", downsample);
  const keys = metricKeys(run).filter((k) => !STEP_ENDPOINT_EXCLUDED.has(k));
  const parts: string[] = [];
  let lastStep: number | null = null;
  if (keys.length === 0) {
    // no numeric column: uniform rows like the original, without repeating the last one
    const flat: [Segment, number][] = [];
    for (const seg of set.segs) for (let r = seg.start; r < seg.end; r++) flat.push([seg, r]);
    const n = flat.length;
    const picked = new Set<number>();
    for (let i = 0; i < downsample; i++) picked.add(Math.floor((i * n) / downsample));
    picked.add(n - 1);
    for (const i of [...picked].sort((a, b) => a - b)) {
      const [seg, r] = flat[i];
      parts.push(rowJson(seg.chunk, r, fmt));
      lastStep = seg.chunk.steps[r];
    }
  } else {
    // each metric gets its share of the rows, so the union stays near `downsample` rows (the original
    // returns exactly N); every kept row carries all columns, and each metric keeps its own extremes
    const share = Math.max(3, Math.ceil(downsample / keys.length));
    const { rows, kept } = selectRows(set, keys, "step", share, "lttb", -Infinity, Infinity);
    const union = new Uint8Array(rows);
    for (const mark of kept.values()) for (let g = 0; g < rows; g++) union[g] |= mark[g];
    let g = 0;
    for (const seg of set.segs) {
      for (let r = seg.start; r < seg.end; r++, g++) {
        if (!union[g]) continue;
        parts.push(rowJson(seg.chunk, r, fmt));
        lastStep = seg.chunk.steps[r];
      }
    }
  }
  return {
    json: `${head}${parts.join(",")}],"total":${total},"sampled":${parts.length}}`,
    rowCount: parts.length,
    total,
    lastStep,
  };
}

/** The `/keys` body: every key with its summary, the stage segments, and the step count. */
export function buildKeys(run: RunData, runId: string): KeysBody {
  const keys = run.columns.map((key) => {
    const s = run.keyStats.get(key)!;
    return { key, count: s.count, numeric: s.num > 0, min: s.min, max: s.max, last: s.last, last_step: s.last_step };
  });
  const last = run.chunks.length ? run.chunks[run.chunks.length - 1] : undefined;
  return {
    run_id: runId,
    keys,
    stages: run.stages.map((s) => ({ ...s })),
    last_step: last && last.rows ? last.lastStep : null,
    total_steps: run.totalRows,
  };
}

/** Live-push items for the rows at `steps` (ascending); steps without a row are skipped. */
export function rowsForSteps(run: RunData, steps: number[]): ReturnType<typeof rowsAt> {
  const out: ReturnType<typeof rowsAt> = [];
  let ci = 0;
  const chunks = run.chunks;
  let i = 0;
  while (i < steps.length && ci < chunks.length) {
    const ref = chunks[ci];
    if (ref.rows === 0 || steps[i] > ref.lastStep) {
      ci++;
      continue;
    }
    if (steps[i] < ref.firstStep) {
      i++;
      continue;
    }
    const chunk = run.load(ref, 0);
    const positions: number[] = [];
    while (i < steps.length && steps[i] <= ref.lastStep) {
      const r = chunk.lowerBound(steps[i]);
      if (r < chunk.n && chunk.steps[r] === steps[i]) positions.push(r);
      i++;
    }
    for (const row of rowsAt(chunk, positions)) out.push(row);
    ci++;
  }
  return out;
}

/** Rows of one chunk at `positions` as live-push items: `{step, time, values}` with NaN/±Infinity as null. */
export function rowsAt(chunk: Chunk, positions: number[]): { step: number; time: number | null; values: Record<string, Cell> }[] {
  const out = [];
  for (const r of positions) {
    const values: Record<string, Cell> = {};
    for (const [key, col] of chunk.cols) {
      const k = col.kinds[r];
      if (k === 0) continue;
      values[key] = k === K_NUM ? col.vals[r] : k === K_BOOL ? col.vals[r] !== 0 : k === K_STR ? chunk.strs[col.vals[r]] : null;
    }
    const t = chunk.times[r];
    out.push({ step: chunk.steps[r], time: t === t ? t : null, values });
  }
  return out;
}

/** How rows are printed for a column set: the JSON prefix of each column. */
interface RowFormat {
  sig: string;
  columns: readonly string[];
  prefixes: string[];
}

function rowFormat(columns: readonly string[]): RowFormat {
  return { sig: columns.join("\u0000"), columns, prefixes: columns.map((c) => `,${JSON.stringify(c)}:`) };
}

/** Printed rows per chunk, reused while the chunk and the column set stay the same. */
const printed = new WeakMap<Chunk, { sig: string; version: number; rows: (string | undefined)[]; joined?: string; strs?: string[] }>();

function cacheFor(chunk: Chunk, fmt: RowFormat) {
  let c = printed.get(chunk);
  if (!c || c.sig !== fmt.sig || c.version !== chunk.version) {
    c = { sig: fmt.sig, version: chunk.version, rows: new Array(chunk.n) };
    printed.set(chunk, c);
  }
  return c;
}

function chunkJson(chunk: Chunk, fmt: RowFormat): string {
  const c = cacheFor(chunk, fmt);
  if (c.joined === undefined) {
    const parts = new Array<string>(chunk.n);
    for (let r = 0; r < chunk.n; r++) parts[r] = formatRow(chunk, r, fmt, c);
    c.joined = parts.join(",");
  }
  return c.joined;
}

function rowJson(chunk: Chunk, r: number, fmt: RowFormat): string {
  const c = cacheFor(chunk, fmt);
  return (c.rows[r] ??= formatRow(chunk, r, fmt, c));
}

function formatRow(chunk: Chunk, r: number, fmt: RowFormat, c: { strs?: string[] }): string {
  let s = `{"global_step":${chunk.steps[r]}`;
  const cols = fmt.columns;
  for (let i = 0; i < cols.length; i++) {
    const col = chunk.cols.get(cols[i]);
    s += fmt.prefixes[i];
    if (!col) {
      s += "null";
      continue;
    }
    switch (col.kinds[r]) {
      case K_NUM:
        s += col.vals[r];
        break;
      case K_BOOL:
        s += col.vals[r] !== 0 ? "true" : "false";
        break;
      case K_STR: {
        if (!c.strs) c.strs = [];
        const j = col.vals[r];
        s += c.strs[j] ??= JSON.stringify(chunk.strs[j]);
        break;
      }
      default:
        s += "null";
    }
  }
  return s + "}";
}
