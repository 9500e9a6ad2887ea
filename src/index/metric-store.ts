// The metric store: composes ingest (metric-ingest), the repository (all SQL), the chunk and result caches, per run.
import { statSync } from "node:fs";
import { join } from "node:path";
import { metricFieldsJson } from "./metric-fields.ts";
import type { Chunk } from "../metrics/chunk.ts";
import { digestPositions } from "../metrics/downsample.ts";
import { emptyCounts, type ImageEvent, RowBuilder } from "../metrics/events.ts";
import { type IngestWorker, sharedIngestWorker } from "../metrics/ingest-pool.ts";
import type { ChunkRef } from "../metrics/run-data.ts";
import { chunkStats, type ChunkStats } from "../metrics/stats.ts";
import type { Logger } from "../util/log.ts";
import { syntheticLines } from "../metrics/warm-lines.ts";
import { buildMetricsStep, buildSeries } from "../metrics/query.ts";
import { type IndexDb, openIndexDb } from "./db.ts";
import { ChunkCache } from "./metric-cache.ts";
import { decodeChunk, encodeChunk } from "./metric-codec.ts";
import { EventsReader, type IngestHost, type ReadOutcome, type SliceCommit } from "./metric-ingest.ts";
import { BUSY, type MetricRepository, SqliteMetricRepository } from "./metric-repository.ts";
import { type QueryResult, ResultCache, type ResultCounters } from "./metric-results.ts";
import { dropHistogramIndex } from "./histogram-index.ts";
import { RunState, type Slot, systemKey } from "./metric-run.ts";

export { LEVEL_RESULT, LEVEL_SUMMARY } from "./metric-repository.ts";
export type { QueryResult } from "./metric-results.ts";
export { compareCodePoints, RunState } from "./metric-run.ts";

/** Counters of the store, reported by `/api/metrics/cache/stats`. */
export interface StoreCounters extends ResultCounters {
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
  /** New bytes of a first read from which it is split between this thread and the worker (tests lower it). */
  splitMinBytes?: number;
  /** The repository (default: the SQLite one over `index`). */
  repository?: MetricRepository;
}

/** Options of one `sync`. */
export interface SyncOptions {
  /**
   * Return after this many milliseconds even when a read is still under way (a huge file read for the
   * first time): the state then covers a prefix of the file (`state.progress` < 1) and the read goes on.
   */
  partialAfterMs?: number;
  /** A read nobody waits for (a warm-up): a split first read is left to the ingest worker. */
  background?: boolean;
}

/** Thrown by a chunk load while another owner holds the connection: the caller waits and computes again. */
class ChunkBusy extends Error {
  constructor(
    readonly state: RunState,
    readonly ref: ChunkRef,
    readonly level: number,
  ) {
    super("the index connection is busy");
  }
}

/** Computations retried after waiting for the connection before giving up. */
const MAX_BUSY_RETRIES = 64;

/** Longest stretch of background metric-field work between two turns of the event loop. */
const FIELD_SLICE_MS = 8;
/** The largest events.jsonl read ahead by `warmRecent` on a fresh index (a larger run is read when asked for). */
const WARM_MAX_BYTES = 64 << 20;

/** Bytes of a run's events.jsonl (Infinity when it cannot be read as a file). */
function eventsSize(runDir: string): number {
  try {
    const st = statSync(join(runDir, "events.jsonl"));
    return st.isFile() ? st.size : Infinity;
  } catch {
    return Infinity;
  }
}

/** The column store of one index database. */
export class MetricStore implements IngestHost {
  /** Query syncs started (a warm-up steps aside once one has). */
  private queriesStarted = 0;
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
  readonly repo: MetricRepository;
  private readonly results: ResultCache;
  private readonly reader: EventsReader;
  private readonly runs = new Map<string, RunState>();
  private readonly listeners = new Set<(e: IngestEvent) => void>();
  private readonly log?: Logger;
  /** Runs waiting for their metric.* fields (fillRunFields), in arrival order. */
  private readonly fieldQueue = new Set<string>();
  private filling?: Promise<void>;

