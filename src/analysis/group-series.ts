// Grouped series (issue 16): one metric of many runs aligned on a shared x axis and aggregated per group
// (mean, population std, min, max, count), downsampled into at most `points` buckets, straight from the
// runs' chunks (no per-run copy of the rows).
//
// Alignment: x is the step (or the seconds since the run's first timed row). The group's x range comes
// from its runs' chunk catalogues. When x is the step and the range holds at most `points` steps, each
// step is its own bucket (exact alignment on the union of steps); otherwise the range is cut into
// `points` equal-width buckets. A run contributes to a bucket only where it logged a finite value there
// (its mean over the bucket's rows, so every run weighs the same); nothing is interpolated or carried
// forward. Buckets where no run has a value are dropped; `count` says how many runs made each point. A
// bucket's x is the mean x of the rows in it (the step itself in the exact case).
import { K_BOOL, K_NUM } from "../metrics/chunk.ts";
import type { RunData } from "../metrics/run-data.ts";
import type { CompareAgg } from "../wire/analysis.ts";

/** The aggregated series of one group. */
export interface GroupSeries {
  x: number[];
  mean?: number[];
  std?: number[];
  min?: number[];
  max?: number[];
  count: number[];
}

/** First timed row of a run (NaN when none): the origin of x=time. */
function timeOrigin(run: RunData): number {
  let t0 = NaN;
  for (const c of run.chunks) if (c.rows > 0 && c.minTime === c.minTime && !(c.minTime >= t0)) t0 = c.minTime;
  return t0;
}

/** Accumulates runs into one group's buckets; `addRun` may be retried (it merges only once it has read every chunk). */
export class GroupAccumulator {
  private readonly nb: number;
  private readonly lo: number;
  private readonly scale: number;
  private readonly n: Float64Array;
  private readonly mean: Float64Array;
  private readonly m2: Float64Array;
  private readonly mn: Float64Array;
  private readonly mx: Float64Array;
  private readonly xsum: Float64Array;
  private readonly xcnt: Float64Array;
  private readonly sum: Float64Array;
  private readonly cnt: Float64Array;

  /** The buckets for these runs' x range on axis `x`. */
  constructor(
    runs: readonly RunData[],
    private readonly x: "step" | "time",
    points: number,
  ) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const run of runs) {
      const t0 = x === "time" ? timeOrigin(run) : 0;
      for (const c of run.chunks) {
        if (c.rows <= 0) continue;
        const a = x === "step" ? c.firstStep : c.minTime - t0;
        const b = x === "step" ? c.lastStep : c.maxTime - t0;
        if (a < lo) lo = a;
        if (b > hi) hi = b;
      }
    }
    if (!(lo <= hi)) {
      lo = 0;
      hi = 0;
    }
    const exact = x === "step" && Math.floor(hi) - Math.floor(lo) + 1 <= points;
    this.lo = exact ? Math.floor(lo) : lo;
    this.nb = exact ? Math.floor(hi) - Math.floor(lo) + 1 : hi === lo ? 1 : points;
    this.scale = exact ? 1 : hi === lo ? 0 : this.nb / (hi - lo);
    const nb = this.nb;
    this.n = new Float64Array(nb);
    this.mean = new Float64Array(nb);
    this.m2 = new Float64Array(nb);
    this.mn = new Float64Array(nb).fill(Infinity);
    this.mx = new Float64Array(nb).fill(-Infinity);
    this.xsum = new Float64Array(nb);
    this.xcnt = new Float64Array(nb);
    this.sum = new Float64Array(nb);
    this.cnt = new Float64Array(nb);
  }

  /** Reads `key` of one run from its raw chunks and adds the run's bucket means to the group. */
  addRun(run: RunData, key: string): void {
    const { sum, cnt, nb } = this;
    sum.fill(0);
    cnt.fill(0);
    const xs = new Float64Array(nb);
    const t0 = this.x === "time" ? timeOrigin(run) : 0;
    const chunks = run.chunks.filter((c) => c.rows > 0);
    run.prefetch?.(chunks, 0);
    for (const ref of chunks) {
      const chunk = run.load(ref, 0);
      const col = chunk.cols.get(key);
      if (!col) continue;
      fold(col.kinds, col.vals, this.x === "step" ? chunk.steps : chunk.times, t0, chunk.n, this.lo, this.scale, nb, sum, cnt, xs);
    }
    // every chunk read: the run's mean in each bucket joins the group (Welford)
    const { n, mean, m2, mn, mx, xsum, xcnt } = this;
    for (let b = 0; b < nb; b++) {
      const c = cnt[b];
      if (c === 0) continue;
      const v = sum[b] / c;
      const k = ++n[b];
      const d = v - mean[b];
      mean[b] += d / k;
      m2[b] += d * (v - mean[b]);
      if (v < mn[b]) mn[b] = v;
      if (v > mx[b]) mx[b] = v;
      xsum[b] += xs[b];
      xcnt[b] += c;
    }
  }

  /** The group's series: the asked aggregates and count, empty buckets dropped. */
  result(aggs: readonly CompareAgg[]): GroupSeries {
    const out: GroupSeries = { x: [], count: [] };
    const want = new Set(aggs);
    if (want.has("mean")) out.mean = [];
    if (want.has("std")) out.std = [];
    if (want.has("min")) out.min = [];
    if (want.has("max")) out.max = [];
    for (let b = 0; b < this.nb; b++) {
      const k = this.n[b];
      if (k === 0) continue;
      out.x.push(this.xsum[b] / this.xcnt[b]);
      out.count.push(k);
      out.mean?.push(this.mean[b]);
      out.std?.push(Math.sqrt(Math.max(0, this.m2[b] / k)));
      out.min?.push(this.mn[b]);
      out.max?.push(this.mx[b]);
    }
    return out;
  }
}

/** Adds one chunk column's numeric rows with a known x to the run's buckets (one monomorphic loop). */
function fold(
  kinds: Uint8Array,
  vals: Float64Array,
  src: Float64Array,
  off: number,
  rows: number,
  lo: number,
  scale: number,
  nb: number,
  sum: Float64Array,
  cnt: Float64Array,
  xs: Float64Array,
): void {
  const last = nb - 1;
  for (let r = 0; r < rows; r++) {
    const kind = kinds[r];
    if (kind !== K_NUM && kind !== K_BOOL) continue;
    const xv = src[r] - off;
    const yv = vals[r];
    if (xv !== xv || yv - yv !== 0) continue; // NaN x, or a non-finite value
    let b = Math.floor((xv - lo) * scale);
    if (b > last) b = last;
    else if (b < 0) b = 0;
    sum[b] += yv;
    cnt[b]++;
    xs[b] += xv;
  }
}
