// Reads events.jsonl lines into rows (spec §1.5, §3.3): one row per step, later events merge into it.
import { parseTolerant } from "../store/json.ts";
import { Chunk, CHUNK_ROWS, type Column, K_BOOL, K_INF, K_NULL, K_NUM, K_STR, moveHeadRows } from "./chunk.ts";
import { Cells, LineScanner, R_GLOBAL_STEP, R_STEP, R_TIME, roleOf } from "./line-scanner.ts";
import { BatchWriter, type ParsedBatch } from "./parse-batch.ts";

/** A chunk's place in the run: its step range, size and (while being changed) the chunk itself. */
export interface ChunkSlot {
  /** Stable id of the chunk within its run (survives inserts and splits). */
  id: number;
  rows: number;
  firstStep: number;
  lastStep: number;
  /** Set by the row builder when it changed the chunk. */
  dirty?: boolean;
}

/** Where the row builder finds and creates chunks; the index implements it over its stored columns. */
export interface ChunkHost<S extends ChunkSlot> {
  /** The run's chunks in step order (the builder inserts new slots into this array). */
  slots: S[];
  /** The chunk of a slot, ready to be changed. */
  open(slot: S): Chunk;
  /** A new slot with a fresh id and an empty chunk that `open` returns (or `chunk`, taken as it is). */
  create(chunk?: Chunk): S;
}

/** An image event (`type: "image"`), kept for the image panel. */
export interface ImageEvent {
  key: string;
  step: number | null;
  caption: string | null;
  path: string;
  ts: number | null;
}

/** Counts of what a batch of lines contained. */
export interface ParseCounts {
  lines: number;
  metrics: number;
  images: number;
  /** Lines that are not JSON objects (skipped, like the original). */
  malformed: number;
}

const STEP_STRING = /^\s*[+-]?\d+(?:_\d+)*\s*$/;

/**
 * The step of a metrics event as the original computes it (spec §3.3): `global_step`, else legacy
 * `step`, coerced like Python's `int()`; undefined when there is no usable step.
 */
export function eventStep(data: Record<string, unknown>): number | undefined {
  let v = data.global_step;
  if (v === null || v === undefined) v = data.step;
  switch (typeof v) {
    case "number":
      return cellStep(v - v === 0 ? K_NUM : K_INF, v, undefined);
    case "boolean":
      return v ? 1 : 0;
    case "string":
      return cellStep(K_STR, 0, v);
    default:
      return undefined;
  }
}

/** The step a cell stands for (see `eventStep`), or undefined. */
function cellStep(kind: number, v: number, s: string | undefined): number | undefined {
  switch (kind) {
    case K_NUM:
      return Math.trunc(v) || 0;
    case K_BOOL:
      return v;
    case K_STR:
      return STEP_STRING.test(s!) ? Number(s!.replace(/_/g, "").trim()) || 0 : undefined;
    default:
      return undefined;
  }
}

/** Parses one line; NaN/±Infinity tokens are accepted (±Infinity kept, NaN → null). Undefined when malformed. */
export function parseEventLine(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    if (!/NaN|Infinity/.test(line)) return undefined;
  }
  try {
    return parseTolerant(line, "infinity");
  } catch {
    return undefined;
  }
}

/** Where read lines go: the cells of each metrics event (reused from one call to the next). */
export interface LineSink {
  metrics(cells: Cells): void;
}

/**
 * Reads events.jsonl lines: the SDK's metrics lines through the byte scanner, anything else through
 * JSON.parse (same result); metrics events go to a sink, image events to a list.
 */
export class LineReader {
  private readonly scanner = new LineScanner();
  private readonly slowCells = new Cells();

  /** The scanner's cells (a batch writer attaches to them). */
  get cells(): Cells {
    return this.scanner.cells;
  }

