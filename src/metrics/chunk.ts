// A block of metric rows stored column-wise in typed arrays: the unit of storage, caching and downsampling.

/** Cell kinds (one byte per cell): what the original kept for each value (spec §3.3). */
export const K_ABSENT = 0;
/** A finite number. */
export const K_NUM = 1;
/** `null` in the file, or `NaN` (the original turns NaN into null). */
export const K_NULL = 2;
/** A bool; `vals` holds 0 or 1 and the wire shows `true`/`false`. */
export const K_BOOL = 3;
/** A string; `vals` holds its index in the chunk's `strs`. */
export const K_STR = 4;
/** ±Infinity, kept in `vals`; `null` on the wire like the original. */
export const K_INF = 5;

/** Rows per chunk when appending; a chunk that fills up starts a new one. */
export const CHUNK_ROWS = 4096;

/** One column of a chunk: a kind and a number per row. */
export interface Column {
  kinds: Uint8Array;
  vals: Float64Array;
}

/** A run's rows `[0, n)` in step order: steps, the row time (data.time, else ts) and one Column per key. */
export class Chunk {
  n = 0;
  cap: number;
  steps: Float64Array;
  times: Float64Array;
  cols = new Map<string, Column>();
  strs: string[] = [];
  /** Bumped by every mutation; caches built from the chunk remember the version they saw. */
  version = 0;
  private strIndex?: Map<string, number>;

  constructor(cap: number = CHUNK_ROWS) {
    this.cap = cap;
    this.steps = new Float64Array(cap);
    this.times = new Float64Array(cap);
  }

  /** Builds a chunk around existing arrays (decoded blobs, subsets) without copying. */
  static wrap(n: number, steps: Float64Array, times: Float64Array, cols: Map<string, Column>, strs: string[]): Chunk {
    // through the constructor: the same object shape as every other chunk (one shape for the JIT)
    const c = new Chunk(0);
    c.n = n;
    c.cap = n;
    c.steps = steps;
    c.times = times;
    c.cols = cols;
    c.strs = strs;
    c.version = 0;
    return c;
  }

  /** Makes room for `cap` rows, copying the arrays when they are too small. */
  reserve(cap: number): void {
    if (cap <= this.cap) return;
    this.steps = grow(this.steps, cap);
    this.times = grow(this.times, cap);
    for (const col of this.cols.values()) {
      const kinds = new Uint8Array(cap);
      kinds.set(col.kinds.subarray(0, this.n));
      col.kinds = kinds;
      col.vals = grow(col.vals, cap);
    }
    this.cap = cap;
  }

  /** The column for `key`, created (all absent) when missing. */
  column(key: string): Column {
    let col = this.cols.get(key);
    if (!col) {
      col = { kinds: new Uint8Array(this.cap), vals: new Float64Array(this.cap) };
      this.cols.set(key, col);
    }
    return col;
  }

  /** The index of `s` in this chunk's string table, adding it when new. */
  internString(s: string): number {
    if (!this.strIndex) {
      this.strIndex = new Map();
      for (let i = 0; i < this.strs.length; i++) this.strIndex.set(this.strs[i], i);
    }
    let i = this.strIndex.get(s);
    if (i === undefined) {
      i = this.strs.length;
      this.strs.push(s);
      this.strIndex.set(s, i);
    }
    return i;
  }

  /** Appends an empty row for `step` (the caller checked ordering and capacity). */
  appendRow(step: number): number {
    const r = this.n++;
    this.steps[r] = step;
    this.times[r] = NaN;
    return r;
  }

  /** Inserts an empty row for `step` at position `r`, shifting later rows. */
  insertRow(r: number, step: number): void {
    if (this.n >= this.cap) this.reserve(Math.max(this.n + 1, CHUNK_ROWS));
    const n = this.n;
    this.steps.copyWithin(r + 1, r, n);
    this.times.copyWithin(r + 1, r, n);
    for (const col of this.cols.values()) {
      col.kinds.copyWithin(r + 1, r, n);
      col.vals.copyWithin(r + 1, r, n);
      col.kinds[r] = K_ABSENT;
    }
    this.steps[r] = step;
    this.times[r] = NaN;
    this.n = n + 1;
  }

