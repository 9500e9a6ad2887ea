// Who still needs which archive file: references from every run's assets.json, the SDK index and manifests.
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { discoverRuns } from "../discover.ts";
import { isObject, type JsonObject, readJsonObject } from "../json.ts";
import {
  blobPath,
  isBlobPath,
  isManifestPath,
  manifestBlobs,
  readManifest,
  remapRecordedPath,
  SHA256_RE,
} from "./cas.ts";
import type { SdkAssetRow, SdkIndex } from "./sdk-index.ts";

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

/** Every manifest file under ROOT/archive/manifests (absolute paths). */
export function listManifestFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // no manifests directory: nothing archived as directories
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && e.name.endsWith(".json")) out.push(p);
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

/**
 * A reference count of archive files by holder. Holders are `run:<dir>`, `asset:<id>`, `manifest:<path>`;
 * deleting a run removes its holders, and a file is free only when no holder is left.
 */
export class ReferenceIndex {
  private readonly blobHolders = new Map<string, Set<string>>();
  private readonly manifestHolders = new Map<string, Set<string>>();
  private readonly held = new Map<string, ArchiveRefs>();

  constructor(readonly root: string) {}

  /**
   * Builds the index of a whole root: every run dir (soft-deleted and legacy included), every index asset
   * and every manifest file on disk.
   */
  static build(root: string, index: SdkIndex | undefined): ReferenceIndex {
    const ri = new ReferenceIndex(root);
    for (const entry of discoverRuns(root)) ri.addRun(entry.dir);
    if (index) for (const row of index.allAssets()) ri.add(`asset:${row.asset_id}`, refsFromAssetRow(root, row));
    for (const m of listManifestFiles(root)) ri.addManifest(m);
    return ri;
  }

  /** Registers a run directory's assets.json. */
  addRun(dir: string): void {
    const meta = readJsonObject(join(dir, "meta.json"));
    const storageDir = typeof meta?.storage_dir === "string" ? meta.storage_dir : null;
    this.add(`run:${dir}`, refsFromAssetsJson(this.root, readJsonObject(join(dir, "assets.json")), storageDir));
  }

  /** Registers a manifest file as the holder of its blobs. */
  addManifest(path: string): void {
    const m = readManifest(path);
    if (!m) return;
    this.add(`manifest:${resolve(path)}`, { blobs: new Set(manifestBlobs(m)), manifests: new Set() });
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
