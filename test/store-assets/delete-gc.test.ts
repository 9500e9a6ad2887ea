// Permanent deletion and garbage collection on copies of the real SDK's roots: shared archive files stay,
// orphaned ones go, index rows follow, dry runs change nothing.
import { afterEach, describe, expect, it } from "bun:test";
import { Database } from "bun:sqlite";
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { findRunDir, RunDeleter } from "../../src/store/assets/delete-run.ts";
import { withFileLock } from "../../src/store/assets/file-lock.ts";
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

function fixture(name: string): string {
  const t = tempDir("rn-del-");
  cleanups.push(t.cleanup);
  const root = copyFixture(name, join(t.dir, "root"));
  makeWritable(root);
  return root;
}

function makeWritable(dir: string): void {
  chmodSync(dir, 0o755);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) makeWritable(p);
    else chmodSync(p, 0o644);
  }
}

/** Every file under a root with size and mtime, to prove that nothing changed. */
function snapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      // SQLite's shared-memory index and an empty WAL appear under any reader; they hold no data
      else if (e.name.endsWith("-shm") || (e.name.endsWith("-wal") && statSync(p).size === 0)) continue;
      else {
        const st = statSync(p);
        out.push(`${relative(root, p)} ${st.size} ${st.mtimeMs} ${p.endsWith(".db") ? "" : readFileSync(p).toString("base64").length}`);
      }
    }
  };
  walk(root);
  return out.sort();
}

/** A second run whose assets.json refers to the same archive files as the first (copied run dir, new id). */
function cloneRun(root: string, fromId: string, toId: string): string {
  const src = findRunDir(root, fromId)!;
  const dst = join(root, "runs", "cv", "clone", toId);
  mkdirSync(join(root, "runs", "cv", "clone"), { recursive: true });
  cpSync(src, dst, { recursive: true });
  return dst;
}

async function remove(root: string, id: string, dryRun = false) {
  const d = new RunDeleter(root, dryRun);
  try {
    return await d.deleteRun(id, findRunDir(root, id));
  } finally {
    d.close();
  }
}

function sdk(root: string) {
  const db = new Database(join(root, "index", "runicorn.db"), { readonly: true });
  try {
    return {
      runs: db.query<{ run_id: string }, []>("SELECT run_id FROM runs").all().map((r) => r.run_id),
      assets: db.query<{ n: number }, []>("SELECT count(*) AS n FROM assets").get()!.n,
      links: db.query<{ n: number }, []>("SELECT count(*) AS n FROM run_assets").get()!.n,
    };
  } finally {
    db.close();
  }
}

