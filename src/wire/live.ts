// Wire shapes of the `/api/live` socket messages: server and UI share them.
import type { LiveSystemMessage } from "./live-system.ts";

/** One row of a live `metrics` message. */
export interface LiveRow {
  step: number;
  time: number | null;
  values: Record<string, unknown>;
}

/**
 * A message of the `/api/live` socket (`logs_reset` is the page's own: a log subscription is about
 * to resend its tail). `reset`: the run's events were read again from scratch; `truncated`: rows were
 * left out of this push. Either way a chart fetches its series again.
 */
export type LiveMessage =
  | { type: "metrics"; run_id: string; rows: LiveRow[]; reset?: boolean; truncated?: boolean }
  | LiveSystemMessage
  | { type: "logs"; run_id: string; lines: string[] }
  | { type: "logs_reset"; run_id: string }
  | { type: "status"; run_id: string; status: string }
  | { type: "run_changed"; run_id: string; kind: string }
  | { type: "error"; run_id?: undefined; message: string };
