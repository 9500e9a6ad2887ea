// Zip and tar writers/readers: round trips, zip64-free streaming of large files, and refusal of hostile input.
import { describe, expect, it } from "bun:test";
import { deflateRawSync } from "node:zlib";
import { GzipSink, MemorySink } from "../../src/store/assets/byte-sink.ts";
import { TarParser, TarWriter } from "../../src/store/assets/tar.ts";
import { ArchiveError, extractZipEntry, readZipEntries } from "../../src/store/assets/zip-reader.ts";
import { ZipWriter } from "../../src/store/assets/zip-writer.ts";

const enc = new TextEncoder();

async function zipOf(files: Record<string, Uint8Array>): Promise<Uint8Array> {
  const sink = new MemorySink();
  const z = new ZipWriter(sink);
  for (const [name, data] of Object.entries(files)) await z.addBytes(name, data);
  await z.finish();
  return sink.bytes();
}

async function unzip(bytes: Uint8Array): Promise<Record<string, string>> {
  const blob = new Blob([bytes as Uint8Array<ArrayBuffer>]);
  const out: Record<string, string> = {};
  for (const e of await readZipEntries(blob, 1000)) {
    const s = new MemorySink();
    await extractZipEntry(blob, e, s);
    out[e.name] = new TextDecoder().decode(s.bytes());
  }
  return out;
}

/** A zip with one entry whose central directory claims `usize` bytes while the data inflates to `real`. */
function lyingZip(real: Uint8Array, usize: number): Uint8Array {
  const body = deflateRawSync(real);
  const name = enc.encode("runs/x/meta.json");
  const local = new DataView(new ArrayBuffer(30));
  local.setUint32(0, 0x04034b50, true);
  local.setUint16(8, 8, true);
  local.setUint32(14, Bun.hash.crc32(real) >>> 0, true);
  local.setUint32(18, body.length, true);
  local.setUint32(22, usize, true);
  local.setUint16(26, name.length, true);
  const cd = new DataView(new ArrayBuffer(46));
  cd.setUint32(0, 0x02014b50, true);
  cd.setUint16(10, 8, true);
  cd.setUint32(16, Bun.hash.crc32(real) >>> 0, true);
  cd.setUint32(20, body.length, true);
  cd.setUint32(24, usize, true);
  cd.setUint16(28, name.length, true);
  const cdStart = 30 + name.length + body.length;
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, 1, true);
  end.setUint16(10, 1, true);
  end.setUint32(12, 46 + name.length, true);
  end.setUint32(16, cdStart, true);
  return Buffer.concat([new Uint8Array(local.buffer), name, body, new Uint8Array(cd.buffer), name, new Uint8Array(end.buffer)]);
}

describe("zip", () => {
  it("reads back what it writes, names in UTF-8 and empty files included", async () => {
    const bytes = await zipOf({ "a/b.txt": enc.encode("hello"), "é.json": enc.encode("{}"), "empty": new Uint8Array(0) });
    expect(await unzip(bytes)).toEqual({ "a/b.txt": "hello", "é.json": "{}", empty: "" });
  });

  it("streams a file larger than the in-memory threshold through deflate with a data descriptor", async () => {
    const path = `${import.meta.dir}/.big-${process.pid}.bin`;
    const data = new Uint8Array(6 * 1024 * 1024).map((_, i) => (i * 31) % 253);
    await Bun.write(path, data);
    try {
      const sink = new MemorySink();
      const z = new ZipWriter(sink);
      await z.addFile("big.bin", path, import.meta.dir);
      await z.finish();
      const blob = new Blob([sink.bytes() as Uint8Array<ArrayBuffer>]);
      const [e] = await readZipEntries(blob, 10);
      expect(e.flags & 0x08).toBe(0x08);
      const out = new MemorySink();
      await extractZipEntry(blob, e, out);
      expect(Buffer.compare(out.bytes(), data)).toBe(0);
    } finally {
      await Bun.file(path).delete();
    }
  });

  it("refuses an entry that inflates beyond its declared size", async () => {
    const bytes = lyingZip(new Uint8Array(100_000), 10);
    const blob = new Blob([bytes as Uint8Array<ArrayBuffer>]);
    const [e] = await readZipEntries(blob, 10);
    await expect(extractZipEntry(blob, e, new MemorySink())).rejects.toBeInstanceOf(ArchiveError);
  });

  it("refuses entries that share one compressed stream (overlap bomb)", async () => {
    const bytes = new Uint8Array(await zipOf({ "a.txt": enc.encode("aaaa") }));
    // duplicate the central entry so that two names point at the same local header
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const endAt = bytes.length - 22;
    const cdStart = v.getUint32(endAt + 16, true);
    const cd = bytes.slice(cdStart, endAt);
    const end = bytes.slice(endAt);
    const ev = new DataView(end.buffer);
    ev.setUint16(8, 2, true);
    ev.setUint16(10, 2, true);
    ev.setUint32(12, cd.length * 2, true);
    const forged = Buffer.concat([bytes.slice(0, cdStart), cd, cd, end]);
    await expect(readZipEntries(new Blob([forged as Uint8Array<ArrayBuffer>]), 10)).rejects.toThrow(/overlapping/);
  });

  it("refuses a file that is not a zip", async () => {
    await expect(readZipEntries(new Blob([enc.encode("not a zip at all, just text")]), 10)).rejects.toBeInstanceOf(ArchiveError);
  });
});

describe("tar", () => {
  it("round-trips long names through pax headers and gzip", async () => {
    const out = new MemorySink();
    const gz = new GzipSink(out);
    const t = new TarWriter(gz);
    const long = `runs/${"p".repeat(150)}/meta.json`;
    await t.addBytes(long, enc.encode('{"id":1}'));
    await t.addBytes("b.txt", enc.encode("x".repeat(1000)));
    await t.finish();
    await gz.finish();
    const seen: Record<string, string> = {};
    const sinks = new Map<string, MemorySink>();
    const p = new TarParser({
      entry: (h) => {
        const s = new MemorySink();
        sinks.set(h.name, s);
        return s;
      },
      end: (h) => {
        seen[h.name] = new TextDecoder().decode(sinks.get(h.name)!.bytes());
      },
    });
    const stream = new Blob([out.bytes() as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>);
    for await (const c of stream as unknown as AsyncIterable<Uint8Array>) await p.push(c);
    p.end();
    expect(seen).toEqual({ [long]: '{"id":1}', "b.txt": "x".repeat(1000) });
  });

  it("reports a truncated archive", async () => {
    const out = new MemorySink();
    const t = new TarWriter(out);
    await t.addBytes("a.txt", enc.encode("x".repeat(2000)));
    const p = new TarParser({ entry: () => undefined });
    await p.push(out.bytes().slice(0, 700));
    expect(() => p.end()).toThrow(ArchiveError);
  });
});
