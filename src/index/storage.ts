// The current storage root with its open index, indexer and metric store; re-pointable at run time (spec §1.1).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../util/log.ts";
import { type IndexDb, indexPathFor, openIndexDb } from "./db.ts";
import { MetricStore } from "./metric-store.ts";
import { RunListCache } from "./run-list-cache.ts";
import { RunIndex, type RunIndexOptions } from "./run-index.ts";
import type { RunChange, RunRecord, RunService } from "./run-types.ts";

/** Holds the root, its index and indexer; listeners survive a root switch. */
export class Storage implements RunService {
  private current!: { root: string; idx: IndexDb; runs: RunIndex; metrics: MetricStore; unsubscribe: () => void };
  private readonly listeners = new Set<(c: RunChange) => void>();
  /** The whole run list of the current root, reused while the index is unchanged. */
  readonly runList = new RunListCache();

  private constructor(
    private readonly cacheDir: string,
    private readonly log: Logger,
    private readonly opts: RunIndexOptions,
  ) {}

  /** Opens `root` (creating ROOT/ and ROOT/runs/ as the original does) and starts its indexer. */
  static async open(root: string, cacheDir: string, log: Logger, opts: RunIndexOptions): Promise<Storage> {
    const s = new Storage(cacheDir, log, opts);
    s.current = await s.openRoot(root);
    return s;
  }

  private async openRoot(root: string) {
    mkdirSync(join(root, "runs"), { recursive: true });
    const path = indexPathFor(root, this.cacheDir);
    let idx: IndexDb;
    try {
      idx = await openIndexDb(path);
    } catch (e) {
      // a corrupt cache is rebuilt from the files, which are the truth
      this.log.warn(`index ${path} unreadable (${(e as Error).message}); rebuilding it`);
      for (const suffix of ["", "-wal", "-shm"]) await Bun.file(path + suffix).delete().catch(() => {});
      idx = await openIndexDb(path);
    }
    const runs = new RunIndex(root, idx, this.log.child("index"), this.opts);
    const unsubscribe = runs.onChange((c) => {
      for (const fn of this.listeners) fn(c);
    });
    await runs.start();
    this.log.debug(`index for ${root} at ${path}`);
    const metrics = new MetricStore(idx, { log: this.log.child("metrics") });
    // the whole list is read once the first build is done, so that the first visit does not wait for it
    void runs.ready
      .then(() => this.runList.get(idx, runs))
      .catch((e) => this.log.debug(`run list read-ahead stopped: ${(e as Error).message}`));
    return { root, idx, runs, metrics, unsubscribe };
  }

  /** The current root. */
  get root(): string {
    return this.current.root;
  }
  /** The index of the current root. */
  get idx(): IndexDb {
    return this.current.idx;
  }
  /** The indexer of the current root. */
  get runs(): RunIndex {
    return this.current.runs;
  }

  /** The metric store of the current root (a new root gets a new store). */
  get metrics(): MetricStore {
    return this.current.metrics;
  }

  /** Switches to another root: opens it first, then closes the old one. */
  async switchRoot(root: string): Promise<void> {
    const next = await this.openRoot(root);
    const old = this.current;
    this.current = next;
    this.runList.drop();
    old.unsubscribe();
    await old.runs.stop();
    await old.metrics.flushResults();
    await old.idx.close();
  }

  findRun(id: string): RunRecord | undefined {
    return this.current.runs.findRun(id);
  }
  findRunIncludingDeleted(id: string): RunRecord | undefined {
    return this.current.runs.findRun(id, true);
  }
  onChange(listener: (change: RunChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops the indexer and closes the index. */
  async close(): Promise<void> {
    this.runList.drop();
    this.current.unsubscribe();
    await this.current.runs.stop();
    await this.current.metrics.flushResults();
    await this.current.idx.close();
  }
}
