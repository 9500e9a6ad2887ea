// Archive import refuses entries outside ROOT, links and bombs, and writes nothing when it refuses.
import { afterEach, describe, expect, it } from "bun:test";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { importArchive, UnsafeArchiveError } from "../../src/store/assets/archive-import.ts";
import { MemorySink } from "../../src/store/assets/byte-sink.ts";
import { ArchiveError } from "../../src/store/assets/zip-reader.ts";
import { ZipWriter } from "../../src/store/assets/zip-writer.ts";
import { tempDir } from "../helpers/server.ts";

const enc = new TextEncoder();
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function emptyRoot(): { root: string; dir: string } {
  const t = tempDir("rn-imp-");
  cleanups.push(t.cleanup);
  const root = join(t.dir, "root");
  mkdirSync(join(root, "runs"), { recursive: true });
  return { root, dir: t.dir };
}

async function zipBlob(files: Record<string, string | Uint8Array>, patch?: (bytes: Uint8Array) => void): Promise<Blob> {
  const sink = new MemorySink();
  const z = new ZipWriter(sink);
  for (const [n, d] of Object.entries(files)) await z.addBytes(n, typeof d === "string" ? enc.encode(d) : d);
  await z.finish();
  const bytes = new Uint8Array(sink.bytes());
  patch?.(bytes);
  return new Blob([bytes]);
}

const RUN = "runs/cv/a/20260101_000000_aaaaaa";

function listAll(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) out.push(join(e.parentPath, e.name));
  return out.sort();
}

describe("archive import", () => {
  it("imports runs with paths relative to ROOT and leaves other files out", async () => {
    const { root } = emptyRoot();
    const blob = await zipBlob({ [`${RUN}/meta.json`]: '{"id":"20260101_000000_aaaaaa","path":"cv/a"}', [`${RUN}/status.json`]: "{}", "notes.txt": "x" });
    const r = await importArchive(root, blob, "x.zip");
    expect(r).toMatchObject({ ok: true, format: "root", imported_files: 2, new_run_ids: ["20260101_000000_aaaaaa"], skipped_files: ["notes.txt"] });
    expect(existsSync(join(root, RUN, "meta.json"))).toBe(true);
    expect(existsSync(join(root, "notes.txt"))).toBe(false);
  });

  it("never overwrites a run that already exists", async () => {
    const { root } = emptyRoot();
    mkdirSync(join(root, RUN), { recursive: true });
    writeFileSync(join(root, RUN, "meta.json"), '{"alias":"mine"}');
    const r = await importArchive(root, await zipBlob({ [`${RUN}/meta.json`]: '{"alias":"theirs"}' }), "x.zip");
    expect(r.skipped_run_ids).toEqual(["20260101_000000_aaaaaa"]);
    expect(await Bun.file(join(root, RUN, "meta.json")).text()).toBe('{"alias":"mine"}');
  });

  for (const [what, name] of [
    ["a parent-directory entry (zip slip)", "../evil.txt"],
    ["a nested traversal", `${RUN}/../../../../../evil.txt`],
    ["an absolute path", "/tmp/evil.txt"],
    ["a Windows drive path", "C:/evil.txt"],
  ] as const) {
    it(`refuses ${what} and writes nothing`, async () => {
      const { root, dir } = emptyRoot();
      const before = listAll(dir);
      const blob = await zipBlob({ [`${RUN}/meta.json`]: "{}", [name]: "pwned" });
      await expect(importArchive(root, blob, "x.zip")).rejects.toBeInstanceOf(UnsafeArchiveError);
      expect(listAll(dir)).toEqual(before);
    });
  }

  it("refuses a zip entry marked as a symbolic link", async () => {
    const { root, dir } = emptyRoot();
    const before = listAll(dir);
    const blob = await zipBlob({ [`${RUN}/meta.json`]: "/etc/passwd" }, (bytes) => {
      const v = new DataView(bytes.buffer);
      for (let i = bytes.length - 22; i >= 0; i--) {
        if (v.getUint32(i, true) === 0x02014b50) {
          v.setUint32(i + 38, (0o120777 << 16) >>> 0, true);
          break;
        }
      }
    });
    await expect(importArchive(root, blob, "x.zip")).rejects.toThrow(/link/);
    expect(listAll(dir)).toEqual(before);
  });

  it("refuses a tar.gz with a symlink or a hard link", async () => {
    const { root, dir } = emptyRoot();
    const src = join(dir, "src");
    mkdirSync(join(src, RUN), { recursive: true });
    writeFileSync(join(src, RUN, "meta.json"), "{}");
    symlinkSync("/etc/passwd", join(src, RUN, "logs.txt"));
    const archive = join(dir, "a.tar.gz");
    execFileSync("tar", ["czf", archive, "-C", src, "runs"]);
    const before = listAll(root);
    await expect(importArchive(root, Bun.file(archive), archive)).rejects.toThrow(/link in archive/);
    expect(listAll(root)).toEqual(before);
  });

  it("refuses a zip bomb by compression ratio before writing anything", async () => {
    const { root, dir } = emptyRoot();
    const before = listAll(dir);
    const blob = await zipBlob({ [`${RUN}/meta.json`]: "{}", [`${RUN}/events.jsonl`]: new Uint8Array(50 * 1024 * 1024) });
    await expect(importArchive(root, blob, "x.zip")).rejects.toThrow(/ratio/);
    expect(listAll(dir)).toEqual(before);
  });

  it("refuses an archive that expands beyond the size limit", async () => {
    const { root } = emptyRoot();
    const blob = await zipBlob({ [`${RUN}/meta.json`]: "{}", [`${RUN}/events.jsonl`]: "x".repeat(5000) });
    await expect(importArchive(root, blob, "x.zip", { limits: { maxTotalBytes: 1000 } })).rejects.toThrow(/limit/);
  });

  it("refuses a blob whose content does not match its digest", async () => {
    const { root } = emptyRoot();
    const sha = "a".repeat(64);
    await expect(importArchive(root, await zipBlob({ [`archive/blobs/aa/${sha}`]: "not that" }), "x.zip")).rejects.toBeInstanceOf(UnsafeArchiveError);
  });

  it("reports a corrupt or foreign file as an archive error", async () => {
    const { root } = emptyRoot();
    await expect(importArchive(root, new Blob([enc.encode("hello, not an archive")]), "x.zip")).rejects.toBeInstanceOf(ArchiveError);
    const gz = Bun.gzipSync(enc.encode("x".repeat(700)));
    await expect(importArchive(root, new Blob([gz]), "x.tar.gz")).rejects.toBeInstanceOf(ArchiveError);
  });
});
