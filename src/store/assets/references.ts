// Who still needs which archive file: references from every run's assets.json, the SDK index and manifests.
// Fail closed: a holder that cannot be read (torn JSON, FIFO, too large, unlistable folder, unreadable SDK index)
// is recorded as unreadable, and destructive callers keep everything while any is left.
import { lstatSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { discoverRuns } from "../discover.ts";
import { isObject, type JsonObject, readJsonFile } from "../json.ts";
import {
  blobPath,
  isBlobPath,
  isManifestPath,
  manifestBlobs,
  readManifestFile,
  remapRecordedPath,
  SHA256_RE,
} from "./cas.ts";
import { type SdkAssetRow, SdkIndex, sdkIndexPath } from "./sdk-index.ts";

/** Archive files one holder (a run's assets.json, an index asset, a manifest) refers to. */
export interface ArchiveRefs {
  /** sha256 digests of blobs. */
  blobs: Set<string>;
  /** Absolute manifest paths under the current ROOT. */
  manifests: Set<string>;
}

function emptyRefs(): ArchiveRefs {
  return { blobs: new Set(), manifests: new Set() };
}

/** Adds what one recorded archive path points at (a blob or a manifest under ROOT) to `refs`. */
function addArchivePath(root: string, refs: ArchiveRefs, recorded: unknown, storageDir: string | null): void {
  if (typeof recorded !== "string" || !recorded) return;
  const p = resolve(remapRecordedPath(root, recorded, storageDir));
  if (isManifestPath(root, p)) refs.manifests.add(p);
  else if (isBlobPath(root, p)) refs.blobs.add(p.slice(-64));
}

/**
 * The archive files a run's assets.json refers to (spec §1.5): code snapshot, datasets, pretrained and
 * outputs entries with `archive_path`/`manifest_path`; a sha256 fingerprint counts as a blob reference
 * only when the entry is archived in the blob store (rolling outputs are not, spec §10.9).
 */
export function refsFromAssetsJson(root: string, assets: JsonObject | undefined, storageDir: string | null): ArchiveRefs {
  const refs = emptyRefs();
  if (!assets) return refs;
  const items: unknown[] = [];
  if (isObject(assets.code)) items.push(...Object.values(assets.code));
  for (const k of ["datasets", "pretrained", "outputs"]) if (Array.isArray(assets[k])) items.push(...(assets[k] as unknown[]));
  for (const it of items) {
    if (!isObject(it)) continue;
    addArchivePath(root, refs, it.archive_path, storageDir);
    addArchivePath(root, refs, it.manifest_path, storageDir);
    const fp = it.fingerprint;
    if (typeof fp === "string" && SHA256_RE.test(fp) && it.fingerprint_kind === "sha256") {
      const ap = typeof it.archive_path === "string" ? resolve(remapRecordedPath(root, it.archive_path, storageDir)) : "";
      if (!ap || isBlobPath(root, ap)) refs.blobs.add(fp);
    }
  }
  return refs;
}

/**
 * The archive files an index asset row refers to: its archive_uri (blob or manifest) and, as the fix of
 * spec §10.9 asks, any sha256 fingerprint (another asset with that fingerprint keeps the blob). With
 * `byFingerprint: false` only the file the row's archive_uri names (what deleting the asset may free).
 */
export function refsFromAssetRow(root: string, row: SdkAssetRow, byFingerprint = true): ArchiveRefs {
  const refs = emptyRefs();
  addArchivePath(root, refs, row.archive_uri, null);
  if (byFingerprint && row.fingerprint && SHA256_RE.test(row.fingerprint)) refs.blobs.add(row.fingerprint);
  return refs;
}

/** Every manifest file under ROOT/archive/manifests (absolute paths); folders that cannot be listed go to `onUnreadable`. */
export function listManifestFiles(root: string, onUnreadable?: (dir: string, reason: string) => void): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      // no manifests directory: nothing archived as directories; any other failure may hide manifests
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") onUnreadable?.(dir, (e as Error).message);
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      // a manifest that is not a regular file (FIFO, link) is still listed: reading it then fails, closed
      else if (e.name.endsWith(".json") && !e.isDirectory()) out.push(p);
    }
  };
  walk(join(root, "archive", "manifests"));
  return out;
}

