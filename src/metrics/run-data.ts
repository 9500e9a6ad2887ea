// The read side of a run's metric columns, as the query functions see it (implemented by the index).
import type { Chunk } from "./chunk.ts";
import type { ChunkSlot } from "./events.ts";
import type { ChunkStats, KeyStats, StageSegment } from "./stats.ts";

/** A stored chunk: its step and time range, rows per level, and summary. */
export interface ChunkRef extends ChunkSlot {
  /** Smallest and largest row time (NaN when no row has a time). */
  minTime: number;
  maxTime: number;
  /** Rows kept by digest levels 1..3 (index 0 ↔ level 1). */
  levelRows: number[];
  /** The chunk's summary; loaded lazily by the store (absent until a change needs it). */
  stats?: ChunkStats;
}

/** A run's metric columns: chunk catalogue, key summaries, and chunk loading (raw or digest level). */
export interface RunData {
  readonly chunks: readonly ChunkRef[];
  /** Every key except `global_step`, sorted by code point (spec §3.3 column order). */
  readonly columns: readonly string[];
  readonly keyStats: ReadonlyMap<string, KeyStats>;
  readonly stages: readonly StageSegment[];
  readonly totalRows: number;
  /** The chunk at `level` (0 = every row; 1..3 = digests). */
  load(ref: ChunkRef, level: number): Chunk;
  /** Loads the chunks of `refs` at `level` in one go (a hint before many `load` calls). */
  prefetch?(refs: readonly ChunkRef[], level: number): void;
}
