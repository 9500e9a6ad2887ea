// The "stalled" rule, shared by the server, `runicorn ls` and the UI: a run whose process still lives (so the
// server keeps it `running`) but whose SDK heartbeat is old. Pure (no I/O), so the browser bundle can import it.

/** Seconds without a heartbeat after which a running run is stalled (the server's crash rule uses the same minute). */
export const STALLED_AFTER_S = 60;

/** True for a `running` run whose last heartbeat is more than a minute old. `now` in epoch seconds. */
export function isStalled(status: string, heartbeatAt: number | null | undefined, now = Date.now() / 1000): boolean {
  return status === "running" && typeof heartbeatAt === "number" && now - heartbeatAt > STALLED_AFTER_S;
}
