// Ingest of a run's events.jsonl from its last byte offset: file identity checks, inline slices, and the worker pipeline.
import { closeSync, readSync, statSync } from "node:fs";
import { openChecked, UNLIMITED } from "../store/safe-read.ts";
import { emptyCounts, type ImageEvent, type ParseCounts, parseHere, releaseIngestBuffers, RowBuilder } from "../metrics/events.ts";
import { CLAIM_FREE, CLAIM_SENDER, IdleProbe, type IngestWorker } from "../metrics/ingest-pool.ts";
import type { ParsedBatch } from "../metrics/parse-batch.ts";
import { buildRange, eachPiece, type RangeRows, readFd } from "../metrics/range-build.ts";
import type { Logger } from "../util/log.ts";
import type { FileMark } from "./metric-repository.ts";
import type { RunState, Slot } from "./metric-run.ts";

/** Bytes read and parsed per slice before yielding to the event loop and committing (one read, ~100k lines). */
const SLICE_BYTES = 4 << 20;
/** Bytes per slice handed to the ingest worker. */
const PIPELINE_SLICE_BYTES = 8 << 20;
/** New bytes from which a read goes through the ingest worker (below, starting it costs more than it saves). */
const PIPELINE_MIN_BYTES = 64 << 20;
/** New bytes from which a first read is split between this thread and the worker (below: one thread is as quick). */
const SPLIT_MIN_BYTES = 4 << 20;
/** Pieces a split first read is cut into (each at least half of SPLIT_MIN_BYTES): enough for the two threads to even out. */
const SPLIT_PIECES = 8;
/** Idle cores (see IdleProbe) from which a large read starts using the worker. */
const IDLE_CORES_FOR_WORKER = 0.5;
/** Slices out at the worker at once: one being parsed while this thread commits the one before, one waiting. */
const PIPELINE_DEPTH = 2;
/** Bytes remembered before the read offset to notice a file rewritten in place. */
const TAIL_BYTES = 64;

/** How a read went: nothing new, appended bytes, or the file from its start. */
export type ReadOutcome = "unchanged" | "incremental" | "full";

/** The events file opened for a read: its identity and size at the start, and where reading starts. */
export interface OpenFile {
  fd: number;
  dev: string;
  ino: string;
  size: number;
  mtime: string;
  offset: number;
  /** Reading starts at byte 0 (first time, or after a reset). */
  full: boolean;
}

/** One parsed slice ready to commit: `fill` builds its rows (called inside the commit's transaction). */
export interface SliceCommit {
  /** Puts the slice's rows into the builder; returns its image events and counts. */
  fill(builder: RowBuilder<Slot>): { images: ImageEvent[]; counts: ParseCounts };
  /** The file mark after the slice. */
  mark: FileMark;
  /** Bytes of the slice. */
  consumed: number;
  /** The file is read from byte 0 and this is its first slice. */
  full: boolean;
  /** Share of the file read once this slice is committed (1 when nothing is left). */
  progress: number;
}

/** What the reader needs from the store: committing slices, dropping rows, and the bulk-write policy. */
export interface IngestHost {
  commitSlice(state: RunState, slice: SliceCommit): Promise<void>;
  /** Drops the run's rows (the file shrank, was replaced, rewritten or removed). */
  reset(state: RunState): Promise<void>;
  /** Stores the run's file mark (nothing new was read). */
  saveMark(state: RunState): Promise<void>;
  beginBulk(): Promise<void>;
  endBulk(): Promise<void>;
}

/** Options of the reader. */
export interface IngestOptions {
  /** The worker that parses large reads; null parses everything on the calling thread. */
  worker: IngestWorker | null;
  /** New bytes from which a read goes through the worker (tests lower it). */
  pipelineMinBytes?: number;
  /** Bytes per slice read inline, and per slice handed to the worker (tests lower them). */
  sliceBytes?: number;
  pipelineSliceBytes?: number;
  /** Use the worker for large reads even when no core looks idle (tests). */
  alwaysWorker?: boolean;
  /** New bytes of a first read from which it is split between this thread and the worker (tests lower it). */
  splitMinBytes?: number;
  log?: Logger;
}

/** A slice handed to the ingest worker: its bytes in the file, who parses it, and its batch once parsed. */
interface SliceJob {
  start: number;
  end: number;
  claim: Int32Array;
  parsed: Promise<ParsedBatch | null>;
  /** The worker has answered. */
  done: boolean;
  /** Parsed by this thread ahead of its turn (null: the file was shorter). */
  ready?: ParsedBatch | null;
}