  constructor(
    private readonly index: IndexDb,
    opts: MetricStoreOptions = {},
  ) {
    this.cache = new ChunkCache(opts.cacheBytes ?? 384 << 20);
    this.maxRuns = opts.maxRuns ?? 100;
    this.log = opts.log;
    this.repo = opts.repository ?? new SqliteMetricRepository(index, opts.log);
    this.results = new ResultCache(this.repo, this.counters, opts.log);
    this.reader = new EventsReader(this, {
      worker: opts.worker === undefined ? sharedIngestWorker() : opts.worker,
      pipelineMinBytes: opts.pipelineMinBytes,
      sliceBytes: opts.sliceBytes,
      pipelineSliceBytes: opts.pipelineSliceBytes,
      alwaysWorker: opts.alwaysWorker,
      splitMinBytes: opts.splitMinBytes,
      log: opts.log,
    });
  }

  /** Runs whose events file is being read now (a query's, the watcher's or a background read). */
  get reading(): number {
    let n = 0;
    for (const st of this.runs.values()) if (st.busy) n++;
    return n;
  }

  /** Runs whose catalogue is in memory and that the API has asked for (see RunState.asked). */
  get size(): number {
    let n = 0;
    for (const st of this.runs.values()) if (st.asked) n++;
    return n;
  }

