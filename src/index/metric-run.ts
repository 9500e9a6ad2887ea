// One run's metric state in memory: ingest mark, chunk catalogue, key summaries; and its summary row's JSON form.
import { join } from "node:path";
import { Chunk, CHUNK_ROWS } from "../metrics/chunk.ts";
import type { ChunkHost } from "../metrics/events.ts";
import type { ChunkRef, RunData } from "../metrics/run-data.ts";
import { type ChunkStats, foldStats, type KeyStats, type StageSegment } from "../metrics/stats.ts";
import type { CatalogueRow, FileMark } from "./metric-repository.ts";
import type { QueryResult, StoredResult } from "./metric-results.ts";

/** The SDKs' per-run system metrics file; its rows are stored like a run's, under the key `<run dir>/system.jsonl`. */
export const SYSTEM_FILE = "system.jsonl";
const SYSTEM_FILE_SUFFIX = `/${SYSTEM_FILE}`;

/** The store key of a run's system metrics (sync it like a run directory). */
export function systemKey(runDir: string): string {
  return join(runDir, SYSTEM_FILE);
}

/** A stored chunk of a run (its catalogue entry). */
export interface Slot extends ChunkRef {}

/** How the run's state reaches its chunks (the store: pinned set, cache, repository). */
export interface ChunkSource {
  loadChunk(state: RunState, ref: ChunkRef, level: number): Chunk;
  prefetch(state: RunState, refs: readonly ChunkRef[], level: number): void;
}

/** The summary row of a run (LEVEL_SUMMARY), as JSON. */
interface StoredSummary {
  v: 1;
  gen: number;
  /** Per chunk: id, rows, first step, last step, min time, max time, rows of digest levels 1..3. */
  chunks: (number | null)[][];
  keys: [string, KeyStats][];
  stages: StageSegment[];
}

/** One run's ingest state and catalogue; the RunData the query functions read. */
export class RunState implements RunData, ChunkHost<Slot> {
  sid: number | null = null;
  file: FileMark | null = null;
  slots: Slot[] = [];
  nextChunkId = 1;
  lines = 0;
  imageCount = 0;
  columns: string[] = [];
  keyStats = new Map<string, KeyStats>();
  stages: StageSegment[] = [];
  totalRows = 0;
  /** Bumped whenever rows change. */
  version = 0;
  /** Chunks being changed by an ingest (kept out of the cache until written). */
  readonly pinned = new Map<number, Chunk>();
  busy?: Promise<void>;
  /**
   * Whether the API has asked for this run (a query sync) since it was loaded: the cache size and the
   * hit/miss counters count asked runs, as the original's request cache does, not runs read ahead or
   * followed for live push.
   */
  asked = false;
  /** Generation of the rows: bumped (and stored) by every commit that changes them. */
  gen = 0;
  /** Whether every slot's `stats` is loaded (not so after a restart, until a change needs them). */
  statsLoaded = true;
  /** When rows last changed in this process (Date.now), 0 if never. */
  changedAt = 0;
  /** Results for `resultsVersion`, most recently used last. */
  results = new Map<string, QueryResult>();
  resultsVersion = -1;
  /** Keys of results that may be stored. */
  storable = new Set<string>();
  /** Results stored by an earlier process (valid while `gen` matches). */
  stored = new Map<string, StoredResult>();
  persistTimer?: ReturnType<typeof setTimeout>;
  /**
   * Share of the events file the rows cover while a first read is still under way (0 < p < 1), else 1:
   * answers computed meanwhile are partial (and not kept as results).
   */
  progress = 1;

  constructor(
    private readonly source: ChunkSource,
    readonly runDir: string,
  ) {}

  get chunks(): readonly ChunkRef[] {
    return this.slots;
  }

  /** The events file of the run (a state keyed by a run's system.jsonl path reads that file: its system metrics). */
  get eventsPath(): string {
    return this.runDir.endsWith(SYSTEM_FILE_SUFFIX) ? this.runDir : join(this.runDir, "events.jsonl");
  }

