// The scan worker: reads and parses batches of run folders on the second core while the main thread writes rows.
import { type ScanTask, scanRun } from "./run-scan.ts";

declare const self: Worker;

self.onmessage = (ev: MessageEvent<{ id: number; tasks: ScanTask[] }>) => {
  const { id, tasks } = ev.data;
  try {
    self.postMessage({ id, results: tasks.map(scanRun) });
  } catch (e) {
    self.postMessage({ id, error: (e as Error).message });
  }
};
