// gc and permanent deletion fail closed: a holder that cannot be read (torn, FIFO, too big, a link out of ROOT,
// an unreadable SDK index) keeps every blob it might hold, and the result says which file and why.
import { afterEach, describe, expect, it } from "bun:test";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { findRunDir, RunDeleter } from "../../src/store/assets/delete-run.ts";
import { collectGarbage } from "../../src/store/assets/gc.ts";
import { copyFixture, tempDir } from "../helpers/server.ts";

const YOLO = "20261129_032935_bfa7ab";
const CODE = "e8b2379f3779a1d88bf0277abc094168fe298c00a2de950714a45c1a2da40433";
const A_CSV = "5be08c9684a1d25efcee09318204824278b08bbfb4aef973ffefd0b9d7478313";
const MANIFEST = "archive/manifests/datasets/79/79a886294e4415c709da7d38391f26fec9d8662353b4154da14dae7933dd3b7d.json";
const blob = (root: string, sha: string) => join(root, "archive", "blobs", sha.slice(0, 2), sha);

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function fixture(): { root: string; outside: string } {
  const t = tempDir("rn-fc-");
  cleanups.push(t.cleanup);
  const root = copyFixture("rn-probe", join(t.dir, "root"));
  const outside = join(t.dir, "outside");
  mkdirSync(outside);
  return { root, outside };
}

/** Every blob file under ROOT. */
function blobs(root: string): string[] {
  const base = join(root, "archive", "blobs");
  return readdirSync(base).flatMap((p) => readdirSync(join(base, p))).sort();
}

/** Makes every archive file old enough for gc. */
function ageArchive(root: string): void {
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      utimesSync(p, new Date(0), new Date(0));
    }
  };
  walk(join(root, "archive"));
}

function mkfifo(path: string): void {
  rmSync(path, { force: true });
  const r = spawnSync("mkfifo", [path]);
  if (r.status !== 0) throw new Error(`mkfifo failed: ${r.stderr}`);
}

async function gc(root: string) {
  return collectGarbage(root, { dryRun: false, minAgeSeconds: 0, now: Date.now() + 10_000 });
}

async function remove(root: string, id: string) {
  const d = new RunDeleter(root, false);
  try {
    return await d.deleteRun(id, findRunDir(root, id));
  } finally {
    d.close();
  }
}

/** The ways a holder file can be unreadable, each applied to `path`. */
const BREAKERS: [string, (path: string, outside: string) => void][] = [
  ["torn JSON", (p) => writeFileSync(p, '{"files": {"a.csv": {"sha256": "5be0')],
  ["a FIFO", (p) => mkfifo(p)],
  ["over the size limit", (p) => truncateSync(p, 300 * 1024 * 1024)],
  [
    "a link leaving ROOT",
    (p, outside) => {
      const target = join(outside, "copy.json");
      cpSync(p, target);
      rmSync(p);
      symlinkSync(target, p);
    },
  ],
];

describe("gc fails closed", () => {
  for (const [what, breakIt] of BREAKERS) {
    it(`keeps the blobs of a live run whose dataset manifest is ${what}, and says why`, async () => {
      const { root, outside } = fixture();
      ageArchive(root);
      const before = blobs(root);
      breakIt(join(root, MANIFEST), outside);
      const r = await gc(root);
      expect(r.success).toBe(true);
      expect(blobs(root)).toEqual(before);
      expect(existsSync(blob(root, A_CSV))).toBe(true);
      expect(r.orphaned_blobs).toBe(0);
      expect(r.warnings.some((w) => /^kept \d+ blobs: cannot read .*79a886294e44.*\.json/.test(w))).toBe(true);
    });
  }

  it("keeps a blob only a run's assets.json refers to when that assets.json is a FIFO", async () => {
    const { root } = fixture();
    rmSync(join(root, "index"), { recursive: true }); // the run's assets.json is the only holder left
    ageArchive(root);
    mkfifo(join(findRunDir(root, YOLO)!, "assets.json"));
    const r = await gc(root);
    expect(existsSync(blob(root, CODE))).toBe(true);
    expect(r.blobs_kept).toBeGreaterThan(0);
    expect(r.warnings.join("\n")).toContain("assets.json");
    expect(r.warnings.join("\n")).toContain("FIFO");
  });

  it("keeps everything when the SDK index is not a database, and collects again once it is readable", async () => {
    const { root } = fixture();
    ageArchive(root);
    const stray = "f".repeat(64);
    mkdirSync(join(blob(root, stray), ".."), { recursive: true });
    writeFileSync(blob(root, stray), "stray");
    utimesSync(blob(root, stray), new Date(0), new Date(0));
    const db = join(root, "index", "runicorn.db");
    const saved = join(root, "..", "saved.db");
    cpSync(db, saved);
    writeFileSync(db, "this is not a database, it is a torn file ".repeat(200));
    const r = await gc(root);
    expect(existsSync(blob(root, stray))).toBe(true);
    expect(r.warnings.join("\n")).toContain("runicorn.db");
    cpSync(saved, db);
    const again = await gc(root);
    expect(again.warnings).toEqual([]);
    expect(existsSync(blob(root, stray))).toBe(false);
    expect(existsSync(blob(root, CODE))).toBe(true);
  });

  it("keeps everything when the SDK index is a FIFO (never blocks opening it)", async () => {
    const { root } = fixture();
    ageArchive(root);
    const before = blobs(root);
    mkfifo(join(root, "index", "runicorn.db"));
    const r = await gc(root);
    expect(blobs(root)).toEqual(before);
    expect(r.warnings.join("\n")).toContain("not a regular file");
  });
});

