// Returns the memory of a large burst (a full run list, an index build) to the OS once the server is quiet again.

/** Wait after the last burst before collecting (requests in a row share one collection). */
const QUIET_MS = 3000;

let timer: ReturnType<typeof setTimeout> | undefined;

/**
 * Asks for one full garbage collection when nothing large happened for QUIET_MS. JavaScriptCore sizes
 * its heap by the peak and collects lazily, so the tens of MB a 100k-run list leaves behind would
 * otherwise stay resident (measured: 507 MB RSS after eleven full lists, 292 MB after a collection).
 */
export function collectWhenQuiet(): void {
  if (timer) clearTimeout(timer);
  timer = setTimeout(() => {
    timer = undefined;
    Bun.gc(true);
  }, QUIET_MS);
  (timer as any).unref?.();
}