/** Every blob file under ROOT/archive/blobs as [sha, absolute path]. */
export function listBlobFiles(root: string): [string, string][] {
  const out: [string, string][] = [];
  const base = join(root, "archive", "blobs");
  let prefixes;
  try {
    prefixes = readdirSync(base, { withFileTypes: true });
  } catch {
    return out; // no blob store yet
  }
  for (const p of prefixes) {
    if (!p.isDirectory()) continue;
    let files;
    try {
      files = readdirSync(join(base, p.name), { withFileTypes: true });
    } catch {
      continue; // vanished while listing
    }
    for (const f of files) if (f.isFile() && SHA256_RE.test(f.name)) out.push([f.name, join(base, p.name, f.name)]);
  }
  return out;
}

/** The SDK index of a root opened for reference building, or why it cannot be read (then it protects everything). */
export interface IndexForRefs {
  index: SdkIndex | undefined;
  error?: string;
}

/**
 * Opens ROOT/index/runicorn.db for gc and deletion. Absent → no index. A file that is not a regular file, cannot
 * be opened (corrupt, locked past the busy timeout) or is not the SDK's schema → `error` (fail closed).
 */
export function openIndexForRefs(root: string, opts: { readonly: boolean }): IndexForRefs {
  const path = sdkIndexPath(root);
  let st;
  try {
    st = lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { index: undefined };
    return { index: undefined, error: `cannot read ${path}: ${(e as Error).message}` };
  }
  // SQLite would block opening a FIFO; a link could lead anywhere
  if (!st.isFile()) return { index: undefined, error: `cannot read ${path}: not a regular file` };
  try {
    const index = SdkIndex.open(root, { readonly: opts.readonly });
    if (!index && st.size > 0) return { index: undefined, error: `cannot read ${path}: not the SDK's index (no run_assets table)` };
    return { index };
  } catch (e) {
    return { index: undefined, error: `cannot read ${path}: ${(e as Error).message}` };
  }
}

/**
 * A reference count of archive files by holder. Holders are `run:<dir>`, `asset:<id>`, `manifest:<path>`;
 * deleting a run removes its holders, and a file is free only when no holder is left.
 */
export class ReferenceIndex {
  private readonly blobHolders = new Map<string, Set<string>>();
  private readonly manifestHolders = new Map<string, Set<string>>();
  private readonly held = new Map<string, ArchiveRefs>();
  /** Holders that could not be read, with why: each might refer to anything. */
  private readonly unreadable = new Map<string, string>();

  constructor(readonly root: string) {}

  /**
   * Builds the index of a whole root: every run dir (soft-deleted and legacy included), every index asset
   * and every manifest file on disk. Anything that cannot be read is recorded (see `unreadableReasons`).
   */
  static build(root: string, index: IndexForRefs): ReferenceIndex {
    const ri = new ReferenceIndex(root);
    const runs = discoverRuns(root, (dir, reason) => ri.unreadable.set(`dir:${dir}`, `cannot list ${dir}: ${reason}`));
    for (const entry of runs) ri.addRun(entry.dir);
    if (index.error) ri.unreadable.set("index", index.error);
    else if (index.index) {
      try {
        for (const row of index.index.allAssets()) ri.add(`asset:${row.asset_id}`, refsFromAssetRow(root, row));
      } catch (e) {
        ri.unreadable.set("index", `cannot read ${index.index.path}: ${(e as Error).message}`);
      }
    }
    const manifests = listManifestFiles(root, (dir, reason) => ri.unreadable.set(`dir:${dir}`, `cannot list ${dir}: ${reason}`));
    for (const m of manifests) ri.addManifest(m);
    return ri;
  }

