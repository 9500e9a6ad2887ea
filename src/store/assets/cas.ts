// The content-addressed archive under ROOT/archive (spec §1.6): blob and manifest paths, moved-root remapping.
import { existsSync, realpathSync } from "node:fs";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { isObject, readJsonFile } from "../json.ts";
import { MANIFEST_FILE_LIMIT } from "../safe-read.ts";

/** A lowercase sha256 hex digest. */
export const SHA256_RE = /^[0-9a-f]{64}$/;

/** ROOT/archive/blobs/<sha[:2]>/<sha>. */
export function blobPath(root: string, sha: string): string {
  return join(root, "archive", "blobs", sha.slice(0, 2), sha);
}

/** Spec §1.6 `safe()`: keeps `[A-Za-z0-9-_.]`, replaces the rest with `_`, at most 80 characters. */
export function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9\-_.]/g, "_").slice(0, 80);
}

/** ROOT/archive/outputs/rolling/<safe(run_id)> (rolling outputs of one run). */
export function rollingDir(root: string, runId: string): string {
  return join(root, "archive", "outputs", "rolling", safeName(runId));
}

/** True when `target` (already absolute and normalised) is `base` or lies under it, by path text. */
export function isUnder(base: string, target: string): boolean {
  const rel = relative(base, target);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel) && rel.split(sep)[0] !== "..");
}

/** realpath that returns undefined instead of throwing for missing paths. */
export function realpathOrUndefined(p: string): string | undefined {
  try {
    return realpathSync(p);
  } catch {
    return undefined; // missing (or dangling link): callers decide what that means
  }
}

/**
 * True when `target` lies under ROOT both by text and after resolving symlinks (spec §6.1, fixed: links
 * that leave ROOT are refused). A missing target is judged by its nearest existing ancestor.
 */
export function isInsideRoot(root: string, target: string): boolean {
  const abs = resolve(target);
  if (!isUnder(resolve(root), abs)) return false;
  const realRoot = realpathOrUndefined(root) ?? resolve(root);
  let probe = abs;
  for (;;) {
    const real = realpathOrUndefined(probe);
    if (real !== undefined) return isUnder(realRoot, real);
    const parent = resolve(probe, "..");
    if (parent === probe) return false;
    probe = parent;
  }
}

/** Archive sub-trees whose absolute paths the SDK records in assets.json and the index. */
const ARCHIVE_MARK = /[\\/]archive[\\/](blobs|manifests|outputs)[\\/]/;

/**
 * Maps an absolute path recorded by the SDK onto the current ROOT when the data was moved (spec §1.13):
 * a path under `storageDir` (meta.storage_dir) that no longer exists is re-rooted; an archive path of any
 * old root (`…/archive/blobs|manifests|outputs/…`) is re-rooted by its archive suffix. Returns the path
 * unchanged when it exists or cannot be mapped.
 */
export function remapRecordedPath(root: string, recorded: string, storageDir?: string | null): string {
  if (!recorded || !isAbsolute(recorded)) return recorded;
  if (existsSync(recorded) && isUnder(resolve(root), resolve(recorded))) return resolve(recorded);
  if (storageDir && isAbsolute(storageDir)) {
    const rel = relative(resolve(storageDir), resolve(recorded));
    if (rel && !rel.startsWith("..") && !isAbsolute(rel)) return join(root, rel);
  }
  const m = ARCHIVE_MARK.exec(recorded);
  if (m) {
    const idx = recorded.lastIndexOf(m[0]);
    return join(root, recorded.slice(idx + 1).replaceAll("\\", "/"));
  }
  return recorded;
}

/** A directory manifest (spec §1.6). */
export interface Manifest {
  source_path?: string;
  fingerprint?: string;
  files: Record<string, { sha256?: string; size_bytes?: number }>;
  [k: string]: unknown;
}

/** A manifest, or why it could not be read (`missing` when the file is absent). */
export type ManifestRead = { ok: true; manifest: Manifest } | { ok: false; missing: boolean; reason: string };

/** Reads a manifest file under the safe-read rule (inside `root` when given, regular, ≤ 256 MiB). */
export function readManifestFile(path: string, root?: string): ManifestRead {
  const r = readJsonFile(path, { root, maxBytes: MANIFEST_FILE_LIMIT });
  if (!r.ok) return r;
  const files = isObject(r.value.files) ? (r.value.files as Manifest["files"]) : {};
  return { ok: true, manifest: { ...r.value, files } as Manifest };
}

/** Reads a manifest file; undefined when missing, refused or unreadable. */
export function readManifest(path: string, root?: string): Manifest | undefined {
  const r = readManifestFile(path, root);
  return r.ok ? r.manifest : undefined;
}

/** The sha256 digests a manifest lists. */
export function manifestBlobs(m: Manifest): string[] {
  const out: string[] = [];
  for (const entry of Object.values(m.files)) {
    const sha = isObject(entry) ? entry.sha256 : undefined;
    if (typeof sha === "string" && SHA256_RE.test(sha)) out.push(sha);
  }
  return out;
}

/** True when `p` (absolute, under ROOT) is a manifest file of the archive. */
export function isManifestPath(root: string, p: string): boolean {
  return p.endsWith(".json") && isUnder(join(root, "archive", "manifests"), resolve(p));
}

/** True when `p` (absolute) is a blob file of the archive. */
export function isBlobPath(root: string, p: string): boolean {
  const rel = relative(join(root, "archive", "blobs"), resolve(p)).split(sep);
  return rel.length === 2 && SHA256_RE.test(rel[1]) && rel[0] === rel[1].slice(0, 2);
}
