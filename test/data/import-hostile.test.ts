// Hostile archives against a real server and the real CLI: every malformed archive is a 4xx naming the problem
// (exit 1 with one line), nothing outside ROOT is touched, and a refused archive imports nothing at all.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { loadConfig } from "../../src/config/config.ts";
import { runDataCommand } from "../../src/cli/data.ts";
import { createLogger } from "../../src/util/log.ts";
import { isolatedEnv, startTestServer, type TestServer, tempDir } from "../helpers/server.ts";
import { concat, type RawEntry, rawTarGz, rawZip, runEntries, zeroEntries } from "./hostile-archives.ts";

const enc = new TextEncoder();
let s: TestServer;
let outside: string;

beforeAll(async () => {
  s = await startTestServer();
  mkdirSync(join(s.root, "runs"), { recursive: true });
  outside = join(s.dir, "outside");
  mkdirSync(outside);
});
afterAll(async () => {
  await s.close();
});

/** Every path under `dir` with its size (folders too), to prove nothing changed. */
function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath, e.name);
    out.push(`${relative(dir, p)} ${e.isFile() ? statSync(p).size : e.isSymbolicLink() ? "link" : "dir"}`);
  }
  return out.sort();
}

async function upload(bytes: Uint8Array, name = "x.zip") {
  const form = new FormData();
  form.append("file", new File([bytes as Uint8Array<ArrayBuffer>], name));
  return s.api("/api/import/archive", { method: "POST", body: form });
}

/** The CLI's `runicorn import FILE` against the server's root. */
async function cliImport(bytes: Uint8Array, name = "x.zip") {
  const t = tempDir("rn-imp-cli-");
  try {
    const file = join(t.dir, name);
    writeFileSync(file, bytes);
    const out: string[] = [];
    const err: string[] = [];
    const config = loadConfig({ root: s.root, logLevel: "error" }, isolatedEnv(t.dir));
    const code = await runDataCommand("import", [file], {
      config, log: createLogger("error"), out: (l) => out.push(l), err: (l) => err.push(l), tty: false, ask: () => "y",
    });
    return { code, out, err: err.filter((l) => !l.startsWith("import:")) };
  } finally {
    t.cleanup();
  }
}

/** Asserts that the archive is refused by both the API (4xx, detail matching) and the CLI (exit 1, one line), changing nothing. */
async function expectRefused(bytes: Uint8Array, detail: RegExp, name = "x.zip") {
  const before = tree(s.root);
  const r = await upload(bytes, name);
  expect(r.status).toBe(400);
  expect(typeof r.body.detail).toBe("string");
  expect(r.body.detail).toMatch(detail);
  const c = await cliImport(bytes, name);
  expect(c.code).toBe(1);
  expect(c.err.length).toBe(1);
  expect(c.err[0]).toMatch(detail);
  expect(tree(s.root)).toEqual(before);
  expect(tree(outside)).toEqual([]);
}

const good = (id: string) => runEntries(`runs/imp/${id}`);

describe("hostile names", () => {
  const cases: [string, RawEntry[], RegExp][] = [
    ["a path 40 folders deep", [{ name: `runs/${"d/".repeat(40)}x.json`, data: enc.encode("{}") }], /deeper than 32 folders/],
    ["a name segment over 255 bytes", [{ name: `runs/${"é".repeat(140)}/meta.json`, data: enc.encode("{}") }], /longer than 255 bytes/],
    ["a file and a folder of the same name", [{ name: "runs/a/x", data: enc.encode("1") }, { name: "runs/a/x/meta.json", data: enc.encode("{}") }], /both a file and a folder/],
    ["a NUL byte", [{ name: "runs/a\u0000b/meta.json", data: enc.encode("{}") }], /NUL/],
    ["a control character", [{ name: "runs/a\nb/meta.json", data: enc.encode("{}") }], /control character/],
    ["`..`", [{ name: "runs/../../x", data: enc.encode("{}") }], /path traversal/],
    ["an absolute path", [{ name: "/etc/x", data: enc.encode("{}") }], /absolute path/],
    ["a drive letter", [{ name: "C:/x/meta.json", data: enc.encode("{}") }], /absolute path/],
    ["a backslash traversal", [{ name: "runs\\..\\..\\x", data: enc.encode("{}") }], /path traversal/],
    ["duplicate names", [{ name: "runs/a/meta.json", data: enc.encode("{}") }, { name: "runs/a/meta.json", data: enc.encode("{}") }], /duplicate entry/],
    ["duplicate names spelled with a backslash", [{ name: "runs/a/meta.json", data: enc.encode("{}") }, { name: "runs\\a\\meta.json", data: enc.encode("{}") }], /duplicate entry/],
    ["a name that is not UTF-8", [{ name: concat([enc.encode("runs/"), new Uint8Array([0xff, 0xfe]), enc.encode("/meta.json")]), data: enc.encode("{}") }], /not valid UTF-8/],
  ];
  for (const [what, bad, detail] of cases) {
    it(`refuses a zip with ${what} (400 naming it, CLI exit 1), next to good runs, and imports none of them`, async () => {
      await expectRefused(rawZip([...good("20260101_000000_aaaaa1"), ...bad]), detail);
    });
  }

  it("refuses the same names in a tar.gz", async () => {
    await expectRefused(rawTarGz([{ name: "runs/a/x", data: enc.encode("1") }, { name: "runs/a/x/meta.json", data: enc.encode("{}") }]), /both a file and a folder/, "x.tar.gz");
    await expectRefused(rawTarGz([{ name: concat([enc.encode("runs/"), new Uint8Array([0xc3, 0x28])]), data: enc.encode("{}") }]), /not valid UTF-8/, "x.tar.gz");
  });
});

