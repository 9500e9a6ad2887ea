// Where a run lives: path normalisation (spec §1.3), run ids (§1.4), storage root (§1.1), workspace root.
import { randomBytes } from "node:crypto";
import { existsSync, realpathSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { configDirFor } from "../config/config.ts";
import { readJsonObject } from "../store/json.ts";

const PATH_CHARS = /^[a-zA-Z0-9_\-/]+$/;
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/**
 * Normalises an experiment path as SDK 0.6 does (spec §1.3): undefined/null → "default",
 * `\` → `/`, "" or "/" → "" (root runs), outer slashes stripped, only `[A-Za-z0-9_-/]`, at most
 * 200 characters; throws RangeError otherwise. Unlike 0.6 (spec §10.12) interior `//` is
 * collapsed, so meta.json and the directory agree.
 */
export function normalizePath(path: string | null | undefined): string {
  if (path === undefined || path === null) return "default";
  let p = String(path).replace(/\\/g, "/");
  if (p === "/" || p === "") return "";
  p = p.replace(/^\/+|\/+$/g, "");
  if (!PATH_CHARS.test(p)) {
    throw new RangeError(
      `Invalid path: '${p}'. Path can only contain letters, numbers, underscores, hyphens, and forward slashes.`,
    );
  }
  p = p.replace(/\/{2,}/g, "/");
  if (p.length > 200) throw new RangeError(`Path too long: ${p.length} characters. Maximum is 200.`);
  return p;
}

/**
 * Checks a caller-chosen run id. 0.6 took any string as a directory name (spec §10.12); here it
 * must be one safe directory name: letters, digits, `_`, `-`, `.`, not starting with `.`/`-`.
 */
export function validateRunId(id: string): string {
  if (!RUN_ID.test(id)) {
    throw new RangeError(
      `Invalid run_id: '${id}'. Use 1-128 letters, digits, '_', '-' or '.', starting with a letter or digit.`,
    );
  }
  return id;
}

/** A new run id: local time `YYYYMMDD_HHMMSS_` plus 6 lowercase hex digits (spec §1.4). */
export function generateRunId(now: Date = new Date()): string {
  const p2 = (n: number) => (n < 10 ? "0" + n : "" + n);
  return (
    `${now.getFullYear()}${p2(now.getMonth() + 1)}${p2(now.getDate())}_` +
    `${p2(now.getHours())}${p2(now.getMinutes())}${p2(now.getSeconds())}_` +
    randomBytes(3).toString("hex")
  );
}

/** Environment variables the SDK consults. */
export type Env = Record<string, string | undefined>;

/**
 * The storage root (spec §1.1): explicit argument, then `RUNICORN_DIR`, then `user_root_dir` in
 * the per-user `config.json`, then `./.runicorn`; `~` expanded, absolute, symlinks resolved where
 * the path exists (Python's `Path.resolve()`).
 */
export function resolveStorageRoot(storage: string | undefined, env: Env, cwd: string): string {
  const home = env.HOME || env.USERPROFILE || homedir();
  if (storage) return realish(expandUser(storage, home), cwd);
  if (env.RUNICORN_DIR) return realish(expandUser(env.RUNICORN_DIR, home), cwd);
  const userRoot = readJsonObject(join(configDirFor(env, home), "config.json"))?.user_root_dir;
  if (typeof userRoot === "string" && userRoot) return realish(expandUser(userRoot, home), cwd);
  return realish(".runicorn", cwd);
}

/**
 * The workspace root written to meta.json: the explicit argument, else the nearest ancestor of the
 * working directory holding `.git`, else the working directory.
 */
export function resolveWorkspaceRoot(explicit: string | undefined, env: Env, cwd: string): string {
  const home = env.HOME || env.USERPROFILE || homedir();
  if (explicit) return realish(expandUser(explicit, home), cwd);
  const start = realish(".", cwd);
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, ".git"))) return dir;
    if (dirname(dir) === dir) return start;
  }
}

/** `~` and `~/x` as Python's expanduser. */
function expandUser(p: string, home: string): string {
  if (p === "~") return home;
  if (p.startsWith("~/") || p.startsWith("~\\")) return join(home, p.slice(2));
  return p;
}

/** Absolute path with symlinks resolved for the part that exists (Python's non-strict resolve). */
export function realish(p: string, cwd: string): string {
  const abs = isAbsolute(p) ? resolve(p) : resolve(cwd, p);
  try {
    return realpathSync(abs);
  } catch {
    // not there (yet): resolve the parent and keep the missing tail as written
    const parent = dirname(abs);
    return parent === abs ? abs : join(realish(parent, cwd), basename(abs));
  }
}
