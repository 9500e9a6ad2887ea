// `GET /api/storage/stats`: disk use of ROOT by area, counting runs of the v0.6 and legacy layouts (spec §3.9, fixing §10.8).
import { type Dirent, lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../util/log.ts";

/** Bytes with the original's human form. */
export interface SizeInfo {
  size_bytes: number;
  size_human: string;
}

/** Bytes, human form and number of files. */
export interface FilesInfo extends SizeInfo {
  file_count: number;
}

/** The response of `GET /api/storage/stats` (spec §3.9 keys, plus `deleted_runs_count` and `computed_at`). */
export interface StorageStats {
  storage_root: string;
  total: SizeInfo;
  archive: SizeInfo & {
    blobs: FilesInfo;
    manifests: FilesInfo & { by_category: Record<string, FilesInfo> };
    outputs: FilesInfo;
  };
  runs: SizeInfo & {
    /** Distinct first path segments of listed runs (legacy: the project). */
    projects_count: number;
    /** Distinct full paths holding listed runs (legacy: `project/name`). Root-level runs count in neither. */
    experiments_count: number;
    /** Runs the run list shows: soft-deleted ones are counted in `deleted_runs_count` instead. */
    runs_count: number;
    /** Runs in the recycle bin (their bytes are still in `size_bytes`: they use the space). */
    deleted_runs_count: number;
  };
  index: SizeInfo;
  /** When these figures were computed (epoch seconds); they are cached for a few seconds. */
  computed_at: number;
}

const UNITS = ["B", "KB", "MB", "GB", "TB"];

/**
 * Python's `f"{x:.2f} {unit}"` over 1024-based units (B … TB, then PB), rounding ties to even
 * exactly as Python formats the binary value (`1152` → `"1.12 KB"`, where `toFixed` would say 1.13).
 */
export function formatSize(bytes: number): string {
  let k = 0;
  let x = Math.abs(bytes);
  while (k < UNITS.length && x >= 1024) {
    x /= 1024;
    k++;
  }
  const unit = k < UNITS.length ? UNITS[k] : "PB";
  const sign = bytes < 0 ? "-" : "";
  if (!Number.isSafeInteger(bytes)) return `${sign}${x.toFixed(2)} ${unit}`;
  // x = |bytes| / 1024^k exactly, so round |bytes|·100 / 1024^k half-to-even in integers
  const d = 1024n ** BigInt(Math.min(k, UNITS.length));
  const n = BigInt(Math.abs(bytes)) * 100n;
  let q = n / d;
  const twice = (n % d) * 2n;
  if (twice > d || (twice === d && q % 2n === 1n)) q++;
  const s = q.toString().padStart(3, "0");
  return `${sign}${s.slice(0, -2)}.${s.slice(-2)} ${unit}`;
}

function size(bytes: number): SizeInfo {
  return { size_bytes: bytes, size_human: formatSize(bytes) };
}

function files(bytes: number, count: number): FilesInfo {
  return { size_bytes: bytes, size_human: formatSize(bytes), file_count: count };
}

/** Directory names under ROOT that are never legacy projects (spec §1.3). */
const RESERVED = new Set(["runs", "webui", "archive", "index"]);

/** Walks directories synchronously in slices, yielding to the event loop so a huge root never stalls requests. */
class SlicedWalker {
  private sliceStart = performance.now();

  constructor(
    private readonly sliceMs: number,
    private readonly log: Logger | undefined,
  ) {}

  /** Gives the event loop a turn when the current slice is used up. */
  async breathe(): Promise<void> {
    if (performance.now() - this.sliceStart < this.sliceMs) return;
    await new Promise((r) => setImmediate(r));
    this.sliceStart = performance.now();
  }

  /** Directory entries, or none when the directory is missing or unreadable. */
  list(dir: string): Dirent[] {
    try {
      return readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") this.log?.debug(`cannot list ${dir}`, err);
      return [];
    }
  }

  /** Total bytes and number of regular files below `dir` (symlinks are neither followed nor counted). */
  async tree(dir: string, entries: Dirent[] = this.list(dir)): Promise<{ bytes: number; count: number }> {
    let bytes = 0;
    let count = 0;
    for (const e of entries) {
      await this.breathe();
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        const sub = await this.tree(p);
        bytes += sub.bytes;
        count += sub.count;
      } else if (e.isFile()) {
        const st = lstatSync(p, { throwIfNoEntry: false });
        if (st) {
          bytes += st.size;
          count++;
        }
      }
    }
    return { bytes, count };
  }
}

/** Options of `computeStorageStats`. */
export interface StorageStatsOptions {
  /** Longest stretch of synchronous file-system work before yielding (ms). */
  sliceMs?: number;
  log?: Logger;
}

