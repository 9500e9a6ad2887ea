// A zip reader for untrusted archives: central directory parsing (zip64 included), no overlapping entries,
// declared sizes enforced while inflating, CRC checked. Pure TypeScript over a Blob (file or upload).
import { inflateRawSync } from "node:zlib";
import type { ByteSink } from "./byte-sink.ts";

/** A problem with the archive itself (corrupt, unsupported, or hostile). */
export class ArchiveError extends Error {}

/** One entry of the central directory. */
export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  csize: number;
  usize: number;
  localOffset: number;
  /** Unix mode from the external attributes when the archive was made on Unix, else 0. */
  mode: number;
  isDir: boolean;
  /** A symbolic link (Unix mode S_IFLNK). */
  isLink: boolean;
  /** Start of the compressed data, filled by `readZipEntries`. */
  dataOffset: number;
}

const U32 = 0xffffffff;
const INLINE_LIMIT = 16 * 1024 * 1024;

async function read(blob: Blob, start: number, end: number): Promise<DataView> {
  if (start < 0 || end > blob.size || start > end) throw new ArchiveError("truncated archive");
  return new DataView(await blob.slice(start, end).arrayBuffer());
}

/** True when the first bytes look like a zip (local header or empty-archive end record). */
export async function looksLikeZip(blob: Blob): Promise<boolean> {
  if (blob.size < 22) return false;
  const v = await read(blob, 0, 4);
  const sig = v.getUint32(0, true);
  return sig === 0x04034b50 || sig === 0x06054b50;
}

/** Parses the central directory; refuses encrypted, overlapping or out-of-range entries. */
export async function readZipEntries(blob: Blob, maxEntries: number): Promise<ZipEntry[]> {
  const tailLen = Math.min(blob.size, 22 + 0xffff);
  const tail = await read(blob, blob.size - tailLen, blob.size);
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (tail.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ArchiveError("not a zip file (no end of central directory)");
  let count = tail.getUint16(eocd + 10, true);
  let cdSize = tail.getUint32(eocd + 12, true);
  let cdOffset = tail.getUint32(eocd + 16, true);
  const eocdAbs = blob.size - tailLen + eocd;
  if (count === 0xffff || cdSize === U32 || cdOffset === U32) {
    if (eocdAbs < 20) throw new ArchiveError("zip64 locator missing");
    const loc = await read(blob, eocdAbs - 20, eocdAbs);
    if (loc.getUint32(0, true) !== 0x07064b50) throw new ArchiveError("zip64 locator missing");
    const z64 = Number(loc.getBigUint64(8, true));
    const rec = await read(blob, z64, z64 + 56);
    if (rec.getUint32(0, true) !== 0x06064b50) throw new ArchiveError("bad zip64 end record");
    count = Number(rec.getBigUint64(32, true));
    cdSize = Number(rec.getBigUint64(40, true));
    cdOffset = Number(rec.getBigUint64(48, true));
  }
  if (count > maxEntries) throw new ArchiveError(`too many entries (${count} > ${maxEntries})`);
  if (cdOffset + cdSize > blob.size) throw new ArchiveError("central directory out of range");
  const cd = await read(blob, cdOffset, cdOffset + cdSize);
  const entries: ZipEntry[] = [];
  const dec = new TextDecoder("utf-8", { fatal: false });
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdSize || cd.getUint32(p, true) !== 0x02014b50) throw new ArchiveError("corrupt central directory");
    const madeBy = cd.getUint16(p + 4, true) >> 8;
    const flags = cd.getUint16(p + 8, true);
    const method = cd.getUint16(p + 10, true);
    const crc = cd.getUint32(p + 16, true);
    let csize = cd.getUint32(p + 20, true);
    let usize = cd.getUint32(p + 24, true);
    const nameLen = cd.getUint16(p + 28, true);
    const extraLen = cd.getUint16(p + 30, true);
    const commentLen = cd.getUint16(p + 32, true);
    const external = cd.getUint32(p + 38, true);
    let localOffset = cd.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen + commentLen > cdSize) throw new ArchiveError("corrupt central directory");
    const name = dec.decode(new Uint8Array(cd.buffer, cd.byteOffset + p + 46, nameLen));
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = cd.getUint16(x, true);
      const len = cd.getUint16(x + 2, true);
      if (id === 0x0001) {
        let q = x + 4;
        if (usize === U32 && q + 8 <= x + 4 + len) (usize = Number(cd.getBigUint64(q, true))), (q += 8);
        if (csize === U32 && q + 8 <= x + 4 + len) (csize = Number(cd.getBigUint64(q, true))), (q += 8);
        if (localOffset === U32 && q + 8 <= x + 4 + len) localOffset = Number(cd.getBigUint64(q, true));
      }
      x += 4 + len;
    }
    const mode = madeBy === 3 ? external >>> 16 : 0;
    const type = mode & 0o170000;
    if (flags & 0x01) throw new ArchiveError(`encrypted entry: ${name}`);
    entries.push({
      name,
      method,
      flags,
      crc,
      csize,
      usize,
      localOffset,
      mode,
      isDir: name.endsWith("/") || type === 0o040000 || (madeBy === 0 && (external & 0x10) !== 0),
      isLink: type === 0o120000,
      dataOffset: 0,
    });
    p += 46 + nameLen + extraLen + commentLen;
  }
  // local headers: find where each entry's data starts, and refuse entries that overlap (zip bombs that
  // reuse one compressed stream for many entries)
  const sorted = [...entries].sort((a, b) => a.localOffset - b.localOffset);
  let prevEnd = 0;
  for (const e of sorted) {
    if (e.localOffset < prevEnd) throw new ArchiveError(`overlapping entries: ${e.name}`);
    const lh = await read(blob, e.localOffset, e.localOffset + 30);
    if (lh.getUint32(0, true) !== 0x04034b50) throw new ArchiveError(`bad local header: ${e.name}`);
    e.dataOffset = e.localOffset + 30 + lh.getUint16(26, true) + lh.getUint16(28, true);
    prevEnd = e.dataOffset + e.csize;
    if (prevEnd > cdOffset) throw new ArchiveError(`entry data out of range: ${e.name}`);
  }
  return entries;
}