  load(ref: ChunkRef, level: number): Chunk {
    return this.source.loadChunk(this, ref, level);
  }

  prefetch(refs: readonly ChunkRef[], level: number): void {
    this.source.prefetch(this, refs, level);
  }

  open(slot: Slot): Chunk {
    let c = this.pinned.get(slot.id);
    if (!c) {
      c = this.source.loadChunk(this, slot, 0);
      this.pinned.set(slot.id, c);
    }
    return c;
  }

  create(chunk?: Chunk): Slot {
    const slot: Slot = {
      id: this.nextChunkId++,
      rows: 0,
      firstStep: 0,
      lastStep: 0,
      minTime: NaN,
      maxTime: NaN,
      levelRows: [0, 0, 0],
      stats: { keys: {}, stages: [], minTime: null, maxTime: null },
      // every slot has every field from the start: one object shape for the JIT
      dirty: false,
    };
    this.pinned.set(slot.id, chunk ?? new Chunk(CHUNK_ROWS));
    return slot;
  }

  /** Recomputes columns, key summaries and stages from the chunk summaries (all loaded). */
  refresh(): void {
    const { keys, stages } = foldStats(this.slots.map((s) => s.stats!));
    this.keyStats = keys;
    this.stages = stages;
    this.columns = [...keys.keys()].sort(compareCodePoints);
    let total = 0;
    for (const s of this.slots) total += s.rows;
    this.totalRows = total;
    this.version++;
  }

  /** The summary row as it is now. */
  summaryJson(): string {
    const sum: StoredSummary = {
      v: 1,
      gen: this.gen,
      chunks: this.slots.map((c) => [
        c.id,
        c.rows,
        c.firstStep,
        c.lastStep,
        c.minTime === c.minTime ? c.minTime : null,
        c.maxTime === c.maxTime ? c.maxTime : null,
        ...c.levelRows,
      ]),
      keys: [...this.keyStats],
      stages: this.stages,
    };
    return JSON.stringify(sum);
  }

  /** Takes the catalogue and key summaries from a summary row; false when it is not usable (throws when it is not JSON). */
  applySummary(json: string): boolean {
    const sum = JSON.parse(json) as StoredSummary;
    if (sum.v !== 1 || !Array.isArray(sum.chunks)) return false;
    this.slots = sum.chunks.map((c) => ({
      id: c[0]!,
      rows: c[1]!,
      firstStep: c[2]!,
      lastStep: c[3]!,
      minTime: c[4] ?? NaN,
      maxTime: c[5] ?? NaN,
      levelRows: [c[6]!, c[7]!, c[8]!],
      stats: undefined,
      dirty: false,
    }));
    this.statsLoaded = this.slots.length === 0;
    this.gen = sum.gen;
    this.keyStats = new Map(sum.keys);
    this.stages = sum.stages;
    this.columns = [...this.keyStats.keys()].sort(compareCodePoints);
    let total = 0;
    for (const slot of this.slots) total += slot.rows;
    this.totalRows = total;
    this.version++;
    return true;
  }

  /** The catalogue from every chunk row (an index written before summary rows existed). */
  applyCatalogue(rows: readonly CatalogueRow[]): void {
    const byId = new Map<number, Slot>();
    for (const c of rows) {
      if (c.level === 0) {
        const slot: Slot = {
          id: c.chunk_id,
          rows: c.rows,
          firstStep: c.first_step,
          lastStep: c.last_step,
          minTime: c.min_time ?? NaN,
          maxTime: c.max_time ?? NaN,
          levelRows: [0, 0, 0],
          stats: JSON.parse(c.stats ?? "{}") as ChunkStats,
          dirty: false,
        };
        this.slots.push(slot);
        byId.set(slot.id, slot);
      } else {
        const slot = byId.get(c.chunk_id);
        if (slot) slot.levelRows[c.level - 1] = c.rows;
      }
    }
    this.statsLoaded = true;
    this.refresh();
  }
}

/** Python's `sorted()` order for strings (by code point, not UTF-16 unit). */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}