  /** Reads the complete lines of `buf[start, end)` (each ending in \n); `counts.metrics` is the sink's to count. */
  read(buf: Buffer, start: number, end: number, sink: LineSink, images: ImageEvent[], counts: ParseCounts): void {
    let pos = start;
    const scanner = this.scanner;
    const cells = scanner.cells;
    while (pos < end) {
      const q = scanner.scanTo(buf, pos, end);
      if (q >= 0) {
        counts.lines++;
        sink.metrics(cells);
        pos = q + 1;
        continue;
      }
      let nl = buf.indexOf(10, pos);
      if (nl < 0 || nl > end) nl = end;
      const from = pos;
      pos = nl + 1;
      const line = buf.toString("utf8", from, nl);
      if (line.length === 0 || line.trim().length === 0) continue;
      counts.lines++;
      const evt = parseEventLine(line) as Record<string, unknown> | null | undefined;
      if (evt === null || typeof evt !== "object" || Array.isArray(evt)) {
        counts.malformed++;
        continue;
      }
      const type = evt.type;
      const data = evt.data as Record<string, unknown> | null | undefined;
      if (data === null || typeof data !== "object" || Array.isArray(data)) continue;
      // "system": the SDKs' system.jsonl lines (same shape; read from that file only, into a store of their own)
      if (type === "metrics" || type === "system") {
        this.slowCells.fromObject(data, evt.ts);
        sink.metrics(this.slowCells);
      } else if (type === "image") {
        const img = imageOf(evt, data);
        if (img) {
          images.push(img);
          counts.images++;
        }
      }
    }
  }
}

/** What the row builder needs of a key list: positions of step, legacy step and time, and of the columns. */
interface ShapeInfo {
  keys: string[];
  n: number;
  gs: number;
  st: number;
  tm: number;
  cols: number[];
}

function shapeInfo(keys: string[]): ShapeInfo {
  const info: ShapeInfo = { keys, n: keys.length, gs: -1, st: -1, tm: -1, cols: [] };
  keys.forEach((key, i) => {
    const role = roleOf(key);
    if (role <= R_TIME) info.cols.push(i);
    if (role === R_TIME) info.tm = i;
    else if (role === R_GLOBAL_STEP) info.gs = i;
    else if (role === R_STEP) info.st = i;
  });
  return info;
}

/**
 * Per event of a batch: its step (spec §3.3: global_step, else legacy step; NaN when it has no usable
 * step and is dropped), its time (data.time, else ts) and where its cells start.
 */
function stepsAndTimes(batch: ParsedBatch, shapes: ShapeInfo[], steps: Float64Array, times: Float64Array, starts: Int32Array): void {
  const { shape, ts, kinds, vals, strs } = batch;
  let at = 0;
  for (let e = 0; e < shape.length; e++) {
    const sh = shapes[shape[e]];
    starts[e] = at;
    const gs = sh.gs;
    const st = sh.st;
    const c = gs >= 0 && kinds[at + gs] !== K_NULL ? gs : st >= 0 && kinds[at + st] !== K_NULL ? st : -1;
    let step = NaN;
    if (c >= 0) {
      const kind = kinds[at + c];
      const v = vals[at + c];
      step = cellStep(kind, v, kind === K_STR ? strs[v] : undefined) ?? NaN;
    }
    steps[e] = step;
    const tm = sh.tm;
    times[e] = tm >= 0 && kinds[at + tm] === K_NUM ? vals[at + tm] : ts[e];
    at += sh.n;
  }
}

/** The end of the events from `e` on with e's key list and rising steps (a NaN step ends it too). */
function risingRunEnd(shape: Int32Array, steps: Float64Array, e: number): number {
  const s = shape[e];
  let prev = steps[e];
  let e1 = e + 1;
  while (e1 < shape.length && shape[e1] === s && steps[e1] > prev) prev = steps[e1++];
  return e1;
}