  /** Registers a run directory's assets.json; a present but unreadable assets.json (or meta.json beside it) fails closed. */
  addRun(dir: string): void {
    const holder = `run:${dir}`;
    const assets = readJsonFile(join(dir, "assets.json"), { root: this.root });
    const meta = readJsonFile(join(dir, "meta.json"), { root: this.root });
    const storageDir = meta.ok && typeof meta.value.storage_dir === "string" ? meta.value.storage_dir : null;
    this.add(holder, refsFromAssetsJson(this.root, assets.ok ? assets.value : undefined, storageDir));
    if (!assets.ok && !assets.missing) this.unreadable.set(holder, `cannot read ${assets.reason}`);
    // meta.storage_dir maps the recorded paths of a moved root: without it references may be missed
    else if (assets.ok && !meta.ok && !meta.missing) this.unreadable.set(holder, `cannot read ${meta.reason}`);
  }

  /** Registers a manifest file as the holder of its blobs; an unreadable manifest fails closed. */
  addManifest(path: string): void {
    const holder = `manifest:${resolve(path)}`;
    const m = readManifestFile(path, this.root);
    if (!m.ok) {
      if (!m.missing) this.unreadable.set(holder, `cannot read ${m.reason}`);
      return;
    }
    this.add(holder, { blobs: new Set(manifestBlobs(m.manifest)), manifests: new Set() });
  }

  /** Why some holders could not be read ("cannot read <file>: <reason>"); while any is left nothing may be freed. */
  unreadableReasons(): string[] {
    return [...this.unreadable.values()];
  }

  /** Why the holder could not be read, or undefined. */
  unreadableReason(holder: string): string | undefined {
    return this.unreadable.get(holder);
  }

  /** Records a holder as unreadable again (a dry run putting back what it removed). */
  markUnreadable(holder: string, reason: string): void {
    this.unreadable.set(holder, reason);
  }

  /** Registers a holder. */
  add(holder: string, refs: ArchiveRefs): void {
    this.remove(holder);
    this.held.set(holder, refs);
    for (const b of refs.blobs) getOrAdd(this.blobHolders, b).add(holder);
    for (const m of refs.manifests) getOrAdd(this.manifestHolders, m).add(holder);
  }

  /** Removes a holder; returns what it held. */
  remove(holder: string): ArchiveRefs | undefined {
    this.unreadable.delete(holder);
    const refs = this.held.get(holder);
    if (!refs) return undefined;
    this.held.delete(holder);
    for (const b of refs.blobs) this.blobHolders.get(b)?.delete(holder);
    for (const m of refs.manifests) this.manifestHolders.get(m)?.delete(holder);
    return refs;
  }

  /** What a holder refers to (empty when unknown). */
  refsOf(holder: string): ArchiveRefs {
    return this.held.get(holder) ?? emptyRefs();
  }

  /** Holders still referring to a blob. */
  blobHoldersOf(sha: string): string[] {
    return [...(this.blobHolders.get(sha) ?? [])];
  }

  /** Holders still referring to a manifest (absolute path). */
  manifestHoldersOf(path: string): string[] {
    return [...(this.manifestHolders.get(resolve(path)) ?? [])];
  }

  /** True when some holder refers to the blob. */
  blobReferenced(sha: string): boolean {
    return (this.blobHolders.get(sha)?.size ?? 0) > 0;
  }

  /** True when some holder refers to the manifest. */
  manifestReferenced(path: string): boolean {
    return (this.manifestHolders.get(resolve(path))?.size ?? 0) > 0;
  }

  /** Blob path of a digest under this root. */
  blobPath(sha: string): string {
    return blobPath(this.root, sha);
  }
}

function getOrAdd<K, V>(map: Map<K, Set<V>>, key: K): Set<V> {
  let s = map.get(key);
  if (!s) map.set(key, (s = new Set()));
  return s;
}
