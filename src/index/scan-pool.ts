// Spreads run-folder scans over the main thread and one worker, handing back results batch by batch.
import type { Logger } from "../util/log.ts";
import { type ScanResult, type ScanTask, scanRun } from "./run-scan.ts";

/** Runs per batch: small enough to keep requests flowing between batches, large enough to amortise a message. */
const BATCH = 256;
/** Below this many tasks a worker costs more (start-up, memory) than it saves. */
const WORKER_MIN_TASKS = 2048;

/**
 * Where the worker's code is: beside this file when running from sources; in the compiled binary it
 * is an extra entry point, embedded under its path relative to the entry points' common folder (src/).
 */
export function scanWorkerUrl(): string {
  return import.meta.url.includes("/$bunfs/") ? "./index/scan-worker.ts" : new URL("./scan-worker.ts", import.meta.url).href;
}

/**
 * Scans `tasks`, calling `onBatch` (awaited, in order of completion) with each batch's results. Large
 * jobs use one worker thread, started for the job and ended after it (no idle thread or heap between
 * jobs); the main thread scans batches too, yielding between them. If the worker fails, its batches are
 * scanned here.
 */
export async function scanAll(
  tasks: ScanTask[],
  onBatch: (results: ScanResult[]) => Promise<void>,
  log: Logger,
  opts: { worker?: boolean; closed?: () => boolean } = {},
): Promise<void> {
  const batches: ScanTask[][] = [];
  for (let i = 0; i < tasks.length; i += BATCH) batches.push(tasks.slice(i, i + BATCH));
  let next = 0;
  const take = () => (next < batches.length ? batches[next++] : undefined);
  // results are handed over one at a time so that writes never interleave
  let chain: Promise<void> = Promise.resolve();
  const deliver = (r: ScanResult[]) => (chain = chain.then(() => onBatch(r)));

  const useWorker = opts.worker !== false && batches.length * BATCH >= WORKER_MIN_TASKS;
  const workerDone = useWorker ? runWorker(take, deliver, log) : Promise.resolve([] as ScanTask[][]);
  for (;;) {
    if (opts.closed?.()) break;
    const b = take();
    if (!b) break;
    await deliver(b.map(scanRun));
    // let requests and the worker's replies in between
    await new Promise((r) => setImmediate(r));
  }
  // batches the worker could not finish are done here
  for (const b of await workerDone) await deliver(b.map(scanRun));
  await chain;
}

/** Feeds batches to one worker until none are left; resolves with the batches it failed to scan. */
function runWorker(take: () => ScanTask[] | undefined, deliver: (r: ScanResult[]) => Promise<void>, log: Logger): Promise<ScanTask[][]> {
  return new Promise((resolve) => {
    let worker: Worker;
    try {
      worker = new Worker(scanWorkerUrl());
    } catch (e) {
      log.warn(`scan worker did not start (${(e as Error).message}); scanning on one core`);
      resolve([]);
      return;
    }
    let current: ScanTask[] | undefined;
    const finish = (failed: ScanTask[][]) => {
      worker.terminate();
      resolve(failed);
    };
    const send = () => {
      current = take();
      if (!current) finish([]);
      else worker.postMessage({ id: 0, tasks: current });
    };
    worker.onmessage = (ev: MessageEvent<{ results?: ScanResult[]; error?: string }>) => {
      if (ev.data.error !== undefined || !ev.data.results) {
        log.warn(`scan worker failed (${ev.data.error}); scanning on one core`);
        finish(current ? [current] : []);
        return;
      }
      void deliver(ev.data.results);
      send();
    };
    worker.onerror = (ev) => {
      log.warn(`scan worker stopped (${(ev as ErrorEvent).message}); scanning on one core`);
      finish(current ? [current] : []);
    };
    send();
  });
}
