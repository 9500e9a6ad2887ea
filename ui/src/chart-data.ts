// Pure helpers that turn metric columns and GPU history into what the charts draw: EMA, best point, stage lines, groups, CSV.
import type { GpuHistory, GpuInfo, MetricKey } from "./types.ts";

/** Exponential moving average `s = (1−f)·v + f·s_prev`; nulls stay null and do not reset the average (spec §7.3). */
/** Points at which a series gets the full smoothing factor; sparser series are smoothed less. */
export const SMOOTH_REF_POINTS = 200;

/**
 * The smoothing factor for a series of `n` points: `f` for dense series, `f^(REF/n)` below REF points,
 * so a 10-point validation series is not dragged like a 10,000-point training one (issue 20).
 */
export function seriesSmoothing(f: number, n: number): number {
  if (f <= 0 || n <= 0) return 0;
  return n >= SMOOTH_REF_POINTS ? f : f ** (SMOOTH_REF_POINTS / n);
}

/** Counts the finite values of a column. */
export function finiteCount(ys: ArrayLike<number | null | undefined>): number {
  let n = 0;
  for (let i = 0; i < ys.length; i++) if (typeof ys[i] === "number" && Number.isFinite(ys[i])) n++;
  return n;
}

/** EMA with the factor adapted to the series' density (see `seriesSmoothing`). */
export function smoothSeries(ys: ArrayLike<number | null>, f: number): (number | null)[] {
  return ema(ys, seriesSmoothing(f, finiteCount(ys)));
}

export function ema(ys: ArrayLike<number | null>, f: number): (number | null)[] {
  const out: (number | null)[] = new Array(ys.length);
  if (f <= 0) {
    for (let i = 0; i < ys.length; i++) out[i] = ys[i];
    return out;
  }
  let s: number | null = null;
  for (let i = 0; i < ys.length; i++) {
    const v = ys[i];
    if (v === null || v === undefined || !Number.isFinite(v)) {
      out[i] = null;
      continue;
    }
    s = s === null ? v : (1 - f) * v + f * s;
    out[i] = s;
  }
  return out;
}

/** Whether lower or higher is better for a metric name (spec §7.3), or undefined when the name says nothing. */
export function bestMode(key: string): "min" | "max" | undefined {
  const k = key.toLowerCase();
  if (/loss|error|err\b|mse|mae|rmse|perplexity|ppl/.test(k)) return "min";
  if (/acc|f1|auc|map|precision|recall|iou|bleu|rouge|score/.test(k)) return "max";
  return undefined;
}

/** The index of the best finite value for `mode`, or -1. */
export function bestIndex(ys: ArrayLike<number | null>, mode: "min" | "max"): number {
  let bi = -1;
  let bv = mode === "min" ? Infinity : -Infinity;
  for (let i = 0; i < ys.length; i++) {
    const v = ys[i];
    if (v === null || v === undefined || !Number.isFinite(v)) continue;
    if (mode === "min" ? v < bv : v > bv) {
      bv = v;
      bi = i;
    }
  }
  return bi;
}

/** Values that a log axis cannot show (≤ 0, non-finite) become gaps. */
export function positiveOnly(ys: ArrayLike<number | null>): (number | null)[] {
  const out: (number | null)[] = new Array(ys.length);
  for (let i = 0; i < ys.length; i++) {
    const v = ys[i];
    out[i] = v !== null && v !== undefined && Number.isFinite(v) && v > 0 ? v : null;
  }
  return out;
}

/** Stage separators: a line at the first step of every stage after the first. */
export function stageMarkers(stages: { stage: string; first_step: number }[]): { x: number; label: string }[] {
  const sorted = [...stages].sort((a, b) => a.first_step - b.first_step);
  return sorted.slice(1).map((s) => ({ x: s.first_step, label: String(s.stage) }));
}

/** Keys not worth a chart of their own (spec §7.2). */
const NOT_CHARTED = new Set(["time", "global_step", "step", "epoch", "iter", "batch", "stage"]);

/** Numeric keys grouped by the prefix before the first `/` (`train/loss` → `train`), groups in first-seen order. */
export function groupKeys(keys: MetricKey[]): { group: string; keys: string[] }[] {
  const groups = new Map<string, string[]>();
  for (const k of keys) {
    if (!k.numeric || NOT_CHARTED.has(k.key)) continue;
    const slash = k.key.indexOf("/");
    const g = slash > 0 ? k.key.slice(0, slash) : "metrics";
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g)!.push(k.key);
  }
  return [...groups].map(([group, ks]) => ({ group, keys: ks }));
}

/** A CSV document of one x column and named y columns. */
export function seriesCsv(xName: string, xs: ArrayLike<number>, cols: { name: string; ys: ArrayLike<number | null> }[]): string {
  const lines = [[xName, ...cols.map((c) => c.name)].join(",")];
  for (let i = 0; i < xs.length; i++) {
    lines.push([xs[i], ...cols.map((c) => (c.ys[i] === null || c.ys[i] === undefined ? "" : c.ys[i]))].join(","));
  }
  return lines.join("\n") + "\n";
}

/**
 * Merges per-run series with different x values into one sorted x column, with null where a run
 * has no point (what uPlot needs to overlay runs).
 */
export function joinSeries(parts: { x: ArrayLike<number>; y: ArrayLike<number | null> }[]): [number[], ...(number | null)[][]] {
  const all = new Set<number>();
  for (const p of parts) for (let i = 0; i < p.x.length; i++) all.add(p.x[i]);
  const xs = [...all].sort((a, b) => a - b);
  const pos = new Map<number, number>();
  xs.forEach((x, i) => pos.set(x, i));
  const ys = parts.map((p) => {
    const col: (number | null)[] = new Array(xs.length).fill(null);
    for (let i = 0; i < p.x.length; i++) col[pos.get(p.x[i])!] = p.y[i] ?? null;
    return col;
  });
  return [xs, ...ys];
}

