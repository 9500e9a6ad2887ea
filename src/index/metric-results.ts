// The result cache: response bodies computed from a run's rows, kept in memory and stored for the next start.
import type { Logger } from "../util/log.ts";
import { BUSY, type MetricRepository } from "./metric-repository.ts";
import type { RunState } from "./metric-run.ts";

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

/** A response body computed from a run's rows, reused until the rows change (the headers' values with it). */
export interface QueryResult {
  /** The JSON text (UTF-8 bytes when it was read back from the index). */
  body: string | Uint8Array<ArrayBuffer>;
  rowCount: number;
  total: number;
  lastStep: number | null;
  /** Share of the run's file the answer covers, below 1 while a first read of a huge file is under way. */
  partial?: number;
}

/** A result stored by this or an earlier process. */
export interface StoredResult {
  gen: number;
  meta: QueryResult;
  slot: number;
  data?: Uint8Array;
}

/** What the cache counts (part of the store's counters). */
export interface ResultCounters {
  /** Queries answered from a result in memory. */
  result_hits: number;
  /** Queries answered from a result stored by an earlier process. */
  result_loads: number;
  results_computed: number;
  results_stored: number;
}

/** Results of the runs a store holds: memory first, then the stored rows, then computed. */
export class ResultCache {
  constructor(
    private readonly repo: MetricRepository,
    private readonly counters: ResultCounters,
    private readonly log?: Logger,
  ) {}

  /** Reads the stored results' metas of a run loaded from the index (only those of its generation). */
  adopt(state: RunState, rows: readonly { slot: number; meta: string }[]): void {
    for (const r of rows) {
      const meta = JSON.parse(r.meta) as QueryResult & { key: string; gen: number; format: number };
      if (meta.format !== RESULT_FORMAT || meta.gen !== state.gen) continue;
      state.stored.set(meta.key, { gen: meta.gen, meta, slot: r.slot });
    }
  }

  /**
   * The result of a query on a run's rows: from memory while the rows are unchanged, else from what an
   * earlier process stored for the same generation, else `compute()`. With `storable`, the result is
   * also stored in the index once the run is quiet (no change for QUIET_MS), so the first such query
   * after a restart reads one row instead of computing. A partial answer (a first read still under
   * way) is neither kept nor stored.
   */
  async result(state: RunState, key: string, storable: boolean, compute: () => Promise<QueryResult>): Promise<QueryResult> {
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
    const data = stored && stored.gen === state.gen && state.sid !== null ? (stored.data ?? (await this.storedBody(state.sid, stored.slot))) : undefined;
    const version = state.version;
    if (stored && data) {
      r = { body: data as Uint8Array<ArrayBuffer>, rowCount: stored.meta.rowCount, total: stored.meta.total, lastStep: stored.meta.lastStep };
      this.counters.result_loads++;
    } else {
      r = await compute();
      this.counters.results_computed++;
      if (r.partial !== undefined && r.partial < 1) return r;
      if (storable && r.body.length <= MAX_STORED_BYTES) {
        state.storable.add(key);
        this.schedulePersist(state);
      }
    }
    if (state.version !== version) return r; // the rows changed while it was read: not kept
    state.results.set(key, r);
    if (state.results.size > MAX_RESULTS) {
      const oldest = state.results.keys().next().value!;
      state.results.delete(oldest);
      state.storable.delete(oldest);
    }
    return r;
  }

  /** Stores the results that are waiting for their run to be quiet, now (the server is stopping). */
  async flush(states: Iterable<RunState>): Promise<void> {
    for (const state of states) {
      if (!state.persistTimer) continue;
      clearTimeout(state.persistTimer);
      state.persistTimer = undefined;
      if (state.busy) continue;
      try {
        await this.persist(state);
      } catch (err) {
        this.log?.warn(`metric results of ${state.runDir} not stored at stop: ${(err as Error).message}`);
      }
    }
  }

  private async storedBody(sid: number, slot: number): Promise<Uint8Array | undefined> {
    const now = this.repo.readNow((r) => r.resultBody(sid, slot));
    const body = now === BUSY ? await this.repo.read((r) => r.resultBody(sid, slot)) : now;
    return body ?? undefined;
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
      this.persist(state).catch((err) => {
        // the index was closed meanwhile (server stopping): nothing is lost, results are recomputed
        this.log?.debug(`metric results of ${state.runDir} not stored: ${(err as Error).message}`);
      });
    }, wait);
    if (wait > 0) state.persistTimer.unref?.();
  }

  /** Writes the run's storable in-memory results not stored yet, one row per key. */
  private async persist(state: RunState): Promise<void> {
    if (state.sid === null || state.resultsVersion !== state.version) return;
    const sid = state.sid;
    const enc = new TextEncoder();
    const n = await this.repo.transact((w) => {
      // decided inside the section: nothing changes the run's results meanwhile
      if (state.resultsVersion !== state.version) return 0;
      const keys = [...state.storable].filter((k) => state.stored.get(k)?.gen !== state.gen && state.results.has(k));
      for (const key of keys) {
        const r = state.results.get(key)!;
        const meta = { key, gen: state.gen, format: RESULT_FORMAT, rowCount: r.rowCount, total: r.total, lastStep: r.lastStep };
        const data = typeof r.body === "string" ? enc.encode(r.body) : r.body;
        const slot = this.freeSlot(state, key);
        w.putResult(sid, slot, r.rowCount, JSON.stringify(meta), data);
        state.stored.delete(key);
        state.stored.set(key, { gen: state.gen, meta: { ...meta, body: "" }, slot });
      }
      return keys.length;
    });
    this.counters.results_stored += n;
  }
}
