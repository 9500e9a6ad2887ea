// Garbage collection of the archive: blobs, manifests and rolling outputs nothing refers to, and stale
// SDK index rows of runs whose directories are gone (spec §2.10 `cleanup_orphaned_blobs`, extended). Fails closed:
// when any holder (assets.json, manifest, SDK index, run folder) cannot be read, nothing is deleted and gc says why.
import { readdirSync, rmSync, statSync, unlinkSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { discoverRuns } from "../discover.ts";
import { listFiles, pruneEmptyDirs } from "./delete-run.ts";
import { safeName } from "./cas.ts";
import { listBlobFiles, listManifestFiles, openIndexForRefs, ReferenceIndex } from "./references.ts";

/** Options of a collection. */
export interface GcOptions {
  dryRun: boolean;
  /** Files younger than this are never collected: the SDK writes a blob before it records it. */
  minAgeSeconds?: number;
  now?: number;
}

/** What a collection found; the original's keys (`blobs_scanned`, `orphaned_blobs`, …) plus the extensions. */
export interface GcResult {
  success: boolean;
  dry_run: boolean;
  blobs_scanned: number;
  orphaned_blobs: number;
  manifests_deleted: number;
  outputs_deleted: number;
  index_runs_pruned: number;
  index_assets_pruned: number;
  bytes_freed: number;
  errors: string[];
  /** Blobs that would have been collected but were kept because some holder could not be read. */
  blobs_kept: number;
  /** Why nothing was collected: "kept N blobs: cannot read <file>: <reason>", one per unreadable holder. */
  warnings: string[];
}

/** Default minimum age of collectable files (one hour). */
export const GC_MIN_AGE_SECONDS = 3600;

/** Collects everything under ROOT/archive that no run, index asset or live manifest refers to. */
export async function collectGarbage(root: string, opts: GcOptions): Promise<GcResult> {
  const result: GcResult = {
    success: false,
    dry_run: opts.dryRun,
    blobs_scanned: 0,
    orphaned_blobs: 0,
    manifests_deleted: 0,
    outputs_deleted: 0,
    index_runs_pruned: 0,
    index_assets_pruned: 0,
    bytes_freed: 0,
    errors: [],
    blobs_kept: 0,
    warnings: [],
  };
  const cutoffMs = (opts.now ?? Date.now()) - (opts.minAgeSeconds ?? GC_MIN_AGE_SECONDS) * 1000;
  const oldEnough = (p: string) => {
    const st = statSync(p, { throwIfNoEntry: false });
    return st !== undefined && st.mtimeMs <= cutoffMs ? st : undefined;
  };
  const opened = openIndexForRefs(root, { readonly: opts.dryRun });
  const index = opened.index;
  try {
    const runs = discoverRuns(root);
    const onDisk = new Set(runs.map((r) => r.id));

    // stale index rows: runs whose directory is gone (e.g. the original's "empty recycle bin", §10.9)
    let staleRuns: string[] = [];
    const staleAssets = new Set<string>();
    let indexProblem: string | undefined;
    if (index) {
      try {
        staleRuns = index.allRuns().filter((r) => !onDisk.has(r.run_id)).map((r) => r.run_id);
      const cutoffS = cutoffMs / 1000;
      const links = index.db
        .query<{ asset_id: string; run_id: string | null; created_at: number | null }, []>(
          "SELECT a.asset_id, ra.run_id, a.created_at FROM assets a LEFT JOIN run_assets ra ON a.asset_id = ra.asset_id",
        )
        .all();
      const live = new Set<string>();
      const stale = new Set(staleRuns);
      for (const l of links) if (l.run_id !== null && !stale.has(l.run_id)) live.add(l.asset_id);
      for (const l of links) {
        if (!live.has(l.asset_id) && (l.created_at === null || l.created_at <= cutoffS)) staleAssets.add(l.asset_id);
      }
      } catch (e) {
        indexProblem = `cannot read ${index.path}: ${(e as Error).message}`;
      }
    }
    result.index_runs_pruned = staleRuns.length;
    result.index_assets_pruned = staleAssets.size;

    const refs = ReferenceIndex.build(root, opened);
    const unreadable = refs.unreadableReasons();
    if (indexProblem && !unreadable.includes(indexProblem)) unreadable.push(indexProblem);
    for (const id of staleAssets) refs.remove(`asset:${id}`);

    // manifests nobody refers to stop protecting their blobs
    const manifests: string[] = [];
    for (const m of listManifestFiles(root)) {
      if (refs.manifestReferenced(m) || !oldEnough(m)) continue;
      refs.remove(`manifest:${resolve(m)}`);
      manifests.push(m);
    }
    const blobs: [string, number][] = [];
    for (const [sha, p] of listBlobFiles(root)) {
      result.blobs_scanned++;
      if (refs.blobReferenced(sha)) continue;
      const st = oldEnough(p);
      if (st) blobs.push([p, st.size]);
    }
    const runNames = new Set(runs.map((r) => safeName(r.id)));
    const rollingBase = join(root, "archive", "outputs", "rolling");
    const rolling: string[] = [];
    let rollingEntries: string[] = [];
    try {
      rollingEntries = readdirSync(rollingBase);
    } catch {
      rollingEntries = []; // no rolling outputs at all
    }
    for (const name of rollingEntries) {
      const dir = join(rollingBase, name);
      if (runNames.has(name) || !oldEnough(dir)) continue;
      rolling.push(dir);
      for (const [, size] of listFiles(dir)) {
        result.outputs_deleted++;
        result.bytes_freed += size;
      }
    }
    if (unreadable.length) {
      // fail closed: an unreadable holder might refer to any blob, and an unlistable folder may hide runs
      result.blobs_kept = blobs.length;
      for (const why of unreadable) result.warnings.push(`kept ${blobs.length} blobs: ${why}`);
      result.index_runs_pruned = 0;
      result.index_assets_pruned = 0;
      result.outputs_deleted = 0;
      result.bytes_freed = 0;
      result.success = true;
      return result;
    }
    result.orphaned_blobs = blobs.length;
    result.manifests_deleted = manifests.length;
    result.bytes_freed += blobs.reduce((n, [, s]) => n + s, 0);

    if (!opts.dryRun) {
      if (index && (staleRuns.length || staleAssets.size)) {
        await index.write((db) => {
          const delRun = db.query("DELETE FROM runs WHERE run_id = ?");
          const delLinks = db.query("DELETE FROM run_assets WHERE run_id = ?");
          for (const id of staleRuns) {
            delLinks.run(id);
            delRun.run(id);
          }
          const delAsset = db.query("DELETE FROM assets WHERE asset_id = ?");
          for (const id of staleAssets) delAsset.run(id);
        });
      }
      const archive = join(root, "archive");
      for (const m of manifests) unlinkQuiet(m, result) && pruneEmptyDirs(dirname(m), join(archive, "manifests"));
      for (const [p] of blobs) unlinkQuiet(p, result) && pruneEmptyDirs(dirname(p), join(archive, "blobs"));
      for (const d of rolling) {
        try {
          rmSync(d, { recursive: true, force: true });
        } catch (e) {
          result.errors.push(`Failed to delete ${d}: ${(e as Error).message}`);
        }
      }
    }
    result.success = result.errors.length === 0;
    return result;
  } finally {
    index?.close();
  }
}

function unlinkQuiet(p: string, result: GcResult): boolean {
  try {
    unlinkSync(p);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") result.errors.push(`Failed to delete ${p}: ${(e as Error).message}`);
    return false;
  }
}
