// An advisory lock compatible with Python `filelock` (flock on a `.lock` file), used around SDK index writes.
import { closeSync, constants, fstatSync, openSync } from "node:fs";

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

type FlockFn = (fd: number, op: number) => number;
let flockFn: FlockFn | null | undefined;

/** libc `flock` through bun:ffi; null where it cannot be loaded (Windows, unusual libc). */
async function loadFlock(): Promise<FlockFn | null> {
  if (flockFn !== undefined) return flockFn;
  flockFn = null;
  if (process.platform === "win32") return flockFn;
  try {
    const { dlopen, FFIType } = await import("bun:ffi");
    const names = process.platform === "darwin" ? ["libSystem.B.dylib", "libc.dylib"] : ["libc.so.6", "libc.so"];
    for (const name of names) {
      try {
        const lib = dlopen(name, { flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 } });
        flockFn = (fd, op) => lib.symbols.flock(fd, op) as number;
        break;
      } catch {
        // try the next name; without any, writes rely on SQLite's own locking (busy_timeout)
      }
    }
  } catch {
    flockFn = null;
  }
  return flockFn;
}

/** Raised when the lock is still held by another process after the timeout. */
export class LockTimeoutError extends Error {}

/**
 * Runs `fn` while holding an exclusive flock on `lockPath` (created if missing, never deleted), polling
 * every 50 ms as filelock does. Where flock is unavailable `fn` runs unlocked.
 */
export async function withFileLock<T>(lockPath: string, fn: () => T | Promise<T>, timeoutMs = 10_000): Promise<T> {
  const flock = await loadFlock();
  if (!flock) return await fn();
  // never through a link (it could create a file outside ROOT) and never blocking on a FIFO planted there
  const fd = openSync(lockPath, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0), 0o644);
  try {
    if (!fstatSync(fd).isFile()) throw new Error(`${lockPath} is not a regular file`);
    const deadline = Date.now() + timeoutMs;
    while (flock(fd, LOCK_EX | LOCK_NB) !== 0) {
      if (Date.now() > deadline) throw new LockTimeoutError(`Timed out waiting for ${lockPath}`);
      await Bun.sleep(50);
    }
    try {
      return await fn();
    } finally {
      flock(fd, LOCK_UN);
    }
  } finally {
    closeSync(fd);
  }
}

/** True when the platform's flock could be loaded (for tests and diagnostics). */
export async function fileLockAvailable(): Promise<boolean> {
  return (await loadFlock()) !== null;
}
