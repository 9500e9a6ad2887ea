// Keeps the run table current: the first build in the background (the server answers meanwhile), fs events for
// changes, a light sweep of the runs that can change, a rare full sweep, and crash detection of running runs.
import { type FSWatcher, statSync, watch } from "node:fs";
import { hostname as osHostname } from "node:os";
import { dirname, join, sep } from "node:path";
import { mergeStatus } from "../store/run-files.ts";
import { collectWhenQuiet } from "../util/idle-gc.ts";
import type { Logger } from "../util/log.ts";
import type { IndexDb } from "./db.ts";
import { detectFsKind, type FsKind } from "./fs-kind.ts";
import { deathReason, lastSignOfLife } from "./liveness.ts";
import { createRunFilterIndex, dropRunFilterIndex } from "./migrations.ts";
import { deleteRunRows, upsertRunRows } from "./run-queries.ts";
import { childTasks, isRunDir, legacyRunDirs, type ScanTask, scanRun, stampIsRun, v06Task, walkRunDirs } from "./run-scan.ts";
import { ScanJob } from "./scan-pool.ts";
import type { RunChange, RunRecord } from "./run-types.ts";
import type { RunTable } from "./schema.ts";

export { HEARTBEAT_TIMEOUT_S, pidAlive } from "./liveness.ts";

/** Changes the log keeps at least (the whole-list cache reads it whole again when it falls further behind). */
const CHANGE_LOG_MAX = 50_000;
/** A finished run unchanged for this long is no longer re-stated by the light sweep. */
const QUIET_MS = 10 * 60 * 1000;
/** Full sweeps where fs events are unreliable (network filesystems, no watcher), unless configured. */
const FULL_SWEEP_UNRELIABLE_S = 300;
/**
 * Full sweeps on a local filesystem with working watches: folders and active runs are watched, so this
 * only catches in-place edits to quiet runs (by hand, or an old SDK writing without a rename).
 */
const FULL_SWEEP_LOCAL_S = 600;
/** A periodic full sweep pauses this long after each batch of runs, so its cost is spread out. */
const SWEEP_PAUSE_MS = 25;
/** Rows per write transaction of a sync. */
const WRITE_ROWS = 1024;
/**
 * Up to this many runs every run folder is watched (an edit by hand to an old run shows at once); above
 * it only folders and active runs are, and quiet runs are re-checked by the full sweep.
 */
const WATCH_ALL_MAX = 5000;
/** A sync over this many folders leaves enough garbage (batches, results) to collect afterwards. */
const LARGE_SYNC = 5000;
/** How long start() waits for a fresh index's first build before the server listens anyway. */
const FIRST_BUILD_WAIT_MS = 250;
/**
 * Runs found by the first build from which start stops waiting for it (issue 13: the first answer within
 * 1 s at 100,000 runs): a build this large cannot end within FIRST_BUILD_WAIT_MS anyway.
 */
const FIRST_BUILD_WAIT_MAX_RUNS = 2000;
/**
 * How long an API request made early in a fresh index's first build waits for it (counted from the
 * build's start): a small root always answers complete; a large one answers what it has after this.
 */
const FIRST_ANSWER_WAIT_MS = 2000;
/** Milliseconds of folder listing (sub-folders queued) after which a build lets requests in (issue 13: answers while building). */
const FOLDER_TURN_MS = 20;
/** index_state key written once the first full build has finished. */
const BUILT_KEY = "runs_built_at";

/** The in-memory run table: what lookups by id, the light sweep and liveness need; list data stays in SQLite. */
interface MemRun extends RunRecord {
  order_key: string;
  stamp: string;
  pid: number | null;
  hostname: string | null;
  heartbeat_at: number | null;
  has_meta: boolean;
  /** When this process last saw the run's files change (ms; 0 for runs loaded from the index). */
  changedAt: number;
  /** sizes of events.jsonl and logs.txt last seen by the live poll */
  sizes?: string;
}

