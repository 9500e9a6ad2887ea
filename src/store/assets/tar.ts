// Tar (ustar + pax) writing and a push parser for untrusted input; gzip is layered on by the caller.
import { closeSync, readSync } from "node:fs";
import { openChecked, UNLIMITED } from "../safe-read.ts";
import type { ByteSink } from "./byte-sink.ts";
import { ArchiveError } from "./zip-reader.ts";

const BLOCK = 512;
const enc = new TextEncoder();

function octal(buf: Uint8Array, off: number, len: number, value: number): void {
  const s = Math.floor(value).toString(8).padStart(len - 1, "0");
  buf.set(enc.encode(s.slice(-(len - 1))), off);
}

function paxRecord(key: string, value: string): Uint8Array {
  const body = ` ${key}=${value}\n`;
  const n = enc.encode(body).length;
  let len = n + 1;
  while (String(len).length + n !== len) len = String(len).length + n;
  return enc.encode(`${len}${body}`);
}

function header(name: Uint8Array, size: number, mtime: number, mode: number, type: string): Uint8Array {
  const h = new Uint8Array(BLOCK);
  h.set(name.subarray(0, 100), 0);
  octal(h, 100, 8, mode);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, size < 0o77777777777 ? size : 0);
  octal(h, 136, 12, mtime);
  h.fill(0x20, 148, 156);
  h[156] = type.charCodeAt(0);
  h.set(enc.encode("ustar\u000000"), 257);
  let sum = 0;
  for (const b of h) sum += b;
  octal(h, 148, 7, sum);
  h[155] = 0x20;
  return h;
}

/** Writes tar entries into a sink; `finish` writes the two end blocks. */
export class TarWriter {
  constructor(private readonly sink: ByteSink) {}

  private async entryHeader(name: string, size: number, mtime: number, mode: number): Promise<void> {
    const nameBytes = enc.encode(name);
    if (nameBytes.length > 100 || size >= 0o77777777777) {
      const pax = Buffer.concat([paxRecord("path", name), ...(size >= 0o77777777777 ? [paxRecord("size", String(size))] : [])]);
      await this.sink.write(header(enc.encode("PaxHeader"), pax.length, mtime, 0o644, "x"));
      await this.sink.write(pad(pax));
    }
    await this.sink.write(header(nameBytes, size, mtime, mode, "0"));
  }

  /** Adds an in-memory file. */
  async addBytes(name: string, data: Uint8Array, mtime = Date.now() / 1000, mode = 0o644): Promise<void> {
    await this.entryHeader(name, data.length, mtime, mode);
    await this.sink.write(pad(data));
  }

  /** Adds a file from disk under the safe-read rule (FileRefusedError before anything is written), read in chunks. */
  async addFile(name: string, path: string, root: string): Promise<void> {
    const f = openChecked(path, { root, maxBytes: UNLIMITED });
    const st = f.stats;
    const fd = f.fd;
    try {
      await this.entryHeader(name, st.size, st.mtimeMs / 1000, st.mode & 0o777);
      let left = st.size;
      const buf = new Uint8Array(1024 * 1024);
      while (left > 0) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, left), null);
        if (n <= 0) throw new Error(`${path} shrank while being archived`);
        await this.sink.write(buf.slice(0, n));
        left -= n;
      }
      const rest = st.size % BLOCK;
      if (rest) await this.sink.write(new Uint8Array(BLOCK - rest));
    } finally {
      closeSync(fd);
    }
  }

  /** Ends the archive. */
  async finish(): Promise<void> {
    await this.sink.write(new Uint8Array(BLOCK * 2));
  }
}

function pad(data: Uint8Array): Uint8Array {
  const rest = data.length % BLOCK;
  if (!rest) return data;
  const out = new Uint8Array(data.length + BLOCK - rest);
  out.set(data);
  return out;
}

/** An entry as the parser reports it; links and devices are reported so the caller can refuse them. */
export interface TarEntryHeader {
  name: string;
  size: number;
  type: "file" | "dir" | "link" | "other";
  mode: number;
}

/** Callbacks of the parser: `entry` returns the sink for a file's content (or undefined to skip it). */
export interface TarHandler {
  entry(h: TarEntryHeader): Promise<ByteSink | undefined> | ByteSink | undefined;
  /** Called after the last byte of a file entry. */
  end?(h: TarEntryHeader): Promise<void> | void;
}

function cstr(b: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && b[end] !== 0) end++;
  return new TextDecoder().decode(b.subarray(off, end));
}

