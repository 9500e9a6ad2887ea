// Finds run folders and turns each into its index row with as few system calls as possible (run on both cores).
import { closeSync, constants, type Dirent, fstatSync, lstatSync, openSync, readdirSync, readSync } from "node:fs";
import { join, sep } from "node:path";

// paths are built by concatenation below: path.join normalises every segment, a cost paid 500,000 times at 100k runs
import { legacyOrderKey, STAMP_FILES, v06OrderKey } from "../store/discover.ts";
import { type JsonObject, isObject, parseTolerant } from "../store/json.ts";
import { buildRunRow } from "./run-row.ts";
import type { RunTable } from "./schema.ts";

/** A run folder found by the walk, and the stamp the index holds for it (if any). */
export interface ScanTask {
  dir: string;
  id: string;
  entryPath: string | null;
  layout: "v06" | "legacy";
  orderKey: string;
  /** The stamp in the index; when the files still match it, the run is not read again. */
  known?: string;
}

/** What a scan found: the current stamp, and the fresh row when the files changed (none when it is no run any more). */
export interface ScanResult {
  dir: string;
  stamp: string;
  row?: RunTable;
}

/** Directory names under ROOT that are never legacy projects (spec §1.3). */
const RESERVED = new Set(["runs", "webui", "archive", "index"]);

/** The run's small files are read only up to this size; a larger one reads as absent (not a run file). */
export const SMALL_FILE_LIMIT = 16 << 20;

const O_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOFOLLOW ?? 0);
let buffer = Buffer.allocUnsafe(64 << 10);

/**
 * `mtimeMs:size;` per STAMP_FILES member, `-;` when absent or not a regular file (symlinks, FIFOs and
 * folders are never read, so they never count); the first two tell whether `dir` is a run.
 */
export function statStamp(dir: string): string {
  let out = "";
  for (const name of STAMP_FILES) {
    const st = lstatSync(dir + sep + name, { throwIfNoEntry: false });
    out += st?.isFile() && st.size <= SMALL_FILE_LIMIT ? `${st.mtimeMs}:${st.size};` : "-;";
  }
  return out;
}

/** True when a stamp says the directory holds meta.json or status.json (spec §1.3 run rule). */
export function stampIsRun(stamp: string): boolean {
  return !stamp.startsWith("-;-;");
}

/**
 * Reads one small file through one descriptor: its stamp is taken from that descriptor before the
 * bytes are read, so a rewrite that lands during or after the read leaves a different stamp on disk
 * and the next look reads it again (never a torn read cached as current).
 */
function readSmall(path: string): { stamp: string; text?: string } {
  let fd: number;
  try {
    fd = openSync(path, O_FLAGS);
  } catch {
    return { stamp: "-;" }; // absent, a symlink (ELOOP) or unreadable: the run lacks this file
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > SMALL_FILE_LIMIT) return { stamp: "-;" };
    const stamp = `${st.mtimeMs}:${st.size};`;
    if (buffer.length < st.size) buffer = Buffer.allocUnsafe(st.size);
    // the size fstat saw is what this stamp stands for: a file that grew since has a newer mtime and is read again
    let n = 0;
    while (n < st.size) {
      const k = readSync(fd, buffer, n, st.size - n, n);
      if (k <= 0) break;
      n += k;
    }
    return { stamp, text: buffer.toString("utf8", 0, n) };
  } catch {
    return { stamp: "-;" }; // vanished or unreadable mid-read: counted as absent; its next stamp differs
  } finally {
    closeSync(fd);
  }
}

function parseObject(text: string | undefined): JsonObject | undefined {
  if (text === undefined) return undefined;
  try {
    const v = parseTolerant(text);
    return isObject(v) ? v : undefined;
  } catch {
    return undefined; // torn write in progress (spec §1.13): read as {}
  }
}

/**
 * Scans one run folder: when `known` still matches its files nothing is read (stats only); otherwise
 * the files are read and the row rebuilt. A folder that is no longer a run has no row.
 */
