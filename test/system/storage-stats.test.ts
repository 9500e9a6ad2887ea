// Storage statistics on copies of roots written by the real SDK: v0.6 and legacy runs counted, sizes checked against `find`.
import { afterAll, afterEach, describe, expect, it } from "bun:test";
import { cpSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { computeStorageStats, formatSize, StorageStatsCache } from "../../src/system/storage-stats.ts";
import { cleanup, SDK_FIXTURES, startServer, tempDir, until } from "./helpers.ts";

const dir = tempDir("storage");
afterAll(() => cleanup(dir));

let server: ReturnType<typeof startServer> | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

let n = 0;
/** A writable copy of one of the SDK fixture roots. */
function copyRoot(name: string): string {
  const root = join(dir, `${name}-${++n}`);
  cpSync(join(SDK_FIXTURES, name), root, { recursive: true });
  // the fixtures are read-only on disk; tests add files to the copy
  Bun.spawnSync(["chmod", "-R", "u+w", root]);
  return root;
}

/** Bytes and count of regular files below `paths`, by find(1) (an independent measurement). */
function findSizes(...paths: string[]): { bytes: number; count: number } {
  const out = Bun.spawnSync(["find", ...paths, "-type", "f", "-printf", "%s\\n"], { stderr: "ignore" }).stdout.toString();
  const sizes = out.split("\n").filter(Boolean).map(Number);
  return { bytes: sizes.reduce((a, b) => a + b, 0), count: sizes.length };
}

describe("GET /api/storage/stats", () => {
  it("counts the v0.6 runs the original missed, with legacy ones, and sizes each area as find(1) does", async () => {
    const root = copyRoot("rn-probe");
    server = startServer(root, { pathEnv: "/nonexistent", useNvml: false });
    const { status, body } = await server.get("/api/storage/stats");
    expect(status).toBe(200);
    expect(Object.keys(body)).toEqual(["storage_root", "total", "archive", "runs", "index", "computed_at"]);
    expect(body.storage_root).toBe(root);
    // root-level run, nlp/bert, cv/yolo ×2 (one soft-deleted, counted apart as the list hides it), cv/resnet, legacyproj/legacyname
    expect(body.runs).toMatchObject({ projects_count: 3, experiments_count: 4, runs_count: 5, deleted_runs_count: 1 });
    const runs = findSizes(join(root, "runs"), join(root, "legacyproj/legacyname/runs"));
    expect(body.runs.size_bytes).toBe(runs.bytes);
    expect(body.runs.size_human).toBe(formatSize(runs.bytes));
    // the blobs are those of the original's capture of the same probe: 942 bytes in 3 files
    expect(body.archive.blobs).toEqual({ size_bytes: 942, size_human: "942.00 B", file_count: 3 });
    const manifests = findSizes(join(root, "archive/manifests"));
    expect(body.archive.manifests).toMatchObject({ size_bytes: manifests.bytes, file_count: manifests.count });
    expect(body.archive.manifests.by_category).toEqual({
      datasets: { size_bytes: manifests.bytes, size_human: formatSize(manifests.bytes), file_count: 1 },
    });
    expect(body.archive.outputs).toEqual({ size_bytes: 0, size_human: "0.00 B", file_count: 0 });
    expect(body.archive.size_bytes).toBe(942 + manifests.bytes);
    const index = findSizes(join(root, "index"));
    expect(body.index.size_bytes).toBe(index.bytes);
    expect(body.total.size_bytes).toBe(body.archive.size_bytes + runs.bytes + index.bytes);
  });

  it("counts the other SDK roots' runs the same way the run list discovers them", async () => {
    for (const name of ["rn-data", "rn-data2"]) {
      const root = copyRoot(name);
      const stats = await computeStorageStats(root);
      const runDirs = Bun.spawnSync(["find", join(root, "runs"), "-name", "meta.json", "-printf", "%h\\n"])
        .stdout.toString()
        .split("\n")
        .filter(Boolean);
      expect(stats.runs.runs_count).toBe(runDirs.length);
      expect(stats.runs.size_bytes).toBe(findSizes(...runDirs).bytes);
    }
  });

  it("reports zeros for an empty or missing root", async () => {
    const missing = join(dir, "missing-root");
    const s = await computeStorageStats(missing);
    expect(s.storage_root).toBe(missing);
    expect(s.total).toEqual({ size_bytes: 0, size_human: "0.00 B" });
    expect(s.runs).toEqual({
      size_bytes: 0,
      size_human: "0.00 B",
      projects_count: 0,
      experiments_count: 0,
      runs_count: 0,
      deleted_runs_count: 0,
    });
    expect(s.archive.manifests.by_category).toEqual({});
  });

  it("neither follows nor counts symlinks, so nothing outside the root is measured", async () => {
    const root = join(dir, "links");
    const run = join(root, "runs", "p", "20250101_000000_aaaaaa");
    mkdirSync(run, { recursive: true });
    writeFileSync(join(run, "meta.json"), "{}");
    symlinkSync("/work/shared/fixtures", join(run, "outside"));
    symlinkSync("/work/shared/fixtures/runicorn-0.6/rn-probe/runs/nlp", join(root, "runs", "linked"));
    const s = await computeStorageStats(root);
    expect(s.runs.runs_count).toBe(1);
    expect(s.runs.size_bytes).toBe(2);
  });

  it("ignores path segments without runs and run-like folders outside runs/ and legacy */*/runs", async () => {
    const root = join(dir, "shapes");
    mkdirSync(join(root, "runs", "empty", "segment"), { recursive: true });
    mkdirSync(join(root, "archive", "x", "runs", "r1"), { recursive: true });
    writeFileSync(join(root, "archive", "x", "runs", "r1", "meta.json"), "{}");
    mkdirSync(join(root, "proj", "name", "runs", "not-a-run"), { recursive: true });
    const s = await computeStorageStats(root);
    expect(s.runs.runs_count).toBe(0);
    expect(s.archive.size_bytes).toBe(0); // archive/x is neither blobs, manifests nor outputs
  });

  it("yields to the event loop while walking a large root", async () => {
    const root = join(dir, "large");
    for (let r = 0; r < 20; r++) {
      const run = join(root, "runs", `p${r % 4}`, `20250101_000000_${String(r).padStart(6, "0")}`);
      mkdirSync(join(run, "media"), { recursive: true });
      writeFileSync(join(run, "meta.json"), "{}");
      for (let f = 0; f < 20; f++) writeFileSync(join(run, "media", `${f}.png`), "x");
    }
    let turns = 0;
    let walking = true;
    const spin = () => {
      turns++;
      if (walking) setImmediate(spin);
    };
    setImmediate(spin);
    const s = await computeStorageStats(root, { sliceMs: 0 });
    walking = false;
    expect(s.runs.runs_count).toBe(20);
    expect(s.runs.size_bytes).toBe(20 * (2 + 20));
    expect(s.runs.projects_count).toBe(4);
    expect(turns).toBeGreaterThan(5);
  });

  it("serves the cached figures within the TTL and refreshes them in the background after it", async () => {
    const root = copyRoot("rn-probe");
    const cache = new StorageStatsCache({ ttlMs: 150 });
    const a = await cache.get(root);
    const extra = join(root, "runs", "new", "20250101_000000_bbbbbb");
    mkdirSync(extra, { recursive: true });
    writeFileSync(join(extra, "status.json"), '{"status":"running"}');
    const b = await cache.get(root);
    expect(b.computed_at).toBe(a.computed_at);
    expect(b.runs.runs_count).toBe(5);
    await Bun.sleep(160);
    const stale = await cache.get(root); // served at once while the walk runs
    expect(stale.runs.runs_count).toBe(5);
    const fresh = await until(async () => {
      const x = await cache.get(root);
      return x.runs.runs_count === 6 ? x : undefined;
    }, "refreshed stats");
    expect(fresh.runs.projects_count).toBe(4);
    rmSync(extra, { recursive: true });
  });

  it("computes anew when the storage root changes", async () => {
    const a = copyRoot("rn-probe");
    const b = join(dir, "other-root");
    mkdirSync(b, { recursive: true });
    const cache = new StorageStatsCache({ ttlMs: 60_000 });
    expect((await cache.get(a)).runs.runs_count).toBe(5);
    const other = await cache.get(b);
    expect(other.storage_root).toBe(b);
    expect(other.runs.runs_count).toBe(0);
  });

  it("answers 404 to a POST", async () => {
    server = startServer(join(dir, "post-root"), { pathEnv: "/nonexistent", useNvml: false });
    expect((await fetch(`${server.base}/api/storage/stats`, { method: "POST" })).status).toBe(404);
  });
});

describe("formatSize", () => {
  it("formats like Python's '%.2f' over 1024-based units, ties to even", () => {
    // expected strings printed by the original's _format_size under CPython 3.11
    const cases: [number, string][] = [
      [0, "0.00 B"],
      [1023, "1023.00 B"],
      [1024, "1.00 KB"],
      [1152, "1.12 KB"],
      [1184, "1.16 KB"],
      [1421, "1.39 KB"],
      [57344, "56.00 KB"],
      [59137, "57.75 KB"],
      [123456789, "117.74 MB"],
      [1023 * 1024 ** 4, "1023.00 TB"],
      [1024 ** 5, "1.00 PB"],
      [5 * 1024 ** 5 + 1, "5.00 PB"],
    ];
    for (const [bytes, text] of cases) expect(formatSize(bytes)).toBe(text);
  });
});
