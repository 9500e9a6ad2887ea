// Permanent deletion of runs with asset accounting (spec §2.10), fixed per §10.9: a blob or manifest that
// anything else still refers to (another run's assets.json or index asset, another manifest) is kept.
import { readdirSync, rmdirSync, rmSync, statSync, unlinkSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { discoverRuns } from "../discover.ts";
import { isUnder, rollingDir } from "./cas.ts";
import { type ArchiveRefs, type IndexForRefs, openIndexForRefs, ReferenceIndex, refsFromAssetRow } from "./references.ts";
import { deleteRunRows, type RunAsset, SdkIndex } from "./sdk-index.ts";

/** How an asset appears in a deletion report (spec §2.10). */
export interface AssetSummary {
  asset_id: string;
  asset_type: string;
  name: string | null;
  fingerprint: string | null;
  archive_uri: string | null;
  role: string;
}

/** The result of deleting one run; keys as the original's `delete_run_completely`, plus `blobs_kept`. */
export interface DeleteResult {
  success: boolean;
  run_id: string;
  run_dir_deleted: boolean;
  orphaned_assets: AssetSummary[];
  kept_assets: AssetSummary[];
  blobs_deleted: number;
  manifests_deleted: number;
  outputs_deleted: number;
  bytes_freed: number;
  errors: string[];
  /** Blobs this run referred to that stay because something else still needs them (or might: see warnings). */
  blobs_kept: number;
  /** Fail closed: "kept N blobs: cannot read <file>: <reason>" for each other holder that could not be read (only when any). */
  warnings?: string[];
}

/** A fresh result for `runId` with nothing done yet. */
export function emptyDeleteResult(runId: string): DeleteResult {
  return {
    success: false,
    run_id: runId,
    run_dir_deleted: false,
    orphaned_assets: [],
    kept_assets: [],
    blobs_deleted: 0,
    manifests_deleted: 0,
    outputs_deleted: 0,
    bytes_freed: 0,
    errors: [],
    blobs_kept: 0,
  };
}

/** The first run directory named `runId` in scan order, soft-deleted runs included (spec §1.4). */
export function findRunDir(root: string, runId: string): string | undefined {
  return discoverRuns(root).find((e) => e.id === runId)?.dir;
}

/**
 * Deletes runs of one root. Build one per request or batch: the reference index is built once and kept
 * current as runs go, so a batch is judged as a whole (a blob shared by two deleted runs goes with the last).
 */
export class RunDeleter {
  private index: SdkIndex | undefined;
  private indexError: string | undefined;
  private refs: ReferenceIndex | undefined;
  private opened = false;

  constructor(
    readonly root: string,
    private readonly dryRun: boolean,
  ) {}

  private open(): { index: SdkIndex | undefined; refs: ReferenceIndex } {
    if (!this.opened) {
      this.opened = true;
      const opened: IndexForRefs = openIndexForRefs(this.root, { readonly: this.dryRun });
      this.index = opened.index;
      this.indexError = opened.error;
      this.refs = ReferenceIndex.build(this.root, opened);
    }
    return { index: this.index, refs: this.refs! };
  }

  /** Deletes (or, in a dry run, reports) one run whose directory the caller found. */
  async deleteRun(runId: string, runDir: string | undefined): Promise<DeleteResult> {
    const result = emptyDeleteResult(runId);
    if (!runDir) {
      result.errors.push(`Run not found: ${runId}`);
      return result;
    }
    const { index, refs } = this.open();

    // spec §2.10: orphaned = linked to no other run; fixed: counted by distinct runs, not link rows
    let links: RunAsset[] = [];
    let linksOf = (_id: string): string[] => [];
    try {
      links = index ? index.assetsForRun(runId) : [];
      linksOf = (id) => index!.runsForAsset(id);
    } catch (e) {
      this.indexError ??= `cannot read ${index!.path}: ${(e as Error).message}`;
      refs.markUnreadable("index", this.indexError);
      links = [];
    }
    const orphanIds = new Set<string>();
    for (const a of links) {
      const others = linksOf(a.asset_id).filter((r) => r !== runId);
      const summary: AssetSummary = {
        asset_id: a.asset_id,
        asset_type: a.asset_type,
        name: a.name,
        fingerprint: a.fingerprint,
        archive_uri: a.archive_uri,
        role: a.role,
      };
      if (others.length === 0) {
        result.orphaned_assets.push(summary);
        orphanIds.add(a.asset_id);
      } else result.kept_assets.push(summary);
    }

    // drop this run's holders, then see which of the files they held nobody else needs
    const removed: [string, ArchiveRefs][] = [];
    const unreadableRemoved: [string, string][] = [];
    const drop = (holder: string) => {
      const why = refs.unreadableReason(holder);
      if (why) unreadableRemoved.push([holder, why]);
      const r = refs.remove(holder);
      if (r) removed.push([holder, r]);
      return r;
    };
    const candidates = { blobs: new Set<string>(), manifests: new Set<string>() };
    const owned: ArchiveRefs[] = [];
    const runRefs = drop(`run:${runDir}`);
    if (runRefs) owned.push(runRefs);
    for (const a of links) {
      if (!orphanIds.has(a.asset_id)) continue;
      drop(`asset:${a.asset_id}`);
      // a fingerprint alone protects a blob but does not make it this asset's (rolling outputs, §10.9)
      owned.push(refsFromAssetRow(this.root, a, false));
    }
    for (const r of owned) {
      for (const b of r.blobs) candidates.blobs.add(b);
      for (const m of r.manifests) candidates.manifests.add(m);
    }
    const manifestsToDelete: string[] = [];
    for (const m of candidates.manifests) {
      if (refs.manifestReferenced(m)) continue;
      const r = drop(`manifest:${resolve(m)}`);
      if (!statSync(m, { throwIfNoEntry: false })?.isFile()) continue;
      manifestsToDelete.push(m);
      for (const b of r?.blobs ?? []) candidates.blobs.add(b);
    }
    const blobsToDelete: [string, number][] = [];
    for (const sha of candidates.blobs) {
      const p = refs.blobPath(sha);
      const st = statSync(p, { throwIfNoEntry: false });
      if (!st?.isFile()) continue;
      if (refs.blobReferenced(sha)) result.blobs_kept++;
      else blobsToDelete.push([p, st.size]);
    }
    // fail closed: another holder that cannot be read might refer to any of these, so all of them stay
    const unreadable = refs.unreadableReasons();
    if (unreadable.length && (blobsToDelete.length || manifestsToDelete.length)) {
      result.blobs_kept += blobsToDelete.length;
      result.warnings = unreadable.map((why) => `kept ${blobsToDelete.length} blobs: ${why}`);
      blobsToDelete.length = 0;
      manifestsToDelete.length = 0;
    }
    const rolling = rollingDir(this.root, runId);
    const rollingFiles = listFiles(rolling);

    result.blobs_deleted = blobsToDelete.length;
    result.manifests_deleted = manifestsToDelete.length;
    result.outputs_deleted = rollingFiles.length;
    result.bytes_freed = blobsToDelete.reduce((n, [, s]) => n + s, 0) + rollingFiles.reduce((n, [, s]) => n + s, 0);

    if (this.dryRun) {
      for (const [holder, r] of removed) refs.add(holder, r); // a preview changes nothing, not even our view
      for (const [holder, why] of unreadableRemoved) refs.markUnreadable(holder, why);
      result.run_dir_deleted = true; // spec §2.10: a dry run reports the directory as going
      result.success = true;
      return result;
    }

    try {
      rmSync(runDir, { recursive: true, force: true });
      result.run_dir_deleted = true;
    } catch (e) {
      for (const [holder, r] of removed) refs.add(holder, r);
      for (const [holder, why] of unreadableRemoved) refs.markUnreadable(holder, why);
      result.errors.push(`Failed to delete run directory: ${(e as Error).message}`);
      return result;
    }
    if (index) {
      try {
        await index.write((db) => deleteRunRows(db, runId, [...orphanIds]));
      } catch (e) {
        result.errors.push(`Failed to update index: ${(e as Error).message}`);
      }
    }
    for (const m of manifestsToDelete) tryUnlink(m, result);
    for (const [p] of blobsToDelete) tryUnlink(p, result);
    try {
      rmSync(rolling, { recursive: true, force: true });
    } catch (e) {
      result.errors.push(`Failed to delete rolling outputs: ${(e as Error).message}`);
    }
    const runsRoot = join(this.root, "runs");
    pruneEmptyDirs(dirname(runDir), isUnder(runsRoot, runDir) ? runsRoot : this.root);
    const archive = join(this.root, "archive");
    for (const m of manifestsToDelete) pruneEmptyDirs(dirname(m), join(archive, "manifests"));
    for (const [p] of blobsToDelete) pruneEmptyDirs(dirname(p), join(archive, "blobs"));
    pruneEmptyDirs(dirname(rolling), join(archive, "outputs"));
    result.success = true;
    return result;
  }

  /** Closes the SDK index handle. */
  close(): void {
    this.index?.close();
    this.index = undefined;
  }
}

function tryUnlink(p: string, result: DeleteResult): void {
  try {
    unlinkSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") result.errors.push(`Failed to delete ${p}: ${(e as Error).message}`);
  }
}

/** Regular files below `dir` with their sizes (symlinks are not followed). */
export function listFiles(dir: string): [string, number][] {
  const out: [string, number][] = [];
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out; // missing directory: nothing below it
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p));
    else if (e.isFile()) out.push([p, statSync(p, { throwIfNoEntry: false })?.size ?? 0]);
  }
  return out;
}

/** Removes `dir` and its parents while they are empty, stopping before `stopAt`. */
export function pruneEmptyDirs(dir: string, stopAt: string): void {
  let cur = resolve(dir);
  const stop = resolve(stopAt);
  while (cur !== stop && isUnder(stop, cur)) {
    try {
      rmdirSync(cur); // fails unless empty, which is the point
    } catch {
      return;
    }
    cur = dirname(cur);
  }
}
