// Reads events.jsonl lines into rows (spec §1.5, §3.3): one row per step, later events merge into it.
import { parseTolerant } from "../store/json.ts";
import { Chunk, CHUNK_ROWS, type Column, K_BOOL, K_INF, K_NULL, K_NUM, K_STR } from "./chunk.ts";
import { Cells, LineScanner, R_TIME } from "./line-scanner.ts";

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
  /** A new empty slot with a fresh id and an empty chunk that `open` returns. */
  create(): S;
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
  private readonly scanner = new LineScanner();
  private readonly slowCells = new Cells();
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
    let pos = start;
    const scanner = this.scanner;
    const cells = scanner.cells;
    while (pos < end) {
      let nl = buf.indexOf(10, pos);
      if (nl < 0 || nl > end) nl = end;
      const from = pos;
      pos = nl + 1;
      if (scanner.scan(buf, from, nl)) {
        counts.lines++;
        this.applyCells(cells, counts);
        continue;
      }
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
      if (type === "metrics") {
        this.slowCells.fromObject(data, evt.ts);
        this.applyCells(this.slowCells, counts);
      } else if (type === "image") {
        const img = imageOf(evt, data);
        if (img) {
          images.push(img);
          counts.images++;
        }
      }
    }
  }

  /** Applies the cells of one metrics event: its step (spec §3.3), its time (data.time, else ts). */
  private applyCells(cells: Cells, counts: ParseCounts): void {
    const gs = cells.gs;
    const st = cells.st;
    const tm = cells.tm;
    const at = gs >= 0 && cells.kinds[gs] !== K_NULL ? gs : st >= 0 && cells.kinds[st] !== K_NULL ? st : -1;
    if (at < 0) return;
    const step = cellStep(cells.kinds[at], cells.vals[at], cells.strs[at]);
    if (step === undefined) return;
    const time = tm >= 0 && cells.kinds[tm] === K_NUM ? cells.vals[tm] : cells.ts;
    this.apply(step, time, cells);
    counts.metrics++;
  }

  /** Hands over the changed steps (ascending, unique) and resets the record. */
  takeChanges(): { steps: number[]; overflow: boolean } {
    const steps = [...new Set(this.changed)].sort((a, b) => a - b);
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

/** Fresh zeroed counts. */
export function emptyCounts(): ParseCounts {
  return { lines: 0, metrics: 0, images: 0, malformed: 0 };
}
