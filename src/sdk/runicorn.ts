// The TypeScript SDK's entry point: init() and friends, writing runs in the Runicorn 0.6 layout (spec §2.2).
import { resolveSystemInterval } from "./system-metrics.ts";
import { type Env, generateRunId, normalizePath, resolveStorageRoot, resolveWorkspaceRoot, validateRunId } from "./locate.ts";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type LogData, type LogOptions, Run } from "./run.ts";
import { readJsonForMerge } from "./run-files.ts";
import { findRunElsewhere, runPathOf } from "./run-id-owner.ts";
import { remoteStagingRoot, RemoteShipper } from "./remote.ts";
import { homedir } from "node:os";

export { Run, type LogData, type LogOptions } from "./run.ts";
export { Audio, Histogram, Image, Table } from "./media.ts";

/** Arguments of `init()`; the first four are those of Python's `rn.init`. */
export interface InitOptions {
  /** Hierarchy path like "cv/yolo"; undefined/null → "default", "" or "/" → root runs. */
  path?: string | null;
  /** Storage root; default RUNICORN_DIR, then `user_root_dir` of the per-user config, then ./.runicorn. */
  storage?: string;
  /** Run id; default `YYYYMMDD_HHMMSS_xxxxxx` in local time. */
  runId?: string;
  alias?: string | null;
  /** Workspace root recorded in meta.json; default the git root of the working directory, else it. */
  workspaceRoot?: string;
  /** Longest wait before buffered lines are written, in ms (default 500). */
  flushIntervalMs?: number;
  /** Seconds between `heartbeat_at` refreshes in status.json (default RUNICORN_HEARTBEAT_INTERVAL, else 5; 0 = off). */
  heartbeatSeconds?: number;
  /** Flush on SIGTERM before the process dies (default true). */
  handleSignals?: boolean;
  /** Environment for RUNICORN_DIR, RUNICORN_ON, RUNICORN_HEARTBEAT_INTERVAL, HOME, XDG_CONFIG_HOME (default process.env). */
  env?: Env;
  /** Working directory for relative paths and the default root (default process.cwd()). */
  cwd?: string;
  /** Labels for the run, e.g. ["baseline"] (meta.json `tags`; merged into a resumed run's tags). */
  tags?: string[];
  /** Free-text notes (meta.json `notes`). */
  notes?: string;
  /** Settings stored as assets.json `config.extra`, where the run page's config tab reads them. */
  config?: Record<string, unknown>;
  /**
   * With `runId`: "allow" continues that run when it exists (step counter, alias, tags, status) and
   * starts it otherwise; "must" throws when it does not exist; "never" throws when it does.
   */
  resume?: "allow" | "must" | "never";
  /** Sample CPU, memory and GPU of this process into system.jsonl (default on; RUNICORN_SYSTEM_METRICS=0 turns it off). */
  systemMetrics?: boolean;
  /** Seconds between samples (default RUNICORN_SYSTEM_INTERVAL, else 10; 0 = off). */
  systemInterval?: number;
  /** Send the run to a Runicorn server (http://host:port) instead of a storage root; default RUNICORN_SERVER (docs/SDK.md). */
  server?: string;
  /** The server's API token; default RUNICORN_TOKEN. */
  token?: string;
}

/** What init() returns while tracking is switched off: every method does nothing (spec §2.2). */
export class NoOpRun {
  /** Always "disabled". */
  readonly id = "disabled";
  readonly path: string;
  readonly alias: string | null;
  constructor(path: string | null | undefined, alias: string | null | undefined) {
    this.path = path || "default";
    this.alias = alias ?? null;
  }
  /** Does nothing. */
  log(_data?: LogData | null, _opts?: LogOptions): void {}
  /** Does nothing. */
  logText(_text: string): void {}
  /** Does nothing. */
  summary(_update: LogData): void {}
  /** Does nothing. */
  setPrimaryMetric(_name: string, _mode: "max" | "min" = "max"): void {}
  /** Does nothing. */
  finish(_status = "finished"): void {}
  /** Does nothing. */
  flushNow(): void {}
  /** Does nothing; returns "". */
  logImage(_key: string, _image: Uint8Array | string, _opts?: { step?: number; caption?: string }): string {
    return "";
  }
  /** Does nothing. */
  logConfig(_opts: { args?: Record<string, unknown>; extra?: Record<string, unknown>; configFiles?: string[] }): void {}
  /** Does nothing. */
  logDataset(_name: string, _rootOrUri: string | Record<string, unknown>, _opts?: { context?: string; description?: string }): void {}
  /** Does nothing. */
  logPretrained(_name: string, _opts?: { pathOrUri?: string | Record<string, unknown>; sourceType?: string; description?: string }): void {}
}

let activeRun: Run | undefined;
let enabledOverride: boolean | undefined;

const FALSE = new Set(["0", "false", "no", "n", "off"]);

/** Whether init() records: setEnabled() if called, else RUNICORN_ON (1/true/yes/y/on vs 0/false/no/n/off), else on. */
export function isEnabled(env: Env = process.env): boolean {
  if (enabledOverride !== undefined) return enabledOverride;
  const v = (env.RUNICORN_ON ?? "").trim().toLowerCase();
  // spec §2.2: only an explicit "off" word disables; unset or anything else means on
  return !FALSE.has(v);
}

