// The scan worker: reads and parses batches of run folders on the second core while the main thread writes rows.
import { type ScanTask, scanRun } from "./run-scan.ts";

declare const self: Worker;

// batches travel as JSON text: one string is copied far faster than thousands of small objects
self.onmessage = (ev: MessageEvent<{ id: number; tasks: string }>) => {
  const { id } = ev.data;
  try {
    const tasks = JSON.parse(ev.data.tasks) as ScanTask[];
    self.postMessage({ id, results: JSON.stringify(tasks.map(scanRun)) });
  } catch (e) {
    self.postMessage({ id, error: (e as Error).message });
  }
};
