// Crash detection of running runs (spec §1.10 plus the heartbeat rule): the one place that decides a run is dead.
import { statSync } from "node:fs";
import { join } from "node:path";
import { STALLED_AFTER_S } from "../wire/liveness.ts";

/** Seconds without a heartbeat after which a `running` run whose process is not known alive is declared failed. */
export const HEARTBEAT_TIMEOUT_S = STALLED_AFTER_S;

/** Path fragments of mirrored remote data, never liveness-checked (spec §1.10). */
const REMOTE_MARKERS = [".runicorn_remote_cache", "remote_cache", "_remote_"];

/** What liveness needs to know about a running run. */
export interface LivenessFacts {
  run_dir: string;
  /** True when the run has a meta.json (its pid/hostname are the SDK's). */
  has_meta: boolean;
  pid: number | null;
  hostname: string | null;
  heartbeat_at: number | null;
}

/**
 * Why a `running` run should be marked failed now (`heartbeat_lost`, `process_not_found`), or undefined
 * while it may still be alive. `now` in epoch seconds; `host` is this machine's hostname.
 */
export function deathReason(r: LivenessFacts, now: number, host: string): string | undefined {
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
