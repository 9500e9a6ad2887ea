// Binary form of a metric chunk as stored in the index: a small JSON header, then raw typed arrays.
import { Chunk, type Column, K_NUM, K_STR } from "../metrics/chunk.ts";

const MAGIC = 0x32434d52; // "RMC2" little-endian
const enc = new TextEncoder();
const dec = new TextDecoder();

/** How a column is stored: the common shapes leave out what can be rebuilt. */
const F_FULL = 0; // float64 values + kind bytes
const F_NUM = 1; // only finite numbers: float64 values
const F_TIMES = 2; // only numbers equal to the row times (the SDK's `time` key): nothing
const F_STR16 = 3; // only strings, table under 65536 entries: uint16 indices

interface Header {
  n: number;
  keys: string[];
  forms: number[];
  /** Steps are `first, first+1, …` (not stored). */
  arange: number | null;
  strs: string[];
}

/** A buffer that encodings are written into when the caller copies them right away (SQLite does on bind). */
export interface EncodeScratch {
  buf: Uint8Array;
}

/**
 * Encodes rows `[0, n)` of a chunk: header, padding to 8 bytes, then the float64 arrays (steps unless
 * consecutive, times, values of full/number columns), uint16 string indices, and kind bytes of full columns.
 * With `scratch`, the result is a view on its buffer, valid until the next encoding into it.
 */
export function encodeChunk(chunk: Chunk, scratch?: EncodeScratch): Uint8Array {
  const n = chunk.n;
  const { keys, forms, cols, arange } = layoutOf(chunk);
  const header = enc.encode(JSON.stringify({ n, keys, forms, arange, strs: chunk.strs } satisfies Header));
  const dataStart = align8(8 + header.length);
  const f64Arrays = (arange === null ? 1 : 0) + 1 + forms.filter((f) => f === F_FULL || f === F_NUM).length;
  const u16Arrays = forms.filter((f) => f === F_STR16).length;
  const u8Arrays = forms.filter((f) => f === F_FULL).length;
  const size = dataStart + n * (8 * f64Arrays + 2 * u16Arrays + u8Arrays);
  let buf: Uint8Array;
  if (scratch) {
    if (scratch.buf.byteLength < size) scratch.buf = new Uint8Array(Math.max(size, scratch.buf.byteLength * 2));
    buf = scratch.buf.subarray(0, size);
    // the header's padding and unused bytes must read the same as in a fresh buffer
    buf.fill(0, 0, dataStart);
  } else buf = new Uint8Array(size);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, header.length, true);
  buf.set(header, 8);
  const f64 = new Float64Array(buf.buffer, buf.byteOffset + dataStart, n * f64Arrays);
  let k = 0;
  if (arange === null) f64.set(chunk.steps.subarray(0, n), n * k++);
  f64.set(chunk.times.subarray(0, n), n * k++);
  for (let i = 0; i < cols.length; i++) {
    if (forms[i] === F_FULL || forms[i] === F_NUM) f64.set(cols[i].vals.subarray(0, n), n * k++);
  }
  let off = dataStart + n * 8 * f64Arrays;
  for (let i = 0; i < cols.length; i++) {
    if (forms[i] !== F_STR16) continue;
    new Uint16Array(buf.buffer, buf.byteOffset + off, n).set(cols[i].vals.subarray(0, n));
    off += 2 * n;
  }
  for (let i = 0; i < cols.length; i++) {
    if (forms[i] !== F_FULL) continue;
    buf.set(cols[i].kinds.subarray(0, n), off);
    off += n;
  }
  return buf;
}

