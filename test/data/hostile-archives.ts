// Test helpers: hand-built zip and tar archives with whatever names, bytes and sizes a hostile archive carries.
import { deflateRawSync, gzipSync } from "node:zlib";

const enc = new TextEncoder();

/** One member of a hand-built archive. */
export interface RawEntry {
  /** The name exactly as stored (a string is UTF-8 encoded; bytes are stored as they are). */
  name: string | Uint8Array;
  data?: Uint8Array;
  /** Store the data deflated (default) or as is. */
  deflate?: boolean;
  /** Pre-deflated data with its real size and CRC (to repeat one compressed stream cheaply). */
  precompressed?: { bytes: Uint8Array; size: number; crc: number };
}

/** A zip of the entries (no data descriptors, Unix "made by", mode 0644). */
export function rawZip(entries: RawEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = typeof e.name === "string" ? enc.encode(e.name) : e.name;
    const data = e.data ?? new Uint8Array(0);
    let body: Uint8Array;
    let size: number;
    let crc: number;
    let method: number;
    if (e.precompressed) {
      body = e.precompressed.bytes;
      size = e.precompressed.size;
      crc = e.precompressed.crc;
      method = 8;
    } else {
      size = data.length;
      crc = Bun.hash.crc32(data) >>> 0;
      method = e.deflate === false ? 0 : 8;
      body = method === 8 ? deflateRawSync(data) : data;
    }
    const utf8Flag = typeof e.name === "string" ? 0x0800 : 0;
    const lh = new DataView(new ArrayBuffer(30));
    lh.setUint32(0, 0x04034b50, true);
    lh.setUint16(4, 20, true);
    lh.setUint16(6, utf8Flag, true);
    lh.setUint16(8, method, true);
    lh.setUint32(14, crc, true);
    lh.setUint32(18, body.length, true);
    lh.setUint32(22, size, true);
    lh.setUint16(26, name.length, true);
    const ch = new DataView(new ArrayBuffer(46));
    ch.setUint32(0, 0x02014b50, true);
    ch.setUint16(4, (3 << 8) | 20, true);
    ch.setUint16(6, 20, true);
    ch.setUint16(8, utf8Flag, true);
    ch.setUint16(10, method, true);
    ch.setUint32(16, crc, true);
    ch.setUint32(20, body.length, true);
    ch.setUint32(24, size, true);
    ch.setUint16(28, name.length, true);
    ch.setUint32(38, (0o100644 << 16) >>> 0, true);
    ch.setUint32(42, offset, true);
    parts.push(new Uint8Array(lh.buffer), name, body);
    central.push(new Uint8Array(ch.buffer), name);
    offset += 30 + name.length + body.length;
  }
  const cdSize = central.reduce((n, p) => n + p.length, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, entries.length, true);
  end.setUint16(10, entries.length, true);
  end.setUint32(12, cdSize, true);
  end.setUint32(16, offset, true);
  return concat([...parts, ...central, new Uint8Array(end.buffer)]);
}

/** `count` entries of `size` zero bytes each, sharing one deflated stream's bytes (each entry has its own copy). */
export function zeroEntries(prefix: string, count: number, size: number): RawEntry[] {
  const data = new Uint8Array(size);
  const pre = { bytes: deflateRawSync(data, { level: 9 }), size, crc: Bun.hash.crc32(data) >>> 0 };
  return Array.from({ length: count }, (_, i) => ({ name: `${prefix}/${i}.bin`, precompressed: pre }));
}

/** A ustar header block for a member (type '0' file, '5' folder, '2' symlink). */
function tarHeader(name: Uint8Array, size: number, type = "0", link = ""): Uint8Array {
  const h = new Uint8Array(512);
  h.set(name.subarray(0, 100), 0);
  const octal = (off: number, len: number, v: number) => h.set(enc.encode(v.toString(8).padStart(len - 1, "0")), off);
  octal(100, 8, 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size);
  octal(136, 12, 0);
  h.fill(0x20, 148, 156);
  h[156] = type.charCodeAt(0);
  h.set(enc.encode(link).subarray(0, 100), 157);
  h.set(enc.encode("ustar\u000000"), 257);
  let sum = 0;
  for (const b of h) sum += b;
  h.set(enc.encode(sum.toString(8).padStart(6, "0") + "\u0000 "), 148);
  return h;
}

/** A gzipped tar of the entries; `type`/`link` make folders and links. */
export function rawTarGz(entries: { name: string | Uint8Array; data?: Uint8Array; type?: string; link?: string }[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const name = typeof e.name === "string" ? enc.encode(e.name) : e.name;
    const data = e.data ?? new Uint8Array(0);
    parts.push(tarHeader(name, data.length, e.type ?? "0", e.link ?? ""), data);
    const rest = data.length % 512;
    if (rest) parts.push(new Uint8Array(512 - rest));
  }
  parts.push(new Uint8Array(1024));
  return gzipSync(concat(parts));
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The files of a minimal valid run at `dir` (ROOT-relative). */
export function runEntries(dir: string): RawEntry[] {
  const id = dir.slice(dir.lastIndexOf("/") + 1);
  return [
    { name: `${dir}/meta.json`, data: enc.encode(JSON.stringify({ id, path: "imp" })) },
    { name: `${dir}/status.json`, data: enc.encode('{"status":"finished"}') },
    { name: `${dir}/events.jsonl`, data: enc.encode('{"type":"metrics","data":{"global_step":1,"loss":0.5}}\n') },
  ];
}
