// Finds run directories under ROOT in the v0.6 path layout and the legacy layout (spec §1.3, §1.9).
import { type Dirent, readdirSync, statSync } from "node:fs";
import { join, sep } from "node:path";

/** A run directory as discovered on disk. */
export interface RunEntry {
  /** Absolute run directory. */
  dir: string;
  /** Directory name = run id (spec §1.4). */
  id: string;
  /** `/`-joined parent segments (`cv/yolo`; legacy `proj/name`); null for root-level runs. */
  entryPath: string | null;
  layout: "v06" | "legacy";
  /** Sorts runs in the original's scan order (spec §1.9). */
  orderKey: string;
  /** mtime/size fingerprint of the run's small files (see runStamp). */
  stamp: string;
}

/** Directory names under ROOT that are never legacy projects (spec §1.3). */
const RESERVED = new Set(["runs", "webui", "archive", "index"]);

/** Files whose change means the run's listing must be re-read. */
export const STAMP_FILES = ["meta.json", "status.json", "summary.json", "assets.json", ".deleted"] as const;

const SEP = "\u0001";

/** `mtimeMs:size` of each STAMP_FILES member (`-` when absent); the first two tell whether `dir` is a run. */
export function runStamp(dir: string): string {
  let out = "";
  for (const name of STAMP_FILES) {
    const st = statSync(join(dir, name), { throwIfNoEntry: false });
    out += st ? `${st.mtimeMs}:${st.size};` : "-;";
  }
  return out;
}

/** True when a stamp says the directory holds meta.json or status.json (spec §1.3 run rule). */
export function stampIsRun(stamp: string): boolean {
  return !stamp.startsWith("-;-;");
}

/** Sort key of a v0.6 run: its lowercased segments, so that parents sort as the original's walk does. */
export function v06OrderKey(segments: string[]): string {
  return "0" + segments.map((s) => s.toLowerCase() + SEP + s).join(SEP + SEP);
}

/** Sort key of a legacy run: project, name, then newest folder first (spec §1.9). */
export function legacyOrderKey(project: string, name: string, mtimeMs: number, id: string): string {
  const inv = String(Math.max(0, 1e14 - Math.floor(mtimeMs))).padStart(15, "0");
  return "1" + [project.toLowerCase(), name.toLowerCase(), inv, id].join(SEP);
}

/** Told about a folder that exists but cannot be listed (runs below it may be missed). */
export type OnUnreadable = (dir: string, reason: string) => void;

/** Sub-directories (not symlinks: nothing outside ROOT is followed), sorted by lowercase name. */
function subdirs(dir: string, onUnreadable?: OnUnreadable): Dirent[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    // vanished while walking: nothing to list there; anything else may hide runs (gc must know)
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENOENT" && code !== "ENOTDIR") onUnreadable?.(dir, (e as Error).message);
    return [];
  }
  return entries
    .filter((e) => e.isDirectory() && !e.name.startsWith("."))
    .sort((a, b) => {
      const x = a.name.toLowerCase();
      const y = b.name.toLowerCase();
      return x < y ? -1 : x > y ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
    });
}

/** Walks ROOT and returns every run directory (soft-deleted ones included) in scan order. */
export function discoverRuns(root: string, onUnreadable?: OnUnreadable): RunEntry[] {
  return [...iterateRuns(root, undefined, onUnreadable)];
}

/**
 * Returns a run directory's stamp without touching its files, for runs known not to change (the light
 * sweep); undefined means "stat it".
 */
export type KnownStamp = (dir: string) => string | undefined;

/** Walks ROOT lazily, yielding run directories in scan order (lets callers pause between runs). */
export function* iterateRuns(root: string, known?: KnownStamp, onUnreadable?: OnUnreadable): Generator<RunEntry> {
  yield* walkV06(join(root, "runs"), [], known, onUnreadable);
  for (const project of subdirs(root, onUnreadable)) {
    if (RESERVED.has(project.name)) continue;
    for (const name of subdirs(join(root, project.name), onUnreadable)) {
      const runsDir = join(root, project.name, name.name, "runs");
      for (const run of subdirs(runsDir, onUnreadable)) {
        const dir = join(runsDir, run.name);
        const stamp = known?.(dir) ?? runStamp(dir);
        if (!stampIsRun(stamp)) continue;
        const mtime = statSync(dir, { throwIfNoEntry: false })?.mtimeMs ?? 0;
        yield {
          dir,
          id: run.name,
          entryPath: `${project.name}/${name.name}`,
          layout: "legacy",
          orderKey: legacyOrderKey(project.name, name.name, mtime, run.name),
          stamp,
        };
      }
    }
  }
}

/** Discovers the runs below one directory of the v0.6 tree (used when the watcher sees a new folder). */
export function discoverUnder(root: string, dir: string): RunEntry[] {
  const runsRoot = join(root, "runs");
  // `sep`: backslashes on Windows, where watcher paths come from node:path too
  if (dir !== runsRoot && !dir.startsWith(runsRoot + sep)) return [];
  const rel = dir.slice(runsRoot.length + 1);
  const segments = rel ? rel.split(sep) : [];
  const out: RunEntry[] = [];
  if (segments.length > 0) {
    const stamp = runStamp(dir);
    if (stampIsRun(stamp)) {
      out.push(v06Entry(dir, segments, stamp));
      return out;
    }
  }
  out.push(...walkV06(dir, segments));
  return out;
}

function v06Entry(dir: string, segments: string[], stamp: string): RunEntry {
  const id = segments[segments.length - 1];
  const parents = segments.slice(0, -1);
  return {
    dir,
    id,
    entryPath: parents.length ? parents.join("/") : null,
    layout: "v06",
    orderKey: v06OrderKey(segments),
    stamp,
  };
}

function* walkV06(dir: string, segments: string[], known?: KnownStamp, onUnreadable?: OnUnreadable): Generator<RunEntry> {
  for (const d of subdirs(dir, onUnreadable)) {
    const child = join(dir, d.name);
    const segs = [...segments, d.name];
    const stamp = known?.(child) ?? runStamp(child);
    if (stampIsRun(stamp)) yield v06Entry(child, segs, stamp);
    else yield* walkV06(child, segs, known, onUnreadable);
  }
}