export function scanRun(task: ScanTask): ScanResult {
  const { dir } = task;
  if (task.known !== undefined) {
    const stamp = statStamp(dir);
    if (stamp === task.known || !stampIsRun(stamp)) return { dir, stamp };
  }
  const meta = readSmall(dir + sep + "meta.json");
  const status = readSmall(dir + sep + "status.json");
  // a folder of runs, not a run (spec §1.3): nothing more to read
  if (meta.stamp === "-;" && status.stamp === "-;") return { dir, stamp: "-;-;-;-;-;" };
  const summary = readSmall(dir + sep + "summary.json");
  const assets = readSmall(dir + sep + "assets.json");
  const marker = lstatSync(dir + sep + ".deleted", { throwIfNoEntry: false });
  const deleted = marker ? readSmall(dir + sep + ".deleted") : { stamp: "-;" as string, text: undefined };
  const stamp = meta.stamp + status.stamp + summary.stamp + assets.stamp + deleted.stamp;
  if (!stampIsRun(stamp)) return { dir, stamp };
  const metaObj = parseObject(meta.text) ?? {};
  const needsDirTime = typeof metaObj.created_at !== "number" || !Number.isFinite(metaObj.created_at);
  const row = buildRunRow(
    { dir, id: task.id, entryPath: task.entryPath, layout: task.layout, orderKey: task.orderKey, stamp },
    {
      meta: metaObj,
      status: parseObject(status.text) ?? {},
      summary: parseObject(summary.text) ?? {},
      assets: parseObject(assets.text),
      // a .deleted marker that does not parse still marks the run deleted
      deleted: deleted.stamp !== "-;" ? (parseObject(deleted.text) ?? {}) : undefined,
      dirMtime: needsDirTime ? (lstatSync(dir, { throwIfNoEntry: false })?.mtimeMs ?? NaN) / 1000 || null : null,
    },
  );
  return { dir, stamp, row };
}

/**
 * Sub-directories (not symlinks: nothing outside ROOT is followed) that are not hidden, sorted by name:
 * rows are then written in about list order, so the full list reads the table's pages in sequence.
 */
function subdirs(dir: string): Dirent[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return []; // unreadable or vanished while walking: nothing to list there
  }
  return entries
    .filter((e) => e.isDirectory() && !e.name.startsWith("."))
    .sort((a, b) => {
      const x = a.name.toLowerCase();
      const y = b.name.toLowerCase();
      return x < y ? -1 : x > y ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
    });
}

/** True when `dir` holds a regular meta.json or status.json (spec §1.3); one stat for most runs. */
export function isRunDir(dir: string): boolean {
  return !!(lstatSync(join(dir, "meta.json"), { throwIfNoEntry: false })?.isFile() || lstatSync(join(dir, "status.json"), { throwIfNoEntry: false })?.isFile());
}

/** A task for a v0.6 run folder given its segments below ROOT/runs. */
export function v06Task(dir: string, segments: string[]): ScanTask {
  const parents = segments.slice(0, -1);
  return { dir, id: segments[segments.length - 1], entryPath: parents.length ? parents.join("/") : null, layout: "v06", orderKey: v06OrderKey(segments) };
}

/** Tasks for the sub-folders of a v0.6 folder (`segments` below ROOT/runs): each may be a run or a folder of runs. */
export function childTasks(dir: string, segments: string[]): ScanTask[] {
  return subdirs(dir).map((d) => v06Task(join(dir, d.name), [...segments, d.name]));
}

/** Run folders of the legacy `project/name/runs/<id>` layout under ROOT (spec §1.3). */
export function* legacyRunDirs(root: string): Generator<ScanTask> {
  for (const project of subdirs(root)) {
    if (RESERVED.has(project.name)) continue;
    for (const name of subdirs(join(root, project.name))) {
      const runsDir = join(root, project.name, name.name, "runs");
      for (const run of subdirs(runsDir)) {
        const dir = join(runsDir, run.name);
        if (!isRunDir(dir)) continue;
        const mtime = lstatSync(dir, { throwIfNoEntry: false })?.mtimeMs ?? 0;
        yield { dir, id: run.name, entryPath: `${project.name}/${name.name}`, layout: "legacy", orderKey: legacyOrderKey(project.name, name.name, mtime, run.name) };
      }
    }
  }
}

/**
 * Run folders at or below `dir` in the v0.6 tree (a new folder seen by the watcher); nothing outside
 * ROOT/runs. `onFolder` hears of each folder that is not a run (to watch it).
 */
export function* walkRunDirs(root: string, dir: string, onFolder?: (dir: string) => void): Generator<ScanTask> {
  const runsRoot = join(root, "runs");
  if (dir !== runsRoot && !dir.startsWith(runsRoot + "/")) return;
  const rel = dir.slice(runsRoot.length + 1);
  const segments = rel ? rel.split("/") : [];
  if (segments.length && isRunDir(dir)) yield v06Task(dir, segments);
  else yield* walkV06(dir, segments, onFolder);
}

function* walkV06(dir: string, segments: string[], onFolder?: (dir: string) => void): Generator<ScanTask> {
  onFolder?.(dir);
  // a folder that became a run between its parent's look and this watch is a run after all: its
  // meta.json may have been written before the watch could see it
  if (segments.length && isRunDir(dir)) {
    yield v06Task(dir, segments);
    return;
  }
  for (const t of childTasks(dir, segments)) {
    if (isRunDir(t.dir)) yield t;
    else yield* walkV06(t.dir, [...segments, t.dir.slice(dir.length + 1)], onFolder);
  }
}
