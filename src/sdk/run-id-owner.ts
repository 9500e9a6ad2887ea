// A custom run id names one run: before a run is created with one, find whether another path already holds it.
import { type Dirent, existsSync, readdirSync } from "node:fs";
import { join, relative, sep } from "node:path";

/** Directory names the SDKs generate (`YYYYMMDD_HHMMSS_xxxxxx`): run directories, never descended into. */
const GENERATED_ID = /^\d{8}_\d{6}_[0-9a-f]{6}$/;
/** Paths are at most 200 characters, so at most ~100 segments; deeper trees are not runs. */
const MAX_DEPTH = 110;

/**
 * The directory of an existing run with this id under `ROOT/runs`, other than `runDir`, or undefined.
 * Walks only the path directories (generated run ids and symlinks are skipped) and gives up after `budgetMs`
 * (a huge root must not stall a training script's start; the viewer's index still shows both runs then).
 */
export function findRunElsewhere(storageRoot: string, id: string, runDir: string, budgetMs = 3000): string | undefined {
  const runsDir = join(storageRoot, "runs");
  const deadline = Date.now() + budgetMs;
  const stack: [string, number][] = [[runsDir, 0]];
  while (stack.length) {
    if (Date.now() > deadline) return undefined;
    const [dir, depth] = stack.pop()!;
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      continue; // unreadable or vanished: not a place a run of ours can be
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const child = join(dir, e.name);
      if (e.name === id) {
        if (child !== runDir && existsSync(join(child, "meta.json"))) return child;
        continue;
      }
      if (GENERATED_ID.test(e.name) || e.name === "media" || depth >= MAX_DEPTH) continue;
      stack.push([child, depth + 1]);
    }
  }
  return undefined;
}

/** The run path of a run directory under `ROOT/runs` (`a/b` for `ROOT/runs/a/b/<id>`). */
export function runPathOf(storageRoot: string, dir: string): string {
  return relative(join(storageRoot, "runs"), dir).split(sep).slice(0, -1).join("/");
}