/**
 * Copies one key's cells (every `stride`-th from `k`) into rows `[r0, r0 + m)` of a column. Its own
 * function: a small hot loop compiles quickly, where the same loop inside appendRun made the JIT
 * compile appendRun again and again during a first ingest.
 */
function copyColumn(batch: ParsedBatch, k: number, stride: number, chunk: Chunk, col: Column, r0: number, m: number): void {
  const { kinds, vals, strs } = batch;
  const ck = col.kinds;
  const cv = col.vals;
  let lastStr = -1;
  let lastIdx = 0;
  for (let r = r0; r < r0 + m; r++, k += stride) {
    const kind = kinds[k];
    ck[r] = kind;
    if (kind === K_STR) {
      const j = vals[k];
      if (j !== lastStr) {
        lastStr = j;
        lastIdx = chunk.internString(strs[j]);
      }
      cv[r] = lastIdx;
    } else if (kind !== K_NULL) cv[r] = vals[k];
  }
}

/** The reader and batch writer of inline ingests on this thread. */
const inlineReader = new LineReader();
let inlineWriter: BatchWriter | undefined;

/** Builds rows into chunks; records which steps changed (for live push) and which chunks to write. */
export class RowBuilder<S extends ChunkSlot> {
  /** Steps touched since the last `takeChanges`, in event order (may repeat); capped. */
  changed: number[] = [];
  /** True when more steps changed than `changed` holds. */
  changedOverflow = false;
  /** Slots whose chunk changed. */
  readonly dirty = new Set<S>();
  private last?: { slot: S; chunk: Chunk };
  private colChunk?: Chunk;
  private readonly colKeys: string[] = [];
  private readonly colRefs: Column[] = [];
  private readonly colStrs: ([string, number] | undefined)[] = [];
  private readonly batchCells = new Cells();
  /** The slot and chunk of the row `rowFor` returned last (no object per row). */
  private rowSlot?: S;
  private rowChunk?: Chunk;

  constructor(
    private readonly host: ChunkHost<S>,
    private readonly maxChanged = 20000,
  ) {}

  /** Merges one metrics event's cells into the row of `step` (spec §3.3). */
  apply(step: number, time: number, cells: Cells): void {
    const r = this.rowFor(step);
    const slot = this.rowSlot!;
    const chunk = this.rowChunk!;
    if (chunk !== this.colChunk) {
      this.colChunk = chunk;
      this.colKeys.length = 0;
      this.colRefs.length = 0;
      this.colStrs.length = 0;
    }
    // keys usually come in the same order on every line: remember the columns by position
    let i = 0;
    const keys = this.colKeys;
    const refs = this.colRefs;
    const n = cells.n;
    for (let c = 0; c < n; c++) {
      if (cells.roles[c] > R_TIME) continue;
      const key = cells.keys[c];
      let col: Column;
      if (keys[i] === key) col = refs[i];
      else {
        col = chunk.column(key);
        keys[i] = key;
        refs[i] = col;
        this.colStrs[i] = undefined;
      }
      const kind = cells.kinds[c];
      col.kinds[r] = kind;
      if (kind === K_STR) {
        const v = cells.strs[c]!;
        const last = this.colStrs[i];
        if (last !== undefined && last[0] === v) col.vals[r] = last[1];
        else {
          const j = chunk.internString(v);
          this.colStrs[i] = [v, j];
          col.vals[r] = j;
        }
      } else if (kind !== K_NULL) col.vals[r] = cells.vals[c];
      i++;
    }
    if (time === time) chunk.times[r] = time;
    chunk.version++;
    if (!slot.dirty) {
      slot.dirty = true;
      this.dirty.add(slot);
    }
    if (this.changed.length < this.maxChanged) this.changed.push(step);
    else this.changedOverflow = true;
  }

