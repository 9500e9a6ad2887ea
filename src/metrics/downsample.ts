// Downsampling on typed arrays: LTTB and min/max per series, extremes always kept, and per-chunk digests.
import { type Chunk, isNumericKind } from "./chunk.ts";

/**
 * Largest-Triangle-Three-Buckets over points `i < m`: keeps the first and last point and one point
 * per bucket of the rest, exactly `min(target, m)` ascending indices, the last index once (spec §10.4).
 */
export function lttb(xs: Float64Array, ys: Float64Array, m: number, target: number): Int32Array {
  if (target >= m || m <= 2) return range(m);
  if (target < 3) return Int32Array.of(0, m - 1);
  const out = new Int32Array(target);
  const every = (m - 2) / (target - 2);
  let a = 0;
  out[0] = 0;
  for (let i = 0; i < target - 2; i++) {
    let avgStart = Math.floor((i + 1) * every) + 1;
    let avgEnd = Math.floor((i + 2) * every) + 1;
    if (avgEnd > m) avgEnd = m;
    if (avgStart >= avgEnd) avgStart = avgEnd - 1;
    let avgX = 0;
    let avgY = 0;
    for (let j = avgStart; j < avgEnd; j++) {
      avgX += xs[j];
      avgY += ys[j];
    }
    const len = avgEnd - avgStart;
    avgX /= len;
    avgY /= len;
    const from = Math.floor(i * every) + 1;
    let to = Math.floor((i + 1) * every) + 1;
    if (to > m - 1) to = m - 1;
    const ax = xs[a];
    const ay = ys[a];
    let best = from;
    let bestArea = -1;
    for (let j = from; j < to; j++) {
      const area = Math.abs((ax - avgX) * (ys[j] - ay) - (ax - xs[j]) * (avgY - ay));
      if (area > bestArea) {
        bestArea = area;
        best = j;
      }
    }
    out[i + 1] = best;
    a = best;
  }
  out[target - 1] = m - 1;
  return out;
}

/**
 * Min/max per x bucket: `floor(target/2)` equal-width buckets over the x span, keeping each bucket's
 * lowest and highest point, plus the first and last point; ascending indices.
 */
export function minmax(xs: Float64Array, ys: Float64Array, m: number, target: number): Int32Array {
  if (target >= m || m <= 2) return range(m);
  const buckets = Math.max(1, target >> 1);
  let x0 = Infinity;
  let x1 = -Infinity;
  for (let i = 0; i < m; i++) {
    if (xs[i] < x0) x0 = xs[i];
    if (xs[i] > x1) x1 = xs[i];
  }
  const width = (x1 - x0) / buckets || 1;
  const lo = new Int32Array(buckets).fill(-1);
  const hi = new Int32Array(buckets).fill(-1);
  for (let i = 0; i < m; i++) {
    let b = Math.floor((xs[i] - x0) / width);
    if (b >= buckets) b = buckets - 1;
    if (lo[b] < 0 || ys[i] < ys[lo[b]]) lo[b] = i;
    if (hi[b] < 0 || ys[i] > ys[hi[b]]) hi[b] = i;
  }
  const keep = new Uint8Array(m);
  keep[0] = 1;
  keep[m - 1] = 1;
  for (let b = 0; b < buckets; b++) {
    if (lo[b] >= 0) keep[lo[b]] = 1;
    if (hi[b] >= 0) keep[hi[b]] = 1;
  }
  return collect(keep);
}

/** The selection of `mode`, with the series' minimum and maximum added when the algorithm dropped them. */
export function selectPoints(
  xs: Float64Array,
  ys: Float64Array,
  m: number,
  target: number,
  mode: "lttb" | "minmax",
): Int32Array {
  if (m <= target) return range(m);
  let lo = 0;
  let hi = 0;
  for (let i = 1; i < m; i++) {
    if (ys[i] < ys[lo]) lo = i;
    if (ys[i] > ys[hi]) hi = i;
  }
  // a flat series needs only its ends
  if (ys[lo] === ys[hi]) return Int32Array.of(0, m - 1);
  const sel = mode === "minmax" ? minmax(xs, ys, m, target) : lttb(xs, ys, m, target);
  const hasLo = contains(sel, lo);
  const hasHi = contains(sel, hi);
  if (hasLo && hasHi) return sel;
  const out = Array.from(sel);
  if (!hasLo) out.push(lo);
  if (!hasHi && hi !== lo) out.push(hi);
  return Int32Array.from(out).sort();
}

