// Grouped series (issue 16): one metric of many runs aligned on a shared x axis and aggregated per group
// (mean, population std, min, max, count), downsampled into at most `points` buckets.
//
// Alignment: x is the step (or the seconds since the run's first timed row). When every x is an integer
// step and the group's step range fits in `points`, each step is its own bucket (exact alignment on the
// union of steps). Otherwise [min x, max x] is cut into `points` equal-width buckets. A run contributes
// to a bucket only where it logged a finite value there (its mean over the bucket's rows, so every run
// weighs the same); nothing is interpolated or carried forward. Buckets where no run has a value are
// dropped; `count` says how many runs made each point. The bucket's x is its step (exact) or the mean x
// of the rows in it.
import { type Chunk, isNumericKind } from "../metrics/chunk.ts";
import type { RunData } from "../metrics/run-data.ts";
import type { CompareAgg } from "../wire/analysis.ts";

/** One run's finite values of one key, in row order. */
export interface RunPoints {
  xs: Float64Array;
  ys: Float64Array;
}

/** Reads one key of a run from its raw chunks (x = step, or time since the run's first timed row). */
export function runPoints(run: RunData, key: string, x: "step" | "time"): RunPoints {
  const chunks = run.chunks.filter((c) => c.rows > 0);
  run.prefetch?.(chunks, 0);
  let n = 0;
  for (const c of chunks) n += c.rows;
  const xs = new Float64Array(n);
  const ys = new Float64Array(n);
  let k = 0;
  let t0 = NaN;
  for (const ref of chunks) {
    const chunk: Chunk = run.load(ref, 0);
    const col = chunk.cols.get(key);
    if (x === "time" && t0 !== t0) {
      for (let r = 0; r < chunk.n; r++) {
        if (chunk.times[r] === chunk.times[r]) {
          t0 = chunk.times[r];
          break;
        }
      }
    }
    if (!col) continue;
    const { kinds, vals } = col;
    const src = x === "step" ? chunk.steps : chunk.times;
    const off = x === "step" ? 0 : t0;
    for (let r = 0; r < chunk.n; r++) {
      if (!isNumericKind(kinds[r])) continue;
      const xv = src[r] - off;
      const yv = vals[r];
      if (xv !== xv || !Number.isFinite(yv)) continue;
      xs[k] = xv;
      ys[k] = yv;
      k++;
    }
  }
  return { xs: xs.subarray(0, k), ys: ys.subarray(0, k) };
}

/** The aggregated series of one group. */
export interface GroupSeries {
  x: number[];
  mean?: number[];
  std?: number[];
  min?: number[];
  max?: number[];
  count: number[];
}

/** Aligns and aggregates the runs' points (see the file comment); `points` ≥ 1. */
export function aggregateGroup(runs: readonly RunPoints[], aggs: readonly CompareAgg[], points: number): GroupSeries {
  let lo = Infinity;
  let hi = -Infinity;
  let integral = true;
  for (const r of runs) {
    for (let i = 0; i < r.xs.length; i++) {
      const v = r.xs[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
      if (integral && !Number.isInteger(v)) integral = false;
    }
  }
  if (lo > hi) return emptySeries(aggs);
  const exact = integral && hi - lo + 1 <= points;
  const nb = exact ? hi - lo + 1 : hi === lo ? 1 : points;
  const scale = exact ? 1 : hi === lo ? 0 : nb / (hi - lo);
  const bucketOf = (v: number) => (exact ? v - lo : Math.min(nb - 1, Math.floor((v - lo) * scale)));

  const n = new Float64Array(nb);
  const mean = new Float64Array(nb);
  const m2 = new Float64Array(nb);
  const mn = new Float64Array(nb).fill(Infinity);
  const mx = new Float64Array(nb).fill(-Infinity);
  const xsum = new Float64Array(nb);
  const xcnt = new Float64Array(nb);
  const sum = new Float64Array(nb);
  const cnt = new Float64Array(nb);
  const touched: number[] = [];
  for (const r of runs) {
    for (let i = 0; i < r.xs.length; i++) {
      const b = bucketOf(r.xs[i]);
      if (cnt[b] === 0) touched.push(b);
      sum[b] += r.ys[i];
      cnt[b]++;
      xsum[b] += r.xs[i];
      xcnt[b]++;
    }
    // the run's mean in each bucket it touched joins the group's aggregates (Welford)
    for (const b of touched) {
      const v = sum[b] / cnt[b];
      const k = ++n[b];
      const d = v - mean[b];
      mean[b] += d / k;
      m2[b] += d * (v - mean[b]);
      if (v < mn[b]) mn[b] = v;
      if (v > mx[b]) mx[b] = v;
      sum[b] = 0;
      cnt[b] = 0;
    }
    touched.length = 0;
  }
  const out: GroupSeries = { x: [], count: [] };
  const want = new Set(aggs);
  if (want.has("mean")) out.mean = [];
  if (want.has("std")) out.std = [];
  if (want.has("min")) out.min = [];
  if (want.has("max")) out.max = [];
  for (let b = 0; b < nb; b++) {
    if (n[b] === 0) continue;
    out.x.push(exact ? lo + b : xsum[b] / xcnt[b]);
    out.count.push(n[b]);
    out.mean?.push(mean[b]);
    out.std?.push(Math.sqrt(Math.max(0, m2[b] / n[b])));
    out.min?.push(mn[b]);
    out.max?.push(mx[b]);
  }
  return out;
}

function emptySeries(aggs: readonly CompareAgg[]): GroupSeries {
  const out: GroupSeries = { x: [], count: [] };
  for (const a of aggs) out[a] = [];
  return out;
}