describe("permanent deletion fails closed", () => {
  it("keeps the deleted run's blobs when another run's assets.json cannot be read, and says which", async () => {
    const { root } = fixture();
    const clone = join(root, "runs", "cv", "clone", "20261129_040000_c10ec1");
    mkdirSync(join(clone, ".."), { recursive: true });
    cpSync(findRunDir(root, YOLO)!, clone, { recursive: true });
    writeFileSync(join(clone, "assets.json"), '{"code": {"snapshot": {"archive_path": "');
    const r = await remove(root, YOLO);
    expect(r.success).toBe(true);
    expect(r.run_dir_deleted).toBe(true);
    expect(r.blobs_deleted).toBe(0);
    expect(r.manifests_deleted).toBe(0);
    expect(existsSync(blob(root, CODE))).toBe(true);
    expect(existsSync(join(root, MANIFEST))).toBe(true);
    expect(r.warnings?.some((w) => w.startsWith("kept ") && w.includes(join(clone, "assets.json")))).toBe(true);
  });

  it("keeps blobs when a manifest elsewhere in the archive is a FIFO", async () => {
    const { root } = fixture();
    const other = join(root, "archive", "manifests", "datasets", "aa", `${"a".repeat(64)}.json`);
    mkdirSync(join(other, ".."), { recursive: true });
    mkfifo(other);
    const r = await remove(root, YOLO);
    expect(r.success).toBe(true);
    expect(existsSync(blob(root, CODE))).toBe(true);
    expect(r.warnings?.join("\n")).toContain("FIFO");
  });

  it("deletes normally once nothing is unreadable (the rule keeps nothing it does not have to)", async () => {
    const { root } = fixture();
    const r = await remove(root, YOLO);
    expect(r.warnings).toBeUndefined();
    expect(r.blobs_deleted).toBe(3);
    expect(statSync(join(root, "archive"), { throwIfNoEntry: false })).toBeDefined();
  });
});

describe("the SDK index lock file", () => {
  it("is never opened through a link (nothing created outside ROOT) nor blocked on as a FIFO", async () => {
    const { root, outside } = fixture();
    const lock = join(root, "index", "runicorn.db.lock");
    rmSync(lock, { force: true });
    symlinkSync(join(outside, "created-by-us"), lock);
    const r = await remove(root, YOLO);
    expect(r.errors.join("\n")).toContain("Failed to update index");
    expect(readdirSync(outside)).toEqual([]);
    rmSync(lock);
    mkfifo(lock);
    const clone = join(root, "runs", "cv", "clone", "20261129_040000_c10ec1");
    mkdirSync(join(clone, ".."), { recursive: true });
    cpSync(findRunDir(root, "20261129_032935_01576c")!, clone, { recursive: true });
    const again = await remove(root, "20261129_040000_c10ec1");
    expect(again.run_dir_deleted).toBe(true);
    expect(again.errors.join("\n")).toContain("Failed to update index"); // ENXIO: a FIFO without a reader is not waited on
  });
});

describe("the delete routes fail closed", () => {
  it("keeps the blobs on DELETE /api/runs/{id}/permanent and recycle-bin/empty while a manifest is torn, and says why", async () => {
    const { startTestServer } = await import("../helpers/server.ts");
    const s = await startTestServer({ fixture: "rn-probe" });
    try {
      const before = blobs(s.root);
      const other = join(s.root, "archive", "manifests", "datasets", "bb", `${"b".repeat(64)}.json`);
      mkdirSync(join(other, ".."), { recursive: true });
      writeFileSync(other, '{"files": {"x": {"sha256": "');
      const one = await s.api(`/api/runs/${YOLO}/permanent`, { method: "DELETE" });
      expect(one.status).toBe(200);
      expect(one.body.warnings.join("\n")).toContain(`${"b".repeat(64)}.json`);
      expect(blobs(s.root)).toEqual(before);
      const soft = await s.api("/api/runs/soft-delete", { method: "POST", json: { run_ids: ["20261129_032935_01576c"] } });
      expect(soft.status).toBe(200);
      const empty = await s.api("/api/recycle-bin/empty", { method: "POST", json: { confirm: true } });
      expect(empty.status).toBe(200);
      expect(blobs(s.root)).toEqual(before);
    } finally {
      await s.close();
    }
  });
});
