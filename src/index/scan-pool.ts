// Spreads run-folder scans over the main thread and one worker; folders found on the way are fed back as more work.
import type { Logger } from "../util/log.ts";
import { type ScanResult, type ScanTask, scanRun } from "./run-scan.ts";

/** Runs per batch: small enough to keep requests flowing between batches, large enough to amortise a message. */
const BATCH = 256;
/** A worker is started once this many tasks wait: below it, start-up and its heap cost more than it saves. */
const WORKER_MIN_QUEUE = 4 * BATCH;

/**
 * Where the worker's code is: beside this file when running from sources; in the compiled binary it
 * is an extra entry point, embedded under its path relative to the entry points' common folder (src/).
 */
export function scanWorkerUrl(): string {
  return import.meta.url.includes("/$bunfs/") ? "./index/scan-worker.ts" : new URL("./scan-worker.ts", import.meta.url).href;
}

/** Options of a scan job. */
export interface ScanJobOptions {
  /** Allow a worker thread (default true). */
  worker?: boolean;
  /** Pause after each batch (ms): spreads a periodic sweep's cost over time. */
  pauseMs?: number;
  /** Stops the job early (server closing). */
  closed?: () => boolean;
}

/**
 * One scan of many run folders. `push` queues tasks (also from inside `onResults`, for sub-folders);
 * `run` scans until nothing is queued or in flight. Results are handed to `onResults` one batch at a
 * time, in completion order. A worker thread is started only when enough work queues up, and ended
 * with the job (no idle thread or heap between jobs); if it fails, its batch is scanned here.
 */
export class ScanJob {
  private queue: ScanTask[] = [];
  private worker: Worker | undefined;
  private workerFailed = false;
  private workerBatch: ScanTask[] | undefined;
  private chain: Promise<void> = Promise.resolve();
  private wake: (() => void) | undefined;
  private error: unknown;

  constructor(
    private readonly onResults: (results: ScanResult[]) => Promise<void>,
    private readonly log: Logger,
    private readonly opts: ScanJobOptions = {},
  ) {}

  /** Queues one folder to scan. */
  push(task: ScanTask): void {
    this.queue.push(task);
    if (this.queue.length >= BATCH) this.feedWorker();
  }

  /** Scans everything queued (and whatever the results queue meanwhile); rejects if a write failed. */
  async run(): Promise<void> {
    try {
      for (;;) {
        if (this.error !== undefined) throw this.error;
        if (this.opts.closed?.()) break;
        this.feedWorker();
        if (this.queue.length) {
          const batch = this.queue.splice(0, BATCH);
          await this.deliver(batch.map(scanRun));
          // let requests and the worker's replies in between
          if (this.opts.pauseMs) await new Promise((r) => setTimeout(r, this.opts.pauseMs));
          else await new Promise((r) => setImmediate(r));
          continue;
        }
        if (this.workerBatch) {
          await new Promise<void>((r) => (this.wake = r));
          continue;
        }
        // nothing queued or in flight; results still being written may queue sub-folders
        await this.chain;
        if (!this.queue.length && !this.workerBatch) break;
      }
      await this.chain;
      if (this.error !== undefined) throw this.error;
    } finally {
      this.worker?.terminate();
      this.worker = undefined;
    }
  }

  private deliver(results: ScanResult[]): Promise<void> {
    this.chain = this.chain.then(() => this.onResults(results));
    // the failure is kept and rethrown by run(); later batches are still written
    this.chain = this.chain.catch((e) => {
      this.error ??= e;
    });
    return this.chain;
  }

  private feedWorker(): void {
    if (this.workerBatch || !this.queue.length || this.workerFailed || this.opts.worker === false || this.opts.pauseMs) return;
    if (!this.worker) {
      if (this.queue.length < WORKER_MIN_QUEUE) return;
      if (!this.startWorker()) return;
    }
    this.workerBatch = this.queue.splice(0, BATCH);
    this.worker!.postMessage({ id: 0, tasks: JSON.stringify(this.workerBatch) });
  }

  private startWorker(): boolean {
    try {
      const w = new Worker(scanWorkerUrl());
      w.onmessage = (ev: MessageEvent<{ results?: string; error?: string }>) => {
        const batch = this.workerBatch;
        this.workerBatch = undefined;
        if (ev.data.results !== undefined) void this.deliver(JSON.parse(ev.data.results) as ScanResult[]);
        else this.failWorker(`scan worker failed (${ev.data.error})`, batch);
        this.feedWorker();
        this.wakeUp();
      };
      w.onerror = (ev) => {
        this.failWorker(`scan worker stopped (${(ev as ErrorEvent).message})`, this.workerBatch);
        this.workerBatch = undefined;
        this.wakeUp();
      };
      this.worker = w;
      return true;
    } catch (e) {
      this.failWorker(`scan worker did not start (${(e as Error).message})`, undefined);
      return false;
    }
  }

  private failWorker(why: string, batch: ScanTask[] | undefined): void {
    this.log.warn(`${why}; scanning on one core`);
    this.workerFailed = true;
    this.worker?.terminate();
    this.worker = undefined;
    if (batch) this.queue.unshift(...batch);
  }

  private wakeUp(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}