/** Appends live rows `{step, time, values}` to a column set for `key`, keeping x sorted (drops older or equal x). */
export function appendRows(
  xs: number[],
  ys: (number | null)[],
  rows: { step: number; time: number | null; values: Record<string, unknown> }[],
  key: string,
  xMode: XMode,
): boolean {
  let changed = false;
  for (const r of rows) {
    const v = r.values[key];
    if (typeof v !== "number") continue;
    const ep = r.values.epoch;
    const x = xMode === "time" ? r.time : xMode === "epoch" ? (typeof ep === "number" && Number.isFinite(ep) ? ep : null) : r.step;
    if (x === null || x === undefined) continue;
    const last = xs.length ? xs[xs.length - 1] : -Infinity;
    if (x > last) {
      xs.push(x);
      ys.push(Number.isFinite(v) ? v : null);
      changed = true;
    } else if (x === last) {
      ys[ys.length - 1] = Number.isFinite(v) ? v : null;
      changed = true;
    }
  }
  return changed;
}

/** One GPU at one time: the fields the system charts draw (history has no power limit; the card takes the current one). */
export type GpuPoint = Pick<GpuInfo, "index" | "util_gpu" | "temp_c" | "power_w" | "mem_used_mib"> & { mem_used_pct?: number | null; power_limit_w?: number | null };

/** The GPUs at one sample time. */
export interface GpuSample {
  ts: number;
  gpus: GpuPoint[];
}

/** Turns the columnar `/api/gpu/history` body (`ts` plus one array per field and GPU) into samples. */
export function historySamples(body: GpuHistory | null | undefined): GpuSample[] {
  if (!body || !Array.isArray(body.ts) || !Array.isArray(body.gpus)) return [];
  const at = (col: (number | null)[] | undefined, i: number) => (Array.isArray(col) && typeof col[i] === "number" ? col[i] : null);
  return body.ts.map((ts, i) => ({
    ts,
    gpus: body.gpus
      .filter((g) => at(g.util_gpu, i) !== null || at(g.mem_used_mib, i) !== null || at(g.temp_c, i) !== null || at(g.power_w, i) !== null)
      .map((g) => ({ index: g.index, util_gpu: at(g.util_gpu, i), mem_used_mib: at(g.mem_used_mib, i), mem_used_pct: at(g.mem_used_pct, i), temp_c: at(g.temp_c, i), power_w: at(g.power_w, i) })),
  }));
}

/** Run colours: distinct on light and dark backgrounds. */
export const PALETTE = [
  "#4c78d8", "#e4572e", "#29a36a", "#b279a2", "#f2a541", "#17becf", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#1f3a93", "#c0392b", "#16a085", "#8e44ad", "#d35400", "#2c3e50",
  "#27ae60", "#f39c12", "#2980b9", "#c2185b",
];

/** Rows of stage labels: at most this many, then a label that fits nowhere is left out (its line stays). */
const LABEL_ROWS = 3;

/**
 * Places marker labels without collisions: each label goes on the first row where it starts after the
 * previous label's end (right of its line, or left of it at the chart's right edge); row -1 = not drawn.
 */
export function placeLabels(markers: { x: number; label: string }[], measure: (text: string) => number, pad: number, right: number): { x: number; label: string; textX: number; row: number }[] {
  const ends: number[] = new Array(LABEL_ROWS).fill(-Infinity);
  return [...markers]
    .sort((a, b) => a.x - b.x)
    .map((m) => {
      const w = measure(m.label);
      const textX = m.x + pad + w > right ? m.x - pad - w : m.x + pad;
      const row = ends.findIndex((end) => textX >= end + pad);
      if (row >= 0) ends[row] = textX + w;
      return { ...m, textX, row };
    });
}

/** The chart view kept in the URL. */
export interface ChartView {
  smoothing: number;
  logKeys: string[];
  filter: string;
  xRange: [number, number] | null;
}

/** Reads `smooth`, `log` (comma-separated keys), `filter` and `zoom` (`from,to`) from a query; bad values are ignored. */
export function parseChartView(q: Record<string, string | undefined>, defaultSmoothing: number): ChartView {
  const sm = Number(q.smooth);
  const z = (q.zoom ?? "").split(",").map(Number);
  return {
    smoothing: q.smooth !== undefined && Number.isFinite(sm) && sm >= 0 && sm < 1 ? sm : defaultSmoothing,
    logKeys: (q.log ?? "").split(",").filter(Boolean),
    filter: q.filter ?? "",
    xRange: z.length === 2 && z.every(Number.isFinite) && z[0] < z[1] ? [z[0], z[1]] : null,
  };
}

/** The x axes of the run charts: step, wall time, or the logged `epoch` value (when the run logs one). */
export type XMode = "step" | "time" | "epoch";

/**
 * Re-keys a step-indexed column by the logged epoch: one point per epoch value (the last value logged
 * in it), in rising epoch order; steps without an epoch or a value are dropped.
 */
export function byEpoch(epochs: ArrayLike<number | null>, ys: ArrayLike<number | null>): { x: number[]; y: (number | null)[] } {
  const last = new Map<number, number>();
  for (let i = 0; i < ys.length; i++) {
    const e = epochs[i];
    const v = ys[i];
    if (typeof e === "number" && Number.isFinite(e) && typeof v === "number") last.set(e, v);
  }
  const x = [...last.keys()].sort((a, b) => a - b);
  return { x, y: x.map((e) => last.get(e) ?? null) };
}