/** Reads new bytes of events files and hands parsed slices to the host to commit. */
export class EventsReader {
  private readonly worker: IngestWorker | null;
  private readonly pipelineMinBytes: number;
  private readonly sliceBytes: number;
  private readonly pipelineSliceBytes: number;
  private readonly alwaysWorker: boolean;
  private readonly splitMinBytes: number;
  private readonly log?: Logger;
  /** A read buffer kept between reads; each read takes it for itself (reads of several runs may overlap). */
  private spare?: Buffer;

  constructor(
    private readonly host: IngestHost,
    opts: IngestOptions,
  ) {
    this.worker = opts.worker;
    this.pipelineMinBytes = opts.pipelineMinBytes ?? PIPELINE_MIN_BYTES;
    this.sliceBytes = opts.sliceBytes ?? SLICE_BYTES;
    this.pipelineSliceBytes = opts.pipelineSliceBytes ?? PIPELINE_SLICE_BYTES;
    this.alwaysWorker = opts.alwaysWorker ?? false;
    this.splitMinBytes = opts.splitMinBytes ?? SPLIT_MIN_BYTES;
    this.log = opts.log;
  }

  /**
   * Reads new bytes and commits what it parsed: one slice inline, or, when much is left to read and the
   * ingest worker is usable, every slice up to the size seen at the start, parsed on the worker while
   * this thread builds rows from and commits the slice before. `more` asks the caller to call again.
   * `background`: a first read that is split is built by the worker alone (this thread stays free for
   * requests; it builds only the pieces the worker could not).
   */
  async step(state: RunState, background = false): Promise<{ read: ReadOutcome; more: boolean }> {
    const open = await this.openForRead(state);
    if (!open) return { read: "unchanged", more: false };
    const io: ReadBuffer = { buf: this.spare };
    this.spare = undefined;
    try {
      const worker = this.worker;
      const fresh = open.size - open.offset;
      if (worker?.usable && fresh >= this.pipelineMinBytes) {
        return await this.readPipelined(state, open, worker, io);
      }
      if (worker?.usable && open.full && state.slots.length === 0 && fresh >= this.splitMinBytes) {
        const r = await this.readSplit(state, open, worker, background);
        if (r) return r;
      }
      return await this.readInline(state, open, io);
    } finally {
      closeSync(open.fd);
      const kept = this.spare as Buffer | undefined; // another read may have given one back meanwhile
      if (!kept || (io.buf && io.buf.length > kept.length)) this.spare = io.buf;
    }
  }

  /** Frees the large read buffers after a large ingest (small reads need little). */
  release(): void {
    if (this.spare && this.spare.length > 1 << 20) this.spare = undefined;
    releaseIngestBuffers();
  }

  /** Checks the file against its mark (reset when replaced, shrunk or rewritten) and opens it; undefined when nothing is new. */
  private async openForRead(state: RunState): Promise<OpenFile | undefined> {
    let st;
    try {
      st = statSync(state.eventsPath, { bigint: true });
      // a FIFO or device named events.jsonl would block the read (or never end): only regular files are metrics
      if (!st.isFile()) throw new Error("not a regular file");
    } catch {
      // no events.jsonl (yet, or any more), or not a regular file: the run has no metrics
      if (state.file || state.slots.length) await this.host.reset(state);
      return undefined;
    }
    const mark = {
      dev: String(st.dev),
      ino: String(st.ino),
      size: Number(st.size),
      mtime: String(st.mtimeNs),
    };
    let f = state.file;
    if (f && (f.dev !== mark.dev || f.ino !== mark.ino || mark.size < f.offset)) {
      await this.host.reset(state);
      f = null;
    }
    if (f && f.size === mark.size && f.mtime === mark.mtime) return undefined;
    let offset = f?.offset ?? 0;
    if (f && offset > 0 && f.tail.length > 0) {
      const check = Buffer.alloc(f.tail.length);
      const fd = openEvents(state.eventsPath);
      if (fd === undefined) return undefined;
      let got: number;
      try {
        got = readSync(fd, check, 0, check.length, offset - check.length);
      } finally {
        closeSync(fd);
      }
      if (got !== check.length || !check.equals(f.tail)) {
        // rewritten in place: what we read before is no longer what the file says
        await this.host.reset(state);
        offset = 0;
      }
    }
    if (offset >= mark.size) {
      state.file = { ...mark, offset, tail: state.file?.tail ?? new Uint8Array(0) };
      await this.host.saveMark(state);
      return undefined;
    }
    const fd = openEvents(state.eventsPath);
    if (fd === undefined) return undefined;
    return { fd, ...mark, offset, full: offset === 0 };
  }