describe("hostile content", () => {
  it("refuses a truncated zip, a truncated tar.gz and a file with the wrong magic, saying the same in the API and the CLI", async () => {
    const zip = rawZip(good("20260101_000000_aaaaa2"));
    const tgz = rawTarGz(good("20260101_000000_aaaaa2").map((e) => ({ name: e.name, data: e.data })));
    const cases: [Uint8Array, string, RegExp][] = [
      [zip.subarray(0, zip.length - 30), "x.zip", /no end of central directory/],
      [tgz.subarray(0, tgz.length - 20), "x.tar.gz", /truncated|unexpected end|incorrect|premature/i],
      [enc.encode("MZ this is not an archive at all"), "x.zip", /neither a zip nor a tar/],
    ];
    for (const [bytes, name, why] of cases) {
      const before = tree(s.root);
      const r = await upload(bytes, name);
      expect(r.status).toBe(400);
      expect(r.body.detail).toStartWith("Unsupported or corrupted archive: ");
      expect(r.body.detail).toMatch(why);
      const c = await cliImport(bytes, name);
      expect(c.code).toBe(1);
      expect(c.err.length).toBe(1);
      expect(c.err[0]).toStartWith("Import failed: ");
      expect(c.err[0]).toMatch(why);
      expect(tree(s.root)).toEqual(before);
    }
  });

  it("refuses a zip bomb of many small entries by the whole archive's ratio, counted as bytes inflate", async () => {
    // 400 entries of 1 MiB zeros (each under the per-entry check): ~430 KB of zip, 400 MiB inflated
    const bytes = rawZip([...good("20260101_000000_aaaaa3"), ...zeroEntries("runs/imp/20260101_000000_aaaaa3/media", 400, 1024 * 1024)]);
    expect(bytes.length).toBeLessThan(1024 * 1024);
    const before = tree(s.root);
    const r = await upload(bytes);
    expect(r.status).toBe(400);
    expect(r.body.detail).toMatch(/compression ratio beyond 200:1/);
    expect(tree(s.root)).toEqual(before);
  });

  it("refuses a tar.gz bomb of many small entries the same way", async () => {
    const zeros = new Uint8Array(1024 * 1024);
    const entries = Array.from({ length: 150 }, (_, i) => ({ name: `runs/imp/20260101_000000_aaaaa4/m/${i}`, data: zeros }));
    const bytes = rawTarGz(entries);
    const r = await upload(bytes, "x.tar.gz");
    expect(r.status).toBe(400);
    expect(r.body.detail).toMatch(/compression ratio beyond 200:1/);
  });

  it("refuses a runicorn-export.json whose index rows have wrong types or miss keys, naming the row", async () => {
    const manifest = (index: unknown) => ({ name: "runicorn-export.json", data: enc.encode(JSON.stringify({ format: "runicorn-export", version: 1, index })) });
    const run = good("20260101_000000_aaaaa5");
    await expectRefused(rawZip([manifest({ runs: [{ run_id: 7 }] }), ...run]), /index\.runs\[0\]\.run_id must be a non-empty string/);
    await expectRefused(rawZip([manifest({ runs: [], assets: [{ asset_id: "a" }] }), ...run]), /index\.assets\[0\]\.asset_type/);
    await expectRefused(rawZip([manifest({ links: [{ run_id: "20260101_000000_aaaaa5", asset_id: "a", role: "x", created_at: "yesterday" }] }), ...run]), /index\.links\[0\]\.created_at must be a number or null/);
    await expectRefused(rawZip([manifest({ runs: "all of them" }), ...run]), /index\.runs must be a list/);
    await expectRefused(rawZip([{ name: "runicorn-export.json", data: enc.encode('{"format": "runicorn-ex') }, ...run]), /runicorn-export\.json is not valid JSON/);
  });

  it("imports nothing when one blob of many does not match its digest (checked before any run moves)", async () => {
    const sha = "a".repeat(64);
    await expectRefused(
      rawZip([...good("20260101_000000_aaaaa6"), ...good("20260101_000000_aaaaa7"), { name: `archive/blobs/aa/${sha}`, data: enc.encode("not that") }]),
      /blob content does not match/,
    );
  });
});

