// Reads text files by line from a byte offset: new complete lines of logs.txt, and the last N lines.
import { closeSync, fstatSync, readSync } from "node:fs";
import { openChecked, UNLIMITED } from "../store/safe-read.ts";

/** A "line" longer than this without a break is sent in pieces of this size (a file of one endless line cannot grow memory). */
export const MAX_LINE_BYTES = 1024 * 1024;

/**
 * Opens a log under the safe-read rule (a regular file, not a link, opened without blocking); undefined when it
 * is missing or refused (a FIFO or device named logs.txt reads as no log at all).
 */
function openLog(path: string): number | undefined {
  try {
    return openChecked(path, { maxBytes: UNLIMITED }).fd;
  } catch {
    return undefined; // missing or refused: the run has no readable log
  }
}

const dec = new TextDecoder();
/** Python's universal newlines (the original reads logs.txt in text mode): \r\n, \r and \n end a line. */
const BREAK = /\r\n|\r|\n/;

/** Splits decoded text into lines and drops blank ones (spec §3.4: blank lines are not sent). */
function nonBlank(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split(BREAK)) if (line.trim().length) out.push(line);
  return out;
}

/** The end of the complete lines in `buf[0, n)`: after the last \n, or after a \r that is not the last byte. */
function completeEnd(buf: Uint8Array, n: number): number {
  for (let i = n - 1; i >= 0; i--) {
    const b = buf[i];
    if (b === 10) return i + 1;
    if (b === 13 && i < n - 1) return i + 1;
  }
  return 0;
}

/** Follows one file: each `poll` returns the complete lines appended since the last one. */
export class LineTail {
  /** Bytes consumed (end of the last complete line). */
  offset = 0;
  private ino: bigint | null = null;
  /** Whether the file existed at the last poll. */
  exists = false;

  constructor(readonly path: string) {}

  /** Skips what the file holds now (complete lines only), so the next poll returns only new lines. */
  seekEnd(): void {
    this.poll(true);
  }

  /**
   * New complete, non-blank lines since the last call. A torn last line waits for its line break;
   * a file that shrank or was replaced is read again from the start (`reset`).
   */
  poll(skip = false): { lines: string[]; reset: boolean } {
    const fd = openLog(this.path);
    if (fd === undefined) {
      this.exists = false;
      return { lines: [], reset: false };
    }
    try {
      this.exists = true;
      const st = fstatSync(fd, { bigint: true });
      let reset = false;
      if (this.ino !== null && (st.ino !== this.ino || Number(st.size) < this.offset)) {
        this.offset = 0;
        reset = true;
      }
      this.ino = st.ino;
      const size = Number(st.size);
      if (size <= this.offset) return { lines: [], reset };
      const lines: string[] = [];
      let buf = Buffer.allocUnsafe(Math.min(MAX_LINE_BYTES, Math.max(4096, size - this.offset)));
      for (;;) {
        const got = readSync(fd, buf, 0, buf.length, this.offset);
        if (got <= 0) break;
        let end = completeEnd(buf, got);
        if (end === 0) {
          if (got < buf.length) break; // torn line: wait for its newline
          if (buf.length < MAX_LINE_BYTES) {
            buf = Buffer.allocUnsafe(Math.min(MAX_LINE_BYTES, buf.length * 2));
            continue;
          }
          end = got; // no break in MAX_LINE_BYTES: send this piece as a line of its own
        }
        if (!skip) for (const l of nonBlank(dec.decode(buf.subarray(0, end)))) lines.push(l);
        this.offset += end;
        if (got < buf.length) break;
      }
      return { lines, reset };
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * The last `max` non-blank lines of the file before byte `end` (default: its size), read backwards,
 * and whether earlier non-blank lines exist (`more`). Missing file → no lines.
 */
export function lastLines(path: string, max: number, end?: number): { lines: string[]; more: boolean } {
  const fd = openLog(path);
  if (fd === undefined) return { lines: [], more: false };
  try {
    const limit = Math.min(end ?? Infinity, fstatSync(fd).size);
    let start = limit;
    let block = 64 * 1024;
    let data = Buffer.alloc(0);
    for (;;) {
      const from = Math.max(0, start - block);
      const part = Buffer.allocUnsafe(start - from);
      readSync(fd, part, 0, part.length, from);
      data = Buffer.concat([part, data]);
      start = from;
      // decode from a line boundary unless we reached the start of the file
      let cut = 0;
      if (start > 0) {
        const nl = data.findIndex((b) => b === 10 || b === 13);
        if (nl < 0 && limit - start < 16 * MAX_LINE_BYTES) {
          block *= 2;
          continue;
        }
        cut = nl + 1;
      }
      const lines = nonBlank(dec.decode(data.subarray(cut)));
      if (lines.length > max) return { lines: lines.slice(lines.length - max), more: true };
      if (start === 0) return { lines, more: false };
      // a file of a few enormous lines: stop reading back once 16 MiB are held
      if (limit - start >= 16 * MAX_LINE_BYTES) return { lines, more: true };
      block *= 2;
    }
  } finally {
    closeSync(fd);
  }
}
