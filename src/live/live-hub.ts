// Fan-out of new metric rows, log lines and status changes to subscribers, one watcher per watched run.
import { systemKey } from "../index/metric-run.ts";
import { existsSync, type FSWatcher, watch } from "node:fs";
import { dirname, join } from "node:path";
import type { IngestEvent, MetricStore } from "../index/metric-store.ts";
import type { RunChange, RunService } from "../index/run-types.ts";
import { rowsForSteps } from "../metrics/query.ts";
import type { Cell } from "../metrics/stats.ts";
import { readJsonObject } from "../store/json.ts";
import type { Logger } from "../util/log.ts";
import { lastLines, LineTail } from "./log-tail.ts";

/** A metric row as pushed: NaN/±Infinity are null. */
export interface LiveRow {
  step: number;
  time: number | null;
  values: Record<string, Cell>;
}

/** What a subscriber of one run receives. */
export interface RunListener {
  /** New or changed rows; `reset` when the file was re-read from scratch, `truncated` when rows were left out. */
  metrics?(rows: LiveRow[], info: { reset: boolean; truncated: boolean }): void;
  /** New rows of the run's system.jsonl (`sys/…` keys), with the same `reset`/`truncated` meaning. */
  system?(rows: LiveRow[], info: { reset: boolean; truncated: boolean }): void;
  /** New complete log lines (blank lines left out). */
  logs?(lines: string[]): void;
  /** logs.txt exists now (called once, when it appears or at once if it already exists). */
  logsAvailable?(): void;
  status?(status: string): void;
}

/** Options of a run subscription. */
export interface WatchOptions {
  /** Also deliver the last N log lines at once (before any new line); 0 = only new lines. */
  logTail?: number;
}

/** Where the hub finds runs and metric stores; read on every use (the root can change). */
export interface LiveDeps {
  runs: () => RunService;
  store: () => MetricStore;
  log: Logger;
  /** Safety-net poll of watched runs, in ms (file events make pushes faster than this). */
  pollMs?: number;
}

/** The most rows one push carries; beyond that the newest are sent and the message says `truncated`. */
export const MAX_PUSH_ROWS = 5000;

interface Watched {
  runId: string;
  runDir: string;
  listeners: Set<RunListener>;
  tail?: LineTail;
  logsSeen: boolean;
  status?: string;
  fsw?: FSWatcher;
  pending?: ReturnType<typeof setTimeout>;
  checking: boolean;
  again: boolean;
  /** The first sync after subscribing is done: rows ingested from now on are news to the listeners. */
  primed: boolean;
}

/** One per server: watches subscribed runs (fs events, run-index changes, a periodic poll) and fans out. */
export class LiveHub {
  private readonly watched = new Map<string, Watched>();
  private readonly runListeners = new Set<(c: RunChange) => void>();
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly unsubscribeRuns: () => void;
  private storeSeen?: MetricStore;
  private unsubscribeStore?: () => void;

  constructor(private readonly deps: LiveDeps) {
    this.timer = setInterval(() => this.pollAll(), deps.pollMs ?? 500);
    this.unsubscribeRuns = deps.runs().onChange((c) => this.onRunChange(c));
    this.attachStore();
  }

  /**
   * Subscribes a listener to a run; returns the unsubscribe function, or undefined for an unknown run.
   * The current status is delivered at once; with `logTail`, the last lines of logs.txt too.
   */
  watch(runId: string, listener: RunListener, opts: WatchOptions = {}): (() => void) | undefined {
    const run = this.deps.runs().findRun(runId);
    if (!run) return undefined;
    this.attachStore();
    let w = this.watched.get(run.run_dir);
    if (!w) {
      const fresh: Watched = { runId, runDir: run.run_dir, listeners: new Set(), logsSeen: false, checking: false, again: false, primed: false };
      w = fresh;
      this.watched.set(run.run_dir, w);
      this.startFsWatch(w);
      // bring the columns (and the system samples) up to date so the first push carries only what is new
      const store = this.deps.store();
      store
        .sync(w.runDir, "watch")
        .then(() => (existsSync(systemKey(fresh.runDir)) ? store.sync(systemKey(fresh.runDir), "watch") : undefined))
        .catch((e) => this.deps.log.error(`live sync ${runId}`, e))
        .finally(() => (fresh.primed = true));
    }
    w.listeners.add(listener);
    const status = this.readStatus(w);
    w.status = status;
    listener.status?.(status);
    if (listener.logs || listener.logsAvailable) {
      if (!w.tail) {
        w.tail = new LineTail(join(w.runDir, "logs.txt"));
        w.tail.seekEnd();
        w.logsSeen = w.tail.exists;
      }
      if (w.tail.exists) {
        listener.logsAvailable?.();
        if (opts.logTail && listener.logs) {
          const { lines } = lastLines(w.tail.path, opts.logTail, w.tail.offset);
          if (lines.length) listener.logs(lines);
        }
      }
    }
    const watched = w;
    return () => {
      watched.listeners.delete(listener);
      if (watched.listeners.size === 0) this.unwatch(watched);
    };
  }

  /**
   * For a run watched with logs: whether logs.txt exists, its last `max` non-blank lines up to what the
   * watcher has read (so later pushes continue exactly there), and whether earlier lines exist.
   */
  logTailInfo(runId: string, max: number): { exists: boolean; lines: string[]; more: boolean } | undefined {
    const run = this.deps.runs().findRun(runId);
    const tail = run && this.watched.get(run.run_dir)?.tail;
    if (!tail) return undefined;
    if (!tail.exists) return { exists: false, lines: [], more: false };
    return { exists: true, ...lastLines(tail.path, max, tail.offset) };
  }

