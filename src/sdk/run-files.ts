// File primitives for the SDK: whole-line appends on O_APPEND, atomic JSON rewrites, tolerant re-reads, the wall clock.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { isObject, parseTolerant, type JsonObject } from "../store/json.ts";
import { dumps } from "./py-json.ts";

let wallOffsetMs = Date.now() - performance.now();

/**
 * Wall-clock seconds as a float with sub-millisecond digits, like Python's `time.time()`.
 * Built on the monotonic clock (Date.now() has only milliseconds) and re-aligned with the
 * wall clock by `resyncClock()` when they drift apart by more than 20 ms.
 */
export function nowSeconds(): number {
  return (wallOffsetMs + performance.now()) / 1000;
}

/** Re-aligns nowSeconds() with the wall clock (NTP steps, suspend); called at each flush. */
export function resyncClock(): void {
  const d = Date.now() - performance.now() - wallOffsetMs;
  if (d > 20 || d < -20) wallOffsetMs += d;
}

/** Opens a file for appending (O_APPEND|O_CREAT, mode 0644 after the usual umask). */
export function openAppend(path: string): number {
  return openSync(path, "a", 0o666);
}

/**
 * Writes all of `text` (whole lines) with as few write(2) calls as the kernel allows: one for a
 * regular file on a healthy disk. On an I/O error returns the error and the part not yet written,
 * so a retry neither loses nor repeats bytes.
 */
export function writeAll(fd: number, text: string): { error?: unknown; rest: string } {
  let written: number;
  try {
    written = writeSync(fd, text); // one write(2); throws only when nothing was written
  } catch (error) {
    return { error, rest: text };
  }
  const total = Buffer.byteLength(text, "utf8");
  if (written === total) return { rest: "" };
  // short write (disk nearly full, signal): continue from the exact byte offset
  const buf = Buffer.from(text, "utf8");
  let off = written;
  try {
    while (off < total) off += writeSync(fd, buf, off, total - off);
    return { rest: "" };
  } catch (error) {
    return { error, rest: buf.subarray(off).toString("utf8") };
  }
}

/** fsync and close, ignoring errors (the data was already handed to the kernel). */
export function syncAndClose(fd: number): void {
  try {
    fsyncSync(fd);
  } catch {
    // fsync is best effort (e.g. unsupported on some filesystems)
  }
  try {
    closeSync(fd);
  } catch {
    // already closed or invalid: nothing left to release
  }
}

let tmpCounter = 0;

/**
 * Replaces a JSON file atomically (temp file + rename) with Python's `indent=2` layout and no
 * trailing newline, so readers never see a torn file (0.6 used plain write_text, spec §1.13).
 */
export function writeJsonFile(path: string, obj: unknown): void {
  const text = dumps(obj, 2);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${++tmpCounter}.tmp`);
  writeFileSync(tmp, text, { mode: 0o666 });
  try {
    renameSync(tmp, path);
  } catch {
    // e.g. Windows while a reader holds the file open: fall back to an in-place write
    try {
      unlinkSync(tmp);
    } catch {
      // the temp file is already gone
    }
    writeFileSync(path, text, { mode: 0o666 });
  }
}

/**
 * Reads a JSON object file for a read-merge-write: a missing file reads as `{}`, an unparsable or
 * non-object one as undefined (the caller decides: start fresh as 0.6 does, or skip). ±Infinity
 * survive the round trip; NaN comes back as null (JS JSON has no NaN).
 */
export function readJsonForMerge(path: string): JsonObject | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return {}; // missing or unreadable: start fresh, as the original does
  }
  try {
    const v = parseTolerant(text, "infinity");
    return isObject(v) ? v : undefined;
  } catch {
    return undefined; // torn by a non-atomic writer (0.6 uses write_text) or foreign content
  }
}

/** Shallow merge like Python's dict.update: existing keys keep their place, new keys go last. */
export function mergeInto(target: JsonObject, update: JsonObject): JsonObject {
  for (const k of Object.keys(update)) {
    Object.defineProperty(target, k, { value: update[k], enumerable: true, writable: true, configurable: true });
  }
  return target;
}