/** Options of the indexer. */
export interface RunIndexOptions {
  /** How long early API requests wait for the first build (ms; default FIRST_ANSWER_WAIT_MS). */
  firstAnswerWaitMs?: number;
  /** Seconds between light sweeps (running and recently changed runs, liveness). */
  sweepSeconds: number;
  /**
   * Seconds between full sweeps (every run re-stated, new and vanished folders found): 0 = never;
   * undefined = automatic (300 s where fs events are unreliable, else hourly).
   */
  fullSweepSeconds?: number;
  /** Poll of running runs' events/logs sizes when fs events are missed (ms). */
  livePollMs?: number;
  hostname?: string;
  watch?: boolean;
}

/** Where the index stands, for `/api/health` and the list's progress header. */
export interface IndexProgress {
  /** `building` until the first full build of this index has finished. */
  state: "building" | "ready";
  /** Runs scanned and written so far by the current build (all runs once ready). */
  runs_indexed: number;
  /** Run folders found so far by the walk. */
  runs_found: number;
  /** Run folders in total, once the walk has finished; null before. */
  runs_total: number | null;
  /** Seconds the build has taken (so far, or in all once ready); null for an index built earlier. */
  elapsed_s: number | null;
  /** True while a full reconcile runs (the first build, the one after start, a full sweep). */
  reconciling: boolean;
}

/** The run index of one storage root. */
export class RunIndex {
  private readonly byDir = new Map<string, MemRun>();
  private readonly byId = new Map<string, MemRun | MemRun[]>();
  /** Runs the light sweep re-stats: running, or changed within QUIET_MS. */
  private readonly active = new Set<MemRun>();
  private readonly listeners = new Set<(c: RunChange) => void>();
  /**
   * Non-recursive watches: ROOT/runs, every folder of runs, and every active run. A recursive watch of a
   * large root costs a synchronous walk (about 10 s at 100k runs) and one inotify watch per run folder,
   * past the usual per-user limit; quiet runs are left to the full sweep instead.
   */
  private readonly watchers = new Map<string, FSWatcher>();
  private watchFailed = false;
  /** Every run is watched while there are at most WATCH_ALL_MAX; above, only active ones. */
  private watchAll = true;
  private timers: ReturnType<typeof setInterval>[] = [];
  /** Order keys of the rows `apply` wrote or removed, oldest first, from position `changeBase` on (see changesSince). */
  private changeLog: string[] = [];
  private changeBase = 0;
  private pending = new Map<string, Set<string>>();
  private unknown = new Set<string>();
  private pendingTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly host: string;
  private closed = false;
  private syncing: Promise<unknown> = Promise.resolve();
  private reconciling = false;
  private build = { state: "ready" as IndexProgress["state"], indexed: 0, found: 0, total: null as number | null, t0: 0, t1: 0 };
  /** The filesystem of the root (undefined where it cannot be told). */
  readonly fs: FsKind | undefined;
  /** Set once the first reconcile after start has finished. */
  ready: Promise<void> = Promise.resolve();

  constructor(
    readonly root: string,
    readonly idx: IndexDb,
    private readonly log: Logger,
    private readonly opts: RunIndexOptions,
  ) {
    this.host = opts.hostname ?? osHostname();
    this.fs = detectFsKind(root);
  }

