// The ingest worker seen from the metric store: parses slices of events.jsonl on another thread, or says it cannot.
import { cpus } from "node:os";
import type { ParsedBatch } from "./parse-batch.ts";
import { chunksFromWire, type RangeRows, type WireRange } from "./range-build.ts";

/**
 * A slice sent to the worker: its bytes (transferred, and sent back with the answer for reuse), how
 * many of them are complete lines, and a shared claim cell: the worker parses the slice only if it
 * turns the cell from FREE to WORKER; the sender may take the slice back first (FREE → SENDER).
 */
export interface ParseRequest {
  op: "parse";
  id: number;
  bytes: ArrayBuffer;
  length: number;
  claim: Int32Array;
}

/**
 * Builds pieces of the open file `fd` into detached chunks, piece k being `[bounds[k], bounds[k + 1])`
 * (a split first read; threads of one process share descriptors, and the reads are positional). Both
 * threads take the next piece from the shared counter `next` until none is left, so the quicker thread
 * builds more of them.
 */
export interface PiecesRequest {
  op: "pieces";
  id: number;
  fd: number;
  bounds: number[];
  next: Int32Array;
}

/** Synthetic lines (`syntheticLines(from, count, total)`) to build, only to compile the range code (see PiecesRequest). */
export interface WarmRequest {
  op: "warm";
  id: number;
  from: number;
  count: number;
  total: number;
}

export type WorkerRequest = ParseRequest | PiecesRequest | WarmRequest;

/** The worker's answer: the batch, or `skipped` when the sender claimed the slice first; the pieces it built; or the error. */
export type ParseReply = { id: number; bytes?: ArrayBuffer; batch?: ParsedBatch; pieces?: [number, WireRange][]; skipped?: boolean; error?: string; soft?: boolean };

/** Claim cell states. */
export const CLAIM_FREE = 0;
/** The worker is parsing (or has parsed) the slice. */
export const CLAIM_WORKER = 1;
/** The sender parses the slice itself; the worker skips it. */
export const CLAIM_SENDER = 2;

/** Slice buffers kept for reuse (a fresh 8 MB buffer costs thousands of page faults). */
const POOL_SIZE = 4;

/**
 * Where the worker's code is: beside this file when running from sources; in the compiled binary it
 * is an extra entry point, embedded under its path relative to the entry points' common folder (src/).
 */
export function ingestWorkerUrl(): string {
  return import.meta.url.includes("/$bunfs/") ? "./metrics/ingest-worker.ts" : new URL("./ingest-worker.ts", import.meta.url).href;
}

/**
 * One worker thread that parses slices, started on first use. Once it fails to start, dies or throws,
 * `usable` turns false for good and every waiting or later `parse` is rejected; the caller then parses
 * those slices itself (it still has the file).
 */
