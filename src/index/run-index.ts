// Keeps the run table current: full reconcile at start and on a timer, the watcher for prompt updates,
// and crash detection of running runs (spec §1.10) — all in the background, never on the request path.
import { type FSWatcher, statSync, watch } from "node:fs";
import { hostname as osHostname } from "node:os";
import { dirname, join, sep } from "node:path";
import { discoverUnder, iterateRuns, type RunEntry, runStamp, stampIsRun, v06OrderKey } from "../store/discover.ts";
import { mergeStatus, readRunFiles } from "../store/run-files.ts";
import type { Logger } from "../util/log.ts";
import type { IndexDb } from "./db.ts";
import { buildRunRow } from "./run-row.ts";
import type { RunChange, RunRecord } from "./run-types.ts";
import type { RunTable } from "./schema.ts";

/** Seconds without a heartbeat after which a `running` run is declared failed. */
export const HEARTBEAT_TIMEOUT_S = 60;

/** One sweep in this many re-stats every run; the others only the runs that may change. */
const FULL_SWEEP_EVERY = 6;
/** A finished run unchanged for this long is trusted by the light sweep. */
const QUIET_MS = 10 * 60 * 1000;

/** Path fragments of mirrored remote data, never liveness-checked (spec §1.10). */
const REMOTE_MARKERS = [".runicorn_remote_cache", "remote_cache", "_remote_"];

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
  sweepSeconds: number;
  /** Poll of running runs' events/logs sizes when fs events are missed (ms). */
  livePollMs?: number;
  hostname?: string;
  watch?: boolean;
}

/** The run index of one storage root. */
export class RunIndex {
  private readonly byDir = new Map<string, MemRun>();
  private readonly byId = new Map<string, MemRun[]>();
  private readonly listeners = new Set<(c: RunChange) => void>();
  private watcher: FSWatcher | undefined;
  private timers: ReturnType<typeof setInterval>[] = [];
  private pending = new Map<string, Set<string>>();
  private unknown = new Set<string>();
  private pendingTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly host: string;
  private closed = false;
  /** Set once the first full reconcile has finished. */
  ready: Promise<void> = Promise.resolve();

  constructor(
    readonly root: string,
    readonly idx: IndexDb,
    private readonly log: Logger,
    private readonly opts: RunIndexOptions,
  ) {
    this.host = opts.hostname ?? osHostname();
  }

  /**
   * Loads the index into memory and starts watching. On a fresh index the first reconcile is awaited
   * (a list must never be partial); on an existing one it runs in the background right after.
   */
  async start(): Promise<void> {
    const rows = await this.idx.db.selectFrom("run").selectAll().execute();
    for (const r of rows) this.remember(r);
    const fresh = rows.length === 0;
    const first = (async () => {
      await new Promise((r) => setTimeout(r, fresh ? 0 : 50));
      if (this.closed) return;
      await this.sync();
      await this.checkLiveness();
    })();
    this.ready = first;
    if (fresh) await first;
    else first.catch((e) => this.log.error("initial sync failed", e));
    if (this.opts.watch !== false) this.startWatcher();
    let tick = 0;
    this.timers.push(
      setInterval(() => {
        // every tick re-stats the runs that may change (running, or changed lately) and finds new or
        // vanished folders; every FULL_SWEEP_EVERY-th tick re-stats everything (edits on NFS, by hand…)
        const full = ++tick % FULL_SWEEP_EVERY === 0;
        this.sync(full)
          .then(() => this.checkLiveness())
          .catch((e) => this.log.error("sweep failed", e));
      }, this.opts.sweepSeconds * 1000),
    );
    this.timers.push(setInterval(() => this.pollLive(), this.opts.livePollMs ?? 1000));
    for (const t of this.timers) (t as any).unref?.();
  }

  /** Stops the watcher and timers. */
  stop(): void {
    this.closed = true;
    this.watcher?.close();
    for (const t of this.timers) clearInterval(t);
    if (this.pendingTimer) clearTimeout(this.pendingTimer);
  }