function parseOctal(b: Uint8Array, off: number, len: number): number {
  if (b[off] & 0x80) {
    // GNU base-256 for large sizes
    let v = 0;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + b[i];
    return v;
  }
  const s = cstr(b, off, len).trim();
  if (s && !/^[0-7]+$/.test(s)) throw new ArchiveError("corrupt tar header");
  return s ? parseInt(s, 8) : 0;
}

function parsePax(data: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const text = new TextDecoder().decode(data);
  let i = 0;
  while (i < text.length) {
    const sp = text.indexOf(" ", i);
    if (sp < 0) break;
    const len = parseInt(text.slice(i, sp), 10);
    if (!(len > 0)) throw new ArchiveError("corrupt pax header");
    const rec = text.slice(sp + 1, i + len - 1);
    const eq = rec.indexOf("=");
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/** A push parser: feed it the (decompressed) bytes in order, then call `end`. */
export class TarParser {
  private buf: Uint8Array = new Uint8Array(0);
  private cur: { h: TarEntryHeader; sink: ByteSink | undefined; left: number; pad: number; meta?: "pax" | "gnu"; acc?: Uint8Array[] } | undefined;
  private pax: Record<string, string> = {};
  private longName: string | undefined;
  private done = false;

  constructor(private readonly handler: TarHandler) {}

  /** Consumes a chunk. */
  async push(chunk: Uint8Array): Promise<void> {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    let off = 0;
    while (!this.done) {
      if (this.cur) {
        if (this.cur.left > 0) {
          const n = Math.min(this.cur.left, this.buf.length - off);
          if (n === 0) break;
          const piece = this.buf.subarray(off, off + n);
          if (this.cur.acc) this.cur.acc.push(piece.slice());
          else if (this.cur.sink) await this.cur.sink.write(piece.slice());
          this.cur.left -= n;
          off += n;
          if (this.cur.left > 0) break;
        }
        const p = Math.min(this.cur.pad, this.buf.length - off);
        this.cur.pad -= p;
        off += p;
        if (this.cur.pad > 0) break;
        const c = this.cur;
        this.cur = undefined;
        if (c.meta === "pax") this.pax = parsePax(Buffer.concat(c.acc!));
        else if (c.meta === "gnu") this.longName = cstr(Buffer.concat(c.acc!), 0, Infinity);
        else if (c.h.type === "file") await this.handler.end?.(c.h);
        continue;
      }
      if (this.buf.length - off < BLOCK) break;
      const h = this.buf.subarray(off, off + BLOCK);
      off += BLOCK;
      if (h.every((b) => b === 0)) {
        this.done = true; // end of archive (the second zero block and any padding are ignored)
        break;
      }
      let sum = 0;
      for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
      if (parseOctal(h, 148, 8) !== sum) throw new ArchiveError("corrupt tar header (checksum)");
      const flag = String.fromCharCode(h[156] || 0x30);
      let size = parseOctal(h, 124, 12);
      if (flag === "x" || flag === "L" || flag === "g") {
        if (size > 1024 * 1024) throw new ArchiveError("oversized tar meta header");
        this.cur = {
          h: { name: "", size, type: "other", mode: 0 },
          sink: undefined,
          left: size,
          pad: (BLOCK - (size % BLOCK)) % BLOCK,
          meta: flag === "x" ? "pax" : flag === "L" ? "gnu" : undefined,
          acc: [],
        };
        continue;
      }
      const magic = cstr(h, 257, 6);
      const prefix = magic.startsWith("ustar") ? cstr(h, 345, 155) : "";
      let name = cstr(h, 0, 100);
      if (prefix) name = `${prefix}/${name}`;
      if (this.longName !== undefined) name = this.longName;
      if (this.pax.path !== undefined) name = this.pax.path;
      if (this.pax.size !== undefined) size = Number(this.pax.size);
      this.pax = {};
      this.longName = undefined;
      const type = flag === "0" || flag === "7" ? "file" : flag === "5" ? "dir" : flag === "1" || flag === "2" ? "link" : "other";
      const entry: TarEntryHeader = { name, size, type, mode: parseOctal(h, 100, 8) };
      const sink = await this.handler.entry(entry);
      const dataSize = type === "file" ? size : type === "dir" || type === "link" ? 0 : size;
      this.cur = { h: entry, sink, left: dataSize, pad: (BLOCK - (dataSize % BLOCK)) % BLOCK };
    }
    this.buf = this.buf.subarray(off);
  }

  /** Checks that the archive ended cleanly. */
  end(): void {
    if (!this.done && (this.cur || this.buf.length > 0)) throw new ArchiveError("truncated tar archive");
  }
}