/** Switches tracking on or off for this process; undefined goes back to RUNICORN_ON. */
export function setEnabled(on: boolean | undefined): void {
  enabledOverride = on;
}

/**
 * Starts a run: validates the path (throws RangeError on a bad one), creates
 * `ROOT/runs/<path>/<id>/` with meta.json, status.json (`running`, `heartbeat_at`) and the
 * assets.json skeleton, and makes it the active run. Returns a NoOpRun when tracking is off.
 */
export function init(options: InitOptions = {}): Run | NoOpRun {
  const env = options.env ?? process.env;
  if (!isEnabled(env)) {
    activeRun = undefined;
    return new NoOpRun(options.path, options.alias);
  }
  const cwd = options.cwd ?? process.cwd();
  const path = normalizePath(options.path);
  const id = options.runId !== undefined ? validateRunId(options.runId) : generateRunId();
  const resume = options.resume;
  if (resume !== undefined && !["allow", "must", "never"].includes(resume)) {
    throw new RangeError(`resume must be "allow", "must" or "never", got ${JSON.stringify(resume)}`);
  }
  if (resume && options.runId === undefined) throw new RangeError(`resume: "${resume}" needs runId (the run to continue)`);
  if (options.tags !== undefined && (!Array.isArray(options.tags) || !options.tags.every((t) => typeof t === "string"))) {
    throw new TypeError('tags must be an array of strings, e.g. ["baseline"]');
  }
  const server = options.server ?? env.RUNICORN_SERVER ?? undefined;
  const homeDir = env.HOME || homedir();
  const storageRoot = server && options.storage === undefined ? remoteStagingRoot(env, homeDir) : resolveStorageRoot(options.storage, env, cwd);
  const runDir = join(storageRoot, "runs", ...path.split("/").filter(Boolean), id);
  const exists = existsSync(join(runDir, "meta.json"));
  if (options.runId !== undefined && !exists) {
    const other = findRunElsewhere(storageRoot, id, runDir);
    if (other !== undefined) {
      const otherPath = runPathOf(storageRoot, other);
      throw new Error(
        `runId "${id}" is already used by the run at path "${otherPath}" (${other}); a run id names one run: ` +
          `pick another runId, or pass path: "${otherPath}" to continue that run`,
      );
    }
  }
  if (resume === "must" && !exists) throw new Error(`resume "must": no run ${id} under path "${path}" in ${storageRoot}`);
  if (resume === "never" && exists) throw new Error(`resume "never": run ${id} already exists in ${runDir}`);
  let alias = options.alias ?? null;
  if (resume && exists && alias === null) {
    const meta = readJsonForMerge(join(runDir, "meta.json"));
    alias = typeof meta?.alias === "string" ? meta.alias : null;
  }
  const run = new Run({
    id,
    path,
    alias,
    tags: options.tags?.map((t) => t.trim()).filter(Boolean),
    notes: options.notes,
    config: options.config,
    resumed: !!resume && exists,
    storageRoot,
    workspaceRoot: resolveWorkspaceRoot(options.workspaceRoot, env, cwd),
    flushIntervalMs: options.flushIntervalMs ?? 500,
    heartbeatSeconds: options.heartbeatSeconds ?? heartbeatFromEnv(env),
    handleSignals: options.handleSignals ?? true,
    systemInterval: resolveSystemInterval(options.systemMetrics, options.systemInterval, env),
  });
  if (server) attachRemote(run, new RemoteShipper(id, path, run.runDir, server, options.token ?? env.RUNICORN_TOKEN, env, homeDir), env);
  activeRun = run;
  return run;
}

/** finish() also closes the upload (bounded by RUNICORN_FINISH_TIMEOUT seconds, default 10); `run.uploaded` says how it went. */
function attachRemote(run: Run, shipper: RemoteShipper, env: Env): void {
  const finish = run.finish.bind(run);
  const secs = Number(env.RUNICORN_FINISH_TIMEOUT ?? "10");
  run.finish = (status?: string) => {
    finish(status);
    (run as Run & { uploaded?: Promise<boolean> }).uploaded = shipper.close((Number.isFinite(secs) && secs >= 0 ? secs : 10) * 1000);
  };
}

/** RUNICORN_HEARTBEAT_INTERVAL as the Python SDK reads it: a positive number of seconds, else 5. */
function heartbeatFromEnv(env: Env): number {
  const v = Number(env.RUNICORN_HEARTBEAT_INTERVAL ?? "5");
  return Number.isFinite(v) && v > 0 ? v : 5;
}

/** The run most recently started by init() (finish() does not clear it, as in 0.6). */
export function getActiveRun(): Run | undefined {
  return activeRun;
}

/**
 * Runs `fn` inside a run, like Python's `with rn.init(...) as run:` — finish("failed") when it
 * throws (the error is rethrown), finish("finished") otherwise.
 */
export async function withRun<T>(options: InitOptions, fn: (run: Run | NoOpRun) => T | Promise<T>): Promise<T> {
  const run = init(options);
  let result: T;
  try {
    result = await fn(run);
  } catch (err) {
    run.finish("failed");
    throw err;
  }
  run.finish("finished");
  return result;
}
