// A streaming zip writer (deflate, UTF-8 names, zip64 when sizes or counts need it), pure TypeScript.
import { closeSync, readSync } from "node:fs";
import { deflateRawSync } from "node:zlib";
import { openChecked, UNLIMITED } from "../safe-read.ts";
import type { ByteSink } from "./byte-sink.ts";

const SMALL_FILE = 4 * 1024 * 1024;
const CHUNK = 1024 * 1024;
const U32 = 0xffffffff;

interface CentralEntry {
  name: Uint8Array;
  method: number;
  flags: number;
  time: number;
  date: number;
  crc: number;
  csize: number;
  usize: number;
  offset: number;
  mode: number;
}

/** DOS date/time of a JS time (local time, 2-second resolution, clamped to 1980). */
function dosTime(d: Date): { time: number; date: number } {
  const y = d.getFullYear();
  if (y < 1980) return { time: 0, date: (1 << 5) | 1 };
  return {
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1),
    date: ((y - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
  };
}

/** Writes entries one after another into a sink; call `finish` once at the end. */
export class ZipWriter {
  private readonly entries: CentralEntry[] = [];
  private offset = 0;

  constructor(private readonly sink: ByteSink) {}

  private async out(b: Uint8Array): Promise<void> {
    this.offset += b.length;
    await this.sink.write(b);
  }

  /** Adds an in-memory file. Incompressible data is stored instead of deflated. */
  async addBytes(name: string, data: Uint8Array, mtime: Date = new Date(), mode = 0o644): Promise<void> {
    const crc = Bun.hash.crc32(data) >>> 0;
    const deflated = deflateRawSync(data, { level: 6 });
    const stored = deflated.length >= data.length;
    const body = stored ? data : deflated;
    const e = this.entry(name, stored ? 0 : 8, 0x0800, mtime, mode);
    e.crc = crc;
    e.csize = body.length;
    e.usize = data.length;
    await this.out(this.localHeader(e, false));
    await this.out(body);
    this.entries.push(e);
  }

  /**
   * Adds a file from disk under the safe-read rule (inside `root`, a regular file; FileRefusedError is thrown
   * before anything is written), streaming large files through deflate without holding them in memory.
   */
  async addFile(name: string, path: string, root: string, mode?: number): Promise<void> {
    const f = openChecked(path, { root, maxBytes: UNLIMITED });
    const st = f.stats;
    const fileMode = mode ?? (st.mode & 0o777);
    if (st.size <= SMALL_FILE) {
      let data: Uint8Array;
      try {
        data = readExactly(f.fd, st.size, path);
      } finally {
        closeSync(f.fd);
      }
      await this.addBytes(name, data, st.mtime, fileMode);
      return;
    }
    const zip64 = st.size >= U32 - 1024 * 1024;
    const e = this.entry(name, 8, 0x0808, st.mtime, fileMode);
    e.offset = this.offset;
    await this.out(this.localHeader(e, zip64));
    const cs = new CompressionStream("deflate-raw");
    const writer = cs.writable.getWriter();
    let csize = 0;
    const pump = (async () => {
      for await (const c of cs.readable as unknown as AsyncIterable<Uint8Array>) {
        csize += c.length;
        await this.out(c);
      }
    })();
    let crc = 0;
    let usize = 0;
    const fd = f.fd;
    try {
      const buf = new Uint8Array(CHUNK);
      for (let left = st.size; left > 0; left -= CHUNK) {
        // only the size seen at open time: a file that grows meanwhile is cut there, not followed forever
        const n = readSync(fd, buf, 0, Math.min(CHUNK, left), null);
        if (n <= 0) break;
        const chunk = buf.slice(0, n);
        crc = Bun.hash.crc32(chunk, crc) >>> 0;
        usize += n;
        await writer.write(chunk);
      }
      await writer.close();
      await pump;
    } finally {
      closeSync(fd);
    }
    e.crc = crc;
    e.csize = csize;
    e.usize = usize;
    const desc = new DataView(new ArrayBuffer(zip64 ? 24 : 16));
    desc.setUint32(0, 0x08074b50, true);
    desc.setUint32(4, crc, true);
    if (zip64) {
      desc.setBigUint64(8, BigInt(csize), true);
      desc.setBigUint64(16, BigInt(usize), true);
    } else {
      desc.setUint32(8, csize, true);
      desc.setUint32(12, usize, true);
    }
    await this.out(new Uint8Array(desc.buffer));
    this.entries.push(e);
  }

  private entry(name: string, method: number, flags: number, mtime: Date, mode: number): CentralEntry {
    const { time, date } = dosTime(mtime);
    return { name: new TextEncoder().encode(name), method, flags, time, date, crc: 0, csize: 0, usize: 0, offset: this.offset, mode };
  }

  private localHeader(e: CentralEntry, zip64: boolean): Uint8Array {
    const extraLen = zip64 ? 20 : 0;
    const h = new DataView(new ArrayBuffer(30 + e.name.length + extraLen));
    h.setUint32(0, 0x04034b50, true);
    h.setUint16(4, zip64 ? 45 : 20, true);
    h.setUint16(6, e.flags, true);
    h.setUint16(8, e.method, true);
    h.setUint16(10, e.time, true);
    h.setUint16(12, e.date, true);
    const known = (e.flags & 0x08) === 0;
    h.setUint32(14, known ? e.crc : 0, true);
    h.setUint32(18, zip64 ? U32 : known ? e.csize : 0, true);
    h.setUint32(22, zip64 ? U32 : known ? e.usize : 0, true);
    h.setUint16(26, e.name.length, true);
    h.setUint16(28, extraLen, true);
    const bytes = new Uint8Array(h.buffer);
    bytes.set(e.name, 30);
    if (zip64) {
      h.setUint16(30 + e.name.length, 0x0001, true);
      h.setUint16(32 + e.name.length, 16, true); // sizes follow in the data descriptor
    }
    return bytes;
  }

  /** Writes the central directory (zip64 records when needed). */
  async finish(): Promise<void> {
    const cdStart = this.offset;
    for (const e of this.entries) {
      const fields: bigint[] = [];
      if (e.usize >= U32) fields.push(BigInt(e.usize));
      if (e.csize >= U32) fields.push(BigInt(e.csize));
      if (e.offset >= U32) fields.push(BigInt(e.offset));
      const extraLen = fields.length ? 4 + 8 * fields.length : 0;
      const h = new DataView(new ArrayBuffer(46 + e.name.length + extraLen));
      h.setUint32(0, 0x02014b50, true);
      h.setUint16(4, (3 << 8) | 45, true); // made by Unix, so the mode in the external attributes is read
      h.setUint16(6, fields.length ? 45 : 20, true);
      h.setUint16(8, e.flags, true);
      h.setUint16(10, e.method, true);
      h.setUint16(12, e.time, true);
      h.setUint16(14, e.date, true);
      h.setUint32(16, e.crc, true);
      h.setUint32(20, e.csize >= U32 ? U32 : e.csize, true);
      h.setUint32(24, e.usize >= U32 ? U32 : e.usize, true);
      h.setUint16(28, e.name.length, true);
      h.setUint16(30, extraLen, true);
      h.setUint32(38, ((0o100000 | e.mode) << 16) >>> 0, true);
      h.setUint32(42, e.offset >= U32 ? U32 : e.offset, true);
      const bytes = new Uint8Array(h.buffer);
      bytes.set(e.name, 46);
      if (fields.length) {
        let p = 46 + e.name.length;
        h.setUint16(p, 0x0001, true);
        h.setUint16(p + 2, 8 * fields.length, true);
        p += 4;
        for (const f of fields) {
          h.setBigUint64(p, f, true);
          p += 8;
        }
      }
      await this.out(bytes);
    }
    const cdSize = this.offset - cdStart;
    const n = this.entries.length;
    const zip64 = n >= 0xffff || cdSize >= U32 || cdStart >= U32;
    if (zip64) {
      const z = new DataView(new ArrayBuffer(56 + 20));
      const eocd64 = this.offset;
      z.setUint32(0, 0x06064b50, true);
      z.setBigUint64(4, 44n, true);
      z.setUint16(12, (3 << 8) | 45, true);
      z.setUint16(14, 45, true);
      z.setBigUint64(24, BigInt(n), true);
      z.setBigUint64(32, BigInt(n), true);
      z.setBigUint64(40, BigInt(cdSize), true);
      z.setBigUint64(48, BigInt(cdStart), true);
      z.setUint32(56, 0x07064b50, true);
      z.setBigUint64(64, BigInt(eocd64), true);
      z.setUint32(72, 1, true);
      await this.out(new Uint8Array(z.buffer));
    }
    const end = new DataView(new ArrayBuffer(22));
    end.setUint32(0, 0x06054b50, true);
    end.setUint16(8, zip64 ? 0xffff : n, true);
    end.setUint16(10, zip64 ? 0xffff : n, true);
    end.setUint32(12, zip64 ? U32 : cdSize, true);
    end.setUint32(16, zip64 ? U32 : cdStart, true);
    await this.out(new Uint8Array(end.buffer));
  }

  /** Number of entries written. */
  get count(): number {
    return this.entries.length;
  }
}

/** Reads `size` bytes from a freshly opened `fd` (sequentially, from 0); a file that shrank meanwhile is an error. */
function readExactly(fd: number, size: number, path: string): Uint8Array {
  const out = Buffer.allocUnsafe(size);
  let n = 0;
  while (n < size) {
    const got = readSync(fd, out, n, size - n, null);
    if (got <= 0) throw new Error(`${path} shrank while being archived`);
    n += got;
  }
  return out;
}