  /** Subscribes to ingests (any cause: query, watcher, live poll); returns the unsubscribe function. */
  onIngest(fn: (e: IngestEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Brings a run's columns up to date with its events.jsonl (new bytes only; from scratch when the file
   * shrank or was replaced) and returns it. `query` calls count as cache hits/misses/updates. With
   * `partialAfterMs`, a long read is left running and the state returned with a prefix of the rows.
   */
  async sync(runDir: string, reason: "query" | "watch" = "query", opts: SyncOptions = {}): Promise<RunState> {
    let state = this.runs.get(runDir);
    let loaded = false;
    if (state) {
      this.runs.delete(runDir);
      this.runs.set(runDir, state);
    } else {
      state = new RunState(this, runDir);
      this.runs.set(runDir, state);
      this.evictRuns();
      loaded = true;
    }
    // the first query of a run (a new state is never asked yet) counts as a miss even when it was read
    // ahead: the original's counters
    const first = reason === "query" && !state.asked;
    if (reason === "query") {
      state.asked = true;
      this.queriesStarted++;
    }
    const run = this.ingest(state, loaded, opts.background ?? false);
    if (opts.partialAfterMs === undefined) {
      this.count(reason, await run, first);
      return state;
    }
    let done = false;
    const finished = run.then(
      (outcome) => {
        done = true;
        this.count(reason, outcome, first);
      },
      (err) => {
        done = true;
        throw err;
      },
    );
    const deadline = Date.now() + opts.partialAfterMs;
    for (;;) {
      const wait = Math.max(deadline - Date.now(), 10);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([finished, new Promise<void>((r) => (timer = setTimeout(r, wait)))]);
      clearTimeout(timer);
      if (done) {
        await finished; // its failure is the caller's
        return state;
      }
      // past the deadline: answer with what is committed, once there is something
      if (Date.now() >= deadline && state.progress > 0 && state.progress < 1) {
        finished.catch((err) => this.log?.error(`metric ingest of ${runDir} failed`, err));
        return state;
      }
    }
  }

  /** Loads the run (first time), then reads its file to the end, one run's reads at a time. */
  private async ingest(state: RunState, load: boolean, background: boolean): Promise<ReadOutcome> {
    while (state.busy) await state.busy;
    let release!: () => void;
    state.busy = new Promise<void>((r) => (release = r));
    let outcome: ReadOutcome = "unchanged";
    let bulk = false;
    try {
      if (load) await this.loadState(state);
      for (;;) {
        const r = await this.reader.step(state, background);
        if (r.read === "full" || (r.read === "incremental" && outcome === "unchanged")) outcome = r.read;
        if (!r.more) break;
        if (!bulk) {
          bulk = true;
          await this.beginBulk();
        }
        await new Promise<void>((res) => setImmediate(res));
      }
    } finally {
      state.progress = 1;
      if (bulk) await this.endBulk();
      state.busy = undefined;
      release();
    }
    return outcome;
  }

  /** Counts a query: a miss when it was the run's first (`first`) or read the file from the start. */
  private count(reason: "query" | "watch", outcome: ReadOutcome, first: boolean): void {
    if (reason !== "query") return;
    if (first || outcome === "full") this.counters.misses++;
    else if (outcome === "incremental") this.counters.incremental_updates++;
    else this.counters.hits++;
  }

  /** The run's state if it is in memory (no file access). */
  peek(runDir: string): RunState | undefined {
    return this.runs.get(runDir);
  }

  /** The image events of a run, in file order (call `sync` first). */
  async images(state: RunState): Promise<ImageEvent[]> {
    if (state.sid === null) return [];
    return this.repo.images(state.sid);
  }

  /**
   * Runs a computation over a run's rows (query functions reading chunks). A chunk that must be read
   * while another owner holds the connection makes it wait for the connection, load that chunk, and
   * compute again.
   */
  async compute<T>(fn: () => T): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return fn();
      } catch (e) {
        if (!(e instanceof ChunkBusy) || attempt >= MAX_BUSY_RETRIES) throw e;
        const { state, ref, level } = e;
        const sid = state.sid;
        if (sid === null) throw e;
        const chunk = await this.repo.read((r) => r.chunk(sid, level, ref.id));
        if (chunk) {
          this.counters.chunks_loaded++;
          this.cache.put(sid, level, ref.id, chunk);
        }
      }
    }
  }

  /**
   * The result of a query on a run's rows (see ResultCache.result): `compute` runs through `compute()`
   * above, so it may read chunks. Answers over a partly read run carry `partial` and are not kept.
   */
  result(state: RunState, key: string, storable: boolean, compute: () => QueryResult): Promise<QueryResult> {
    return this.results.result(state, key, storable, async () => {
      const progress = state.progress;
      const r = await this.compute(compute);
      if (progress < 1) r.partial = progress;
      return r;
    });
  }

  /** Stores the results that are waiting for their run to be quiet, now (the server is stopping). */
  flushResults(): Promise<void> {
    return this.results.flush(this.runs.values());
  }

  /**
   * Loads the runs whose metrics changed most recently (catalogue and stored results), in the
   * background after the server starts, yielding between runs so that requests go first. With nothing
   * stored yet (a fresh index) it reads the first `limit` of the `newest` runs whose events.jsonl is at
   * most WARM_MAX_BYTES instead: what a user opens first is then read, or being read, by the ingest
   * worker before it is asked for (a query meanwhile waits for that read rather than starting its own),
   * and the chart code is compiled on it. True when it was (no other warm-up is needed).
   */
  async warmRecent(limit = 3, newest?: () => readonly string[] | Promise<readonly string[]>): Promise<boolean> {
    let dirs = await this.repo.recentRuns(limit);
    const fresh = dirs.length === 0 && newest !== undefined;
    if (fresh) dirs = (await newest()).filter((d) => eventsSize(d) <= WARM_MAX_BYTES).slice(0, limit);
    let compiled = false;
    for (const [i, runDir] of dirs.entries()) {
      // between runs, requests go first (a fresh index's first starts at once: its file is read by the worker)
      if (i > 0 || !fresh) await new Promise<void>((res) => setImmediate(res));
      if (this.runs.has(runDir)) continue;
      const state = await this.sync(runDir, "watch", { background: true });
      // the chart code too, on real rows (a query that came meanwhile compiles it, and must not wait for this)
      if (fresh && state.totalRows > 0 && !compiled) {
        if (this.queriesStarted === 0) {
          await this.compute(() => buildSeries(state, "warm-up", { x: "step", points: 300, mode: "lttb" }));
          await this.compute(() => buildMetricsStep(state, 300));
        }
        compiled = true;
      }
    }
    return compiled;
  }

  /** Query syncs started so far (finished or not). */
  queried(): number {
    return this.queriesStarted;
  }

  /** Forgets a run (its directory is gone): drops its stored columns. */
  async forget(runDir: string): Promise<void> {
    const state = this.runs.get(runDir);
    this.runs.delete(runDir);
    const sid = state?.sid ?? (await this.repo.sidOf(runDir));
    if (sid === null) return;
    this.cache.dropRun(sid);
    await this.repo.deleteRun(sid);
  }

  /**
   * Forgets everything the index holds for a run whose directory is gone, loaded or not: its metric
   * columns, its system samples and its histogram offsets (a purged run must not leave rows behind).
   */
  async forgetRun(runDir: string): Promise<void> {
    await this.forget(runDir);
    await this.forget(systemKey(runDir));
    await dropHistogramIndex(this.index.db, runDir);
  }

  /** A chunk of a run at a level (0 raw, 1..3 digests): from the pinned set, the cache, or the index. */
  loadChunk(state: RunState, ref: ChunkRef, level: number): Chunk {
    if (level === 0) {
      const pinned = state.pinned.get(ref.id);
      if (pinned) return pinned;
    }
    if (state.sid === null) throw new Error(`chunk ${ref.id} of ${state.runDir} is not stored`);
    const sid = state.sid;
    const hit = this.cache.get(sid, level, ref.id);
    if (hit) return hit;
    const chunk = this.repo.readNow((r) => r.chunk(sid, level, ref.id));
    if (chunk === BUSY) throw new ChunkBusy(state, ref, level);
    if (!chunk) throw new Error(`chunk ${ref.id} level ${level} of ${state.runDir} is missing from the index`);
    this.counters.chunks_loaded++;
    this.cache.put(sid, level, ref.id, chunk);
    return chunk;
  }

  /** Loads the chunks of `refs` at `level` that are not cached, with one query (skipped while the connection is busy). */
  prefetch(state: RunState, refs: readonly ChunkRef[], level: number): void {
    if (state.sid === null) return;
    const sid = state.sid;
    const missing = new Set<number>();
    for (const r of refs) if (!this.cache.get(sid, level, r.id)) missing.add(r.id);
    if (missing.size < 2) return;
    const rows = this.repo.readNow((r) => r.chunks(sid, level, missing));
    if (rows === BUSY) return;
    for (const [id, chunk] of rows) {
      this.cache.put(sid, level, id, chunk);
      this.counters.chunks_loaded++;
    }
  }

  /** Commits one parsed slice: rows built, chunks and digests written, mark moved, in one transaction. */
  async commitSlice(state: RunState, slice: SliceCommit): Promise<void> {
    // the per-chunk summaries a restart left on disk are needed before a change refolds them
    if (!state.statsLoaded && state.sid !== null) {
      const sid = state.sid;
      const byId = await this.repo.read((r) => r.chunkStats(sid));
      for (const slot of state.slots) slot.stats ??= JSON.parse(byId.get(slot.id) ?? "{}") as ChunkStats;
      state.statsLoaded = true;
    }
    const builder = new RowBuilder<Slot>(state);
    let images: ImageEvent[] = [];
    const digests: [Slot, Chunk[]][] = [];
    try {
      await this.repo.transact((w) => {
        const parsed = slice.fill(builder);
        images = parsed.images;
        state.file = slice.mark;
        state.lines += parsed.counts.lines;
        state.sid ??= w.createRun(state.runDir, slice.mark, state.nextChunkId);
        const sid = state.sid;
        for (const slot of builder.dirty) {
          const chunk = state.pinned.get(slot.id)!;
          const stats = chunkStats(chunk);
          slot.stats = stats;
          slot.rows = chunk.n;
          slot.firstStep = chunk.steps[0];
          slot.lastStep = chunk.steps[chunk.n - 1];
          slot.minTime = stats.minTime ?? NaN;
          slot.maxTime = stats.maxTime ?? NaN;
          const common = { id: slot.id, firstStep: slot.firstStep, lastStep: slot.lastStep, minTime: stats.minTime, maxTime: stats.maxTime };
          w.putChunk(sid, { ...common, level: 0, rows: chunk.n, stats: JSON.stringify(stats), chunk });
          const levels = digestPositions(chunk).map((pos) => chunk.subset(pos));
          levels.forEach((d, i) => {
            slot.levelRows[i] = d.n;
            w.putChunk(sid, { ...common, level: i + 1, rows: d.n, stats: null, chunk: d });
          });
          digests.push([slot, levels]);
          this.counters.chunks_written += 1 + levels.length;
        }
        for (const img of images) w.putImage(sid, state.imageCount++, img);
        if (digests.length) {
          // the rows changed: a new generation, its summary row, and no stored result of the old one
          state.gen++;
          state.changedAt = Date.now();
          state.refresh();
          w.putSummary(sid, state.totalRows, state.summaryJson());
          // issue 16: the run's metric.* filter fields follow every change of its rows (live runs too)
          w.putRunMetrics(state.runDir, metricFieldsJson(state.keyStats));
          if (state.stored.size || state.storable.size) {
            w.dropResults(sid);
            state.stored.clear();
          }
        }
        w.writeMark(sid, slice.mark, state.lines, state.nextChunkId);
        state.progress = slice.progress;
        this.counters.lines_parsed += parsed.counts.lines;
        this.counters.bytes_parsed += slice.consumed;
        if (slice.full && slice.consumed > 0) this.counters.full_parses++;
      });
    } catch (e) {
      // nothing of this slice is stored (disk full, read-only index…): forget what memory holds, so the
      // next sync starts again from the last committed mark and no line is skipped
      this.runs.delete(state.runDir);
      if (state.sid !== null) this.cache.dropRun(state.sid);
      throw e;
    }
    const sid = state.sid!;
    for (const [slot, levels] of digests) {
      this.cache.put(sid, 0, slot.id, state.pinned.get(slot.id)!);
      levels.forEach((d, i) => this.cache.put(sid, i + 1, slot.id, d));
    }
    state.pinned.clear();
    builder.clearDirty();
    const changes = builder.takeChanges();
    if (changes.steps.length || images.length || slice.full) {
      this.emit({ runDir: state.runDir, steps: changes.steps, overflow: changes.overflow, reset: slice.full, images: images.length });
    }
  }

  /**
   * Queues runs whose `metric.*` fields are not stored yet (a run ingested before migration 0006, or
   * never ingested): each is synced in the background, one at a time, and its fields written even when
   * nothing new was read. Returns how many are waiting (queued or running).
   */
  fillRunFields(runDirs: readonly string[]): number {
    for (const d of runDirs) this.fieldQueue.add(d);
    if (!this.filling && this.fieldQueue.size) {
      this.filling = this.drainFieldQueue().finally(() => (this.filling = undefined));
    }
    return this.fieldQueue.size;
  }

  /** Runs waiting in `fillRunFields` (queued or running). */
  get runFieldsWaiting(): number {
    return this.fieldQueue.size;
  }

  /** Syncs one run and stores its `metric.*` fields (what `fillRunFields` does per run). */
  async writeRunFields(runDir: string): Promise<void> {
    const state = await this.sync(runDir, "watch");
    const json = metricFieldsJson(state.keyStats);
    await this.repo.transact((w) => w.putRunMetrics(runDir, json));
  }

  private async drainFieldQueue(): Promise<void> {
    // a run's sync and its writes can complete without ever waiting on I/O (small files, SQLite is
    // synchronous): give the event loop back every few milliseconds, or 100,000 queued runs hold every
    // request for minutes
    let slice = performance.now();
    for (const runDir of this.fieldQueue) {
      if (performance.now() - slice > FIELD_SLICE_MS) {
        await new Promise<void>((res) => setImmediate(res));
        slice = performance.now();
      }
      try {
        await this.writeRunFields(runDir);
      } catch (err) {
        this.log?.warn(`metric fields of ${runDir} not written: ${(err as Error).message}`);
        await this.repo.transact((w) => w.putRunMetrics(runDir, "{}"));
      } finally {
        this.fieldQueue.delete(runDir);
      }
    }
  }

  /** Stores the run's file mark (the file was looked at, nothing new to read). */
  async saveMark(state: RunState): Promise<void> {
    const f = state.file;
    if (!f) return;
    if (state.sid === null && f.offset === 0 && state.slots.length === 0) return; // nothing stored yet
    await this.repo.transact((w) => {
      state.sid ??= w.createRun(state.runDir, f, state.nextChunkId);
      w.writeMark(state.sid, f, state.lines, state.nextChunkId);
    });
  }

  /** Drops a run's rows (the file shrank, was replaced or removed); the next read starts at byte 0. */
  async reset(state: RunState): Promise<void> {
    const had = state.slots.length > 0 || state.imageCount > 0;
    if (state.sid !== null) {
      const sid = state.sid;
      this.cache.dropRun(sid);
      await this.repo.transact((w) => {
        w.clearRows(sid);
        w.markUnread(sid);
      });
    }
    state.slots = [];
    state.pinned.clear();
    state.statsLoaded = true;
    state.stored.clear();
    state.gen++;
    state.changedAt = Date.now();
    state.imageCount = 0;
    state.lines = 0;
    state.file = null;
    state.refresh();
    if (had) this.emit({ runDir: state.runDir, steps: [], overflow: false, reset: true, images: 0 });
  }

  async beginBulk(): Promise<void> {
    await this.repo.beginBulk();
  }

  async endBulk(): Promise<void> {
    this.reader.release();
    await this.repo.endBulk();
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

  private evictRuns(): void {
    for (const [dir, st] of this.runs) {
      if (this.runs.size <= this.maxRuns) break;
      if (st.busy) continue;
      this.runs.delete(dir);
      if (st.sid !== null) this.cache.dropRun(st.sid);
    }
  }

  /** Fills a new state from what the index holds for the run (summary row, else the chunk list; stored results). */
  private async loadState(state: RunState): Promise<void> {
    const row = await this.repo.loadRun(state.runDir);
    if (!row) return;
    this.counters.index_loads++;
    state.sid = row.sid;
    state.file = row.mark;
    state.lines = row.lines;
    state.nextChunkId = row.nextChunkId;
    let usable = false;
    if (row.summary) {
      try {
        usable = state.applySummary(row.summary);
      } catch (err) {
        this.log?.warn(`metric summary of ${state.runDir} unreadable; loading the chunk list instead: ${(err as Error).message}`);
      }
    }
    if (!usable) state.applyCatalogue(await this.repo.catalogue(row.sid));
    this.results.adopt(state, row.results);
    state.imageCount = row.imageCount;
  }
}

