// Binary form of a metric chunk as stored in the index: a small JSON header, then raw typed arrays.
import { Chunk, type Column } from "../metrics/chunk.ts";

const MAGIC = 0x31434d52; // "RMC1" little-endian
const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Encodes rows `[0, n)` of a chunk: header `{n, keys, strs}`, padding to 8 bytes, then steps, times,
 * one float64 array per key, one kind byte array per key. Keys with no value in the chunk are left out.
 */
export function encodeChunk(chunk: Chunk): Uint8Array {
  const n = chunk.n;
  const keys: string[] = [];
  const cols: Column[] = [];
  for (const [key, col] of chunk.cols) {
    let any = false;
    for (let r = 0; r < n; r++) {
      if (col.kinds[r] !== 0) {
        any = true;
        break;
      }
    }
    if (any) {
      keys.push(key);
      cols.push(col);
    }
  }
  const header = enc.encode(JSON.stringify({ n, keys, strs: chunk.strs }));
  const dataStart = align8(8 + header.length);
  const size = dataStart + n * 8 * (2 + keys.length) + n * keys.length;
  const buf = new Uint8Array(size);
  const view = new DataView(buf.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, header.length, true);
  buf.set(header, 8);
  const f64 = new Float64Array(buf.buffer, dataStart, n * (2 + keys.length));
  f64.set(chunk.steps.subarray(0, n), 0);
  f64.set(chunk.times.subarray(0, n), n);
  for (let i = 0; i < cols.length; i++) f64.set(cols[i].vals.subarray(0, n), n * (2 + i));
  let off = dataStart + n * 8 * (2 + keys.length);
  for (const col of cols) {
    buf.set(col.kinds.subarray(0, n), off);
    off += n;
  }
  return buf;
}

/** Decodes a stored chunk; the typed arrays are views on the blob when it is 8-byte aligned (no copy). */
export function decodeChunk(blob: Uint8Array): Chunk {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  if (blob.byteLength < 8 || view.getUint32(0, true) !== MAGIC) throw new Error("not a metric chunk");
  const hlen = view.getUint32(4, true);
  const header = JSON.parse(dec.decode(blob.subarray(8, 8 + hlen))) as { n: number; keys: string[]; strs: string[] };
  const { n, keys, strs } = header;
  const dataStart = align8(8 + hlen);
  let bytes = blob;
  if ((blob.byteOffset + dataStart) % 8 !== 0) bytes = blob.slice();
  const f64 = new Float64Array(bytes.buffer, bytes.byteOffset + dataStart, n * (2 + keys.length));
  const cols = new Map<string, Column>();
  let off = bytes.byteOffset + dataStart + n * 8 * (2 + keys.length);
  for (let i = 0; i < keys.length; i++) {
    cols.set(keys[i], {
      vals: f64.subarray(n * (2 + i), n * (3 + i)),
      kinds: new Uint8Array(bytes.buffer, off, n),
    });
    off += n;
  }
  return Chunk.wrap(n, f64.subarray(0, n), f64.subarray(n, 2 * n), cols, strs);
}

function align8(x: number): number {
  return (x + 7) & ~7;
}