/** Decodes a stored chunk; float64 arrays are views on the blob when it is 8-byte aligned. */
export function decodeChunk(blob: Uint8Array): Chunk {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  if (blob.byteLength < 8 || view.getUint32(0, true) !== MAGIC) throw new Error("not a metric chunk");
  const hlen = view.getUint32(4, true);
  const { n, keys, forms, arange, strs } = JSON.parse(dec.decode(blob.subarray(8, 8 + hlen))) as Header;
  const dataStart = align8(8 + hlen);
  let bytes = blob;
  if ((blob.byteOffset + dataStart) % 8 !== 0) bytes = blob.slice();
  const f64Arrays = (arange === null ? 1 : 0) + 1 + forms.filter((f) => f === F_FULL || f === F_NUM).length;
  const f64 = new Float64Array(bytes.buffer, bytes.byteOffset + dataStart, n * f64Arrays);
  let k = 0;
  let steps: Float64Array;
  if (arange === null) steps = f64.subarray(n * k, n * ++k);
  else {
    steps = new Float64Array(n);
    for (let r = 0; r < n; r++) steps[r] = arange + r;
  }
  const times = f64.subarray(n * k, n * ++k);
  const cols = new Map<string, Column>();
  const vals: (Float64Array | undefined)[] = forms.map((f) => (f === F_FULL || f === F_NUM ? f64.subarray(n * k, n * ++k) : undefined));
  let off = bytes.byteOffset + dataStart + n * 8 * f64Arrays;
  for (let i = 0; i < keys.length; i++) {
    if (forms[i] !== F_STR16) continue;
    vals[i] = Float64Array.from(new Uint16Array(bytes.buffer, off, n));
    off += 2 * n;
  }
  for (let i = 0; i < keys.length; i++) {
    const form = forms[i];
    let kinds: Uint8Array;
    if (form === F_FULL) {
      kinds = new Uint8Array(bytes.buffer, off, n);
      off += n;
    } else kinds = new Uint8Array(n).fill(form === F_STR16 ? K_STR : K_NUM);
    // the `time` column gets its own copy: columns are changed in place by later merges
    cols.set(keys[i], { kinds, vals: form === F_TIMES ? times.slice() : vals[i]! });
  }
  return Chunk.wrap(n, steps, times, cols, strs);
}

/** What is stored of a chunk: the columns with a value, their forms, and the first step when steps are consecutive. */
interface Layout {
  keys: string[];
  forms: number[];
  cols: Column[];
  arange: number | null;
}

/**
 * The layout of a chunk. Every loop over rows that encoding needs is in here and its helpers, not in
 * encodeChunk: small hot functions compile quickly, while a big one with hot loops inside costs the
 * JIT a long optimising compile during a first ingest.
 */
function layoutOf(chunk: Chunk): Layout {
  const n = chunk.n;
  const layout: Layout = { keys: [], forms: [], cols: [], arange: consecutiveFrom(chunk.steps, n) };
  for (const [key, col] of chunk.cols) {
    const form = formOf(col, chunk, n);
    if (form < 0) continue;
    layout.keys.push(key);
    layout.forms.push(form);
    layout.cols.push(col);
  }
  return layout;
}

/** The storage form of a column over `n` rows, or -1 when it has no value in them. */
function formOf(col: Column, chunk: Chunk, n: number): number {
  const kinds = col.kinds;
  const vals = col.vals;
  let nums = 0;
  let strs = 0;
  let sameTime = true;
  for (let r = 0; r < n; r++) {
    const k = kinds[r];
    if (k === K_NUM) {
      nums++;
      if (sameTime && vals[r] !== chunk.times[r]) sameTime = false;
    } else if (k === K_STR) strs++;
    else if (k !== 0) return F_FULL;
  }
  if (nums === 0 && strs === 0) {
    for (let r = 0; r < n; r++) if (kinds[r] !== 0) return F_FULL;
    return -1;
  }
  if (nums === n) return sameTime ? F_TIMES : F_NUM;
  if (strs === n && chunk.strs.length <= 65536) return F_STR16;
  return F_FULL;
}

/** The first step when steps `[0, n)` are `first, first+1, …` (then they are not stored), else null. */
function consecutiveFrom(steps: Float64Array, n: number): number | null {
  if (n === 0) return null;
  const first = steps[0];
  for (let r = 1; r < n; r++) if (steps[r] !== first + r) return null;
  return first;
}

function align8(x: number): number {
  return (x + 7) & ~7;
}
