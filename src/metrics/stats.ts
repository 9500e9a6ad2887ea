// Per-chunk summaries (count, min, max, last of every key; stage segments) and their fold over a run.
import { type Chunk, isNumericKind, K_ABSENT, wireValue } from "./chunk.ts";

/** A wire value of a cell. */
export type Cell = number | boolean | string | null;

/** What a chunk (or a whole run) holds for one key. */
export interface KeyStats {
  /** Rows where the key was logged (any value). */
  count: number;
  /** Rows with a finite number or a bool. */
  num: number;
  min: number | null;
  max: number | null;
  /** The value at the last row where the key was logged. */
  last: Cell;
  last_step: number | null;
}

/** A stretch of consecutive steps with the same `stage`; `stage: null` means "inherits the previous stage". */
export interface StageSegment {
  stage: Cell;
  first_step: number;
  last_step: number;
}

/** The summary of one chunk, stored beside it. */
export interface ChunkStats {
  keys: Record<string, KeyStats>;
  stages: StageSegment[];
  minTime: number | null;
  maxTime: number | null;
}

/** The column holding the stage (spec §1.5: the SDK moves `stage` to the tail of the data). */
export const STAGE_KEY = "stage";

/** Summarises a chunk in one pass per column. */
export function chunkStats(chunk: Chunk): ChunkStats {
  const keys: Record<string, KeyStats> = {};
  const n = chunk.n;
  const out = new Float64Array(5);
  for (const [key, col] of chunk.cols) {
    columnSummary(col.kinds, col.vals, n, out);
    const count = out[0];
    if (count === 0) continue;
    const num = out[1];
    const lastR = out[4];
    keys[key] = {
      count,
      num,
      min: num ? out[2] : null,
      max: num ? out[3] : null,
      last: wireValue(chunk, col, lastR),
      last_step: chunk.steps[lastR],
    };
  }
  range(chunk.times, n, out);
  return {
    keys,
    stages: stageSegments(chunk),
    minTime: out[0] === Infinity ? null : out[0],
    maxTime: out[1] === -Infinity ? null : out[1],
  };
}

/**
 * One column over rows `[0, n)`: out = [cells logged, numeric cells, min, max, last logged row]. The
 * loops of chunkStats live in small functions, which the JIT compiles quickly during a first ingest.
 */
function columnSummary(kinds: Uint8Array, vals: Float64Array, n: number, out: Float64Array): void {
  let count = 0;
  let num = 0;
  let min = Infinity;
  let max = -Infinity;
  let lastR = -1;
  for (let r = 0; r < n; r++) {
    const k = kinds[r];
    if (k === K_ABSENT) continue;
    count++;
    lastR = r;
    if (isNumericKind(k)) {
      num++;
      const v = vals[r];
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  out[0] = count;
  out[1] = num;
  out[2] = min;
  out[3] = max;
  out[4] = lastR;
}

/** Smallest and largest of `a[0, n)` into out[0], out[1] (NaN ignored; ±Infinity when empty). */
function range(a: Float64Array, n: number, out: Float64Array): void {
  let lo = Infinity;
  let hi = -Infinity;
  for (let r = 0; r < n; r++) {
    const t = a[r];
    if (t < lo) lo = t;
    if (t > hi) hi = t;
  }
  out[0] = lo;
  out[1] = hi;
}

/** Stage segments of a chunk; rows with a null/empty stage inherit the previous one (spec §7.3). */
export function stageSegments(chunk: Chunk): StageSegment[] {
  const segs: StageSegment[] = [];
  const col = chunk.cols.get(STAGE_KEY);
  for (let r = 0; r < chunk.n; r++) {
    const step = chunk.steps[r];
    const v = wireValue(chunk, col, r);
    const last = segs.length ? segs[segs.length - 1] : undefined;
    if (v === null || v === "") {
      if (last) last.last_step = step;
      else segs.push({ stage: null, first_step: step, last_step: step });
    } else if (last && last.stage !== null && last.stage === v) last.last_step = step;
    else segs.push({ stage: v, first_step: step, last_step: step });
  }
  return segs;
}

/** A run's key summaries and stage segments, folded from its chunks in step order. */
export function foldStats(chunks: readonly ChunkStats[]): { keys: Map<string, KeyStats>; stages: StageSegment[] } {
  const keys = new Map<string, KeyStats>();
  const stages: StageSegment[] = [];
  for (const cs of chunks) {
    for (const key in cs.keys) {
      const s = cs.keys[key];
      const acc = keys.get(key);
      if (!acc) {
        keys.set(key, { ...s });
        continue;
      }
      acc.count += s.count;
      acc.num += s.num;
      if (s.min !== null && (acc.min === null || s.min < acc.min)) acc.min = s.min;
      if (s.max !== null && (acc.max === null || s.max > acc.max)) acc.max = s.max;
      acc.last = s.last;
      acc.last_step = s.last_step;
    }
    for (const seg of cs.stages) {
      const last = stages.length ? stages[stages.length - 1] : undefined;
      if (seg.stage === null) {
        if (last) last.last_step = seg.last_step;
      } else if (last && last.stage === seg.stage) last.last_step = seg.last_step;
      else stages.push({ ...seg });
    }
  }
  return { keys, stages };
}
