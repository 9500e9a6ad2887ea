// Wire shape of the `system` message of the `/api/live` socket: a watched run's new system samples (issue 17).
import type { LiveRow } from "./live.ts";

/**
 * New rows of a run's system.jsonl (`sys/…` keys; `step` is the sample time in ms, `time` in epoch seconds), pushed
 * to every subscriber of the run as they are ingested. `reset`/`truncated` as for `metrics`: fetch the series again.
 */
export interface LiveSystemMessage {
  type: "system";
  run_id: string;
  rows: LiveRow[];
  reset?: boolean;
  truncated?: boolean;
}