  /**
   * Loads the index into memory, starts watching, and reconciles in the background: the server listens
   * at once. Until a fresh (or interrupted) index has been fully built once, `progress()` says `building`
   * and the list holds the runs written so far.
   */
  async start(): Promise<void> {
    const rows = await this.idx.db
      .selectFrom("run")
      .select(["run_dir", "id", "entry_path", "status", "deleted", "created_time", "order_key", "stamp", "pid", "hostname", "heartbeat_at"])
      .execute();
    // a large index starts with watches of folders and active runs only (not 5,000 set up, then dropped)
    this.watchAll = rows.length <= WATCH_ALL_MAX;
    for (const r of rows) this.remember(r);
    const built = await this.idx.db.selectFrom("index_state").select("value").where("key", "=", BUILT_KEY).executeTakeFirst();
    if (!built) {
      this.build = { state: "building", indexed: 0, found: 0, total: null, t0: performance.now(), t1: 0 };
      await dropRunFilterIndex(this.idx.db);
    }
    else this.build.indexed = this.build.found = this.build.total = rows.length;
    this.watchDir(join(this.root, "runs"));
    for (const m of this.active) this.watchDir(m.run_dir);
    this.ready = (async () => {
      await new Promise((r) => setTimeout(r, built ? 50 : 0));
      if (this.closed) return;
      await this.sync();
      await this.checkLiveness();
    })();
    this.ready.catch((e) => this.log.error("initial index build failed", e));
    // a small root is built before the first answer (its list is never partial); a large one builds
    // while the server answers, saying so in progress()
    if (!built) await this.waitForSmallBuild(this.ready);
    this.timers.push(
      setInterval(() => {
        this.sweepActive().catch((e) => this.log.error("sweep failed", e));
      }, this.opts.sweepSeconds * 1000),
    );
    const full = this.fullSweepSeconds();
    if (full > 0) {
      this.timers.push(
        setInterval(() => {
          this.sync({ spread: true }).catch((e) => this.log.error("full sweep failed", e));
        }, full * 1000),
      );
    }
    this.timers.push(setInterval(() => this.pollLive(), this.opts.livePollMs ?? 1000));
    for (const t of this.timers) (t as any).unref?.();
  }

