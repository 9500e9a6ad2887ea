// A slice of events.jsonl parsed into flat arrays: the row builder's input, made inline or on the ingest worker (transferable).
import { K_STR } from "./chunk.ts";
import type { ImageEvent, LineSink, ParseCounts } from "./events.ts";
import { type Cells, MAX_CELLS } from "./line-scanner.ts";

/**
 * The metrics events of a slice in file order, column-wise: per event its key list (`shape`) and ts;
 * per cell (each event's keys in order, events one after the other) its kind and number, a string
 * cell's number being its index in `strs`.
 */
export interface ParsedBatch {
  /** Per event: index of its key list in `shapes`. */
  shape: Int32Array;
  /** Per event: `ts` as a finite number, else NaN. */
  ts: Float64Array;
  kinds: Uint8Array;
  vals: Float64Array;
  strs: string[];
  shapes: string[][];
  images: ImageEvent[];
  /** Lines, images and malformed lines of the slice (`metrics` is counted where the rows are built). */
  counts: ParseCounts;
}

const FIRST_EVENTS = 8192;
const FIRST_CELLS = 1 << 16;
/** Fewest bytes of text per cell and per event in SDK lines (20-40 per cell, ~250 per event), for sizing. */
const BYTES_PER_CELL = 20;
const BYTES_PER_EVENT = 150;

/**
 * Collects metrics events (a LineSink) into a ParsedBatch. The scanner's cells, once attached, are
 * written straight into the batch's arrays (no copy per line); cells from the general path are copied.
 */
export class BatchWriter implements LineSink {
  private shape: Int32Array<ArrayBuffer>;
  private ts: Float64Array<ArrayBuffer>;
  private kinds: Uint8Array<ArrayBuffer>;
  private vals: Float64Array<ArrayBuffer>;
  private events = 0;
  private used = 0;
  private strs: string[] = [];
  private strIndex = new Map<string, number>();
  private shapes: string[][] = [];
  private shapeIndex = new Map<string, number>();
  private target?: Cells;
  private lastCells?: Cells;
  private lastGen = -1;
  private lastShape = -1;
  /** Per cell position: the last string written there and its index (lines of a run repeat them). */
  private readonly prevStr: (string | undefined)[] = new Array<string | undefined>(MAX_CELLS).fill(undefined);
  private readonly prevStrIndex = new Int32Array(MAX_CELLS);

  /** `bytes`: the size of the text to be parsed, when known (room for its lines from the start). */
  constructor(bytes = 0) {
    const cells = Math.max(FIRST_CELLS, Math.ceil(bytes / BYTES_PER_CELL));
    const events = Math.max(FIRST_EVENTS, Math.ceil(bytes / BYTES_PER_EVENT));
    this.shape = new Int32Array(events);
    this.ts = new Float64Array(events);
    this.kinds = new Uint8Array(cells);
    this.vals = new Float64Array(cells);
  }

  /**
   * Empties the batch (its arrays are reused: the previous batch must be done with), with room for
   * the lines of `bytes` of text at once (growing by doubling line by line costs copies).
   */
  reset(bytes = 0): void {
    this.events = 0;
    this.used = 0;
    const cells = Math.ceil(bytes / BYTES_PER_CELL);
    if (cells > this.kinds.length) {
      this.kinds = new Uint8Array(cells);
      this.vals = new Float64Array(cells);
    }
    const events = Math.ceil(bytes / BYTES_PER_EVENT);
    if (events > this.shape.length) {
      this.shape = new Int32Array(events);
      this.ts = new Float64Array(events);
    }
    this.strs = [];
    this.strIndex = new Map();
    this.shapes = [];
    this.shapeIndex = new Map();
    this.lastCells = undefined;
    this.lastGen = -1;
    this.prevStr.fill(undefined);
    if (this.target) this.attach(this.target);
  }

  /** Lets the scanner's `cells` write each line straight into the batch. */
  attach(cells: Cells): void {
    this.target = cells;
    cells.kinds = this.kinds;
    cells.vals = this.vals;
    cells.base = this.used;
  }

  /** Appends one metrics event (LineSink); the scanner's cells are already in place. */
  metrics(c: Cells): void {
    const n = c.n;
    const at = this.used;
    if (c !== this.target) {
      this.room(at + n);
      this.kinds.set(c.kinds.subarray(0, n), at);
      this.vals.set(c.vals.subarray(0, n), at);
    }
    if (c !== this.lastCells || c.keysGen !== this.lastGen) {
      this.lastCells = c;
      this.lastGen = c.keysGen;
      this.lastShape = this.shapeOf(c.keys.slice(0, n));
    }
    if (this.events === this.shape.length) {
      this.shape = growI32(this.shape, this.shape.length * 2);
      this.ts = growF64(this.ts, this.ts.length * 2);
    }
    this.shape[this.events] = this.lastShape;
    this.ts[this.events] = c.ts;
    this.events++;
    const kinds = this.kinds;
    for (let i = 0; i < n; i++) if (kinds[at + i] === K_STR) this.vals[at + i] = this.stringIndex(i, c.strs[i]!);
    this.used = at + n;
    // room for the longest line the scanner takes, before it writes the next one
    this.room(this.used + MAX_CELLS + 1);
    if (this.target) this.target.base = this.used;
  }

  /** The batch so far, and the buffers to transfer with it to another thread. */
  finish(images: ImageEvent[], counts: ParseCounts): { batch: ParsedBatch; transfer: ArrayBuffer[] } {
    const batch: ParsedBatch = {
      shape: this.shape.subarray(0, this.events),
      ts: this.ts.subarray(0, this.events),
      kinds: this.kinds.subarray(0, this.used),
      vals: this.vals.subarray(0, this.used),
      strs: this.strs,
      shapes: this.shapes,
      images,
      counts,
    };
    return { batch, transfer: [this.shape.buffer, this.ts.buffer, this.kinds.buffer, this.vals.buffer] };
  }

  /** Makes the cell arrays hold at least `cells` cells (re-pointing the attached scanner's). */
  private room(cells: number): void {
    if (cells <= this.kinds.length) return;
    const cap = Math.max(this.kinds.length * 2, cells);
    const kinds = new Uint8Array(cap);
    kinds.set(this.kinds.subarray(0, this.used));
    this.kinds = kinds;
    this.vals = growF64(this.vals, cap);
    if (this.target) {
      this.target.kinds = this.kinds;
      this.target.vals = this.vals;
    }
  }

  private shapeOf(keys: string[]): number {
    const id = JSON.stringify(keys);
    let s = this.shapeIndex.get(id);
    if (s === undefined) {
      s = this.shapes.length;
      this.shapes.push(keys);
      this.shapeIndex.set(id, s);
    }
    return s;
  }

  private stringIndex(pos: number, v: string): number {
    if (pos < MAX_CELLS && this.prevStr[pos] === v) return this.prevStrIndex[pos];
    let j = this.strIndex.get(v);
    if (j === undefined) {
      j = this.strs.length;
      this.strs.push(v);
      this.strIndex.set(v, j);
    }
    if (pos < MAX_CELLS) {
      this.prevStr[pos] = v;
      this.prevStrIndex[pos] = j;
    }
    return j;
  }
}

function growF64(a: Float64Array, cap: number): Float64Array<ArrayBuffer> {
  const out = new Float64Array(cap);
  out.set(a);
  return out;
}

function growI32(a: Int32Array, cap: number): Int32Array<ArrayBuffer> {
  const out = new Int32Array(cap);
  out.set(a);
  return out;
}