  /** Reads the complete lines of `buf[start, end)` (each ending in \n) into rows; image events go to `images`. */
  ingest(buf: Buffer, start: number, end: number, images: ImageEvent[], counts: ParseCounts): void {
    // one reader and writer for the thread: a call runs to its end before the next starts
    const writer = (inlineWriter ??= new BatchWriter());
    writer.reset(end - start);
    writer.attach(inlineReader.cells);
    inlineReader.read(buf, start, end, writer, images, counts);
    this.ingestBatch(writer.finish(images, counts).batch, counts);
  }

  /**
   * Builds rows from a parsed batch, in event order. A stretch of events with one key list whose steps
   * rise past the run's last row (how the SDK writes) is appended column by column; any other event
   * (a step logged again or out of order) is merged into its row one at a time.
   */
  ingestBatch(batch: ParsedBatch, counts: ParseCounts): void {
    const { shape, ts, kinds, vals, strs } = batch;
    const events = shape.length;
    const shapes = batch.shapes.map(shapeInfo);
    const steps = new Float64Array(events);
    const times = new Float64Array(events);
    const starts = new Int32Array(events);
    stepsAndTimes(batch, shapes, steps, times, starts);
    const slots = this.host.slots;
    let e = 0;
    while (e < events) {
      const step = steps[e];
      if (step !== step) {
        e++;
        continue;
      }
      const tail = slots.length ? slots[slots.length - 1] : undefined;
      if (!tail || step > tail.lastStep) {
        const s = shape[e];
        const e1 = risingRunEnd(shape, steps, e);
        this.appendRun(batch, shapes[s], steps, times, starts[e], e, e1);
        counts.metrics += e1 - e;
        e = e1;
        continue;
      }
      const cells = this.batchCells;
      const sh = shapes[shape[e]];
      const n = cells.setKeys(sh.keys);
      cells.ts = ts[e];
      for (let i = 0, k = starts[e]; i < n; i++, k++) {
        const kind = kinds[k];
        cells.kinds[i] = kind;
        cells.vals[i] = vals[k];
        cells.strs[i] = kind === K_STR ? strs[vals[k]] : undefined;
      }
      this.apply(step, times[e], cells);
      counts.metrics++;
      e++;
    }
  }

  /** Appends events `[e0, e1)` (one key list, rising steps past the last row) as new rows, column by column. */
  private appendRun(batch: ParsedBatch, sh: ShapeInfo, steps: Float64Array, times: Float64Array, cell0: number, e0: number, e1: number): void {
    const { kinds, vals, strs } = batch;
    const slots = this.host.slots;
    const n = sh.n;
    let e = e0;
    let cell = cell0;
    while (e < e1) {
      let slot: S | undefined = slots.length ? slots[slots.length - 1] : undefined;
      if (!slot || slot.rows >= CHUNK_ROWS) {
        slot = this.host.create();
        slots.push(slot);
      }
      const chunk = this.chunkOf(slot);
      if (chunk.cap < CHUNK_ROWS) chunk.reserve(CHUNK_ROWS);
      const r0 = chunk.n;
      const m = Math.min(e1 - e, CHUNK_ROWS - r0);
      chunk.steps.set(steps.subarray(e, e + m), r0);
      chunk.times.set(times.subarray(e, e + m), r0);
      for (const c of sh.cols) copyColumn(batch, cell + c, n, chunk, chunk.column(sh.keys[c]), r0, m);
      if (r0 === 0) slot.firstStep = steps[e];
      chunk.n = r0 + m;
      chunk.version++;
      slot.rows = chunk.n;
      slot.lastStep = steps[e + m - 1];
      this.markDirty(slot);
      const room = this.maxChanged - this.changed.length;
      for (let j = 0; j < Math.min(m, room); j++) this.changed.push(steps[e + j]);
      if (m > room) this.changedOverflow = true;
      e += m;
      cell += m * n;
    }
  }

