// Builds the rows of one byte range of events.jsonl into detached chunks: half of a split first read (issue 13),
// run by the ingest worker and by the store's own thread at the same time, then appended to the run in file order.
import { readSync } from "node:fs";
import { Chunk, CHUNK_ROWS, type Column } from "./chunk.ts";
import { emptyCounts, type ChunkHost, type ChunkSlot, type ImageEvent, type ParseCounts, RowBuilder } from "./events.ts";

/** Bytes read and parsed at a time within a range (a small buffer, reused: fresh memory costs page faults). */
const PIECE_BYTES = 1 << 20;

/** The rows of a range: chunks in step order, the range's image events, counts, and the bytes of complete lines read. */
export interface RangeRows {
  chunks: Chunk[];
  images: ImageEvent[];
  counts: ParseCounts;
  /** Bytes from the range's start up to and including its last newline (a torn last line is left). */
  consumed: number;
}

/** Chunks of rows that belong to no run yet (ids are local; the run gives them its own when it takes them). */
class DetachedChunks implements ChunkHost<ChunkSlot> {
  slots: ChunkSlot[] = [];
  readonly chunks = new Map<number, Chunk>();
  private next = 1;

  open(slot: ChunkSlot): Chunk {
    return this.chunks.get(slot.id)!;
  }

  create(chunk: Chunk = new Chunk(CHUNK_ROWS)): ChunkSlot {
    const slot: ChunkSlot = { id: this.next++, rows: 0, firstStep: 0, lastStep: 0, dirty: false };
    this.chunks.set(slot.id, chunk);
    return slot;
  }
}

/** Reads up to `length` bytes at `position` of the source into `buf` (from 0); the count read. */
export type ReadAt = (buf: Buffer, length: number, position: number) => number;

/** A ReadAt over an open file descriptor (positional reads: threads of one process may share the descriptor). */
export function readFd(fd: number): ReadAt {
  return (buf, length, position) => readSync(fd, buf, 0, length, position);
}

/** Per thread: the buffer ranges are read into. */
let pieceBuf: Buffer | undefined;

/**
 * Reads the complete lines of `[start, end)` a piece at a time and hands each piece's lines to `take`
 * (`buf[0, len)`, valid until the next piece); a line longer than a piece grows the buffer. Returns the
 * bytes taken: up to and including the last newline (a torn last line is left for a later read).
 */
export function eachPiece(read: ReadAt, start: number, end: number, take: (buf: Buffer, len: number) => void): number {
  let buf = (pieceBuf ??= Buffer.allocUnsafeSlow(PIECE_BYTES));
  let pos = start;
  while (pos < end) {
    const want = Math.min(buf.length, end - pos);
    const got = read(buf, want, pos);
    if (got <= 0) break;
    const nl = buf.lastIndexOf(10, got - 1);
    if (nl < 0) {
      if (got < want || pos + got >= end) break;
      buf = pieceBuf = Buffer.allocUnsafeSlow(buf.length * 2);
      continue;
    }
    take(buf, nl + 1);
    pos += nl + 1;
  }
  return pos - start;
}

/**
 * Reads and builds the complete lines of `[start, end)` into detached chunks (spec §3.3 rows: a later
 * event of a step merges into its row, as in the run).
 */
export function buildRange(read: ReadAt, start: number, end: number): RangeRows {
  const host = new DetachedChunks();
  // no list of changed steps: a range is part of a first read, which live views take as a reset
  const builder = new RowBuilder(host, 0);
  const images: ImageEvent[] = [];
  const counts = emptyCounts();
  const consumed = eachPiece(read, start, end, (buf, len) => builder.ingest(buf, 0, len, images, counts));
  const chunks: Chunk[] = [];
  for (const slot of host.slots) {
    const c = host.open(slot);
    if (c.n > 0) chunks.push(c);
  }
  return { chunks, images, counts, consumed };
}

/** A detached chunk as posted between threads (its arrays transferred, not copied). */
export interface WireChunk {
  n: number;
  steps: Float64Array;
  times: Float64Array;
  keys: string[];
  kinds: Uint8Array[];
  vals: Float64Array[];
  strs: string[];
}

/** The rows of a range as posted between threads (chunk arrays transferred). */
export type WireRange = Omit<RangeRows, "chunks"> & { chunks: WireChunk[] };

/** The rows of a range as posted between threads; the arrays to transfer with them are added to `arrays`. */
export function rangeToWire(rows: RangeRows, arrays: ArrayBufferView[]): WireRange {
  const chunks = rows.chunks.map((c): WireChunk => {
    const keys = [...c.cols.keys()];
    const cols = [...c.cols.values()];
    const w: WireChunk = { n: c.n, steps: c.steps, times: c.times, keys, kinds: cols.map((x) => x.kinds), vals: cols.map((x) => x.vals), strs: c.strs };
    arrays.push(w.steps, w.times, ...w.kinds, ...w.vals);
    return w;
  });
  return { chunks, images: rows.images, counts: rows.counts, consumed: rows.consumed };
}

/** Chunks again from their posted form. */
export function chunksFromWire(chunks: WireChunk[]): Chunk[] {
  return chunks.map((w) => {
    const cols = new Map<string, Column>();
    let cap = Math.min(w.steps.length, w.times.length);
    w.keys.forEach((k, i) => {
      cols.set(k, { kinds: w.kinds[i], vals: w.vals[i] });
      cap = Math.min(cap, w.kinds[i].length, w.vals[i].length);
    });
    const c = Chunk.wrap(w.n, w.steps, w.times, cols, w.strs);
    c.cap = cap; // room left in the arrays: a live run appends to its last chunk without copying
    return c;
  });
}