describe("permanent deletion", () => {
  it("removes the run, its unshared blobs and manifest, and its index rows", async () => {
    const root = fixture("rn-probe");
    const r = await remove(root, YOLO);
    expect(r.success).toBe(true);
    expect(r.orphaned_assets.map((a) => a.asset_type).sort()).toEqual(["code_snapshot", "config", "dataset"]);
    expect(r.blobs_deleted).toBe(3);
    expect(r.manifests_deleted).toBe(1);
    expect(existsSync(join(root, "runs", "cv", "yolo", YOLO))).toBe(false);
    expect(existsSync(blob(root, CODE))).toBe(false);
    expect(existsSync(join(root, MANIFEST))).toBe(false);
    const idx = sdk(root);
    expect(idx.runs).not.toContain(YOLO);
    expect(idx.assets).toBe(0);
    expect(idx.links).toBe(0);
  });

  it("keeps blobs and the manifest that another run's assets.json still refers to", async () => {
    const root = fixture("rn-probe");
    cloneRun(root, YOLO, "20261129_040000_c10ec1");
    const first = await remove(root, YOLO);
    expect(first.blobs_deleted).toBe(0);
    expect(first.manifests_deleted).toBe(0);
    expect(first.blobs_kept).toBe(1); // the code blob; the kept manifest keeps its own blobs out of the question
    expect(existsSync(blob(root, CODE))).toBe(true);
    expect(existsSync(blob(root, A_CSV))).toBe(true);
    expect(existsSync(join(root, MANIFEST))).toBe(true);
    const second = await remove(root, "20261129_040000_c10ec1");
    expect(second.blobs_deleted).toBe(3);
    expect(existsSync(blob(root, CODE))).toBe(false);
  });

  it("keeps a blob that another manifest lists", async () => {
    const root = fixture("rn-probe");
    const other = join(root, "archive", "manifests", "datasets", "aa", `${"a".repeat(64)}.json`);
    mkdirSync(join(other, ".."), { recursive: true });
    writeFileSync(other, JSON.stringify({ fingerprint: "a".repeat(64), files: { "x.csv": { sha256: A_CSV, size_bytes: 4 } } }));
    const r = await remove(root, YOLO);
    expect(r.success).toBe(true);
    expect(existsSync(blob(root, A_CSV))).toBe(true);
    expect(existsSync(blob(root, CODE))).toBe(false);
  });

  it("keeps a blob whose digest is another run's asset fingerprint in the index", async () => {
    const root = fixture("rn-probe");
    const db = new Database(join(root, "index", "runicorn.db"));
    db.exec("PRAGMA foreign_keys = ON");
    db.query("INSERT INTO runs(run_id, path, run_dir) VALUES ('20261129_050000_0ther1', 'x', '/elsewhere')").run();
    db.query("INSERT INTO assets(asset_id, asset_type, name, is_archived, fingerprint_kind, fingerprint) VALUES ('other', 'pretrained', 'w', 1, 'sha256', ?)").run(CODE);
    db.query("INSERT INTO run_assets(run_id, asset_id, role) VALUES ('20261129_050000_0ther1', 'other', 'pretrained')").run();
    db.close();
    const r = await remove(root, YOLO);
    expect(r.success).toBe(true);
    expect(existsSync(blob(root, CODE))).toBe(true);
    expect(sdk(root).runs).toEqual(expect.arrayContaining(["20261129_050000_0ther1"]));
  });

  it("does not delete another run's blob that a rolling output's sha256 happens to name", async () => {
    const root = fixture("rn-data2");
    const sha = "e54c89aeba13346285a9212cc1ee3a210acbd4a75e76a97e184cf447ab056e78";
    mkdirSync(join(blob(root, sha), ".."), { recursive: true });
    writeFileSync(blob(root, sha), "weights");
    const other = cloneRun(root, "20261129_031719_94b4ef", "20261129_060000_abcdef");
    writeFileSync(
      join(other, "assets.json"),
      JSON.stringify({ code: {}, config: {}, datasets: [], outputs: [], pretrained: [{ name: "w", saved: true, fingerprint_kind: "sha256", fingerprint: sha, archive_path: `/old/root/archive/blobs/e5/${sha}` }] }),
    );
    const r = await remove(root, "20261129_031719_94b4ef");
    expect(r.success).toBe(true);
    expect(r.outputs_deleted).toBe(2);
    expect(existsSync(blob(root, sha))).toBe(true);
    expect(existsSync(join(root, "archive", "outputs", "rolling", "20261129_031719_94b4ef"))).toBe(false);
  });

  it("changes nothing in a dry run, yet reports what would go", async () => {
    const root = fixture("rn-data2");
    const before = snapshot(root);
    const r = await remove(root, "20261129_031719_94b4ef", true);
    expect(r.run_dir_deleted).toBe(true);
    expect(r.blobs_deleted).toBe(4);
    expect(r.outputs_deleted).toBe(2);
    expect(snapshot(root)).toEqual(before);
  });

  it("reports an unknown run as not found", async () => {
    const root = fixture("rn-data");
    const r = await remove(root, "20990101_000000_abcdef");
    expect(r.success).toBe(false);
    expect(r.errors).toEqual(["Run not found: 20990101_000000_abcdef"]);
  });

  it("deletes a soft-deleted run and a legacy run, removing empty parent folders", async () => {
    const root = fixture("rn-probe");
    expect((await remove(root, "20261129_032935_21171f")).success).toBe(true);
    expect((await remove(root, "20240101_120000_abcdef")).success).toBe(true);
    expect(existsSync(join(root, "legacyproj"))).toBe(false);
    expect(existsSync(join(root, "runs", "cv", "yolo", YOLO))).toBe(true);
  });

  it("waits for the SDK's index lock before writing", async () => {
    const root = fixture("rn-probe");
    let released = false;
    const holder = withFileLock(join(root, "index", "runicorn.db.lock"), async () => {
      await Bun.sleep(300);
      released = true;
    });
    await Bun.sleep(20);
    const r = await remove(root, YOLO);
    await holder;
    expect(r.success).toBe(true);
    expect(released).toBe(true);
    expect(sdk(root).runs).not.toContain(YOLO);
  });
});

describe("gc", () => {
  const old = (p: string) => utimesSync(p, new Date(0), new Date(0));

  it("removes an old unreferenced blob, keeps referenced and young ones, and dry runs change nothing", async () => {
    const root = fixture("rn-probe");
    const stray = "f".repeat(64);
    const young = "e".repeat(64);
    for (const sha of [stray, young]) {
      mkdirSync(join(blob(root, sha), ".."), { recursive: true });
      writeFileSync(blob(root, sha), sha);
    }
    old(blob(root, stray));
    for (const sha of [CODE, A_CSV]) old(blob(root, sha));
    const before = snapshot(root);
    const dry = await collectGarbage(root, { dryRun: true });
    expect(dry.orphaned_blobs).toBe(1);
    expect(snapshot(root)).toEqual(before);
    const real = await collectGarbage(root, { dryRun: false });
    expect(real).toMatchObject({ success: true, orphaned_blobs: 1, bytes_freed: 64 });
    expect(existsSync(blob(root, stray))).toBe(false);
    expect(existsSync(blob(root, young))).toBe(true);
    expect(existsSync(blob(root, CODE))).toBe(true);
    expect(existsSync(blob(root, A_CSV))).toBe(true);
  });

  it("prunes index rows of runs whose folders are gone, then the blobs only they held", async () => {
    const root = fixture("rn-probe");
    // what the original's "empty recycle bin" leaves behind: the run folder removed, rows and blobs kept
    const { rmSync } = await import("node:fs");
    rmSync(findRunDir(root, YOLO)!, { recursive: true });
    for (const f of [blob(root, CODE), blob(root, A_CSV), join(root, MANIFEST)]) old(f);
    const r = await collectGarbage(root, { dryRun: false, minAgeSeconds: 0 });
    expect(r.index_runs_pruned).toBe(1);
    expect(r.index_assets_pruned).toBe(3);
    expect(r.manifests_deleted).toBe(1);
    expect(r.orphaned_blobs).toBe(3);
    expect(sdk(root).assets).toBe(0);
  });
});
