// The embedded checksum table: release hashes that do not depend on the table, in-place patching, malformed binaries.
import { afterAll, describe, expect, it } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  encodeSumsTable,
  findTableBody,
  parseSumsTable,
  patchSumsTable,
  readSumsTableOfFile,
  releaseHash,
  releaseHashOfFile,
  sumsMarker,
} from "../../src/release/checksums.ts";
import { RELEASE_TARGETS, releaseFileName, targetKey } from "../../src/release/targets.ts";
import { tempDir } from "../helpers/server.ts";
import { writeFakeBuild } from "./fake-binary.ts";

const t = tempDir("rn-sums-");
afterAll(() => t.cleanup());
const H = (s: string) => createHash("sha256").update(s).digest("hex");

describe("the checksum table", () => {
  it("round-trips every target's hash and leaves unknown targets out", () => {
    const sums = new Map([
      ["linux-x64", H("a")],
      ["darwin-arm64", H("b")],
    ]);
    const back = parseSumsTable(encodeSumsTable(sums));
    expect([...back.entries()].sort()).toEqual([...sums.entries()].sort());
    expect(parseSumsTable(encodeSumsTable(new Map())).size).toBe(0);
  });

  it("refuses a hash that is not 64 lower-case hex digits", () => {
    expect(() => encodeSumsTable(new Map([["linux-x64", "abc"]]))).toThrow("bad sha256");
  });

  it("gives a release hash that is the plain sha256 while the table is empty, and unchanged after patching", () => {
    const path = join(t.dir, "fake");
    const bytes = writeFakeBuild(path);
    const before = releaseHashOfFile(path);
    expect(before).toBe(createHash("sha256").update(bytes).digest("hex"));
    const sums = new Map(RELEASE_TARGETS.map((x) => [targetKey(x), H(targetKey(x))]));
    patchSumsTable(path, sums);
    expect(readFileSync(path).length).toBe(bytes.length);
    expect(releaseHashOfFile(path)).toBe(before);
    expect(readSumsTableOfFile(path)).toEqual(sums);
  });

  it("finds no table in a file without the marker or with it twice (not a runicorn build)", () => {
    const table = Buffer.from(encodeSumsTable(new Map()), "latin1");
    expect(findTableBody(Buffer.from("just some bytes"))).toBeUndefined();
    expect(releaseHash(Buffer.concat([table, table]))).toBeUndefined();
    expect(releaseHash(Buffer.from(sumsMarker() + "0123"))).toBeUndefined(); // cut short
    writeFileSync(join(t.dir, "plain"), "hello");
    expect(() => patchSumsTable(join(t.dir, "plain"), new Map())).toThrow("no single checksum table");
  });

  it("never spells the marker out in the code that searches for it", () => {
    const src = readFileSync(join(import.meta.dir, "../../src/release/checksums.ts"), "latin1");
    expect(src.includes(sumsMarker())).toBe(false);
  });

  it("names release files runicorn-<version>-<os>-<arch>, with .exe on Windows", () => {
    expect(RELEASE_TARGETS.map((x) => releaseFileName("1.2.3", x))).toEqual([
      "runicorn-1.2.3-linux-x64",
      "runicorn-1.2.3-linux-arm64",
      "runicorn-1.2.3-darwin-x64",
      "runicorn-1.2.3-darwin-arm64",
      "runicorn-1.2.3-windows-x64.exe",
    ]);
  });
});