  /** Subscribes to run-list changes (added/updated/removed); returns the unsubscribe function. */
  watchRuns(listener: (c: RunChange) => void): () => void {
    this.runListeners.add(listener);
    return () => this.runListeners.delete(listener);
  }

  /** Number of runs being watched. */
  get watchedCount(): number {
    return this.watched.size;
  }

  /** Stops every watcher and timer. */
  close(): void {
    clearInterval(this.timer);
    this.unsubscribeRuns();
    this.unsubscribeStore?.();
    for (const w of this.watched.values()) this.unwatch(w);
    this.runListeners.clear();
  }

  private unwatch(w: Watched): void {
    w.fsw?.close();
    if (w.pending) clearTimeout(w.pending);
    this.watched.delete(w.runDir);
  }

  private attachStore(): void {
    const store = this.deps.store();
    if (store === this.storeSeen) return;
    this.unsubscribeStore?.();
    this.storeSeen = store;
    this.unsubscribeStore = store.onIngest((e) => this.onIngest(store, e));
  }

  private startFsWatch(w: Watched): void {
    try {
      w.fsw = watch(w.runDir, { persistent: false }, () => this.schedule(w, 15));
      w.fsw.on("error", () => {
        w.fsw?.close();
        w.fsw = undefined; // the poll keeps the run live
      });
    } catch (e) {
      this.deps.log.debug(`no fs watch on ${w.runDir}: ${(e as Error).message}`);
    }
  }

  private schedule(w: Watched, ms: number): void {
    if (w.pending) return;
    w.pending = setTimeout(() => {
      w.pending = undefined;
      void this.check(w);
    }, ms);
  }

  private onRunChange(c: RunChange): void {
    const w = this.watched.get(c.run_dir);
    if (w) this.schedule(w, 0);
    else this.ingestKnown(c);
    for (const fn of this.runListeners) {
      try {
        fn(c);
      } catch (e) {
        this.deps.log.error("run change listener failed", e);
      }
    }
  }

  /** Keeps runs already in the column store current (prompt ingest); forgets what the index holds for runs whose directory is gone. */
  private ingestKnown(c: RunChange): void {
    const store = this.deps.store();
    if (c.kind === "removed" && !existsSync(c.run_dir)) {
      // loaded or not: what the index holds for it goes too
      store.forgetRun(c.run_dir).catch((e) => this.deps.log.error(`forgetting the metrics of ${c.run_dir} failed`, e));
      return;
    }
    if (!store.peek(c.run_dir)) return;
    if (c.files.length === 0 || c.files.includes("events.jsonl")) {
      void store.sync(c.run_dir, "watch").catch((e) => this.deps.log.error(`ingest of ${c.run_dir} failed`, e));
    }
  }

  private pollAll(): void {
    this.attachStore();
    for (const w of this.watched.values()) void this.check(w);
  }

  /** Ingests new metric bytes (pushed through onIngest), reads new log lines, compares the status. */
  private async check(w: Watched): Promise<void> {
    if (w.checking) {
      w.again = true;
      return;
    }
    w.checking = true;
    try {
      do {
        w.again = false;
        if (!existsSync(w.runDir)) return;
        await this.deps.store().sync(w.runDir, "watch");
        // the SDKs' system metrics, when the run has them, are ingested on the same events
        if (existsSync(systemKey(w.runDir))) await this.deps.store().sync(systemKey(w.runDir), "watch");
        if (!this.watched.has(w.runDir)) return;
        if (w.tail) {
          const { lines } = w.tail.poll();
          if (w.tail.exists && !w.logsSeen) {
            w.logsSeen = true;
            for (const l of w.listeners) l.logsAvailable?.();
          }
          if (lines.length) for (const l of w.listeners) l.logs?.(lines);
        }
        const status = this.readStatus(w);
        if (status !== w.status) {
          w.status = status;
          for (const l of w.listeners) l.status?.(status);
        }
      } while (w.again);
    } catch (e) {
      this.deps.log.error(`live check of ${w.runDir} failed`, e);
    } finally {
      w.checking = false;
    }
  }

  private onIngest(store: MetricStore, e: IngestEvent): void {
    // a run's system.jsonl is a store entry of its own, keyed by the file's path (systemKey)
    const system = e.runDir === systemKey(dirname(e.runDir)) && !this.watched.has(e.runDir);
    const w = this.watched.get(system ? dirname(e.runDir) : e.runDir);
    if (!w || !w.listeners.size || !w.primed) return;
    const state = store.peek(e.runDir);
    if (!state) return;
    let steps = e.steps;
    let truncated = e.overflow;
    if (steps.length > MAX_PUSH_ROWS) {
      steps = steps.slice(steps.length - MAX_PUSH_ROWS);
      truncated = true;
    }
    const rows = steps.length ? rowsForSteps(state, steps) : [];
    if (!rows.length && !e.reset) return;
    for (const l of w.listeners) {
      if (system) l.system?.(rows, { reset: e.reset, truncated });
      else l.metrics?.(rows, { reset: e.reset, truncated });
    }
  }

  private readStatus(w: Watched): string {
    const s = readJsonObject(join(w.runDir, "status.json"))?.status;
    if (typeof s === "string") return s;
    return this.deps.runs().findRun(w.runId)?.status ?? "finished";
  }
}