/**
 * Runs the metric code once over `lines` synthetic SDK lines — line scanner, row builder, chunk stats,
 * digests, blob encoding, the commit statements, both chart queries — against an in-memory database, so
 * that the first real run is parsed and answered by compiled code rather than the interpreter (a fresh
 * process reads its first 100k lines several times slower). Touches no file and no table of the index.
 * It works in small slices, yielding to timers and I/O between them, and stops as soon as `stop()` says
 * so (a real query has started: it warms the code itself and must not wait behind this). The chart
 * queries and chunk decoding run early too, after 4,000 lines. The lines look like the SDK's real ones
 * (`syntheticLines`): code compiled for other number shapes would be compiled again on the first real run.
 */
export async function warmUpMetricCode(stop: () => boolean = () => false, lines = 20000, sliceLines = 500, pause: () => boolean = () => false): Promise<void> {
  /** Yields to timers and I/O, then waits while `pause()` says requests are being served (2 s at most: a long download must not hold it). */
  const yieldTurn = async () => {
    await new Promise<void>((res) => setTimeout(res, 0));
    for (let waited = 0; waited < 2000 && pause() && !stop(); waited += 5) await new Promise<void>((res) => setTimeout(res, 5));
  };
  const idx = await openIndexDb(":memory:");
  try {
    const store = new MetricStore(idx, { worker: null });
    const state = new RunState(store, "(warm-up)");
    /** Both chart queries, and decoding every chunk and digest (what loading a run stored by an earlier start runs). */
    const queries = async () => {
      for (const points of [300, 500, 700]) {
        await yieldTurn();
        if (stop()) return;
        await store.compute(() => buildSeries(state, "warm-up", { x: "step", points, mode: "lttb" }));
        await store.compute(() => buildMetricsStep(state, points));
      }
      for (const slot of state.slots) for (let level = 0; level <= 3; level++) decodeChunk(encodeChunk(state.load(slot, level)));
    };
    let offset = 0;
    for (let from = 1; from <= lines; from += sliceLines) {
      await yieldTurn();
      if (stop()) return;
      // the queries early too: a first chart may come before the ingest code is all warm
      if (from === 1 + sliceLines * 8) await queries();
      const buf = syntheticLines(from, sliceLines, lines);
      offset += buf.length;
      await store.commitSlice(state, {
        fill: (builder) => {
          const images: ImageEvent[] = [];
          const counts = emptyCounts();
          builder.ingest(buf, 0, buf.length, images, counts);
          return { images, counts };
        },
        mark: { dev: "0", ino: "0", size: offset, mtime: "0", offset, tail: new Uint8Array(0) },
        consumed: buf.length,
        full: from === 1,
        progress: 1,
      });
    }
    await queries();
  } finally {
    await idx.close();
  }
}
