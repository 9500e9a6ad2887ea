// The safe-read rule on real files: links are resolved and judged against ROOT's real path, only regular files
// are opened (FIFOs and devices never), sizes are capped, and the JSON readers built on it degrade to "no file".
import { afterEach, describe, expect, it } from "bun:test";
import { spawnSync } from "node:child_process";
import { appendFileSync, closeSync, mkdirSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readJsonFile, readJsonObject } from "../../src/store/json.ts";
import { fileStream, FileRefusedError, openChecked, readChecked, UNLIMITED } from "../../src/store/safe-read.ts";
import { tempDir } from "../helpers/server.ts";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function setup(): { root: string; outside: string } {
  const t = tempDir("rn-safe-");
  cleanups.push(t.cleanup);
  const root = join(t.dir, "root");
  const outside = join(t.dir, "outside");
  mkdirSync(join(root, "runs"), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, "secret.json"), '{"secret": true}');
  return { root, outside };
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof FileRefusedError) return e.reason;
    throw e;
  }
  return "read";
}

describe("safe read", () => {
  it("reads a regular file inside ROOT, also through a link that stays inside", () => {
    const { root } = setup();
    writeFileSync(join(root, "runs", "a.json"), '{"a": 1}');
    symlinkSync(join(root, "runs", "a.json"), join(root, "runs", "b.json"));
    expect(readChecked(join(root, "runs", "b.json"), { root, maxBytes: 100 }).toString()).toBe('{"a": 1}');
  });

  it("refuses a file link, a folder link and a root-relative link that lead outside ROOT", () => {
    const { root, outside } = setup();
    symlinkSync(join(outside, "secret.json"), join(root, "runs", "x.json"));
    symlinkSync(outside, join(root, "runs", "dir"));
    symlinkSync("../../outside/secret.json", join(root, "runs", "rel.json"));
    for (const p of ["x.json", "dir/secret.json", "rel.json"]) {
      expect(refusal(() => readChecked(join(root, "runs", p), { root, maxBytes: 100 }))).toBe("outside_root");
    }
  });

  it("refuses a link at the file itself when no ROOT is given (readers that walked without links)", () => {
    const { root, outside } = setup();
    symlinkSync(join(outside, "secret.json"), join(root, "runs", "x.json"));
    expect(refusal(() => readChecked(join(root, "runs", "x.json"), { maxBytes: 100 }))).toBe("link");
    expect(readJsonObject(join(root, "runs", "x.json"))).toBeUndefined();
  });

  it("refuses a FIFO without opening it (no writer: opening would block forever)", () => {
    const { root } = setup();
    const p = join(root, "runs", "meta.json");
    expect(spawnSync("mkfifo", [p]).status).toBe(0);
    expect(refusal(() => readChecked(p, { root, maxBytes: 100 }))).toBe("not_regular");
    const r = readJsonFile(p, { root });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toContain("is a FIFO");
  });

  it("refuses a character device and a link to /dev/zero", () => {
    const { root } = setup();
    symlinkSync("/dev/zero", join(root, "runs", "z.json"));
    expect(refusal(() => readChecked(join(root, "runs", "z.json"), { root, maxBytes: 100 }))).toBe("outside_root");
    expect(refusal(() => readChecked(join(root, "runs", "z.json"), { maxBytes: 100 }))).toBe("link");
    const dev = join(root, "runs", "dev.json");
    if (spawnSync("mknod", [dev, "c", "1", "5"]).status === 0) {
      expect(refusal(() => readChecked(dev, { root, maxBytes: 100 }))).toBe("not_regular");
    }
    expect(refusal(() => readChecked("/dev/zero", { maxBytes: 100 }))).toBe("not_regular");
  });

  it("refuses a file over the caller's limit, and says missing for a file that is not there", () => {
    const { root } = setup();
    writeFileSync(join(root, "runs", "big.json"), "x".repeat(101));
    expect(refusal(() => readChecked(join(root, "runs", "big.json"), { root, maxBytes: 100 }))).toBe("too_large");
    expect(refusal(() => readChecked(join(root, "runs", "none.json"), { root, maxBytes: 100 }))).toBe("missing");
    const r = readJsonFile(join(root, "runs", "none.json"), { root });
    expect(!r.ok && r.missing).toBe(true);
  });

  it("streams exactly the size seen at open, even if the file grows or is replaced meanwhile", async () => {
    const { root } = setup();
    const p = join(root, "runs", "log.txt");
    writeFileSync(p, "a".repeat(1000));
    const f = openChecked(p, { root, maxBytes: UNLIMITED });
    appendFileSync(p, "b".repeat(1000));
    writeFileSync(join(root, "runs", "other.txt"), "c");
    renameSync(join(root, "runs", "other.txt"), p);
    const text = await new Response(fileStream(f)).text();
    expect(text).toBe("a".repeat(1000));
  });

  it("closes the descriptor when a stream is cancelled", async () => {
    const { root } = setup();
    const p = join(root, "runs", "big.bin");
    writeFileSync(p, new Uint8Array(2 * 1024 * 1024));
    const f = openChecked(p, { root, maxBytes: UNLIMITED });
    const reader = fileStream(f).getReader();
    await reader.read();
    await reader.cancel();
    expect(() => closeSync(f.fd)).toThrow(); // already closed: EBADF
  });
});