  /** Waits for the first build while it may still end soon: at most FIRST_BUILD_WAIT_MS, and not once it has found many runs. */
  private async waitForSmallBuild(build: Promise<void>): Promise<void> {
    let done = false;
    build.then(
      () => (done = true),
      () => (done = true),
    );
    const deadline = performance.now() + FIRST_BUILD_WAIT_MS;
    while (!done && !this.closed && performance.now() < deadline && this.build.found < FIRST_BUILD_WAIT_MAX_RUNS) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** False where changes may arrive without fs events: a network filesystem, or no working watcher. */
  eventsReliable(): boolean {
    return !this.fs?.network && this.opts.watch !== false && !this.watchFailed && this.watchers.has(join(this.root, "runs"));
  }

  /** Seconds between full sweeps: as configured, else short only where fs events cannot be trusted. */
  fullSweepSeconds(): number {
    if (this.opts.fullSweepSeconds !== undefined) return this.opts.fullSweepSeconds;
    return this.eventsReliable() ? FULL_SWEEP_LOCAL_S : FULL_SWEEP_UNRELIABLE_S;
  }

  /**
   * Resolves when the first build is done, or at once once it has run for FIRST_ANSWER_WAIT_MS: API
   * requests await this, so only a large root is ever listed partially (and says so in its headers).
   */
  async settled(): Promise<void> {
    const b = this.build;
    if (b.state !== "building" || !b.t0) return;
    const left = (this.opts.firstAnswerWaitMs ?? FIRST_ANSWER_WAIT_MS) - (performance.now() - b.t0);
    if (left <= 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.ready.catch(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, left)))]);
    clearTimeout(timer);
  }

  /** Where the build stands (see IndexProgress). */
  progress(): IndexProgress {
    const b = this.build;
    const building = b.state === "building";
    return {
      state: b.state,
      runs_indexed: building ? b.indexed : this.byDir.size,
      runs_found: building ? b.found : this.byDir.size,
      runs_total: building ? b.total : this.byDir.size,
      elapsed_s: b.t0 ? Math.round(((b.t1 || performance.now()) - b.t0) / 100) / 10 : null,
      reconciling: this.reconciling,
    };
  }

  /** Stops the watcher and timers; resolves once a sync in progress has stopped writing (then the index may close). */
  async stop(): Promise<void> {
    this.closed = true;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    for (const t of this.timers) clearInterval(t);
    if (this.pendingTimer) clearTimeout(this.pendingTimer);
    await this.syncing;
    await this.ready.catch(() => undefined);
  }

  /** Subscribes to run changes. */
  onChange(fn: (c: RunChange) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The dirs of the `limit` live runs created last, newest first (one pass over the runs in memory). */
  newestRuns(limit: number): string[] {
    const top: MemRun[] = [];
    const newer = (a: MemRun, b: MemRun) => a.created_time! > b.created_time! || (a.created_time === b.created_time && a.order_key > b.order_key);
    for (const m of this.byDir.values()) {
      if (m.deleted || m.created_time === null) continue;
      if (top.length === limit && !newer(m, top[limit - 1])) continue;
      let i = Math.min(top.length, limit - 1);
      top[i] = m;
      for (; i > 0 && newer(top[i], top[i - 1]); i--) [top[i], top[i - 1]] = [top[i - 1], top[i]];
    }
    return top.map((m) => m.run_dir);
  }

  /** The first run with this id in scan order (live only unless asked). */
  findRun(id: string, includeDeleted = false): RunRecord | undefined {
    const e = this.byId.get(id);
    if (!e) return undefined;
    if (!Array.isArray(e)) return includeDeleted || !e.deleted ? e : undefined;
    return e.find((r) => includeDeleted || !r.deleted);
  }

  /** Every run currently known (deleted included), in no particular order. */
  allRuns(): Iterable<RunRecord> {
    return this.byDir.values();
  }

  /**
   * Full reconcile: walks ROOT, re-reads the runs whose files changed (both cores for large jobs), drops
   * vanished ones. `spread` pauses between slices (the periodic sweep: cost spread over time). Calls
   * are serialised: a second call waits for the first.
   */
  sync(opts: { spread?: boolean } = {}): Promise<{ added: number; updated: number; removed: number }> {
    const run = this.syncing.then(async () => {
      this.reconciling = true;
      try {
        return await this.syncNow(opts.spread === true);
      } finally {
        this.reconciling = false;
      }
    });
    // the next call waits for this one whatever its outcome; the caller sees the outcome
    this.syncing = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async syncNow(spread: boolean): Promise<{ added: number; updated: number; removed: number }> {
    const stats = { added: 0, updated: 0, removed: 0 };
    if (this.closed) return stats;
    const building = this.build.state === "building";
    const runsRoot = join(this.root, "runs");
    const seen = new Set<string>();
    // rows are written in transactions of about WRITE_ROWS: each commit costs a WAL write of every touched page
    let pendingRows: RunTable[] = [];
    let pendingRuns = 0;
    const flush = async (gone: string[]) => {
      await this.apply(pendingRows, gone);
      // runs_indexed counts what the list can show
      if (building) this.build.indexed += pendingRuns;
      pendingRows = [];
      pendingRuns = 0;
    };
    let queued = 0;
    let folders = 0;
    const push = (t: ScanTask) => {
      const known = this.byDir.get(t.dir);
      if (known && known.order_key === t.orderKey) t.known = known.stamp;
      queued++;
      job.push(t);
    };
    // breadth first: a folder's scan says it is no run, then its sub-folders are queued; so the runs
    // of a regular tree are all queued (and counted) before the first of them is read
    const job = new ScanJob(
      async (results) => {
        const rows: RunTable[] = [];
        const gone: string[] = [];
        let runs = 0;
        let turn = performance.now();
        for (const r of results) {
          if (stampIsRun(r.stamp)) {
            runs++;
            seen.add(r.dir);
            if (!r.row) continue;
            rows.push(r.row);
            if (this.byDir.has(r.dir)) stats.updated++;
            else stats.added++;
            continue;
          }
          folders++;
          if (this.byDir.has(r.dir)) gone.push(r.dir);
          if (r.dir.startsWith(runsRoot + sep)) {
            const segments = r.dir.slice(runsRoot.length + 1).split(sep);
            // a folder that became a run after its scan and before this watch: nothing would report it
            if (this.watchDir(r.dir) && isRunDir(r.dir)) push(v06Task(r.dir, segments));
            else for (const t of childTasks(r.dir, segments)) push(t);
          }
          if (performance.now() - turn > FOLDER_TURN_MS) {
            // a batch of folders of thousands of runs each lists them all: let requests in between
            if (building) this.build.found = queued - folders;
            await new Promise((res) => setImmediate(res));
            turn = performance.now();
          }
        }
        pendingRows.push(...rows);
        pendingRuns += runs;
        if (building) this.build.found = queued - folders;
        if (pendingRows.length >= WRITE_ROWS || gone.length) await flush(gone);
      },
      this.log,
      { closed: () => this.closed, pauseMs: spread ? SWEEP_PAUSE_MS : undefined },
    );
    for (const t of childTasks(runsRoot, [])) push(t);
    for (const t of legacyRunDirs(this.root)) push(t);
    await job.run();
    await flush([]);
    if (this.closed) return stats;
    const removed = [...this.byDir.keys()].filter((d) => !seen.has(d));
    stats.removed = removed.length;
    await this.apply([], removed);
    if (queued > LARGE_SYNC) collectWhenQuiet();
    if (building) {
      await createRunFilterIndex(this.idx.db);
      await this.idx.db
        .insertInto("index_state")
        .values({ key: BUILT_KEY, value: String(Date.now() / 1000) })
        .onConflict((oc) => oc.column("key").doUpdateSet({ value: String(Date.now() / 1000) }))
        .execute();
      this.build.state = "ready";
      this.build.total = this.byDir.size;
      this.build.t1 = performance.now();
      this.log.info(`index built: ${this.byDir.size} runs in ${this.progress().elapsed_s} s`);
    }
    return stats;
  }

  /**
   * The light sweep: re-stats only the runs that can change (running, or changed in the last ten
   * minutes) and checks liveness; new and vanished folders come from fs events (and the full sweep).
   */
  async sweepActive(): Promise<{ updated: number; removed: number }> {
    if (this.closed) return { updated: 0, removed: 0 };
    const now = Date.now();
    const rows: RunTable[] = [];
    const removed: string[] = [];
    for (const m of this.active) {
      if (m.status !== "running" && now - m.changedAt > QUIET_MS) {
        this.deactivate(m);
        continue;
      }
      const r = scanRun({ ...this.taskFor(m), known: m.stamp });
      if (!stampIsRun(r.stamp)) removed.push(m.run_dir);
      else if (r.row) rows.push(r.row);
    }
    await this.apply(rows, removed);
    await this.checkLiveness();
    return { updated: rows.length, removed: removed.length };
  }

  /** Re-reads one run directory now (after the API wrote to it) and returns its fresh record. */
  async refreshRun(dir: string): Promise<RunRecord | undefined> {
    const task = this.taskForDir(dir);
    const r = task ? scanRun(task) : undefined;
    if (r?.row) await this.apply([r.row], []);
    else if (this.byDir.has(dir)) await this.apply([], [dir]);
    return this.byDir.get(dir);
  }

  /**
   * Re-reads many run directories (after a bulk API change): written 500 to a transaction, the event loop
   * given back between batches, so a path of 20,000 runs neither takes a transaction each nor holds requests.
   */
  async refreshRuns(dirs: readonly string[]): Promise<void> {
    const BATCH = 500;
    for (let i = 0; i < dirs.length; i += BATCH) {
      if (i > 0) await new Promise<void>((res) => setImmediate(res));
      const rows: RunTable[] = [];
      const removed: string[] = [];
      for (const dir of dirs.slice(i, i + BATCH)) {
        const task = this.taskForDir(dir);
        const r = task ? scanRun(task) : undefined;
        if (r?.row) rows.push(r.row);
        else if (this.byDir.has(dir)) removed.push(dir);
      }
      await this.apply(rows, removed);
    }
  }

  private taskFor(m: MemRun): ScanTask {
    return { dir: m.run_dir, id: m.id, entryPath: m.entry_path, layout: m.order_key.startsWith("1") ? "legacy" : "v06", orderKey: m.order_key };
  }

  /** A scan task for a known run, or for a new folder under ROOT/runs; undefined elsewhere. */
  private taskForDir(dir: string): ScanTask | undefined {
    const known = this.byDir.get(dir);
    if (known) return this.taskFor(known);
    const runsRoot = join(this.root, "runs");
    if (!dir.startsWith(runsRoot + sep)) return undefined; // new legacy runs are found by the sweep
    return v06Task(dir, dir.slice(runsRoot.length + 1).split(sep)); // `sep`: backslashes on Windows
  }

  /** The position at the end of the change log (see changesSince). */
  changePosition(): number {
    return this.changeBase + this.changeLog.length;
  }

  /**
   * Order keys of the run rows written or removed since position `pos` (a key may repeat); null when the
   * log no longer reaches back that far (it keeps the last CHANGE_LOG_MAX to CHANGE_LOG_MAX × 2 changes).
   */
  changesSince(pos: number): readonly string[] | null {
    if (pos < this.changeBase) return null;
    return this.changeLog.slice(pos - this.changeBase);
  }

  private logChange(key: string): void {
    this.changeLog.push(key);
    if (this.changeLog.length > 2 * CHANGE_LOG_MAX) {
      const drop = this.changeLog.length - CHANGE_LOG_MAX;
      this.changeLog = this.changeLog.slice(drop);
      this.changeBase += drop;
    }
  }

  /** Writes changed rows and removals in one transaction, updates memory, then notifies listeners. */
  private async apply(rows: RunTable[], removed: string[]): Promise<void> {
    // stopped (server closing, or the root was switched): the index may already be closed
    if (this.closed || (rows.length === 0 && removed.length === 0)) return;
    await this.idx.db.transaction().execute(async (trx) => {
      await upsertRunRows(trx, rows);
      await deleteRunRows(trx, removed);
    });
    // where the whole-list cache must look again: the removed rows' keys, the written rows' old and new keys
    for (const dir of removed) {
      const known = this.byDir.get(dir);
      if (known) this.logChange(known.order_key);
    }
    for (const row of rows) {
      const old = this.byDir.get(row.run_dir);
      if (old && old.order_key !== row.order_key) this.logChange(old.order_key);
      this.logChange(row.order_key);
    }
    const changes: RunChange[] = [];
    for (const dir of removed) {
      const known = this.byDir.get(dir);
      if (!known) continue;
      this.forget(known);
      changes.push({ kind: "removed", id: known.id, run_dir: dir, files: [] });
    }
    const now = Date.now();
    for (const row of rows) {
      const old = this.byDir.get(row.run_dir);
      if (old) this.forget(old, true);
      this.remember(row, now);
      // the watch stays without a gap while the run may change; a quiet one's goes (unless all are watched)
      if (old && !this.watchAll && !this.active.has(this.byDir.get(row.run_dir)!)) this.unwatchDir(row.run_dir);
      changes.push({ kind: old ? "updated" : "added", id: row.id, run_dir: row.run_dir, files: [] });
    }
    for (const c of changes) this.emit(c);
  }

  private remember(
    r: Pick<RunTable, "run_dir" | "id" | "entry_path" | "status" | "deleted" | "created_time" | "order_key" | "stamp" | "pid" | "hostname" | "heartbeat_at">,
    changedAt = 0,
  ): void {
    const m: MemRun = {
      id: r.id,
      run_dir: r.run_dir,
      entry_path: r.entry_path,
      status: r.status,
      deleted: r.deleted === 1,
      created_time: r.created_time,
      order_key: r.order_key,
      stamp: r.stamp,
      pid: r.pid,
      hostname: r.hostname,
      heartbeat_at: r.heartbeat_at,
      has_meta: !r.stamp.startsWith("-;"),
      changedAt,
    };
    this.byDir.set(r.run_dir, m);
    // one run per id is the rule; only duplicates (the same id in two paths) need a list
    const e = this.byId.get(r.id);
    if (!e) this.byId.set(r.id, m);
    else {
      const list = Array.isArray(e) ? e : [e];
      list.push(m);
      list.sort((a, b) => (a.order_key < b.order_key ? -1 : a.order_key > b.order_key ? 1 : 0));
      this.byId.set(r.id, list);
    }
    if (m.status === "running" || (changedAt && this.build.state === "ready")) this.activate(m);
    else if (this.watchAll) this.watchDir(m.run_dir);
    if (this.watchAll && this.byDir.size > WATCH_ALL_MAX) this.watchActiveOnly();
  }

  /** Marks a run as one that may change: re-stated by the light sweep and watched. */
  private activate(m: MemRun): void {
    this.active.add(m);
    this.watchDir(m.run_dir);
  }

  private deactivate(m: MemRun): void {
    this.active.delete(m);
    if (!this.watchAll) this.unwatchDir(m.run_dir);
  }

  /** Past WATCH_ALL_MAX runs: drops the watches of quiet runs (folders and active runs stay watched). */
  private watchActiveOnly(): void {
    this.watchAll = false;
    for (const dir of [...this.watchers.keys()]) {
      const m = this.byDir.get(dir);
      if (m && !this.active.has(m)) this.unwatchDir(dir);
    }
  }

  /** Drops a run from memory; `keepWatch`: its row is written again at once (a watch dropped and set up again would miss what happens in between). */
  private forget(m: MemRun, keepWatch = false): void {
    this.byDir.delete(m.run_dir);
    this.active.delete(m);
    if (!keepWatch) this.unwatchDir(m.run_dir);
    const e = this.byId.get(m.id);
    const list = Array.isArray(e) ? e.filter((x) => x !== m) : [];
    if (list.length > 1) this.byId.set(m.id, list);
    else if (list.length === 1) this.byId.set(m.id, list[0]);
    else this.byId.delete(m.id);
  }

  private emit(c: RunChange): void {
    for (const fn of this.listeners) {
      try {
        fn(c);
      } catch (e) {
        this.log.error("run change listener failed", e);
      }
    }
  }

  /**
   * Spec §1.10 plus the heartbeat rule (`liveness.ts`): a `running` run whose SDK heartbeat is over a
   * minute old, or whose pid is gone on this host, becomes `failed`, ended at its last sign of life. Returns how many were checked and changed.
   */
  async checkLiveness(): Promise<{ checked: number; updated: number }> {
    let checked = 0;
    const dead: [MemRun, string][] = [];
    const now = Date.now() / 1000;
    for (const r of this.active) {
      if (r.status !== "running" || r.deleted) continue;
      checked++;
      const reason = deathReason(r, now, this.host);
      if (reason) dead.push([r, reason]);
    }
    for (const [r, reason] of dead) {
      try {
        mergeStatus(r.run_dir, { status: "failed", ended_at: lastSignOfLife(r.run_dir, r.heartbeat_at, now), exit_reason: reason });
        this.log.info(`run ${r.id} marked failed (${reason})`);
      } catch (e) {
        this.log.warn(`cannot mark run ${r.id} failed: ${(e as Error).message}`);
      }
      await this.refreshRun(r.run_dir);
    }
    return { checked, updated: dead.length };
  }

  /** Watches one directory (non-recursively); a failure other than a vanished folder turns to full sweeps. */
  private watchDir(dir: string): boolean {
    if (this.opts.watch === false || this.closed || this.watchFailed || this.watchers.has(dir)) return false;
    try {
      const w = watch(dir, (_event, name) => this.noticePath(name ? join(dir, name.toString()) : dir));
      w.on("error", () => this.unwatchDir(dir)); // the folder went away; its parent's watch reports that
      this.watchers.set(dir, w);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return false; // vanished meanwhile
      this.watchFailed = true;
      for (const w of this.watchers.values()) w.close();
      this.watchers.clear();
      this.log.warn(`file watches unavailable (${(e as Error).message}); full sweeps every ${FULL_SWEEP_UNRELIABLE_S} s take over`);
      if (this.opts.fullSweepSeconds === undefined) {
        const t = setInterval(() => {
          this.sync({ spread: true }).catch((err) => this.log.error("full sweep failed", err));
        }, FULL_SWEEP_UNRELIABLE_S * 1000);
        (t as any).unref?.();
        this.timers.push(t);
      }
      return false;
    }
  }

  private unwatchDir(dir: string): void {
    this.watchers.get(dir)?.close();
    this.watchers.delete(dir);
  }

  /** Maps a changed path to its run directory (or an unknown path to look at) and batches the work. */
  private noticePath(path: string): void {
    const runsDir = join(this.root, "runs");
    let d = path;
    while (d.length > runsDir.length && !this.byDir.has(d)) d = dirname(d);
    if (this.byDir.has(d)) {
      const files = this.pending.get(d) ?? new Set<string>();
      if (d !== path) files.add(path.slice(d.length + 1).split(sep)[0]);
      this.pending.set(d, files);
    } else {
      this.unknown.add(path);
    }
    if (!this.pendingTimer) this.pendingTimer = setTimeout(() => this.flushPending(), 25);
  }

  private async flushPending(): Promise<void> {
    this.pendingTimer = undefined;
    if (this.closed) return;
    const batch = this.pending;
    const unknown = this.unknown;
    this.pending = new Map();
    this.unknown = new Set();
    const changed = new Map<string, RunTable>();
    const removed = new Set<string>();
    const fileChanges: RunChange[] = [];
    for (const [dir, files] of batch) {
      const known = this.byDir.get(dir);
      // gone meanwhile (the API deleted it, or a sweep dropped it): nothing left to update
      if (!known) continue;
      const r = scanRun({ ...this.taskFor(known), known: known.stamp });
      if (!stampIsRun(r.stamp)) removed.add(dir);
      else if (r.row) changed.set(dir, r.row);
      const names = [...files].filter((f) => !f.endsWith(".lock"));
      if (names.length) fileChanges.push({ kind: "updated", id: known.id, run_dir: dir, files: names });
    }
    for (const path of unknown) {
      const st = statSync(path, { throwIfNoEntry: false });
      if (!st) {
        // a vanished folder: drop the runs that lived at or below it
        for (const d of this.byDir.keys()) if (d === path || d.startsWith(path + "/")) removed.add(d);
        for (const d of [...this.watchers.keys()]) if (d === path || d.startsWith(path + "/")) this.unwatchDir(d);
        continue;
      }
      // a new folder may hold runs, and a new file may have turned its folder into a run
      const dir = st.isDirectory() ? path : dirname(path);
      for (const t of walkRunDirs(this.root, dir, (folder) => this.watchDir(folder))) {
        if (this.byDir.has(t.dir) || changed.has(t.dir)) continue;
        const r = scanRun(t);
        if (r.row) changed.set(t.dir, r.row);
      }
    }
    const fresh = [...changed.keys()].filter((d) => !this.byDir.has(d));
    try {
      await this.apply([...changed.values()], [...removed]);
    } catch (e) {
      this.log.error("index update failed", e);
    }
    for (const c of fileChanges) if (this.byDir.has(c.run_dir)) this.emit(c);
    // a new run's watch starts after its files were read: what it wrote in between (a finish, say)
    // reached no watch, so each new run is stated once more (a stat when nothing changed)
    for (const d of fresh) if (this.byDir.has(d)) this.noticePath(d);
  }

  /** Safety net for live push when fs events are missed: watches the sizes of running runs' streams. */
  private pollLive(): void {
    for (const r of this.active) {
      if (r.status !== "running" || r.deleted) continue;
      const ev = statSync(join(r.run_dir, "events.jsonl"), { throwIfNoEntry: false });
      const lg = statSync(join(r.run_dir, "logs.txt"), { throwIfNoEntry: false });
      const sizes = `${ev?.size ?? -1}:${lg?.size ?? -1}`;
      if (r.sizes !== undefined && r.sizes !== sizes) {
        const [oldEv, oldLg] = r.sizes.split(":");
        const files: string[] = [];
        if (String(ev?.size ?? -1) !== oldEv) files.push("events.jsonl");
        if (String(lg?.size ?? -1) !== oldLg) files.push("logs.txt");
        this.emit({ kind: "updated", id: r.id, run_dir: r.run_dir, files });
      }
      r.sizes = sizes;
    }
  }
}