describe("the storage root", () => {
  it("writes nothing outside ROOT through a symlinked folder inside it, and imports nothing", async () => {
    symlinkSync(outside, join(s.root, "runs", "x"));
    try {
      await expectRefused(rawZip([...good("20260101_000000_aaaaa8").map((e) => ({ ...e, name: String(e.name).replace("runs/imp/", "runs/x/y/") }))]), /symbolic link: runs\/x/);
      expect(readdirSync(outside)).toEqual([]);
    } finally {
      rmSync(join(s.root, "runs", "x"));
    }
  });

  it("imports every run of a good archive and leaves no staging folder behind", async () => {
    const r = await upload(rawZip([...good("20260101_000000_bbbbb1"), ...good("20260101_000000_bbbbb2")]));
    expect(r.status).toBe(200);
    expect(r.body.new_run_ids).toEqual(["20260101_000000_bbbbb1", "20260101_000000_bbbbb2"]);
    expect(readdirSync(s.root).filter((n) => n.startsWith(".import-"))).toEqual([]);
    const list = await s.api("/api/runs");
    expect(list.body.map((x: { id: string }) => x.id)).toEqual(expect.arrayContaining(["20260101_000000_bbbbb1", "20260101_000000_bbbbb2"]));
  });
});

describe("many malformed archives (property-style)", () => {
  /** A small deterministic PRNG so a failure can be replayed. */
  function rng(seed: number) {
    return () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
  }
  const HOSTILE = [
    "../x", "/abs", "C:\\win", "a\u0000b", "runs/" + "z/".repeat(50) + "f", "runs/" + "q".repeat(300), "runs\\..\\..\\up",
    "runs/imp/r/meta.json/inner", "runs/imp/r", "runicorn-export.json", "index.json", "archive/blobs/aa/" + "a".repeat(64),
    "archive/manifests/x.json", "runs/imp/\ud800/meta.json", ".", "", "runs/imp/r/./meta.json", "runs//imp//r//status.json",
  ];
  const JUNK_JSON = ['{"format":"runicorn-export","index":{"runs":[{"run_id":null}]}}', '{"runs": 3}', "[1,2", '{"format":"runicorn-export","index":[]}', '{"runs":[{"run_id":"r","path":"../../.."}]}'];

  it("never answers 5xx, never writes outside ROOT, and a refused archive changes nothing", async () => {
    const rand = rng(12345);
    const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
    let refused = 0;
    for (let i = 0; i < 120; i++) {
      const entries: RawEntry[] = [...good(`20260202_000000_p${String(i).padStart(5, "0")}`)];
      const n = 1 + Math.floor(rand() * 4);
      for (let k = 0; k < n; k++) entries.push({ name: pick(HOSTILE), data: enc.encode(pick(JUNK_JSON)) });
      let bytes: Uint8Array = rand() < 0.3
        ? rawTarGz(entries.map((e) => ({ name: e.name, data: e.data })))
        : rawZip(entries);
      const mutation = rand();
      if (mutation < 0.2) bytes = bytes.subarray(0, Math.floor(rand() * bytes.length));
      else if (mutation < 0.4) {
        bytes = new Uint8Array(bytes);
        for (let f = 0; f < 3; f++) bytes[Math.floor(rand() * bytes.length)] ^= 0xff;
      }
      const before = tree(s.root);
      const r = await upload(bytes, rand() < 0.5 ? "a.zip" : "a.tar.gz");
      expect(r.status, `archive #${i}: ${JSON.stringify(r.body)}`).toBeLessThan(500);
      if (r.status !== 200) {
        refused++;
        expect(typeof r.body.detail === "string" || Array.isArray(r.body.detail)).toBe(true);
        expect(tree(s.root)).toEqual(before);
      }
      expect(readdirSync(outside)).toEqual([]);
      expect(readdirSync(s.root).filter((x) => x.startsWith(".import-"))).toEqual([]);
    }
    expect(refused).toBeGreaterThan(60);
  });
});

describe("rollback", () => {
  it("takes every moved run out again when the SDK-index merge fails after the moves", async () => {
    const { importArchive } = await import("../../src/store/assets/archive-import.ts");
    const t = tempDir("rn-imp-rb-");
    try {
      const root = join(t.dir, "root");
      mkdirSync(join(root, "index"), { recursive: true });
      spawnFifo(join(root, "index", "runicorn.db")); // the merge cannot open the SDK index
      const ids = ["20260101_000000_ccccc1", "20260101_000000_ccccc2"];
      const manifest = {
        format: "runicorn-export",
        version: 1,
        index: { runs: ids.map((run_id) => ({ run_id, path: "imp", run_dir: `/old/${run_id}` })), assets: [], links: [] },
      };
      const bytes = rawZip([{ name: "runicorn-export.json", data: enc.encode(JSON.stringify(manifest)) }, ...ids.flatMap((id) => good(id))]);
      const before = tree(root);
      await expect(importArchive(root, new Blob([bytes as Uint8Array<ArrayBuffer>]), "x.zip")).rejects.toThrow(/not a regular file/);
      expect(tree(root)).toEqual(before);
    } finally {
      t.cleanup();
    }
  });
});

function spawnFifo(path: string): void {
  const r = Bun.spawnSync(["mkfifo", path]);
  if (r.exitCode !== 0) throw new Error(`mkfifo failed: ${r.stderr}`);
}