/** Walks ROOT once and returns the storage statistics; never blocks the event loop for more than `sliceMs`. */
export async function computeStorageStats(root: string, opts: StorageStatsOptions = {}): Promise<StorageStats> {
  const w = new SlicedWalker(opts.sliceMs ?? 2, opts.log);
  const archive = join(root, "archive");
  const blobs = await w.tree(join(archive, "blobs"));
  const outputs = await w.tree(join(archive, "outputs"));
  const manifestsDir = join(archive, "manifests");
  const manifestEntries = w.list(manifestsDir);
  const manifests = await w.tree(manifestsDir, manifestEntries);
  const byCategory: Record<string, FilesInfo> = {};
  for (const e of manifestEntries.filter((x) => x.isDirectory()).sort(byName)) {
    const c = await w.tree(join(manifestsDir, e.name));
    byCategory[e.name] = files(c.bytes, c.count);
  }
  const index = await w.tree(join(root, "index"));

  const runs = { bytes: 0, count: 0, deleted: 0 };
  const projects = new Set<string>();
  const experiments = new Set<string>();
  const addRun = async (dir: string, entries: Dirent[], segments: string[]) => {
    runs.bytes += (await w.tree(dir, entries)).bytes;
    // count what the run list shows; a soft-deleted run is reported apart (issue 15.2)
    if (entries.some((e) => e.name === ".deleted")) {
      runs.deleted++;
      return;
    }
    runs.count++;
    if (segments.length) {
      projects.add(segments[0]);
      experiments.add(segments.join("/"));
    }
  };
  const isRun = (entries: Dirent[]) => entries.some((e) => e.name === "meta.json" || e.name === "status.json");

  // v0.6 layout: a directory holding meta.json or status.json is a run; anything else is a path segment (spec §1.3)
  const walkV06 = async (dir: string, segments: string[]): Promise<void> => {
    for (const d of w.list(dir).filter(isSubdir).sort(byName)) {
      await w.breathe();
      const child = join(dir, d.name);
      const entries = w.list(child);
      if (isRun(entries)) await addRun(child, entries, segments);
      else await walkV06(child, [...segments, d.name]);
    }
  };
  await walkV06(join(root, "runs"), []);

  // legacy layout ROOT/<project>/<name>/runs/<id> (spec §1.9)
  for (const p of w.list(root).filter(isSubdir)) {
    if (RESERVED.has(p.name)) continue;
    for (const n of w.list(join(root, p.name)).filter(isSubdir)) {
      const runsDir = join(root, p.name, n.name, "runs");
      for (const r of w.list(runsDir).filter(isSubdir)) {
        await w.breathe();
        const dir = join(runsDir, r.name);
        const entries = w.list(dir);
        if (isRun(entries)) await addRun(dir, entries, [p.name, n.name]);
      }
    }
  }

  const archiveBytes = blobs.bytes + manifests.bytes + outputs.bytes;
  return {
    storage_root: root,
    total: size(archiveBytes + runs.bytes + index.bytes),
    archive: {
      ...size(archiveBytes),
      blobs: files(blobs.bytes, blobs.count),
      manifests: { ...files(manifests.bytes, manifests.count), by_category: byCategory },
      outputs: files(outputs.bytes, outputs.count),
    },
    runs: {
      ...size(runs.bytes),
      projects_count: projects.size,
      experiments_count: experiments.size,
      runs_count: runs.count,
      deleted_runs_count: runs.deleted,
    },
    index: size(index.bytes),
    computed_at: Date.now() / 1000,
  };
}

/** Hidden directories are not runs or path segments (as in store/discover.ts). */
function isSubdir(e: Dirent): boolean {
  return e.isDirectory() && !e.name.startsWith(".");
}

function byName(a: Dirent, b: Dirent): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * Caches storage statistics per root for `ttlMs`; a stale value is served at once while a fresh one
 * is computed in the background, so only the very first request for a root waits for the walk.
 */
export class StorageStatsCache {
  private cached: { root: string; at: number; value: StorageStats } | undefined;
  private pending = new Map<string, Promise<StorageStats>>();

  constructor(private readonly opts: { ttlMs?: number; log?: Logger; sliceMs?: number } = {}) {}

  /** Statistics for `root`: cached, stale-while-refreshing, or computed now for a root not seen before. */
  async get(root: string): Promise<StorageStats> {
    const c = this.cached;
    if (c && c.root === root) {
      if (Date.now() - c.at >= (this.opts.ttlMs ?? 10_000)) void this.refresh(root);
      return c.value;
    }
    return this.refresh(root);
  }

  /** Starts (or joins) a walk of `root` and caches its result. */
  refresh(root: string): Promise<StorageStats> {
    let p = this.pending.get(root);
    if (p) return p;
    p = computeStorageStats(root, { sliceMs: this.opts.sliceMs, log: this.opts.log })
      .then((value) => {
        this.cached = { root, at: Date.now(), value };
        return value;
      })
      .finally(() => this.pending.delete(root));
    this.pending.set(root, p);
    p.catch((err) => this.opts.log?.error(`storage stats of ${root} failed`, err));
    return p;
  }
}