  /** Reads and parses at most one slice on this thread. */
  private async readInline(state: RunState, open: OpenFile, io: ReadBuffer): Promise<{ read: ReadOutcome; more: boolean }> {
    const { fd } = open;
    const offset = open.offset;
    let buf = readBuffer(io, Math.min(this.sliceBytes, Math.max(65536, open.size - offset)));
    for (;;) {
      const got = readSync(fd, buf, 0, buf.length, offset);
      if (got <= 0) return { read: "unchanged", more: false };
      const nl = buf.lastIndexOf(10, got - 1);
      if (nl < 0) {
        if (got < buf.length) return { read: "unchanged", more: false }; // a torn last line: wait for its newline
        buf = readBuffer(io, buf.length * 2); // one line longer than the buffer
        continue;
      }
      const len = nl + 1;
      // a full buffer: this slice is committed, the rest is the next one's
      const more = got === buf.length;
      const slice = buf;
      await this.host.commitSlice(
        state,
        this.slice(open, offset + len, len, more, open.full, (builder) => {
          const images: ImageEvent[] = [];
          const counts = emptyCounts();
          builder.ingest(slice, 0, len, images, counts);
          return { images, counts };
        }),
      );
      return { read: open.full ? "full" : "incremental", more };
    }
  }

  /**
   * A first read of a file below the pipeline's size, on both cores (issue 13): the file is cut into
   * pieces at line starts; this thread and the worker each take the next piece until none is left (the
   * quicker thread builds more) and build it into detached chunks; one commit appends them in file order.
   * Pieces the worker could not build are built here. When a piece is shorter than its bounds (the file
   * changed under the read) only the pieces before it are committed and the next step reads on; a piece
   * whose steps do not follow the rows before it (a step logged again across a cut) is read into the
   * run's rows line by line. Undefined: the file has no line starts to cut at (the caller reads inline).
   * `background`: this thread claims no piece (the worker builds them all unless it fails).
   */
  private async readSplit(state: RunState, open: OpenFile, worker: IngestWorker, background: boolean): Promise<{ read: ReadOutcome; more: boolean } | undefined> {
    const { fd, size } = open;
    const bounds = pieceBounds(fd, size, Math.max(this.splitMinBytes >>> 1, Math.ceil(size / SPLIT_PIECES)));
    if (bounds.length < 3) return undefined;
    const pieces = bounds.length - 1;
    const next = new Int32Array(new SharedArrayBuffer(4));
    const far = worker.buildPieces(fd, bounds, next);
    const built = new Map<number, RangeRows>();
    const read = readFd(fd);
    // the worker reads through `fd`: it stays open (the caller closes it) until the worker has answered
    try {
      while (!background) {
        const k = Atomics.add(next, 0, 1);
        if (k >= pieces) break;
        built.set(k, buildRange(read, bounds[k], bounds[k + 1]));
      }
    } finally {
      if (built.size === pieces) {
        // every piece was claimed here (the worker was busy or still starting): its later claims all fail,
        // so it never reads `fd`, and its empty answer need not be waited for
        far.catch(() => {});
      } else {
        const theirs = await far.catch((err) => {
          this.log?.warn(`metric ingest: the ingest worker could not read ${state.eventsPath}, reading on this thread: ${(err as Error).message}`);
          return new Map<number, RangeRows>();
        });
        for (const [k, rows] of theirs) built.set(k, rows);
      }
    }
    for (let k = 0; k < pieces; k++) if (!built.has(k)) built.set(k, buildRange(read, bounds[k], bounds[k + 1]));
    // the pieces up to the first one shorter than its bounds (the last one may end in a torn line; a
    // shorter one before it means the file changed meanwhile: the next step reads on from there)
    let whole = 0;
    let end = 0;
    do {
      end = bounds[whole] + built.get(whole)!.consumed;
      whole++;
    } while (whole < pieces && end === bounds[whole]);
    const more = whole < pieces;
    await this.host.commitSlice(
      state,
      this.slice(open, end, end, more, true, (builder) => {
        const images: ImageEvent[] = [];
        const counts = emptyCounts();
        for (let k = 0; k < whole; k++) {
          const p = built.get(k)!;
          if (builder.appendChunks(p.chunks)) {
            images.push(...p.images);
            for (const c of ["lines", "metrics", "images", "malformed"] as const) counts[c] += p.counts[c];
          } else {
            eachPiece(read, bounds[k], bounds[k] + p.consumed, (buf, len) => builder.ingest(buf, 0, len, images, counts));
          }
        }
        return { images, counts };
      }),
    );
    return { read: "full", more };
  }

