// A first read built off the main thread: a byte range of events.jsonl → rows, chunk summaries, digests and encoded blobs (what the ingest worker answers).
import { readSync } from "node:fs";
import type { Chunk } from "../metrics/chunk.ts";
import { digestPositions } from "../metrics/downsample.ts";
import { emptyCounts, type ImageEvent, LineReader, type ParseCounts, RowBuilder } from "../metrics/events.ts";
import { BatchWriter } from "../metrics/parse-batch.ts";
import { chunkStats, type ChunkStats } from "../metrics/stats.ts";
import { encodeChunk } from "./metric-codec.ts";
import { RunState, type Slot } from "./metric-run.ts";

/** Bytes read and parsed at a time while building. */
const BUILD_SLICE_BYTES = 4 << 20;

/** One chunk as built: its place in the run, its summary, and the encoded blobs of levels 0..3. */
export interface BuiltChunk {
  rows: number;
  firstStep: number;
  lastStep: number;
  stats: ChunkStats;
  /** Encoded chunk at level 0 (raw rows), then each digest level. */
  blobs: Uint8Array[];
  /** Rows of digest levels 1..3. */
  levelRows: number[];
}

/** The rows of a byte range of an events file, built from empty: chunks in step order, images, counts, changed steps. */
export interface BuiltRows {
  chunks: BuiltChunk[];
  images: ImageEvent[];
  counts: ParseCounts;
  /** Steps of the rows (ascending, capped; `overflow` when there were more). */
  steps: number[];
  overflow: boolean;
  /** Bytes of complete lines read (the range may end in a torn line, which is left). */
  consumed: number;
}

/** A chunk host with no stored chunks (a build starts from an empty run). */
const NO_SOURCE = {
  loadChunk(): Chunk {
    throw new Error("a build from empty has no stored chunks");
  },
  prefetch(): void {},
};

/** Where a build reads its bytes: like `readSync(fd, buf, 0, length, position)`. */
export type ReadAt = (buf: Buffer, length: number, position: number) => number;

/** Reads from an open file descriptor (a worker thread shares the process's descriptors). */
export function readFd(fd: number): ReadAt {
  return (buf, length, position) => readSync(fd, buf, 0, length, position);
}

/**
 * Reads the complete lines of `[start, end)` (through `read`) and builds their rows as a first read
 * would (the same row builder, in file order), then each chunk's summary and digests, encoded. Pure work
 * on one thread: the caller stores the result. `counts.metrics` counts the rows' events.
 */
export function buildRows(read: ReadAt, start: number, end: number, sliceBytes = BUILD_SLICE_BYTES): BuiltRows {
  const state = new RunState(NO_SOURCE, "(build)");
  const builder = new RowBuilder<Slot>(state);
  const reader = new LineReader();
  const writer = new BatchWriter(Math.min(sliceBytes, end - start));
  const images: ImageEvent[] = [];
  const counts = emptyCounts();
  let buf = Buffer.allocUnsafeSlow(Math.max(65536, Math.min(sliceBytes, end - start)));
  let pos = start;
  while (pos < end) {
    const want = Math.min(buf.length, end - pos);
    const got = read(buf, want, pos);
    if (got <= 0) break;
    const nl = buf.lastIndexOf(10, got - 1);
    if (nl < 0) {
      if (got < buf.length) break; // a torn last line: left for a later read
      buf = Buffer.allocUnsafeSlow(buf.length * 2); // one line longer than the buffer
      continue;
    }
    // one writer for every slice (its arrays are reused: each batch is built into rows before the next)
    writer.reset(nl + 1);
    writer.attach(reader.cells);
    const sliceImages: ImageEvent[] = [];
    const sliceCounts = emptyCounts();
    reader.read(buf, 0, nl + 1, writer, sliceImages, sliceCounts);
    builder.ingestBatch(writer.finish(sliceImages, sliceCounts).batch, sliceCounts);
    for (const img of sliceImages) images.push(img);
    counts.lines += sliceCounts.lines;
    counts.metrics += sliceCounts.metrics;
    counts.images += sliceCounts.images;
    counts.malformed += sliceCounts.malformed;
    pos += nl + 1;
  }
  const chunks: BuiltChunk[] = [];
  for (const slot of state.slots) {
    const chunk = state.pinned.get(slot.id)!;
    const levels = digestPositions(chunk).map((p) => chunk.subset(p));
    chunks.push({
      rows: chunk.n,
      firstStep: chunk.steps[0],
      lastStep: chunk.steps[chunk.n - 1],
      stats: chunkStats(chunk),
      blobs: [encodeChunk(chunk), ...levels.map((d) => encodeChunk(d))],
      levelRows: levels.map((d) => d.n),
    });
  }
  const changes = builder.takeChanges();
  return { chunks, images, counts, steps: changes.steps, overflow: changes.overflow, consumed: pos - start };
}

/** The buffers a BuiltRows can hand to another thread without copying. */
export function builtTransfer(b: BuiltRows): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const c of b.chunks) for (const blob of c.blobs) out.push(blob.buffer as ArrayBuffer);
  return out;
}

/**
 * Joins the parts of one file built side by side (in file order) when that gives the rows a single build
 * would: every part's steps lie above the steps of the parts before it, so no row is written by two parts
 * (otherwise undefined: build the file as one part). Chunk boundaries may differ from a single build's
 * (a part's last chunk may be short), which no query depends on.
 */
export function joinBuilt(parts: BuiltRows[], maxSteps = 20000): BuiltRows | undefined {
  let last = -Infinity;
  for (const p of parts) {
    if (!p.chunks.length) continue;
    if (p.chunks[0].firstStep <= last) return undefined;
    last = p.chunks[p.chunks.length - 1].lastStep;
  }
  const out: BuiltRows = { chunks: [], images: [], counts: emptyCounts(), steps: [], overflow: false, consumed: 0 };
  for (const p of parts) {
    for (const c of p.chunks) out.chunks.push(c);
    for (const img of p.images) out.images.push(img);
    out.counts.lines += p.counts.lines;
    out.counts.metrics += p.counts.metrics;
    out.counts.images += p.counts.images;
    out.counts.malformed += p.counts.malformed;
    out.consumed += p.consumed;
    out.overflow ||= p.overflow;
    for (const s of p.steps) {
      if (out.steps.length >= maxSteps) {
        out.overflow = true;
        break;
      }
      out.steps.push(s);
    }
  }
  return out;
}