  /**
   * Appends chunks built elsewhere (a split first read, see range-build.ts) after the last row, when
   * every step in them comes after it (chunks in step order); false, changing nothing, when not. Rows go
   * into the run's last chunk while it has room, so chunks hold CHUNK_ROWS rows each as an append makes
   * them (downsampled answers do not depend on how the file was read). The chunks are taken, not copied.
   */
  appendChunks(chunks: readonly Chunk[]): boolean {
    const slots = this.host.slots;
    let last = slots.length ? slots[slots.length - 1].lastStep : -Infinity;
    for (const c of chunks) {
      if (c.n === 0) continue;
      if (!(c.steps[0] > last)) return false;
      last = c.steps[c.n - 1];
    }
    for (const c of chunks) {
      if (c.n === 0) continue;
      const room = Math.min(c.n, this.maxChanged - this.changed.length);
      for (let j = 0; j < room; j++) this.changed.push(c.steps[j]);
      if (room < c.n) this.changedOverflow = true;
      const tail = slots.length ? slots[slots.length - 1] : undefined;
      if (tail && tail.rows < CHUNK_ROWS) {
        const into = this.chunkOf(tail);
        moveHeadRows(c, Math.min(CHUNK_ROWS - into.n, c.n), into);
        tail.rows = into.n;
        tail.lastStep = into.steps[into.n - 1];
        this.markDirty(tail);
        if (c.n === 0) continue;
      }
      const slot = this.host.create(c);
      slots.push(slot);
      slot.rows = c.n;
      slot.firstStep = c.steps[0];
      slot.lastStep = c.steps[c.n - 1];
      this.markDirty(slot);
    }
    return true;
  }

  /** Hands over the changed steps (ascending, unique) and resets the record. */
  takeChanges(): { steps: number[]; overflow: boolean } {
    const changed = this.changed;
    let rising = true;
    for (let i = 1; i < changed.length && rising; i++) rising = changed[i] > changed[i - 1];
    // appended rows (the usual case) come rising already: no set or sort needed
    const steps = rising ? changed : [...new Set(changed)].sort((a, b) => a - b);
    const overflow = this.changedOverflow;
    this.changed = [];
    this.changedOverflow = false;
    return { steps, overflow };
  }

  /** Clears the dirty marks after the caller wrote the chunks. */
  clearDirty(): void {
    for (const s of this.dirty) s.dirty = false;
    this.dirty.clear();
  }

  /** The row of `step` (created when new); its slot and chunk are left in rowSlot/rowChunk. */
  private rowFor(step: number): number {
    const slots = this.host.slots;
    const tail = slots.length ? slots[slots.length - 1] : undefined;
    // Fast path: steps arrive in order, appended to the last chunk.
    if (!tail || step > tail.lastStep) {
      let slot = tail;
      if (!slot || slot.rows >= CHUNK_ROWS) {
        slot = this.host.create();
        slots.push(slot);
      }
      const chunk = this.chunkOf(slot);
      if (chunk.n >= chunk.cap) chunk.reserve(CHUNK_ROWS);
      const r = chunk.appendRow(step);
      if (slot.rows === 0) slot.firstStep = step;
      slot.rows = chunk.n;
      slot.lastStep = step;
      this.rowSlot = slot;
      this.rowChunk = chunk;
      return r;
    }
    if (step === tail.lastStep) {
      const chunk = this.chunkOf(tail);
      this.rowSlot = tail;
      this.rowChunk = chunk;
      return chunk.n - 1;
    }
    return this.rowOutOfOrder(step);
  }