  /** A slice to commit: its mark (with the bytes before its end, to notice a rewrite), size and progress. */
  private slice(open: OpenFile, end: number, consumed: number, more: boolean, full: boolean, fill: SliceCommit["fill"]): SliceCommit {
    const tail = Buffer.alloc(Math.min(TAIL_BYTES, end));
    if (tail.length) readSync(open.fd, tail, 0, tail.length, end - tail.length);
    const mark: FileMark = { dev: open.dev, ino: open.ino, mtime: open.mtime, size: more ? -1 : open.size, offset: end, tail };
    return { fill, mark, consumed, full, progress: more && open.size > 0 ? Math.min(end / open.size, 0.999) : 1 };
  }

  /**
   * Reads the slices up to the size seen at the start and commits them in file order. The worker is
   * handed the slices ahead (at most one it has not started on); this thread builds rows from and
   * commits each parsed slice, and while the worker is busy it parses the next slice the worker has not
   * claimed (a shared claim cell decides who parses a slice). With a free core both threads parse; on a
   * busy machine this thread simply parses most slices itself. If the worker fails, this thread parses
   * what it had (the file is still there).
   */
  private async readPipelined(state: RunState, open: OpenFile, worker: IngestWorker, io: ReadBuffer): Promise<{ read: ReadOutcome; more: boolean }> {
    const { fd } = open;
    const sliceBytes = this.pipelineSliceBytes;
    const jobs: SliceJob[] = [];
    let offset = open.offset; // bytes before are committed
    let readPos = offset; // bytes before are handed out
    let ended = false; // no complete line left before the size seen at the start (or the file shrank)
    let overlong = false; // a line longer than a slice: left to the inline path
    let committed = 0;
    let failed = false;

    /** Reads the slice at readPos into `buf` (as much as it holds) and takes its complete lines; their length, 0 when none. */
    const cut = (buf: Buffer): number => {
      const got = readSync(fd, buf, 0, buf.length, readPos);
      const nl = got > 0 ? buf.lastIndexOf(10, got - 1) : -1;
      if (nl < 0) {
        // a torn last line waits for its newline; a full buffer with more file after it is one long line
        ended = true;
        overlong = got === buf.length && readPos + got < open.size;
        return 0;
      }
      readPos += nl + 1;
      if (got < buf.length || readPos >= open.size) ended = true;
      return nl + 1;
    };
    // the worker is used once a core has been seen idle while this thread parsed a slice
    const probe = new IdleProbe();
    let useWorker = this.alwaysWorker;
    /** Hands the worker the next slices while it has none it has not started on. */
    const topUp = () => {
      if (!useWorker && committed > 0) useWorker = probe.sample() >= IDLE_CORES_FOR_WORKER;
      while (useWorker && !ended && worker.usable && jobs.length < PIPELINE_DEPTH && !jobs.some((j) => Atomics.load(j.claim, 0) === CLAIM_FREE)) {
        const want = Math.min(sliceBytes, open.size - readPos);
        if (want <= 0) {
          ended = true;
          return;
        }
        const bytes = worker.takeBuffer(want);
        const start = readPos;
        const len = cut(Buffer.from(bytes, 0, want));
        if (len === 0) return;
        const claim = new Int32Array(new SharedArrayBuffer(4));
        const job: SliceJob = { start, end: start + len, claim, done: false, parsed: worker.parse(bytes, len, claim) };
        job.parsed.then(
          () => (job.done = true),
          () => (job.done = true),
        );
        jobs.push(job);
      }
    };
    /** Claims a slice for this thread (false when the worker has it). */
    const claimHere = (job: SliceJob) => Atomics.compareExchange(job.claim, 0, CLAIM_FREE, CLAIM_SENDER) === CLAIM_FREE;

    // the thread boots while this one parses the first slice, so that it can take the second one at once
    worker.warm();
    await this.host.beginBulk();
    try {
      while (!failed) {
        let fill: SliceCommit["fill"];
        let end: number;
        const head = jobs[0];
        if (!head) {
          // nothing out at the worker: this thread parses the next slice, the worker gets the ones after
          // (slices are smaller while the worker takes part: the two threads take turns more often; the
          // first one is small too, so that the idle probe answers, and the first rows are committed, soon)
          const want = Math.min(useWorker || committed === 0 ? sliceBytes : this.sliceBytes, open.size - readPos);
          if (ended || want <= 0) break;
          const buf = readBuffer(io, want);
          const len = cut(buf);
          if (len === 0) {
            if (!overlong) break;
            // a line longer than a slice: the inline path reads it with a buffer that grows to fit
            const r = await this.readInline(state, { ...open, offset, full: open.full && committed === 0 }, io);
            const read: ReadOutcome = committed === 0 && r.read === "unchanged" ? "unchanged" : open.full ? "full" : "incremental";
            return { read, more: true };
          }
          end = readPos;
          topUp();
          fill = (builder) => {
            const images: ImageEvent[] = [];
            const counts = emptyCounts();
            builder.ingest(buf, 0, len, images, counts);
            return { images, counts };
          };
        } else {
          let batch = head.ready ?? (claimHere(head) ? this.parseAgain(fd, head, io) : undefined);
          while (batch === undefined) {
            // the worker has the head: meanwhile parse a later slice it has not started on
            const ahead = head.done ? undefined : jobs.find((j) => j.ready === undefined && claimHere(j));
            if (ahead) {
              ahead.ready = this.parseAgain(fd, ahead, io) ?? null;
              topUp();
              await new Promise<void>((res) => setImmediate(res));
              continue;
            }
            try {
              batch = (await head.parsed) ?? this.parseAgain(fd, head, io);
            } catch (err) {
              this.log?.warn(`metric ingest: the ingest worker failed, parsing on this thread: ${(err as Error).message}`);
              batch = this.parseAgain(fd, head, io);
            }
            if (batch === undefined) break;
          }
          if (!batch) {
            // the file shrank under the reads: the next sync sees it and starts over
            failed = true;
            break;
          }
          jobs.shift();
          end = head.end;
          const parsed = batch;
          fill = (builder) => {
            builder.ingestBatch(parsed, parsed.counts);
            return { images: parsed.images, counts: parsed.counts };
          };
        }
        const last = ended && jobs.length === 0;
        await this.host.commitSlice(state, this.slice(open, end, end - offset, !last || overlong, open.full && committed === 0, fill));
        offset = end;
        committed++;
        if (last) break;
        topUp();
        await new Promise<void>((res) => setImmediate(res));
      }
    } finally {
      await this.host.endBulk();
    }
    const read: ReadOutcome = committed === 0 ? "unchanged" : open.full ? "full" : "incremental";
    return { read, more: overlong || failed };
  }

