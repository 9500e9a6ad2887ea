// TFRecord framing as TensorBoard event files use it: each record is
//   uint64 length | uint32 masked CRC32C(length bytes) | data[length] | uint32 masked CRC32C(data)
// little-endian. A torn record at the end of a file (a writer still running) is left for next time.

/** CRC-32C (Castagnoli) lookup tables, slicing by 8. */
const TABLES: Uint32Array[] = (() => {
  const t: Uint32Array[] = [];
  const t0 = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t0[i] = c >>> 0;
  }
  t.push(t0);
  for (let s = 1; s < 8; s++) {
    const prev = t[s - 1];
    const cur = new Uint32Array(256);
    for (let i = 0; i < 256; i++) cur[i] = (prev[i] >>> 8) ^ t0[prev[i] & 0xff];
    t.push(cur);
  }
  return t;
})();

/** CRC-32C of `buf[start, end)`. */
export function crc32c(buf: Uint8Array, start = 0, end = buf.length): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES;
  let crc = 0xffffffff;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const a = crc ^ (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24));
    crc =
      t7[a & 0xff] ^
      t6[(a >>> 8) & 0xff] ^
      t5[(a >>> 16) & 0xff] ^
      t4[a >>> 24] ^
      t3[buf[i + 4]] ^
      t2[buf[i + 5]] ^
      t1[buf[i + 6]] ^
      t0[buf[i + 7]];
  }
  for (; i < end; i++) crc = t0[(crc ^ buf[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** TFRecord's masked CRC: rotate right by 15 and add a constant. */
export function maskedCrc32c(buf: Uint8Array, start = 0, end = buf.length): number {
  const c = crc32c(buf, start, end);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** A record that failed its checksum or is impossibly large: the file is corrupt from here on. */
export class RecordError extends Error {}

/** Largest record accepted (TensorBoard images and histograms stay far below). */
export const MAX_RECORD = 256 << 20;

/**
 * Calls `onRecord(buf, start, end)` for each complete record of `buf` from `offset`, and returns the
 * offset after the last complete one (a torn tail is not consumed). Throws RecordError on a bad
 * checksum, naming the byte offset.
 */
export function readRecords(
  buf: Uint8Array,
  offset: number,
  onRecord: (buf: Uint8Array, start: number, end: number) => void,
  verifyData = true,
): number {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = offset;
  while (pos + 12 <= buf.length) {
    const lo = view.getUint32(pos, true);
    const hi = view.getUint32(pos + 4, true);
    if (view.getUint32(pos + 8, true) !== maskedCrc32c(buf, pos, pos + 8)) throw new RecordError(`bad length checksum at byte ${pos}`);
    if (hi !== 0 || lo > MAX_RECORD) throw new RecordError(`record of ${hi * 2 ** 32 + lo} bytes at byte ${pos} is too large`);
    const start = pos + 12;
    const end = start + lo;
    if (end + 4 > buf.length) break; // torn tail: a writer is still appending
    if (verifyData && view.getUint32(end, true) !== maskedCrc32c(buf, start, end)) throw new RecordError(`bad data checksum at byte ${pos}`);
    onRecord(buf, start, end);
    pos = end + 4;
  }
  return pos;
}

/** Frames `data` as one TFRecord (used by tests and benchmarks to write event files). */
export function frameRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(16 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length, true);
  view.setUint32(4, 0, true);
  view.setUint32(8, maskedCrc32c(out, 0, 8), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}
