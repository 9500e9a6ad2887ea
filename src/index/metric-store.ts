// The metric column store inside the index: ingests events.jsonl by byte offset into chunked column blobs.
// metric_chunk levels: 0 raw rows, 1..3 digests, LEVEL_SUMMARY one row per run (catalogue and key
// summaries, so a restart reads one row), LEVEL_RESULT computed responses kept across restarts.
import { openChecked, UNLIMITED } from "../store/safe-read.ts";
import { closeSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { Chunk, CHUNK_ROWS } from "../metrics/chunk.ts";
import { digestPositions } from "../metrics/downsample.ts";
import { type ChunkHost, emptyCounts, type ImageEvent, type ParseCounts, parseHere, releaseIngestBuffers, RowBuilder } from "../metrics/events.ts";
import { CLAIM_FREE, CLAIM_SENDER, IdleProbe, type IngestWorker, sharedIngestWorker } from "../metrics/ingest-pool.ts";
import type { ParsedBatch } from "../metrics/parse-batch.ts";
import type { ChunkRef, RunData } from "../metrics/run-data.ts";
import { chunkStats, type ChunkStats, foldStats, type KeyStats, type StageSegment } from "../metrics/stats.ts";
import type { Logger } from "../util/log.ts";
import type { Selectable } from "kysely";
import type { IndexDb } from "./db.ts";
import type { MetricChunkTable, MetricRunTable } from "./schema.ts";
import { ChunkCache } from "./metric-cache.ts";
import { decodeChunk, type EncodeScratch, encodeChunk } from "./metric-codec.ts";

/** Bytes read and parsed per slice before yielding to the event loop and committing (one read, ~100k lines). */
const SLICE_BYTES = 32 << 20;
/** Bytes per slice handed to the ingest worker. */
const PIPELINE_SLICE_BYTES = 8 << 20;
/** New bytes from which a read goes through the ingest worker (below, starting it costs more than it saves). */
const PIPELINE_MIN_BYTES = 12 << 20;
/** Idle cores (see IdleProbe) from which a large read starts using the worker. */
const IDLE_CORES_FOR_WORKER = 0.5;
/** Slices out at the worker at once: one being parsed while this thread commits the one before, one waiting. */
const PIPELINE_DEPTH = 2;
/** metric_chunk level of a run's summary row: its catalogue, key summaries and stages as JSON in `stats`. */
export const LEVEL_SUMMARY = -1;
/** metric_chunk level of stored query results: the body in `data`, its key and generation in `stats`. */
export const LEVEL_RESULT = -2;
/** Results kept in memory per run. */
const MAX_RESULTS = 16;
/** Result rows per run (beyond that, a new result replaces the oldest stored one). */
const RESULT_SLOTS = 16;
/** Largest result body stored. */
const MAX_STORED_BYTES = 4 << 20;
/** A run is stored results only once its rows have not changed for this long (live runs change all the time). */
const QUIET_MS = 2000;
/** Bumped when the query code changes what a stored result would contain. */
const RESULT_FORMAT = 1;

/** Delay of the WAL checkpoint after a large ingest (see `beginBulk`). */
const CHECKPOINT_DELAY_MS = 2000;
/** Bytes remembered before the read offset to notice a file rewritten in place. */
const TAIL_BYTES = 64;

/** Counters of the store, reported by `/api/metrics/cache/stats`. */
export interface StoreCounters {
  /** Queries answered without reading the file (nothing new). */
  hits: number;
  /** Queries that had to load the run from the index or parse its file from the start. */
  misses: number;
  /** Queries that ingested appended bytes only. */
  incremental_updates: number;
  lines_parsed: number;
  bytes_parsed: number;
  /** Files read from byte 0 (first time, shrunk, or replaced). */
  full_parses: number;
  /** Runs whose catalogue was loaded from the index (e.g. after a restart). */
  index_loads: number;
  chunks_loaded: number;
  chunks_written: number;
  /** Queries answered from a result in memory. */
  result_hits: number;
  /** Queries answered from a result stored by an earlier process. */
  result_loads: number;
  results_computed: number;
  results_stored: number;
}

/** What one ingest changed, for live push. */
export interface IngestEvent {
  runDir: string;
  /** Steps whose rows are new or changed, ascending (capped; see `overflow`). */
  steps: number[];
  overflow: boolean;
  /** The file was re-read from scratch (replaced or shrunk): earlier rows may be gone. */
  reset: boolean;
  images: number;
}

/** A response body computed from a run's rows, reused until the rows change (the headers' values with it). */
export interface QueryResult {
  /** The JSON text (UTF-8 bytes when it was read back from the index). */
  body: string | Uint8Array<ArrayBuffer>;
  rowCount: number;
  total: number;
  lastStep: number | null;
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

/** Options of a store. */
export interface MetricStoreOptions {
  /** Budget for decoded chunks in memory (bytes). */
  cacheBytes?: number;
  /** Runs whose catalogue stays in memory (the original's cache size, 100). */
  maxRuns?: number;
  log?: Logger;
  /** The worker that parses large reads; null parses everything on the calling thread. Default: the shared one. */
  worker?: IngestWorker | null;
  /** New bytes from which a read goes through the worker (tests lower it). */
  pipelineMinBytes?: number;
  /** Bytes per slice read inline, and per slice handed to the worker (tests lower them). */
  sliceBytes?: number;
  pipelineSliceBytes?: number;
  /** Use the worker for large reads even when no core looks idle (tests). */
  alwaysWorker?: boolean;
}

/** A slice handed to the ingest worker: its bytes in the file, who parses it, and its batch once parsed. */
interface SliceJob {
  start: number;
  end: number;
  claim: Int32Array;
  parsed: Promise<ParsedBatch | null>;
  /** The worker has answered. */
  done: boolean;
  /** Parsed by this thread ahead of its turn (null: the file was shorter). */
  ready?: ParsedBatch | null;
}

/** How a read went: nothing new, appended bytes, or the file from its start. */
type ReadOutcome = "unchanged" | "incremental" | "full";

/** The events file opened for a read: its identity and size at the start, and where reading starts. */
interface OpenFile {
  fd: number;
  dev: string;
  ino: string;
  size: number;
  mtime: string;
  offset: number;
  /** Reading starts at byte 0 (first time, or after a reset). */
  full: boolean;
}

interface FileMark {
  dev: string;
  ino: string;
  /** Size when last looked at; -1 forces a read. */
  size: number;
  mtime: string;
  offset: number;
  tail: Uint8Array;
}

/** A stored chunk of a run (its catalogue entry). */
interface Slot extends ChunkRef {}

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
  stored = new Map<string, { gen: number; meta: QueryResult; slot: number; data?: Uint8Array }>();
  persistTimer?: ReturnType<typeof setTimeout>;

  constructor(
    private readonly store: MetricStore,
    readonly runDir: string,
  ) {}

  get chunks(): readonly ChunkRef[] {
    return this.slots;
  }

  /** The events file of the run. */
  get eventsPath(): string {
    return join(this.runDir, "events.jsonl");
  }

  load(ref: ChunkRef, level: number): Chunk {
    return this.store.loadChunk(this, ref, level);
  }

  prefetch(refs: readonly ChunkRef[], level: number): void {
    this.store.prefetch(this, refs, level);
  }

  open(slot: Slot): Chunk {
    let c = this.pinned.get(slot.id);
    if (!c) {
      c = this.store.loadChunk(this, slot, 0);
      this.pinned.set(slot.id, c);
    }
    return c;
  }

  create(): Slot {
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
    this.pinned.set(slot.id, new Chunk(CHUNK_ROWS));
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

/** The column store of one index database. */
export class MetricStore {
  readonly counters: StoreCounters = {
    hits: 0,
    misses: 0,
    incremental_updates: 0,
    lines_parsed: 0,
    bytes_parsed: 0,
    full_parses: 0,
    index_loads: 0,
    chunks_loaded: 0,
    chunks_written: 0,
    result_hits: 0,
    result_loads: 0,
    results_computed: 0,
    results_stored: 0,
  };
  readonly cache: ChunkCache;
  readonly maxRuns: number;
  private readonly runs = new Map<string, RunState>();
  private readonly listeners = new Set<(e: IngestEvent) => void>();
  private readonly log?: Logger;
  private readonly worker: IngestWorker | null;
  private readonly pipelineMinBytes: number;
  private readonly sliceBytes: number;
  private readonly pipelineSliceBytes: number;
  private readonly alwaysWorker: boolean;
  private readBuf?: Buffer;
  /** Chunks are encoded here: SQLite copies a bound blob, so one buffer serves every write. */
  private readonly scratch: EncodeScratch = { buf: new Uint8Array(0) };
  private bulk = 0;
  private savedAutoCheckpoint = 1000;
  private checkpointTimer?: ReturnType<typeof setTimeout>;

  constructor(
    readonly index: IndexDb,
    opts: MetricStoreOptions = {},
  ) {
    this.cache = new ChunkCache(opts.cacheBytes ?? 384 << 20);
    this.maxRuns = opts.maxRuns ?? 100;
    this.log = opts.log;
    this.worker = opts.worker === undefined ? sharedIngestWorker() : opts.worker;
    this.pipelineMinBytes = opts.pipelineMinBytes ?? PIPELINE_MIN_BYTES;
    this.sliceBytes = opts.sliceBytes ?? SLICE_BYTES;
    this.pipelineSliceBytes = opts.pipelineSliceBytes ?? PIPELINE_SLICE_BYTES;
    this.alwaysWorker = opts.alwaysWorker ?? false;
  }

  /** Runs whose catalogue is in memory. */
  get size(): number {
    return this.runs.size;
  }

  /** Subscribes to ingests (any cause: query, watcher, live poll); returns the unsubscribe function. */
  onIngest(fn: (e: IngestEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Brings a run's columns up to date with its events.jsonl (new bytes only; from scratch when the file
   * shrank or was replaced) and returns it. `query` calls count as cache hits/misses/updates.
   */
  async sync(runDir: string, reason: "query" | "watch" = "query"): Promise<RunState> {
    let loaded = false;
    let state = this.runs.get(runDir);
    if (state) {
      this.runs.delete(runDir);
      this.runs.set(runDir, state);
    } else {
      state = this.loadState(runDir);
      loaded = true;
      this.runs.set(runDir, state);
      this.evictRuns();
    }
    while (state.busy) await state.busy;
    let release!: () => void;
    state.busy = new Promise<void>((r) => (release = r));
    let outcome: ReadOutcome = "unchanged";
    let bulk = false;
    try {
      for (;;) {
        const r = await this.syncStep(state);
        if (r.read === "full" || (r.read === "incremental" && outcome === "unchanged")) outcome = r.read;
        if (!r.more) break;
        if (!bulk) {
          bulk = true;
          this.beginBulk();
        }
        await new Promise<void>((res) => setImmediate(res));
      }
    } finally {
      if (bulk) this.endBulk();
      state.busy = undefined;
      release();
    }
    if (reason === "query") {
      if (loaded || outcome === "full") this.counters.misses++;
      else if (outcome === "incremental") this.counters.incremental_updates++;
      else this.counters.hits++;
    }
    return state;
  }

  /** The run's state if it is in memory (no file access). */
  peek(runDir: string): RunState | undefined {
    return this.runs.get(runDir);
  }

  /** The image events of a run, in file order (call `sync` first). */
  images(state: RunState): ImageEvent[] {
    if (state.sid === null) return [];
    return this.index.raw
      .query("SELECT key, step, caption, path, ts FROM metric_image WHERE sid = ? ORDER BY seq")
      .all(state.sid) as ImageEvent[];
  }

  /**
   * The result of a query on a run's rows: from memory while the rows are unchanged, else from what an
   * earlier process stored for the same generation, else `compute()`. With `storable`, the result is
   * also stored in the index once the run is quiet (no change for QUIET_MS), so the first such query
   * after a restart reads one row instead of computing.
   */
  result(state: RunState, key: string, storable: boolean, compute: () => QueryResult): QueryResult {
    if (state.resultsVersion !== state.version) {
      state.results.clear();
      state.storable.clear();
      state.resultsVersion = state.version;
    }
    let r = state.results.get(key);
    if (r) {
      state.results.delete(key);
      state.results.set(key, r);
      this.counters.result_hits++;
      return r;
    }
    const stored = state.stored.get(key);
    const data = stored && stored.gen === state.gen ? (stored.data ?? this.storedBody(state, stored.slot)) : undefined;
    if (stored && data) {
      r = { body: data as Uint8Array<ArrayBuffer>, rowCount: stored.meta.rowCount, total: stored.meta.total, lastStep: stored.meta.lastStep };
      this.counters.result_loads++;
    } else {
      r = compute();
      this.counters.results_computed++;
      if (storable && r.body.length <= MAX_STORED_BYTES) {
        state.storable.add(key);
        this.schedulePersist(state);
      }
    }
    state.results.set(key, r);
    if (state.results.size > MAX_RESULTS) {
      const oldest = state.results.keys().next().value!;
      state.results.delete(oldest);
      state.storable.delete(oldest);
    }
    return r;
  }

  /** Stores the results that are waiting for their run to be quiet, now (the server is stopping). */
  flushResults(): void {
    for (const state of this.runs.values()) {
      if (!state.persistTimer) continue;
      clearTimeout(state.persistTimer);
      state.persistTimer = undefined;
      if (state.busy) continue;
      try {
        this.persistResults(state);
      } catch (err) {
        this.log?.warn(`metric results of ${state.runDir} not stored at stop: ${(err as Error).message}`);
      }
    }
  }

  /** The row for a key's result: its own, else one no current result uses, else the oldest one's. */
  private freeSlot(state: RunState, key: string): number {
    const own = state.stored.get(key);
    if (own) return own.slot;
    const used = new Map<number, string>();
    for (const [k, e] of state.stored) if (e.gen === state.gen) used.set(e.slot, k);
    for (let i = 0; i < RESULT_SLOTS; i++) if (!used.has(i)) return i;
    const [oldestKey, oldest] = state.stored.entries().next().value!;
    state.stored.delete(oldestKey);
    return oldest.slot;
  }

  /** The body of a stored result row. */
  private storedBody(state: RunState, slot: number): Uint8Array | undefined {
    const row = this.index.raw
      .query(`SELECT data FROM metric_chunk WHERE sid = ? AND level = ${LEVEL_RESULT} AND chunk_id = ?`)
      .get(state.sid, slot) as { data: Uint8Array } | null;
    return row?.data;
  }

  /** Stores the run's storable results once it has been quiet for QUIET_MS (at once if it already has). */
  private schedulePersist(state: RunState): void {
    if (state.persistTimer) return;
    const wait = Math.max(0, state.changedAt + QUIET_MS - Date.now());
    const version = state.version;
    state.persistTimer = setTimeout(() => {
      state.persistTimer = undefined;
      if (state.version !== version || state.busy) {
        // changed meanwhile: the next query of the new rows schedules again
        return;
      }
      try {
        this.persistResults(state);
      } catch (err) {
        // the index was closed meanwhile (server stopping): nothing is lost, results are recomputed
        this.log?.debug(`metric results of ${state.runDir} not stored: ${(err as Error).message}`);
      }
    }, wait);
    if (wait > 0) state.persistTimer.unref?.();
  }

  /** Writes the run's storable in-memory results not stored yet, one row per key. */
  private persistResults(state: RunState): void {
    if (state.sid === null || state.resultsVersion !== state.version) return;
    const sid = state.sid;
    const keys = [...state.storable].filter((k) => state.stored.get(k)?.gen !== state.gen && state.results.has(k));
    if (!keys.length) return;
    const raw = this.index.raw;
    const enc = new TextEncoder();
    raw.transaction(() => {
      const put = raw.query(
        `INSERT INTO metric_chunk (sid, level, chunk_id, rows, first_step, last_step, min_time, max_time, stats, data)
         VALUES (?, ${LEVEL_RESULT}, ?, ?, 0, 0, NULL, NULL, ?, ?)
         ON CONFLICT (sid, level, chunk_id) DO UPDATE SET rows = excluded.rows, stats = excluded.stats, data = excluded.data`,
      );
      for (const key of keys) {
        const r = state.results.get(key)!;
        const meta = { key, gen: state.gen, format: RESULT_FORMAT, rowCount: r.rowCount, total: r.total, lastStep: r.lastStep };
        const data = typeof r.body === "string" ? enc.encode(r.body) : r.body;
        const slot = this.freeSlot(state, key);
        put.run(sid, slot, r.rowCount, JSON.stringify(meta), data);
        state.stored.delete(key);
        state.stored.set(key, { gen: state.gen, meta: { ...meta, body: "" }, slot });
      }
    })();
    this.counters.results_stored += keys.length;
  }

  /**
   * Loads the runs whose metrics changed most recently (catalogue and stored results), in the
   * background after the server starts, yielding between runs so that requests go first.
   */
  async warmRecent(limit = 3): Promise<void> {
    const dirs = this.index.raw
      .query("SELECT run_dir FROM metric_run ORDER BY updated_at DESC LIMIT ?")
      .all(limit) as { run_dir: string }[];
    for (const { run_dir } of dirs) {
      await new Promise<void>((res) => setImmediate(res));
      if (this.runs.has(run_dir)) continue;
      await this.sync(run_dir, "watch");
    }
  }

  /** Forgets a run (its directory is gone): drops its stored columns. */
  forget(runDir: string): void {
    const state = this.runs.get(runDir);
    this.runs.delete(runDir);
    const row = this.index.raw.query("SELECT sid FROM metric_run WHERE run_dir = ?").get(runDir) as { sid: number } | null;
    const sid = state?.sid ?? row?.sid;
    if (sid === undefined || sid === null) return;
    this.cache.dropRun(sid);
    this.index.raw.transaction(() => {
      this.index.raw.query("DELETE FROM metric_chunk WHERE sid = ?").run(sid);
      this.index.raw.query("DELETE FROM metric_image WHERE sid = ?").run(sid);
      this.index.raw.query("DELETE FROM metric_run WHERE sid = ?").run(sid);
    })();
  }

  /** A chunk of a run at a level (0 raw, 1..3 digests): from the pinned set, the cache, or the index. */
  loadChunk(state: RunState, ref: ChunkRef, level: number): Chunk {
    if (level === 0) {
      const pinned = state.pinned.get(ref.id);
      if (pinned) return pinned;
    }
    if (state.sid === null) throw new Error(`chunk ${ref.id} of ${state.runDir} is not stored`);
    const hit = this.cache.get(state.sid, level, ref.id);
    if (hit) return hit;
    const row = this.index.raw
      .query("SELECT data FROM metric_chunk WHERE sid = ? AND level = ? AND chunk_id = ?")
      .get(state.sid, level, ref.id) as { data: Uint8Array } | null;
    if (!row) throw new Error(`chunk ${ref.id} level ${level} of ${state.runDir} is missing from the index`);
    const chunk = decodeChunk(row.data);
    this.counters.chunks_loaded++;
    this.cache.put(state.sid, level, ref.id, chunk);
    return chunk;
  }

  /** Loads the chunks of `refs` at `level` that are not cached, with one query. */
  prefetch(state: RunState, refs: readonly ChunkRef[], level: number): void {
    if (state.sid === null) return;
    const sid = state.sid;
    const missing = new Set<number>();
    for (const r of refs) if (!this.cache.get(sid, level, r.id)) missing.add(r.id);
    if (missing.size < 2) return;
    const rows = this.index.raw
      .query("SELECT chunk_id, data FROM metric_chunk WHERE sid = ? AND level = ?")
      .all(sid, level) as { chunk_id: number; data: Uint8Array }[];
    for (const row of rows) {
      if (!missing.has(row.chunk_id)) continue;
      this.cache.put(sid, level, row.chunk_id, decodeChunk(row.data));
      this.counters.chunks_loaded++;
    }
  }

  /**
   * A large ingest (more than one slice) writes tens of MB: SQLite's automatic checkpoint would copy the
   * WAL into the database every 64 MB inside it. Instead it is checkpointed once, shortly after the last
   * large ingest ends, so the first answer does not wait for it.
   */
  private beginBulk(): void {
    if (this.bulk++ > 0) return;
    const row = this.index.raw.query("PRAGMA wal_autocheckpoint").get() as { wal_autocheckpoint: number } | null;
    this.savedAutoCheckpoint = row?.wal_autocheckpoint ?? 1000;
    this.index.raw.exec("PRAGMA wal_autocheckpoint = 0");
  }

  private endBulk(): void {
    if (--this.bulk > 0) return;
    // the slice buffers of a large read are not kept (small reads need little)
    if (this.readBuf && this.readBuf.length > 1 << 20) this.readBuf = undefined;
    releaseIngestBuffers();
    this.index.raw.exec(`PRAGMA wal_autocheckpoint = ${this.savedAutoCheckpoint}`);
    if (this.checkpointTimer) clearTimeout(this.checkpointTimer);
    this.checkpointTimer = setTimeout(() => {
      this.checkpointTimer = undefined;
      if (this.bulk > 0) return; // another large ingest started: it schedules its own
      try {
        this.index.raw.exec("PRAGMA wal_checkpoint(PASSIVE)");
      } catch (err) {
        // the index was closed in the meantime (server stopped): the next open checkpoints
        this.log?.debug(`metric store: deferred checkpoint skipped: ${(err as Error).message}`);
      }
    }, CHECKPOINT_DELAY_MS);
    this.checkpointTimer.unref?.();
  }

  private evictRuns(): void {
    for (const [dir, st] of this.runs) {
      if (this.runs.size <= this.maxRuns) break;
      if (st.busy) continue;
      this.runs.delete(dir);
      if (st.sid !== null) this.cache.dropRun(st.sid);
    }
  }

  private loadState(runDir: string): RunState {
    const state = new RunState(this, runDir);
    const raw = this.index.raw;
    const row = raw.query("SELECT * FROM metric_run WHERE run_dir = ?").get(runDir) as Selectable<MetricRunTable> | null;
    if (!row) return state;
    this.counters.index_loads++;
    state.sid = row.sid;
    state.file = {
      dev: row.file_dev,
      ino: row.file_ino,
      size: row.file_size,
      mtime: row.file_mtime,
      offset: row.byte_offset,
      tail: Buffer.from(row.tail_hex, "hex"),
    };
    state.lines = row.lines;
    state.nextChunkId = row.next_chunk_id;
    const summary = raw
      .query(`SELECT stats FROM metric_chunk WHERE sid = ? AND level = ${LEVEL_SUMMARY} AND chunk_id = 0`)
      .get(row.sid) as { stats: string | null } | null;
    if (!(summary?.stats && this.applySummary(state, summary.stats))) this.loadCatalogue(state);
    for (const r of raw
      .query(`SELECT chunk_id, stats FROM metric_chunk WHERE sid = ? AND level = ${LEVEL_RESULT}`)
      .all(row.sid) as { chunk_id: number; stats: string }[]) {
      const meta = JSON.parse(r.stats) as QueryResult & { key: string; gen: number; format: number };
      if (meta.format !== RESULT_FORMAT || meta.gen !== state.gen) continue;
      state.stored.set(meta.key, { gen: meta.gen, meta, slot: r.chunk_id });
    }
    state.imageCount = (raw.query("SELECT COUNT(*) AS n FROM metric_image WHERE sid = ?").get(row.sid) as { n: number }).n;
    return state;
  }

  /** Takes the catalogue and key summaries from a summary row; false when it is not usable. */
  private applySummary(state: RunState, json: string): boolean {
    let sum: StoredSummary;
    try {
      sum = JSON.parse(json) as StoredSummary;
    } catch (err) {
      this.log?.warn(`metric summary of ${state.runDir} unreadable; loading the chunk list instead: ${(err as Error).message}`);
      return false;
    }
    if (sum.v !== 1 || !Array.isArray(sum.chunks)) return false;
    state.slots = sum.chunks.map((c) => ({
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
    state.statsLoaded = state.slots.length === 0;
    state.gen = sum.gen;
    state.keyStats = new Map(sum.keys);
    state.stages = sum.stages;
    state.columns = [...state.keyStats.keys()].sort(compareCodePoints);
    let total = 0;
    for (const slot of state.slots) total += slot.rows;
    state.totalRows = total;
    state.version++;
    return true;
  }

  /** The catalogue from every chunk row (an index written before summary rows existed). */
  private loadCatalogue(state: RunState): void {
    const chunks = this.index.raw
      .query(
        "SELECT level, chunk_id, rows, first_step, last_step, min_time, max_time, stats FROM metric_chunk WHERE sid = ? AND level >= 0 ORDER BY level, first_step",
      )
      .all(state.sid) as Omit<MetricChunkTable, "sid" | "data">[];
    const byId = new Map<number, Slot>();
    for (const c of chunks) {
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
        state.slots.push(slot);
        byId.set(slot.id, slot);
      } else {
        const slot = byId.get(c.chunk_id);
        if (slot) slot.levelRows[c.level - 1] = c.rows;
      }
    }
    state.statsLoaded = true;
    state.refresh();
  }

  /** Loads the per-chunk summaries that a summary-row load left out (before a change refolds them). */
  private ensureStats(state: RunState): void {
    if (state.statsLoaded || state.sid === null) return;
    const byId = new Map<number, string | null>();
    for (const r of this.index.raw
      .query("SELECT chunk_id, stats FROM metric_chunk WHERE sid = ? AND level = 0")
      .all(state.sid) as { chunk_id: number; stats: string | null }[]) {
      byId.set(r.chunk_id, r.stats);
    }
    for (const slot of state.slots) slot.stats ??= JSON.parse(byId.get(slot.id) ?? "{}") as ChunkStats;
    state.statsLoaded = true;
  }

  /** The summary row of a run as it is now. */
  private summaryJson(state: RunState): string {
    const sum: StoredSummary = {
      v: 1,
      gen: state.gen,
      chunks: state.slots.map((c) => [
        c.id,
        c.rows,
        c.firstStep,
        c.lastStep,
        c.minTime === c.minTime ? c.minTime : null,
        c.maxTime === c.maxTime ? c.maxTime : null,
        ...c.levelRows,
      ]),
      keys: [...state.keyStats],
      stages: state.stages,
    };
    return JSON.stringify(sum);
  }

  /**
   * Reads new bytes and commits what it parsed: one slice inline, or, when much is left to read and the
   * ingest worker is usable, every slice up to the size seen at the start, parsed on the worker while
   * this thread builds rows from and commits the slice before. `more` asks the caller to call again.
   */
  private async syncStep(state: RunState): Promise<{ read: ReadOutcome; more: boolean }> {
    const open = this.openForRead(state);
    if (!open) return { read: "unchanged", more: false };
    try {
      const worker = this.worker;
      if (worker?.usable && open.size - open.offset >= this.pipelineMinBytes) {
        return await this.readPipelined(state, open, worker);
      }
      return this.readInline(state, open);
    } finally {
      closeSync(open.fd);
    }
  }

  /** Checks the file against its mark (reset when replaced, shrunk or rewritten) and opens it; undefined when nothing is new. */
  private openForRead(state: RunState): OpenFile | undefined {
    let st;
    try {
      st = statSync(state.eventsPath, { bigint: true });
      // a FIFO or device named events.jsonl would block the read (or never end): only regular files are metrics
      if (!st.isFile()) throw new Error("not a regular file");
    } catch {
      // no events.jsonl (yet, or any more), or not a regular file: the run has no metrics
      if (state.file || state.slots.length) this.reset(state, null);
      return undefined;
    }
    const mark = {
      dev: String(st.dev),
      ino: String(st.ino),
      size: Number(st.size),
      mtime: String(st.mtimeNs),
    };
    let f = state.file;
    if (f && (f.dev !== mark.dev || f.ino !== mark.ino || mark.size < f.offset)) {
      this.reset(state, null);
      f = null;
    }
    if (f && f.size === mark.size && f.mtime === mark.mtime) return undefined;
    let fd: number;
    try {
      fd = openChecked(state.eventsPath, { maxBytes: UNLIMITED }).fd; // O_NONBLOCK, no link, regular (src/store/safe-read.ts)
    } catch {
      return undefined; // swapped for a link or special file since the stat: read nothing
    }
    try {
      let offset = f?.offset ?? 0;
      if (f && offset > 0 && f.tail.length > 0) {
        const check = Buffer.alloc(f.tail.length);
        const got = readSync(fd, check, 0, check.length, offset - check.length);
        if (got !== check.length || !check.equals(f.tail)) {
          // rewritten in place: what we read before is no longer what the file says
          this.reset(state, null);
          offset = 0;
        }
      }
      if (offset >= mark.size) {
        state.file = { ...mark, offset, tail: state.file?.tail ?? new Uint8Array(0) };
        this.writeMark(state);
        closeSync(fd);
        return undefined;
      }
      return { fd, ...mark, offset, full: offset === 0 };
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** Reads and parses at most one slice on this thread. */
  private readInline(state: RunState, open: OpenFile): { read: ReadOutcome; more: boolean } {
    const { fd } = open;
    let offset = open.offset;
    const builder = new RowBuilder<Slot>(state);
    const images: ImageEvent[] = [];
    const counts = emptyCounts();
    let buf = this.readBuffer(Math.min(this.sliceBytes, Math.max(65536, open.size - offset)));
    let consumed = 0;
    let more = false;
    let eof = false;
    while (!eof) {
      const got = readSync(fd, buf, 0, buf.length, offset);
      if (got <= 0) break;
      const nl = buf.lastIndexOf(10, got - 1);
      if (nl < 0) {
        if (got < buf.length) break; // a torn last line: wait for its newline
        buf = this.readBuffer(buf.length * 2); // one line longer than the buffer
        continue;
      }
      builder.ingest(buf, 0, nl + 1, images, counts);
      offset += nl + 1;
      consumed += nl + 1;
      if (got < buf.length) eof = true;
      else {
        // a full buffer: commit this slice, the rest is the next one's
        more = true;
        break;
      }
    }
    this.finishSlice(state, open, builder, images, counts, offset, consumed, more, open.full);
    return { read: consumed === 0 ? "unchanged" : open.full ? "full" : "incremental", more };
  }

  /**
   * Reads the slices up to the size seen at the start and commits them in file order. The worker is
   * handed the slices ahead (at most one it has not started on); this thread builds rows from and
   * commits each parsed slice, and while the worker is busy it parses the next slice the worker has not
   * claimed (a shared claim cell decides who parses a slice). With a free core both threads parse; on a
   * busy machine this thread simply parses most slices itself. If the worker fails, this thread parses
   * what it had (the file is still there).
   */
  private async readPipelined(state: RunState, open: OpenFile, worker: IngestWorker): Promise<{ read: ReadOutcome; more: boolean }> {
    const { fd } = open;
    const sliceBytes = this.pipelineSliceBytes;
    const jobs: SliceJob[] = [];
    let offset = open.offset; // bytes before are committed
    let readPos = offset; // bytes before are handed out
    let ended = false; // no complete line left before the size seen at the start (or the file shrank)
    let overlong = false; // a line longer than a slice: left to the inline path
    let committed = 0;
    let failed = false;

    /** Reads the slice at readPos into `buf` (as much as it holds) and takes its complete lines; their length, 0 when none. */
    const cut = (buf: Buffer): number => {
      const got = readSync(fd, buf, 0, buf.length, readPos);
      const nl = got > 0 ? buf.lastIndexOf(10, got - 1) : -1;
      if (nl < 0) {
        // a torn last line waits for its newline; a full buffer with more file after it is one long line
        ended = true;
        overlong = got === buf.length && readPos + got < open.size;
        return 0;
      }
      readPos += nl + 1;
      if (got < buf.length || readPos >= open.size) ended = true;
      return nl + 1;
    };
    // the worker is used once a core has been seen idle while this thread parsed a slice
    const probe = new IdleProbe();
    let useWorker = this.alwaysWorker;
    /** Hands the worker the next slices while it has none it has not started on. */
    const topUp = () => {
      if (!useWorker && committed > 0) useWorker = probe.sample() >= IDLE_CORES_FOR_WORKER;
      while (useWorker && !ended && worker.usable && jobs.length < PIPELINE_DEPTH && !jobs.some((j) => Atomics.load(j.claim, 0) === CLAIM_FREE)) {
        const want = Math.min(sliceBytes, open.size - readPos);
        if (want <= 0) {
          ended = true;
          return;
        }
        const bytes = worker.takeBuffer(want);
        const start = readPos;
        const len = cut(Buffer.from(bytes, 0, want));
        if (len === 0) return;
        const claim = new Int32Array(new SharedArrayBuffer(4));
        const job: SliceJob = { start, end: start + len, claim, done: false, parsed: worker.parse(bytes, len, claim) };
        job.parsed.then(
          () => (job.done = true),
          () => (job.done = true),
        );
        jobs.push(job);
      }
    };
    /** Claims a slice for this thread (false when the worker has it). */
    const claimHere = (job: SliceJob) => Atomics.compareExchange(job.claim, 0, CLAIM_FREE, CLAIM_SENDER) === CLAIM_FREE;

    this.beginBulk();
    try {
      while (!failed) {
        const builder = new RowBuilder<Slot>(state);
        let images: ImageEvent[];
        let counts: ParseCounts;
        let end: number;
        const head = jobs[0];
        if (!head) {
          // nothing out at the worker: this thread parses the next slice, the worker gets the ones after
          // (slices are smaller while the worker takes part: the two threads take turns more often)
          const want = Math.min(useWorker ? sliceBytes : this.sliceBytes, open.size - readPos);
          if (ended || want <= 0) break;
          const buf = this.readBuffer(want);
          const len = cut(buf);
          if (len === 0) {
            if (!overlong) break;
            // a line longer than a slice: the inline path reads it with a buffer that grows to fit
            const r = this.readInline(state, { ...open, offset, full: open.full && committed === 0 });
            const read: ReadOutcome = committed === 0 && r.read === "unchanged" ? "unchanged" : open.full ? "full" : "incremental";
            return { read, more: true };
          }
          end = readPos;
          topUp();
          images = [];
          counts = emptyCounts();
          builder.ingest(buf, 0, len, images, counts);
        } else {
          let batch = head.ready ?? (claimHere(head) ? this.parseAgain(fd, head) : undefined);
          while (batch === undefined) {
            // the worker has the head: meanwhile parse a later slice it has not started on
            const ahead = head.done ? undefined : jobs.find((j) => j.ready === undefined && claimHere(j));
            if (ahead) {
              ahead.ready = this.parseAgain(fd, ahead) ?? null;
              topUp();
              await new Promise<void>((res) => setImmediate(res));
              continue;
            }
            try {
              batch = (await head.parsed) ?? this.parseAgain(fd, head);
            } catch (err) {
              this.log?.warn(`metric ingest: the ingest worker failed, parsing on this thread: ${(err as Error).message}`);
              batch = this.parseAgain(fd, head);
            }
            if (batch === undefined) break;
          }
          if (!batch) {
            // the file shrank under the reads: the next sync sees it and starts over
            failed = true;
            break;
          }
          jobs.shift();
          end = head.end;
          images = batch.images;
          counts = batch.counts;
          builder.ingestBatch(batch, counts);
        }
        const last = ended && jobs.length === 0;
        this.finishSlice(state, open, builder, images, counts, end, end - offset, !last || overlong, open.full && committed === 0);
        offset = end;
        committed++;
        if (last) break;
        topUp();
        await new Promise<void>((res) => setImmediate(res));
      }
    } finally {
      this.endBulk();
    }
    const read: ReadOutcome = committed === 0 ? "unchanged" : open.full ? "full" : "incremental";
    return { read, more: overlong || failed };
  }

  /** Parses a slice handed to the worker on this thread instead (read again: its bytes went to the worker); undefined when the file is shorter now. */
  private parseAgain(fd: number, job: SliceJob): ParsedBatch | undefined {
    const len = job.end - job.start;
    const buf = this.readBuffer(len);
    if (readSync(fd, buf, 0, len, job.start) !== len) return undefined;
    return parseHere(buf, 0, len);
  }

  /**
   * `size` bytes to read into: a view on one buffer kept for the store (a fresh 16 MB per slice costs
   * thousands of page faults). What is parsed from it is copied out (strings, cells), so reuse is safe.
   */
  private readBuffer(size: number): Buffer {
    if (!this.readBuf || this.readBuf.length < size) this.readBuf = Buffer.allocUnsafeSlow(size);
    return this.readBuf.subarray(0, size);
  }

  /** Moves the file mark past the parsed bytes, counts them, commits the rows and tells the listeners. */
  private finishSlice(
    state: RunState,
    open: OpenFile,
    builder: RowBuilder<Slot>,
    images: ImageEvent[],
    counts: ParseCounts,
    offset: number,
    consumed: number,
    more: boolean,
    full: boolean,
  ): void {
    const tail = Buffer.alloc(Math.min(TAIL_BYTES, offset));
    if (tail.length) readSync(open.fd, tail, 0, tail.length, offset - tail.length);
    state.file = { dev: open.dev, ino: open.ino, mtime: open.mtime, size: more ? -1 : open.size, offset, tail };
    state.lines += counts.lines;
    this.counters.lines_parsed += counts.lines;
    this.counters.bytes_parsed += consumed;
    if (full && consumed > 0) this.counters.full_parses++;
    try {
      this.commit(state, builder, images);
    } catch (e) {
      // nothing of this slice is stored (disk full, read-only index…): forget what memory holds, so the
      // next sync starts again from the last committed mark and no line is skipped
      this.runs.delete(state.runDir);
      if (state.sid !== null) this.cache.dropRun(state.sid);
      throw e;
    }
    const changes = builder.takeChanges();
    if (changes.steps.length || images.length || full) {
      this.emit({ runDir: state.runDir, steps: changes.steps, overflow: changes.overflow, reset: full, images: images.length });
    }
  }

  /** Writes changed chunks, their digests and summaries, new images and the file mark in one transaction. */
  private commit(state: RunState, builder: RowBuilder<Slot>, images: ImageEvent[]): void {
    const raw = this.index.raw;
    const digests: [Slot, Chunk[]][] = [];
    raw.transaction(() => {
      this.ensureSid(state);
      const sid = state.sid!;
      if (builder.dirty.size) this.ensureStats(state);
      const put = raw.query(
        `INSERT INTO metric_chunk (sid, level, chunk_id, rows, first_step, last_step, min_time, max_time, stats, data)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (sid, level, chunk_id) DO UPDATE SET rows = excluded.rows, first_step = excluded.first_step,
           last_step = excluded.last_step, min_time = excluded.min_time, max_time = excluded.max_time,
           stats = excluded.stats, data = excluded.data`,
      );
      for (const slot of builder.dirty) {
        const chunk = state.pinned.get(slot.id)!;
        const stats = chunkStats(chunk);
        slot.stats = stats;
        slot.rows = chunk.n;
        slot.firstStep = chunk.steps[0];
        slot.lastStep = chunk.steps[chunk.n - 1];
        slot.minTime = stats.minTime ?? NaN;
        slot.maxTime = stats.maxTime ?? NaN;
        const t0 = stats.minTime;
        const t1 = stats.maxTime;
        put.run(sid, 0, slot.id, chunk.n, slot.firstStep, slot.lastStep, t0, t1, JSON.stringify(stats), encodeChunk(chunk, this.scratch));
        const levels = digestPositions(chunk).map((pos) => chunk.subset(pos));
        levels.forEach((d, i) => {
          slot.levelRows[i] = d.n;
          put.run(sid, i + 1, slot.id, d.n, slot.firstStep, slot.lastStep, t0, t1, null, encodeChunk(d, this.scratch));
        });
        digests.push([slot, levels]);
        this.counters.chunks_written += 1 + levels.length;
      }
      if (images.length) {
        const ins = raw.query("INSERT INTO metric_image (sid, seq, key, step, caption, path, ts) VALUES (?, ?, ?, ?, ?, ?, ?)");
        for (const img of images) ins.run(sid, state.imageCount++, img.key, img.step, img.caption, img.path, img.ts);
      }
      if (digests.length) {
        // the rows changed: a new generation, its summary row, and no stored result of the old one
        state.gen++;
        state.changedAt = Date.now();
        state.refresh();
        put.run(sid, LEVEL_SUMMARY, 0, state.totalRows, 0, 0, null, null, this.summaryJson(state), new Uint8Array(0));
        if (state.stored.size || state.storable.size) {
          raw.query(`DELETE FROM metric_chunk WHERE sid = ? AND level = ${LEVEL_RESULT}`).run(sid);
          state.stored.clear();
        }
      }
      this.writeMark(state);
    })();
    const sid = state.sid!;
    for (const [slot, levels] of digests) {
      this.cache.put(sid, 0, slot.id, state.pinned.get(slot.id)!);
      levels.forEach((d, i) => this.cache.put(sid, i + 1, slot.id, d));
    }
    state.pinned.clear();
    builder.clearDirty();
  }

  private ensureSid(state: RunState): void {
    if (state.sid !== null) return;
    const f = state.file!;
    const row = this.index.raw
      .query(
        `INSERT INTO metric_run (run_dir, file_dev, file_ino, file_size, file_mtime, byte_offset, tail_hex, lines, next_chunk_id, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING sid`,
      )
      .get(state.runDir, f.dev, f.ino, f.size, f.mtime, f.offset, "", 0, state.nextChunkId, Date.now() / 1000) as { sid: number };
    state.sid = row.sid;
  }

  private writeMark(state: RunState): void {
    if (!state.file) return;
    if (state.sid === null) {
      if (state.file.offset === 0 && state.slots.length === 0) return; // nothing stored yet
      this.ensureSid(state);
    }
    const f = state.file;
    this.index.raw
      .query(
        `UPDATE metric_run SET file_dev = ?, file_ino = ?, file_size = ?, file_mtime = ?, byte_offset = ?, tail_hex = ?,
           lines = ?, next_chunk_id = ?, updated_at = ? WHERE sid = ?`,
      )
      .run(f.dev, f.ino, f.size, f.mtime, f.offset, Buffer.from(f.tail).toString("hex"), state.lines, state.nextChunkId, Date.now() / 1000, state.sid);
  }

  /** Drops a run's rows (the file shrank, was replaced or removed); the next read starts at byte 0. */
  private reset(state: RunState, file: FileMark | null): void {
    const had = state.slots.length > 0 || state.imageCount > 0;
    if (state.sid !== null) {
      const sid = state.sid;
      this.cache.dropRun(sid);
      this.index.raw.transaction(() => {
        this.index.raw.query("DELETE FROM metric_chunk WHERE sid = ?").run(sid);
        this.index.raw.query("DELETE FROM metric_image WHERE sid = ?").run(sid);
      })();
    }
    state.slots = [];
    state.pinned.clear();
    state.statsLoaded = true;
    state.stored.clear();
    state.gen++;
    state.changedAt = Date.now();
    state.imageCount = 0;
    state.lines = 0;
    state.file = file;
    if (state.sid !== null) {
      if (file) this.writeMark(state);
      else
        this.index.raw
          .query("UPDATE metric_run SET byte_offset = 0, file_size = -1, tail_hex = '', lines = 0 WHERE sid = ?")
          .run(state.sid);
    }
    state.refresh();
    if (had) this.emit({ runDir: state.runDir, steps: [], overflow: false, reset: true, images: 0 });
  }

  private emit(e: IngestEvent): void {
    for (const fn of this.listeners) {
      try {
        fn(e);
      } catch (err) {
        this.log?.error("metric ingest listener failed", err);
      }
    }
  }
}

const stores = new WeakMap<IndexDb, MetricStore>();

/** The store of an index (one per open index; a new root gets a new store). */
export function metricStoreFor(index: IndexDb, opts: MetricStoreOptions = {}): MetricStore {
  let s = stores.get(index);
  if (!s) {
    s = new MetricStore(index, opts);
    stores.set(index, s);
  }
  return s;
}