  /** Parses a slice handed to the worker on this thread instead (read again: its bytes went to the worker); undefined when the file is shorter now. */
  private parseAgain(fd: number, job: SliceJob, io: ReadBuffer): ParsedBatch | undefined {
    const len = job.end - job.start;
    const buf = readBuffer(io, len);
    if (readSync(fd, buf, 0, len, job.start) !== len) return undefined;
    return parseHere(buf, 0, len);
  }
}

/** The buffer one read uses (taken from the reader's spare at its start, given back at its end). */
interface ReadBuffer {
  buf?: Buffer;
}

/**
 * `size` bytes to read into: a view on the read's one buffer (a fresh 16 MB per slice costs thousands of
 * page faults). What is parsed from it is copied out (strings, cells), so reuse is safe.
 */
function readBuffer(io: ReadBuffer, size: number): Buffer {
  if (!io.buf || io.buf.length < size) io.buf = Buffer.allocUnsafeSlow(size);
  return io.buf.subarray(0, size);
}

/**
 * Where to cut `[0, size)` into pieces of about `piece` bytes: 0, then the line start after each
 * multiple of `piece` (a cut with no newline within 64 KB after it is left out), then `size`.
 */
function pieceBounds(fd: number, size: number, piece: number): number[] {
  const bounds = [0];
  const probe = Buffer.allocUnsafe(1 << 16);
  for (let at = piece; at < size; at += piece) {
    if (at <= bounds[bounds.length - 1]) continue;
    const got = readSync(fd, probe, 0, Math.min(probe.length, size - at), at);
    const nl = probe.subarray(0, Math.max(got, 0)).indexOf(10);
    if (nl >= 0 && at + nl + 1 < size) bounds.push(at + nl + 1);
  }
  bounds.push(size);
  return bounds;
}

/** Opens events.jsonl through the safe reader (O_NONBLOCK, no link, regular file); undefined when it was swapped for something else since the stat. */
function openEvents(path: string): number | undefined {
  try {
    return openChecked(path, { maxBytes: UNLIMITED }).fd;
  } catch {
    return undefined;
  }
}