  /** Position of the first row with step ≥ `step` (binary search). */
  lowerBound(step: number): number {
    let lo = 0;
    let hi = this.n;
    const s = this.steps;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid] < step) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** A new compact chunk holding the rows at `positions` (ascending), with the used strings only. */
  subset(positions: ArrayLike<number>, count: number = positions.length): Chunk {
    const steps = new Float64Array(count);
    const times = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      steps[i] = this.steps[positions[i]];
      times[i] = this.times[positions[i]];
    }
    const cols = new Map<string, Column>();
    const strs: string[] = [];
    const remap = new Map<number, number>();
    for (const [key, col] of this.cols) {
      const out = { kinds: new Uint8Array(count), vals: new Float64Array(count) };
      if (gather(col, positions, count, out, this.strs, strs, remap)) cols.set(key, out);
    }
    return Chunk.wrap(count, steps, times, cols, strs);
  }

  /** Approximate memory held by the chunk, for the cache budget. */
  bytes(): number {
    let b = this.cap * 16 + 200;
    for (const _ of this.cols.values()) b += this.cap * 9 + 64;
    for (const s of this.strs) b += s.length + 32;
    return b;
  }
}

/**
 * Copies the cells of `col` at `positions` into `out`, re-indexing strings into `strs` (`remap`: old
 * index → new); false when none of them has a value. Its own small function: the JIT compiles a small
 * hot loop quickly, and subset itself stays out of the hot path.
 */
function gather(
  col: Column,
  positions: ArrayLike<number>,
  count: number,
  out: Column,
  fromStrs: string[],
  strs: string[],
  remap: Map<number, number>,
): boolean {
  let any = false;
  for (let i = 0; i < count; i++) {
    const p = positions[i];
    const k = col.kinds[p];
    if (k === K_ABSENT) continue;
    any = true;
    out.kinds[i] = k;
    if (k === K_STR) {
      let j = remap.get(col.vals[p]);
      if (j === undefined) {
        j = strs.length;
        strs.push(fromStrs[col.vals[p]]);
        remap.set(col.vals[p], j);
      }
      out.vals[i] = j;
    } else out.vals[i] = col.vals[p];
  }
  return any;
}

/**
 * Moves the first `m` rows of `src` to the end of `dst` (whose steps they must follow): `dst` grows to
 * a full chunk's room, `src` keeps its later rows from row 0. A run's chunks stay CHUNK_ROWS rows each
 * when rows built apart (a split first read) are appended.
 */
export function moveHeadRows(src: Chunk, m: number, dst: Chunk): void {
  if (m <= 0) return;
  dst.reserve(Math.max(CHUNK_ROWS, dst.n + m));
  const r0 = dst.n;
  const n = src.n;
  dst.steps.set(src.steps.subarray(0, m), r0);
  dst.times.set(src.times.subarray(0, m), r0);
  const filled = new Set<Column>();
  for (const [key, col] of src.cols) {
    const d = dst.column(key);
    filled.add(d);
    d.kinds.set(col.kinds.subarray(0, m), r0);
    if (!col.kinds.subarray(0, m).includes(K_STR)) d.vals.set(col.vals.subarray(0, m), r0);
    else {
      for (let i = 0; i < m; i++) {
        d.vals[r0 + i] = col.kinds[i] === K_STR ? dst.internString(src.strs[col.vals[i]]) : col.vals[i];
      }
    }
  }
  // the destination's other columns have no value in the moved rows
  for (const d of dst.cols.values()) if (!filled.has(d)) d.kinds.fill(K_ABSENT, r0, r0 + m);
  dst.n = r0 + m;
  dst.version++;
  src.steps.copyWithin(0, m, n);
  src.times.copyWithin(0, m, n);
  for (const col of src.cols.values()) {
    col.kinds.copyWithin(0, m, n);
    col.vals.copyWithin(0, m, n);
    col.kinds.fill(K_ABSENT, n - m, n);
  }
  src.n = n - m;
  src.version++;
}

function grow(a: Float64Array, cap: number): Float64Array {
  const out = new Float64Array(cap);
  out.set(a);
  return out;
}

/** The value of a cell as it goes on the wire: number, bool, string or null (NaN/±Infinity → null). */
export function wireValue(chunk: Chunk, col: Column | undefined, r: number): number | boolean | string | null {
  if (!col) return null;
  switch (col.kinds[r]) {
    case K_NUM:
      return col.vals[r];
    case K_BOOL:
      return col.vals[r] !== 0;
    case K_STR:
      return chunk.strs[col.vals[r]];
    default:
      return null;
  }
}

/** True when the cell has a chartable value (a finite number or a bool as 0/1). */
export function isNumericKind(kind: number): boolean {
  return kind === K_NUM || kind === K_BOOL;
}