  private rowOutOfOrder(step: number): number {
    const slots = this.host.slots;
    // the last slot whose first step is ≤ step, else the first slot
    let lo = 0;
    let hi = slots.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (slots[mid].firstStep <= step) lo = mid + 1;
      else hi = mid;
    }
    let si = Math.max(0, lo - 1);
    let slot = slots[si];
    let chunk = this.chunkOf(slot);
    let r = chunk.lowerBound(step);
    this.rowSlot = slot;
    this.rowChunk = chunk;
    if (r < chunk.n && chunk.steps[r] === step) return r;
    if (chunk.n >= CHUNK_ROWS) {
      // split the full chunk in two halves so the insert has room
      const half = chunk.n >>> 1;
      const upper = this.host.create();
      slots.splice(si + 1, 0, upper);
      const uc = this.chunkOf(upper);
      moveRows(chunk, half, uc);
      slot.rows = chunk.n;
      slot.lastStep = chunk.steps[chunk.n - 1];
      upper.rows = uc.n;
      upper.firstStep = uc.steps[0];
      upper.lastStep = uc.steps[uc.n - 1];
      this.markDirty(upper);
      this.markDirty(slot);
      if (step > slot.lastStep) {
        si++;
        slot = upper;
        chunk = uc;
      }
      r = chunk.lowerBound(step);
    }
    chunk.insertRow(r, step);
    slot.rows = chunk.n;
    slot.firstStep = chunk.steps[0];
    slot.lastStep = chunk.steps[chunk.n - 1];
    this.rowSlot = slot;
    this.rowChunk = chunk;
    return r;
  }

  private markDirty(slot: S): void {
    if (!slot.dirty) {
      slot.dirty = true;
      this.dirty.add(slot);
    }
  }

  private chunkOf(slot: S): Chunk {
    const last = this.last;
    if (last && last.slot === slot) return last.chunk;
    const chunk = this.host.open(slot);
    this.last = { slot, chunk };
    return chunk;
  }
}

/** Moves rows `[from, n)` of `src` to the (empty) chunk `dst`. */
function moveRows(src: Chunk, from: number, dst: Chunk): void {
  const count = src.n - from;
  dst.reserve(CHUNK_ROWS);
  dst.steps.set(src.steps.subarray(from, src.n));
  dst.times.set(src.times.subarray(from, src.n));
  for (const [key, col] of src.cols) {
    const d = dst.column(key);
    for (let i = 0; i < count; i++) {
      const k = col.kinds[from + i];
      d.kinds[i] = k;
      d.vals[i] = k === K_STR ? dst.internString(src.strs[col.vals[from + i]]) : col.vals[from + i];
    }
  }
  dst.n = count;
  src.n = from;
  for (const col of src.cols.values()) col.kinds.fill(0, from);
  src.version++;
  dst.version++;
}

function imageOf(evt: Record<string, unknown>, data: Record<string, unknown>): ImageEvent | undefined {
  if (typeof data.path !== "string") return undefined;
  const step = data.step === null || data.step === undefined ? null : eventStep({ step: data.step });
  const ts = typeof evt.ts === "number" && Number.isFinite(evt.ts) ? evt.ts : null;
  return {
    key: typeof data.key === "string" ? data.key : String(data.key ?? ""),
    step: step ?? null,
    caption: typeof data.caption === "string" ? data.caption : null,
    path: data.path,
    ts,
  };
}

/** Parses the complete lines of `buf[start, end)` into a new batch (what the ingest worker does with a slice). */
export function parseSlice(reader: LineReader, buf: Buffer, start: number, end: number): { batch: ParsedBatch; transfer: ArrayBuffer[] } {
  const writer = new BatchWriter(end - start);
  writer.attach(reader.cells);
  const images: ImageEvent[] = [];
  const counts = emptyCounts();
  reader.read(buf, start, end, writer, images, counts);
  return writer.finish(images, counts);
}

/** Lets the batch arrays of inline ingests go (after a large read; the next ingest makes new ones to fit). */
export function releaseIngestBuffers(): void {
  inlineWriter = undefined;
}

/** Parses the complete lines of `buf[start, end)` into a new batch on this thread. */
export function parseHere(buf: Buffer, start: number, end: number): ParsedBatch {
  return parseSlice(inlineReader, buf, start, end).batch;
}

/** Fresh zeroed counts. */
export function emptyCounts(): ParseCounts {
  return { lines: 0, metrics: 0, images: 0, malformed: 0 };
}