/**
 * Writes one entry's content to `sink`, refusing more output than declared and checking the CRC.
 * Large entries are inflated as a stream.
 */
export async function extractZipEntry(blob: Blob, e: ZipEntry, sink: ByteSink): Promise<void> {
  if (e.method !== 0 && e.method !== 8) throw new ArchiveError(`unsupported compression method ${e.method}: ${e.name}`);
  const raw = blob.slice(e.dataOffset, e.dataOffset + e.csize);
  if (e.method === 0) {
    if (e.csize !== e.usize) throw new ArchiveError(`size mismatch: ${e.name}`);
  }
  if (e.usize <= INLINE_LIMIT || e.method === 0) {
    if (e.method === 0 && e.usize > INLINE_LIMIT) {
      let crc = 0;
      for await (const c of raw.stream() as unknown as AsyncIterable<Uint8Array>) {
        crc = Bun.hash.crc32(c, crc) >>> 0;
        await sink.write(c);
      }
      if (crc !== e.crc) throw new ArchiveError(`CRC mismatch: ${e.name}`);
      return;
    }
    const input = new Uint8Array(await raw.arrayBuffer());
    let data: Uint8Array;
    if (e.method === 0) data = input;
    else {
      try {
        data = inflateRawSync(input, { maxOutputLength: Math.max(1, e.usize) });
      } catch (err) {
        throw new ArchiveError(`entry inflates beyond its declared size or is corrupt: ${e.name} (${(err as Error).message})`);
      }
    }
    if (data.length !== e.usize) throw new ArchiveError(`size mismatch: ${e.name}`);
    if ((Bun.hash.crc32(data) >>> 0) !== e.crc) throw new ArchiveError(`CRC mismatch: ${e.name}`);
    await sink.write(data);
    return;
  }
  let crc = 0;
  let n = 0;
  const ds = raw.stream().pipeThrough(new DecompressionStream("deflate-raw"));
  for await (const c of ds as unknown as AsyncIterable<Uint8Array>) {
    n += c.length;
    if (n > e.usize) throw new ArchiveError(`entry inflates beyond its declared size: ${e.name}`);
    crc = Bun.hash.crc32(c, crc) >>> 0;
    await sink.write(c);
  }
  if (n !== e.usize) throw new ArchiveError(`size mismatch: ${e.name}`);
  if (crc !== e.crc) throw new ArchiveError(`CRC mismatch: ${e.name}`);
}