  /** Subscribes to run changes. */
  onChange(fn: (c: RunChange) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The first run with this id in scan order (live only unless asked). */
  findRun(id: string, includeDeleted = false): RunRecord | undefined {
    const list = this.byId.get(id);
    if (!list) return undefined;
    return list.find((r) => includeDeleted || !r.deleted);
  }

  /** Every run currently known (deleted included), in no particular order. */
  allRuns(): Iterable<RunRecord> {
    return this.byDir.values();
  }

  /** Full reconcile: discovers every run, re-reads the ones whose files changed, drops vanished ones. */
  async sync(full = true): Promise<{ added: number; updated: number; removed: number }> {
    const seen = new Set<string>();
    const changed: RunEntry[] = [];
    const now = Date.now();
    // a light sweep trusts the stamps of finished runs that have not changed for a while
    const known = full
      ? undefined
      : (dir: string) => {
          const m = this.byDir.get(dir);
          return m && m.status !== "running" && now - m.changedAt > QUIET_MS ? m.stamp : undefined;
        };
    let n = 0;
    for (const e of iterateRuns(this.root, known)) {
      // let requests in between: a sweep of a large root must not stall the server
      if (++n % 256 === 0) await new Promise((r) => setImmediate(r));
      seen.add(e.dir);
      const known = this.byDir.get(e.dir);
      if (!known || known.stamp !== e.stamp || known.order_key !== e.orderKey) changed.push(e);
    }
    const removed = [...this.byDir.keys()].filter((d) => !seen.has(d));
    const stats = { added: 0, updated: 0, removed: removed.length };
    for (const e of changed) {
      if (this.byDir.has(e.dir)) stats.updated++;
      else stats.added++;
    }
    await this.apply(changed, removed);
    return stats;
  }

  /** Re-reads one run directory now (after the API wrote to it) and returns its fresh record. */
  async refreshRun(dir: string): Promise<RunRecord | undefined> {
    const entry = this.entryFor(dir);
    if (entry) await this.apply([entry], []);
    else if (this.byDir.has(dir)) await this.apply([], [dir]);
    return this.byDir.get(dir);
  }

  /** Builds a RunEntry for a known or new run directory, or undefined when it is no longer a run. */
  private entryFor(dir: string): RunEntry | undefined {
    const stamp = runStamp(dir);
    if (!stampIsRun(stamp)) return undefined;
    const known = this.byDir.get(dir);
    if (known) return { dir, id: known.id, entryPath: known.entry_path, layout: known.order_key.startsWith("1") ? "legacy" : "v06", orderKey: known.order_key, stamp };
    const runsRoot = join(this.root, "runs");
    if (!dir.startsWith(runsRoot + sep)) return undefined; // new legacy runs are found by the sweep
    const segments = dir.slice(runsRoot.length + 1).split(sep); // `sep`: backslashes on Windows
    const parents = segments.slice(0, -1);
    return {
      dir,
      id: segments[segments.length - 1],
      entryPath: parents.length ? parents.join("/") : null,
      layout: "v06",
      orderKey: v06OrderKey(segments),
      stamp,
    };
  }

  /** Writes changed rows and removals in one transaction, updates memory, then notifies listeners. */
  private async apply(changed: RunEntry[], removed: string[]): Promise<void> {
    // stopped (server closing, or the root was switched): the index may already be closed
    if (this.closed || (changed.length === 0 && removed.length === 0)) return;
    const rows = changed.map((e) => buildRunRow(e, readStable(e)));
    await this.idx.db.transaction().execute(async (trx) => {
      for (const row of rows) {
        await trx
          .insertInto("run")
          .values(row)
          .onConflict((oc) => oc.column("run_dir").doUpdateSet(row))
          .execute();
      }
      for (let i = 0; i < removed.length; i += 500) {
        await trx.deleteFrom("run").where("run_dir", "in", removed.slice(i, i + 500)).execute();
      }
    });
    const changes: RunChange[] = [];
    for (const dir of removed) {
      const known = this.byDir.get(dir);
      if (!known) continue;
      this.forget(known);
      changes.push({ kind: "removed", id: known.id, run_dir: dir, files: [] });
    }
    for (const row of rows) {
      const existed = this.byDir.has(row.run_dir);
      const old = this.byDir.get(row.run_dir);
      if (old) this.forget(old);
      this.remember(row, Date.now());
      changes.push({ kind: existed ? "updated" : "added", id: row.id, run_dir: row.run_dir, files: [] });
    }
    for (const c of changes) this.emit(c);
  }

  private remember(r: RunTable, changedAt = 0): void {
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
    const list = this.byId.get(r.id) ?? [];
    list.push(m);
    list.sort((a, b) => (a.order_key < b.order_key ? -1 : a.order_key > b.order_key ? 1 : 0));
    this.byId.set(r.id, list);
  }

  private forget(m: MemRun): void {
    this.byDir.delete(m.run_dir);
    const list = this.byId.get(m.id)?.filter((x) => x !== m) ?? [];
    if (list.length) this.byId.set(m.id, list);
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
   * Spec §1.10 plus the heartbeat rule (the end time is the run's last sign of life, see `lastSignOfLife`): a `running` run whose SDK heartbeat is over a minute old, or
   * whose pid is gone on this host, becomes `failed`. Returns how many were checked and changed.
   */
  async checkLiveness(): Promise<{ checked: number; updated: number }> {
    let checked = 0;
    const dead: [MemRun, string][] = [];
    const now = Date.now() / 1000;
    for (const r of this.byDir.values()) {
      if (r.status !== "running" || r.deleted) continue;
      checked++;
      const reason = this.deathReason(r, now);
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

  private deathReason(r: MemRun, now: number): string | undefined {
    return runDeathReason(r, this.host, now);
  }

  private startWatcher(): void {
    const runsDir = join(this.root, "runs");
    try {
      this.watcher = watch(runsDir, { recursive: true }, (_event, filename) => {
        if (filename) this.noticePath(join(runsDir, filename.toString()));
      });
      this.watcher.on("error", (e) => {
        this.log.warn(`file watcher stopped (${(e as Error).message}); the periodic sweep continues`);
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (e) {
      this.log.warn(`file watcher unavailable (${(e as Error).message}); relying on the periodic sweep`);
    }
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
    const changed = new Map<string, RunEntry>();
    const removed = new Set<string>();
    const fileChanges: RunChange[] = [];
    for (const [dir, files] of batch) {
      const known = this.byDir.get(dir);
      // gone meanwhile (the API deleted it, or a sweep dropped it): nothing left to update
      if (!known) continue;
      const entry = this.entryFor(dir);
      if (!entry) removed.add(dir);
      else if (entry.stamp !== known.stamp) changed.set(dir, entry);
      const names = [...files].filter((f) => !f.endsWith(".lock"));
      if (names.length) fileChanges.push({ kind: "updated", id: known.id, run_dir: dir, files: names });
    }
    for (const path of unknown) {
      const st = statSync(path, { throwIfNoEntry: false });
      if (!st) {
        // a vanished folder: drop the runs that lived at or below it
        for (const d of this.byDir.keys()) if (d === path || d.startsWith(path + "/")) removed.add(d);
        continue;
      }
      // a new folder may hold runs, and a new file may have turned its folder into a run
      const dir = st.isDirectory() ? path : dirname(path);
      for (const e of discoverUnder(this.root, dir)) if (!this.byDir.has(e.dir)) changed.set(e.dir, e);
    }
    try {
      await this.apply([...changed.values()], [...removed]);
    } catch (e) {
      this.log.error("index update failed", e);
    }
    for (const c of fileChanges) if (this.byDir.has(c.run_dir)) this.emit(c);
  }

  /** Safety net for live push when fs events are missed: watches the sizes of running runs' streams. */
  private pollLive(): void {
    for (const r of this.byDir.values()) {
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

/**
 * Reads a run's files and re-stamps them afterwards: a non-atomic rewrite that lands during the read
 * changes the stamp, so the read is repeated (a few times at most) instead of caching a torn `{}`.
 */
function readStable(e: RunEntry) {
  let files = readRunFiles(e.dir);
  for (let i = 0; i < 3; i++) {
    const after = runStamp(e.dir);
    if (after === e.stamp) break;
    e.stamp = after;
    files = readRunFiles(e.dir);
  }
  return files;
}

/**
 * The liveness rule for a run whose status says "running": why it is dead (`heartbeat_lost`,
 * `process_not_found`), or undefined while it may be alive. Shared by the server's sweep and `runicorn ls`.
 */
export function runDeathReason(
  r: Pick<MemRun, "run_dir" | "has_meta" | "hostname" | "pid" | "heartbeat_at">,
  host: string,
  now: number,
): string | undefined {
  const lower = r.run_dir.toLowerCase();
  if (REMOTE_MARKERS.some((m) => lower.includes(m))) return undefined;
  const localPid = r.has_meta && r.hostname === host ? r.pid : null;
  if (localPid !== null && pidAlive(localPid)) return undefined;
  const heartbeatAge = r.heartbeat_at === null ? undefined : now - r.heartbeat_at;
  if (heartbeatAge !== undefined && heartbeatAge > HEARTBEAT_TIMEOUT_S) return "heartbeat_lost";
  // the writer's pid is gone here; a fresh heartbeat means another process (a second writer) still logs
  if (localPid !== null && (heartbeatAge === undefined || heartbeatAge > 10)) return "process_not_found";
  return undefined;
}

/** True when a process with this pid exists (EPERM means it exists but is not ours). */
export function pidAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * When a run that died without `finish()` (SIGKILL, power loss) was last seen alive: the latest of its
 * heartbeat and the modification times of its events and log files, never later than `now` — not the
 * moment the loss was noticed (issue 20).
 */
export function lastSignOfLife(runDir: string, heartbeatAt: number | null, now: number): number {
  let last = heartbeatAt ?? 0;
  for (const f of ["events.jsonl", "logs.txt"]) {
    const st = statSync(join(runDir, f), { throwIfNoEntry: false });
    if (st) last = Math.max(last, st.mtimeMs / 1000);
  }
  return last > 0 ? Math.min(last, now) : now;
}