export class IngestWorker {
  private worker?: Bun.Worker;
  private failure?: string;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(r: ParseReply): void; reject(e: Error): void }>();
  private readonly pool: ArrayBuffer[] = [];
  private warming?: Promise<boolean>;
  /** Pieces of split first reads this worker has built (and posted back). */
  piecesBuilt = 0;

  constructor(private readonly url: string = ingestWorkerUrl()) {}

  /** False once the worker has failed. */
  get usable(): boolean {
    return this.failure === undefined;
  }

  /** Why the worker failed, if it did. */
  get error(): string | undefined {
    return this.failure;
  }

  /** A buffer of at least `size` bytes to read a slice into (one the worker gave back, when big enough). */
  takeBuffer(size: number): ArrayBuffer {
    for (let i = 0; i < this.pool.length; i++) {
      if (this.pool[i].byteLength >= size) return this.pool.splice(i, 1)[0];
    }
    return new ArrayBuffer(size);
  }

  /**
   * Parses the complete lines in `bytes[0, length)` unless `claim` was taken first (then null). `bytes`
   * is transferred: unusable here afterwards.
   */
  parse(bytes: ArrayBuffer, length: number, claim: Int32Array): Promise<ParsedBatch | null> {
    let w: Bun.Worker;
    try {
      w = this.startOrFail();
    } catch (err) {
      return Promise.reject(err);
    }
    const id = this.nextId++;
    return this.send(w, { op: "parse", id, bytes, length, claim }, [bytes]).then((r) => r.batch ?? null);
  }

  /**
   * Has the worker build pieces of the open file `fd` (see PiecesRequest) until `next` runs out; the
   * pieces it built, by number. The caller keeps `fd` open until this settles; it rejects when the worker
   * cannot (the caller builds the pieces it claimed itself).
   */
  async buildPieces(fd: number, bounds: number[], next: Int32Array): Promise<Map<number, RangeRows>> {
    const w = this.startOrFail();
    const r = await this.send(w, { op: "pieces", id: this.nextId++, fd, bounds, next }, []);
    this.piecesBuilt += r.pieces?.length ?? 0;
    return new Map((r.pieces ?? []).map(([k, p]) => [k, { ...p, chunks: chunksFromWire(p.chunks) }]));
  }

  /**
   * Starts the thread and has it build `lines` synthetic SDK lines, `piece` lines per message, so that its
   * code is compiled before a first real range; resolves when done, false when the worker cannot start.
   */
  warmUp(lines = 8000, piece = 2000): Promise<boolean> {
    // once per thread: a second server in the same process finds it warm
    this.warming ??= this.runWarmUp(lines, piece);
    return this.warming;
  }

  private async runWarmUp(lines: number, piece: number): Promise<boolean> {
    let w: Bun.Worker;
    try {
      w = this.startOrFail();
    } catch {
      return false;
    }
    for (let from = 1; from <= lines; from += piece) {
      if (this.failure !== undefined) return false;
      await this.send(w, { op: "warm", id: this.nextId++, from, count: piece, total: lines }, []);
    }
    return true;
  }

  private startOrFail(): Bun.Worker {
    if (this.failure !== undefined) throw new Error(this.failure);
    try {
      return this.start();
    } catch (err) {
      this.fail(`ingest worker did not start: ${(err as Error).message}`);
      throw new Error(this.failure);
    }
  }

  private send(w: Bun.Worker, msg: WorkerRequest, transfer: ArrayBuffer[]): Promise<ParseReply> {
    return new Promise<ParseReply>((resolve, reject) => {
      this.pending.set(msg.id, { resolve, reject });
      // keep the process alive while a request is out (the caller awaits it)
      if (this.pending.size === 1) w.ref();
      w.postMessage(msg, transfer);
    });
  }

  /** Starts the thread ahead of the first slice (it boots while the caller parses); false when it cannot start. */
  warm(): boolean {
    try {
      this.startOrFail();
      return true;
    } catch {
      return false;
    }
  }

  /** Stops the thread (a later `parse` starts a new one). */
  close(): void {
    const w = this.worker;
    this.worker = undefined;
    for (const p of this.pending.values()) p.reject(new Error("ingest worker closed"));
    this.pending.clear();
    w?.terminate();
  }

  private start(): Bun.Worker {
    if (this.worker) return this.worker;
    // Bun's Worker (ref/unref), not the DOM one the UI's types describe
    const w = new Worker(this.url) as unknown as Bun.Worker;
    w.unref();
    w.addEventListener("message", (e) => {
      const r = (e as MessageEvent<ParseReply>).data;
      if (r.bytes && this.pool.length < POOL_SIZE) this.pool.push(r.bytes);
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (this.pending.size === 0) w.unref();
      if (r.error === undefined) p.resolve(r);
      else if (r.soft) p.reject(new Error(`ingest worker: ${r.error.split("\n")[0]}`));
      else {
        // a parse that throws is a bug: stop using the worker rather than fail the same way again
        p.reject(new Error(`ingest worker: ${r.error}`));
        this.fail(`ingest worker failed on a slice: ${r.error}`);
      }
    });
    w.addEventListener("error", (e) => this.fail(`ingest worker failed: ${(e as ErrorEvent).message}`));
    w.addEventListener("close", () => {
      if (this.worker === w) this.fail("ingest worker exited");
    });
    this.worker = w;
    return w;
  }

  private fail(message: string): void {
    this.failure ??= message;
    const w = this.worker;
    this.worker = undefined;
    for (const p of this.pending.values()) p.reject(new Error(message));
    this.pending.clear();
    w?.terminate();
  }
}

/**
 * Tells whether a CPU core sits idle while this thread works: idle time of all cores between two
 * `sample` calls, per millisecond of wall time (1 = one whole core idle). A second thread only helps
 * then; on a machine whose cores are all busy it only adds its own start-up to the work.
 */
export class IdleProbe {
  private t = performance.now();
  private idle = idleCpuMs();

  /** Idle cores since the last sample (or construction), and starts a new window. */
  sample(): number {
    const t = performance.now();
    const idle = idleCpuMs();
    const cores = t > this.t ? (idle - this.idle) / (t - this.t) : 0;
    this.t = t;
    this.idle = idle;
    return cores;
  }
}

/** Idle milliseconds of all cores since boot (0 where the platform does not say). */
function idleCpuMs(): number {
  let ms = 0;
  for (const c of cpus()) ms += c.times.idle;
  return ms;
}

let shared: IngestWorker | undefined;

/** The process's ingest worker, shared by every metric store. */
export function sharedIngestWorker(): IngestWorker {
  shared ??= new IngestWorker();
  return shared;
}