/** Row-block sizes of the digest levels 1, 2, 3 (level 0 is the raw chunk). */
export const DIGEST_BLOCKS = [64, 512, 4096] as const;

/** Keys that never drive a selection: `time` is an x axis, not a metric. */
export const NON_METRIC_KEYS = new Set(["time"]);

/**
 * Positions kept by each digest level of a chunk: the first and last row, every metric's first and
 * last numeric row, and every metric's minimum and maximum row in each block of the level's size.
 * The loops live in small helpers: a first ingest runs while the JIT compiles, and one big function
 * with nested loops costs it several slow optimising compiles.
 */
export function digestPositions(chunk: Chunk): Int32Array[] {
  const n = chunk.n;
  const base = DIGEST_BLOCKS[0];
  const nb = Math.ceil(n / base);
  const marks = DIGEST_BLOCKS.map(() => new Uint8Array(n));
  for (const m of marks) {
    if (n > 0) {
      m[0] = 1;
      m[n - 1] = 1;
    }
  }
  const bmin = new Int32Array(nb);
  const bmax = new Int32Array(nb);
  const ends = new Int32Array(2);
  for (const [key, col] of chunk.cols) {
    if (NON_METRIC_KEYS.has(key)) continue;
    if (!blockExtremes(col.kinds, col.vals, n, base, bmin, bmax, ends)) continue;
    for (let level = 0; level < DIGEST_BLOCKS.length; level++) {
      const mark = marks[level];
      mark[ends[0]] = 1;
      mark[ends[1]] = 1;
      markGroups(mark, col.vals, bmin, bmax, nb, DIGEST_BLOCKS[level] / base);
    }
  }
  return marks.map(collect);
}

/** Per block of `base` rows: its lowest and highest numeric row (-1 when none); `ends` gets the first and last numeric row. False when there is none. */
function blockExtremes(kinds: Uint8Array, vals: Float64Array, n: number, base: number, bmin: Int32Array, bmax: Int32Array, ends: Int32Array): boolean {
  let first = -1;
  let last = -1;
  const nb = bmin.length;
  for (let b = 0; b < nb; b++) {
    let lo = -1;
    let hi = -1;
    const end = Math.min(n, (b + 1) * base);
    for (let r = b * base; r < end; r++) {
      if (!isNumericKind(kinds[r])) continue;
      if (first < 0) first = r;
      last = r;
      const v = vals[r];
      if (lo < 0 || v < vals[lo]) lo = r;
      if (hi < 0 || v > vals[hi]) hi = r;
    }
    bmin[b] = lo;
    bmax[b] = hi;
  }
  ends[0] = first;
  ends[1] = last;
  return first >= 0;
}

/** Marks the lowest and highest row of each group of `per` blocks. */
function markGroups(mark: Uint8Array, vals: Float64Array, bmin: Int32Array, bmax: Int32Array, nb: number, per: number): void {
  for (let g = 0; g < nb; g += per) {
    let lo = -1;
    let hi = -1;
    const end = Math.min(nb, g + per);
    for (let b = g; b < end; b++) {
      const l = bmin[b];
      if (l >= 0 && (lo < 0 || vals[l] < vals[lo])) lo = l;
      const h = bmax[b];
      if (h >= 0 && (hi < 0 || vals[h] > vals[hi])) hi = h;
    }
    if (lo >= 0) mark[lo] = 1;
    if (hi >= 0) mark[hi] = 1;
  }
}

function collect(mark: Uint8Array): Int32Array {
  let c = 0;
  for (let i = 0; i < mark.length; i++) c += mark[i];
  const out = new Int32Array(c);
  let j = 0;
  for (let i = 0; i < mark.length; i++) if (mark[i]) out[j++] = i;
  return out;
}

function range(m: number): Int32Array {
  const out = new Int32Array(Math.max(0, m));
  for (let i = 0; i < m; i++) out[i] = i;
  return out;
}

function contains(sorted: Int32Array, v: number): boolean {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo < sorted.length && sorted[lo] === v;
}
