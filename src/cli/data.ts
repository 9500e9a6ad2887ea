// Data-management commands: export, import, delete, gc, config, rate-limit, ls (spec §4.2, issue 9).
import { isStalled } from "../wire/liveness.ts";
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { hostname as osHostname } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { Config } from "../config/config.ts";
import { expandPath } from "../config/config.ts";
import { readUserFile, updateUserFile } from "../config/user-files.ts";
import { DEFAULT_RATE_LIMITS, RATE_LIMITS_FILE } from "../api/rate-limit.ts";
import { discoverRuns } from "../store/discover.ts";
import { isObject, type JsonObject } from "../store/json.ts";
import { evaluateFilter, type FilterNode, FilterSyntaxError, parseFilter } from "../analysis/filter.ts";
import { buildRunConfig, runFieldReader, type RunFieldValues } from "../analysis/run-fields.ts";
import { num, readRunFiles, type RunFiles, str } from "../store/run-files.ts";
import { FileRefusedError } from "../store/safe-read.ts";
import { importArchive, UnsafeArchiveError } from "../store/assets/archive-import.ts";
import { FileSink, GzipSink } from "../store/assets/byte-sink.ts";
import { findRunDir, RunDeleter } from "../store/assets/delete-run.ts";
import { collectGarbage, GC_MIN_AGE_SECONDS } from "../store/assets/gc.ts";
import { selectRuns, writeRootExport } from "../store/assets/run-export.ts";
import { TarWriter } from "../store/assets/tar.ts";
import { ArchiveError } from "../store/assets/zip-reader.ts";
import { ZipWriter } from "../store/assets/zip-writer.ts";
import { deathReason } from "../index/liveness.ts";
import type { Logger } from "../util/log.ts";
import { displayWidth, padColumns } from "../util/text-width.ts";
import { type FlagSpec, flagHelp, parseArgs, ROOT_FLAGS, UsageError } from "./args.ts";
import { runForeignImport } from "./import-foreign.ts";

/** Names of the commands this module runs. */
export const DATA_COMMANDS = ["export", "import", "delete", "gc", "config", "rate-limit", "ls"] as const;

/** One-line descriptions for the top-level help. */
export const DATA_COMMAND_HELP: Record<(typeof DATA_COMMANDS)[number], string> = {
  export: "write runs (and their archived assets) to a .tar.gz or .zip",
  import: "import a .zip/.tar.gz archive of runs, TensorBoard event files or an MLflow mlruns folder",
  delete: "permanently delete runs and the archive files only they use",
  gc: "remove archive files and index rows nothing refers to",
  config: "show or set the per-user configuration",
  "rate-limit": "show or edit the API rate limits",
  ls: "list runs as a table",
};

const COMMON_FLAGS: FlagSpec[] = [
  ...ROOT_FLAGS,
  { name: "json", kind: "boolean", help: "print the result as JSON" },
  { name: "help", short: "h", kind: "boolean", help: "show this help" },
];

const SPECS: Record<string, { usage: string; flags: FlagSpec[] }> = {
  export: {
    usage: "runicorn export [--path P [--exact]] [--run-id ID]... [--out FILE.tar.gz|FILE.zip]",
    flags: [
      { name: "path", kind: "string", help: "runs under this path (e.g. cv/yolo)", valueName: "P" },
      { name: "exact", kind: "boolean", help: "only runs whose path equals --path" },
      { name: "run-id", kind: "list", help: "only these runs (repeatable)", valueName: "ID" },
      { name: "include-deleted", kind: "boolean", help: "include soft-deleted runs" },
      { name: "out", short: "o", kind: "string", help: "output file (default runicorn_export_<unix>.tar.gz)", valueName: "FILE" },
      ...COMMON_FLAGS,
    ],
  },
  import: {
    usage: "runicorn import FILE | --tensorboard DIR | --mlflow DIR [--path P]",
    flags: [
      { name: "archive", kind: "string", help: "the archive (alternative to the positional FILE)", valueName: "FILE" },
      { name: "tensorboard", kind: "string", help: "import TensorBoard event files (every folder with events.out.tfevents.*)", valueName: "DIR" },
      { name: "mlflow", kind: "string", help: "import an MLflow file store (an mlruns folder)", valueName: "DIR" },
      { name: "path", kind: "string", help: "Runicorn path to import under (TensorBoard: the folder's name; MLflow: mlflow)", valueName: "P" },
      ...COMMON_FLAGS,
    ],
  },
  delete: {
    usage: "runicorn delete --run-id ID... [--dry-run]",
    flags: [
      { name: "run-id", kind: "list", help: "run to delete (repeatable)", valueName: "ID" },
      { name: "dry-run", kind: "boolean", help: "report what would be deleted, delete nothing" },
      { name: "force", kind: "boolean", help: "accepted for compatibility (there is no prompt)" },
      ...COMMON_FLAGS,
    ],
  },
  gc: {
    usage: "runicorn gc [--dry-run] [--min-age SECONDS]",
    flags: [
      { name: "dry-run", kind: "boolean", help: "report what would be removed, remove nothing" },
      { name: "min-age", kind: "string", help: `never remove files younger than this (default ${GC_MIN_AGE_SECONDS})`, valueName: "SECONDS" },
      ...COMMON_FLAGS,
    ],
  },
  config: {
    usage: "runicorn config [--show] [--set-user-root PATH]",
    flags: [
      { name: "show", kind: "boolean", help: "show the configuration" },
      { name: "set-user-root", kind: "string", help: "set the per-user storage root", valueName: "PATH" },
      { name: "json", kind: "boolean", help: "print the result as JSON" },
      { name: "help", short: "h", kind: "boolean", help: "show this help" },
    ],
  },
  "rate-limit": {
    usage: "runicorn rate-limit [--action show|list|get|set|remove|settings|reset|validate] [options]",
    flags: [
      { name: "action", kind: "string", help: "show (default), list, get, set, remove, settings, reset, validate", valueName: "A" },
      { name: "endpoint", kind: "string", help: "API path, e.g. /api/remote/connect", valueName: "PATH" },
      { name: "max-requests", kind: "string", help: "requests allowed per window", valueName: "N" },
      { name: "window", kind: "string", help: "window in seconds (default 60)", valueName: "S" },
      { name: "burst", kind: "string", help: "requests allowed per second", valueName: "N" },
      { name: "description", kind: "string", help: "description of the limit", valueName: "TEXT" },
      { name: "enable", kind: "boolean", help: "enable rate limiting" },
      { name: "disable", kind: "boolean", help: "disable rate limiting" },
      { name: "log-violations", kind: "boolean", help: "log violations" },
      { name: "no-log-violations", kind: "boolean", help: "do not log violations" },
      { name: "whitelist-localhost", kind: "boolean", help: "never limit 127.0.0.1/::1" },
      { name: "no-whitelist-localhost", kind: "boolean", help: "limit localhost too" },
      { name: "yes", short: "y", kind: "boolean", help: "do not ask before reset" },
      { name: "help", short: "h", kind: "boolean", help: "show this help" },
    ],
  },
  ls: {
    usage: "runicorn ls [PATH]",
    flags: [
      { name: "all", short: "a", kind: "boolean", help: "include soft-deleted runs" },
      { name: "exact", kind: "boolean", help: "only runs whose path equals PATH" },
      { name: "filter", kind: "string", valueName: "EXPR", help: 'only runs matching a filter expression (config.lr <= 0.001 and status == "finished")' },
      ...COMMON_FLAGS,
    ],
  },
};

/** What the commands need from the caller. */
export interface DataDeps {
  config: Config;
  log: Logger;
  /** Where output goes (stdout by default; tests pass a collector). */
  out?: (line: string) => void;
  err?: (line: string) => void;
  /** Whether to draw progress bars (default: stdout is a TTY). */
  tty?: boolean;
  /** Answers a yes/no question (default: reads a line from stdin). */
  ask?: (question: string) => string | null;
}

function formatBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = n;
  for (const u of units) {
    if (v < 1024) return `${v.toFixed(1)} ${u}`;
    v /= 1024;
  }
  return `${v.toFixed(1)} PB`;
}

/** A progress reporter: a redrawn bar on a TTY, a plain line every 10% otherwise. */
function progressReporter(deps: DataDeps, label: string, err: (l: string) => void): (done: number, total: number) => void {
  const tty = deps.tty ?? Boolean(process.stdout.isTTY);
  let lastPct = -1;
  return (done, total) => {
    const pct = total ? Math.floor((done / total) * 100) : 100;
    if (tty) {
      if (pct === lastPct && done !== total) return;
      const width = 30;
      const fill = Math.round((pct / 100) * width);
      process.stderr.write(`\r${label} [${"#".repeat(fill)}${" ".repeat(width - fill)}] ${pct}% (${done}/${total})${done >= total ? "\n" : ""}`);
    } else if (Math.floor(pct / 10) !== Math.floor(lastPct / 10) || done === total) {
      if (pct === lastPct) return;
      err(`${label}: ${done}/${total} files (${pct}%)`);
    }
    lastPct = pct;
  };
}

/**
 * Runs one data-management command with the arguments after its name; returns the exit code
 * (0 success, 1 failure, 2 usage). Throws UsageError for bad arguments (the CLI prints it, exit 2).
 */
export async function runDataCommand(name: string, argv: string[], deps: DataDeps): Promise<number> {
  const spec = SPECS[name];
  if (!spec) throw new UsageError(`unknown command '${name}' (see: runicorn --help)`);
  const out = deps.out ?? ((l: string) => console.log(l));
  const err = deps.err ?? ((l: string) => console.error(l));
  const { flags, positionals } = parseArgs(argv, spec.flags, name);
  if (flags.help) {
    out(`Usage: ${spec.usage}\n\nOptions:\n${flagHelp(spec.flags)}`);
    return 0;
  }
  const rootFlag = (flags.root ?? flags.storage) as string | undefined;
  const root = rootFlag ? expandPath(rootFlag, deps.config.homeDir, process.cwd()) : deps.config.root;
  const json = Boolean(flags.json);
  const print = (value: unknown) => out(JSON.stringify(value, null, 2));

  switch (name) {
    case "export": {
      if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}' for 'export'`);
      const outPath = resolve((flags.out as string | undefined) ?? `runicorn_export_${Math.floor(Date.now() / 1000)}.tar.gz`);
      const lower = outPath.toLowerCase();
      const kind = lower.endsWith(".zip") ? "zip" : lower.endsWith(".tar.gz") || lower.endsWith(".tgz") ? "tgz" : undefined;
      if (!kind) throw new UsageError("--out must end in .tar.gz, .tgz or .zip");
      if (!existsSync(root)) {
        err(`Storage root not found: ${root}`);
        return 1;
      }
      const runs = selectRuns(root, {
        path: flags.path as string | undefined,
        exact: Boolean(flags.exact),
        runIds: flags["run-id"] as string[] | undefined,
        includeDeleted: Boolean(flags["include-deleted"]),
      });
      if (!runs.length) {
        if (json) print({ ok: true, runs: 0, files: 0, out: null });
        else out("No runs matched the given filters. Nothing to export.");
        return 0;
      }
      if (!json) out(`Exporting ${runs.length} run(s) to ${outPath} ...`);
      mkdirSync(dirname(outPath), { recursive: true });
      const partial = `${outPath}.partial`;
      const file = new FileSink(partial);
      let summary;
      try {
        const progress = progressReporter(deps, "export", err);
        if (kind === "zip") summary = await writeRootExport(root, new ZipWriter(file), runs, progress);
        else {
          const gz = new GzipSink(file);
          summary = await writeRootExport(root, new TarWriter(gz), runs, progress);
          await gz.finish();
        }
        file.close();
        renameSync(partial, outPath);
      } catch (e) {
        file.close();
        rmSync(partial, { force: true });
        err(`Export failed: ${(e as Error).message}`);
        return 1;
      }
      if (json) print({ ok: true, out: outPath, bytes: file.written, ...summary, run_ids: runs.map((r) => r.id) });
      else out(`Done. ${summary.runs} run(s), ${summary.files} files (${summary.archive_files} archive files), ${formatBytes(file.written)}.`);
      if (!json) for (const sk of summary.skipped) err(`  skipped ${sk.reason}`);
      return 0;
    }
    case "import": {
      const foreign = flags.tensorboard ? "tensorboard" : flags.mlflow ? "mlflow" : undefined;
      if (foreign) {
        if (flags.tensorboard && flags.mlflow) throw new UsageError("import takes one of --tensorboard or --mlflow");
        if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}' for 'import --${foreign}'`);
        const io = { out, err, json, tty: deps.tty ?? Boolean(process.stderr.isTTY) };
        return runForeignImport(foreign, flags[foreign] as string, root, flags.path as string | undefined, io);
      }
      const file = (flags.archive as string | undefined) ?? positionals[0];
      if (!file) throw new UsageError("import needs an archive: runicorn import FILE");
      if (positionals.length > (flags.archive ? 0 : 1)) throw new UsageError(`unexpected argument '${positionals.at(-1)}' for 'import'`);
      const path = resolve(file);
      if (!existsSync(path)) {
        err(`Archive not found: ${path}`);
        return 1;
      }
      mkdirSync(root, { recursive: true });
      try {
        const result = await importArchive(root, Bun.file(path), path, { progress: progressReporter(deps, "import", err) });
        if (json) print(result);
        else {
          out(`Imported ${result.imported_files} files into ${root}`);
          if (result.new_run_ids.length) out(`New runs (${result.new_run_ids.length}): ${result.new_run_ids.join(", ")}`);
          if (result.skipped_run_ids.length) out(`Skipped existing runs (${result.skipped_run_ids.length}): ${result.skipped_run_ids.join(", ")}`);
          if (result.skipped_file_count) out(`Ignored ${result.skipped_file_count} file(s) that belong to no run`);
        }
        return 0;
      } catch (e) {
        if (!(e instanceof ArchiveError) && !(e instanceof FileRefusedError)) throw e;
        const why = e instanceof UnsafeArchiveError ? "Archive rejected" : "Import failed";
        if (json) print({ ok: false, error: `${why}: ${e.message}` });
        else err(`${why}: ${e.message}`);
        return 1;
      }
    }
    case "delete": {
      const ids = (flags["run-id"] as string[] | undefined) ?? [];
      ids.push(...positionals);
      if (!ids.length) throw new UsageError("delete needs at least one --run-id");
      const dryRun = Boolean(flags["dry-run"]);
      const deleter = new RunDeleter(root, dryRun);
      const results = [];
      try {
        for (const id of ids) results.push(await deleter.deleteRun(id, findRunDir(root, id)));
      } finally {
        deleter.close();
      }
      const failed = results.filter((r) => !r.success);
      if (json) {
        print({ dry_run: dryRun, deleted_count: results.length - failed.length, results });
        return failed.length ? 1 : 0;
      }
      if (dryRun) out(`${"=".repeat(60)}\nDRY RUN - No files will be deleted\n${"=".repeat(60)}`);
      let blobs = 0;
      let bytes = 0;
      for (const r of results) {
        out(`\n${dryRun ? "[Preview] " : ""}Deleting run: ${r.run_id}`);
        if (!r.success) {
          out(`  ✗ Failed: ${r.errors.join("; ")}`);
          continue;
        }
        out(`  Run directory: ${dryRun ? "would be deleted" : "deleted"}`);
        const label = (a: { name: string | null; fingerprint: string | null; asset_type: string }) =>
          `    - [${a.asset_type}] ${a.name || (a.fingerprint ?? "").slice(0, 16) || "unknown"}`;
        if (r.orphaned_assets.length) {
          out(`  Orphaned assets (${r.orphaned_assets.length}) - ${dryRun ? "would be deleted" : "deleted"}:`);
          for (const a of r.orphaned_assets) out(label(a));
        }
        if (r.kept_assets.length) {
          out(`  Shared assets (${r.kept_assets.length}) - kept (referenced by other runs):`);
          for (const a of r.kept_assets) out(label(a));
        }
        if (r.blobs_kept) out(`  Blobs kept (still referenced elsewhere): ${r.blobs_kept}`);
        for (const w of r.warnings ?? []) err(`  warning: ${w}`);
        if (r.blobs_deleted || r.outputs_deleted) out(`  Blobs deleted: ${r.blobs_deleted}, outputs: ${r.outputs_deleted} (${formatBytes(r.bytes_freed)})`);
        blobs += r.blobs_deleted;
        bytes += r.bytes_freed;
      }
      const ok = results.length - failed.length;
      out(`\n${"=".repeat(60)}`);
      if (dryRun) out(`DRY RUN Summary: Would delete ${ok} run(s)\n  Blobs: ${blobs}\n  Space: ${formatBytes(bytes)}`);
      else out(`Deleted ${ok} run(s)\n  Blobs removed: ${blobs}\n  Space freed: ${formatBytes(bytes)}`);
      if (failed.length) out(`Failed: ${failed.map((r) => r.run_id).join(", ")}`);
      return failed.length ? 1 : 0;
    }
    case "gc": {
      if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}' for 'gc'`);
      const minAgeRaw = flags["min-age"] as string | undefined;
      if (minAgeRaw !== undefined && !/^\d+$/.test(minAgeRaw)) throw new UsageError("--min-age must be a whole number of seconds");
      const result = await collectGarbage(root, { dryRun: Boolean(flags["dry-run"]), minAgeSeconds: minAgeRaw === undefined ? undefined : Number(minAgeRaw) });
      if (json) print(result);
      else {
        const verb = result.dry_run ? "Would remove" : "Removed";
        out(`Scanned ${result.blobs_scanned} blobs in ${root}`);
        out(`${verb} ${result.orphaned_blobs} orphaned blob(s), ${result.manifests_deleted} manifest(s), ${result.outputs_deleted} rolling output file(s): ${formatBytes(result.bytes_freed)}`);
        if (result.index_runs_pruned || result.index_assets_pruned) {
          out(`${verb} ${result.index_runs_pruned} stale index run row(s) and ${result.index_assets_pruned} asset row(s)`);
        }
        for (const w of result.warnings) err(`  warning: ${w}`);
        for (const e of result.errors) err(`  error: ${e}`);
      }
      return result.success ? 0 : 1;
    }
    case "config": {
      const cfgFile = join(deps.config.configDir, "config.json");
      const set = flags["set-user-root"] as string | undefined;
      if (set !== undefined) {
        if (!set.trim()) throw new UsageError("--set-user-root needs a path");
        const p = expandPath(set, deps.config.homeDir, process.cwd());
        try {
          mkdirSync(p, { recursive: true });
        } catch (e) {
          err(`Cannot create ${p}: ${(e as Error).message}`);
          return 1;
        }
        updateUserFile(deps.config.configDir, "config.json", (cur) => ({ ...cur, user_root_dir: p }));
        if (!json) out(`Set user_root_dir to: ${p}`);
      }
      const cfg = readUserFile(deps.config.configDir, "config.json");
      const userRoot = typeof cfg.user_root_dir === "string" ? cfg.user_root_dir : "";
      if (json) {
        print({ config_file: cfgFile, user_root_dir: userRoot, storage: root });
        return 0;
      }
      if (flags.show || set === undefined) {
        out("Runicorn user config:");
        out(`  File          : ${cfgFile}`);
        out(`  user_root_dir : ${userRoot || "(not set)"}`);
        if (!userRoot) out("\nTip: Set it via:\n  runicorn config --set-user-root <ABSOLUTE_PATH>");
      }
      return 0;
    }
    case "rate-limit":
      return rateLimitCommand(flags, deps, out, err);
    case "ls": {
      if (positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1]}' for 'ls'`);
      const prefix = positionals[0];
      const host = osHostname();
      const now = Date.now() / 1000;
      let filter: FilterNode | undefined;
      if (typeof flags.filter === "string" && flags.filter.trim() !== "") {
        try {
          filter = parseFilter(flags.filter);
        } catch (e) {
          if (!(e instanceof FilterSyntaxError)) throw e;
          err(e.message);
          err(`  ${flags.filter}`);
          err(`  ${" ".repeat(e.column - 1)}^`);
          return 2;
        }
      }
      const rows = selectRuns(root, { path: prefix, exact: Boolean(flags.exact), includeDeleted: Boolean(flags.all) }).flatMap((r) => {
        const files = readRunFiles(r.dir);
        // the server's liveness rule: a "running" run whose process or heartbeat is gone is shown failed
        let status = r.status;
        const dead =
          status === "running"
            ? deathReason(
                {
                  run_dir: r.dir,
                  has_meta: Object.keys(files.meta).length > 0,
                  hostname: typeof files.meta.hostname === "string" ? files.meta.hostname : null,
                  pid: typeof files.meta.pid === "number" ? files.meta.pid : null,
                  heartbeat_at: typeof files.status.heartbeat_at === "number" ? files.status.heartbeat_at : null,
                },
                now,
                host,
              )
            : undefined;
        if (dead) status = "failed";
        if (filter && !evaluateFilter(filter, runFieldReader(runFileFields(r, files, status), now))) return [];
        const stalled = isStalled(status, typeof files.status.heartbeat_at === "number" ? files.status.heartbeat_at : null, now);
        return {
          id: r.id,
          path: r.path,
          status: r.deleted ? `${status} (deleted)` : status,
          stalled,
          exit_reason: dead ?? (typeof files.status.exit_reason === "string" ? files.status.exit_reason : null),
          alias: typeof r.meta.alias === "string" ? r.meta.alias : null,
          created_time: r.created_time,
          best_metric_name: typeof files.summary.best_metric_name === "string" ? files.summary.best_metric_name : null,
          best_metric_value: files.summary.best_metric_value ?? null,
          run_dir: r.dir,
        };
      });
      if (json) {
        print(rows);
        return 0;
      }
      if (!rows.length) {
        out(prefix ? `No runs under ${prefix}` : `No runs in ${root}`);
        return 0;
      }
      const table = [["ID", "PATH", "STATUS", "ALIAS", "CREATED", "BEST"]].concat(
        rows.map((r) => [
          r.id,
          r.path ?? "",
          r.stalled ? "stalled" : r.status,
          r.alias ?? "",
          r.created_time ? new Date(r.created_time * 1000).toISOString().slice(0, 19).replace("T", " ") : "",
          r.best_metric_name
            ? `${r.best_metric_name}=${typeof r.best_metric_value === "number" ? Number(r.best_metric_value.toPrecision(6)) : String(r.best_metric_value)}`
            : "",
        ]),
      );
      const widths = table[0].map((_, i) => Math.max(...table.map((row) => displayWidth(row[i]))));
      for (const row of table) out(row.map((c, i) => padColumns(c, widths[i])).join("  ").trimEnd());
      return 0;
    }
  }
  return 2;
}

/** A run's filter fields read from its files, as the server's index stores them (analysis/run-fields.ts). */
function runFileFields(r: { id: string; path: string | null; created_time: number | null }, files: RunFiles, status: string): RunFieldValues {
  const created = r.created_time;
  return {
    run_id: r.id,
    status,
    path: r.path,
    alias: str(files.meta.alias),
    tags: Array.isArray(files.meta.tags) ? files.meta.tags.filter((t): t is string => typeof t === "string") : [],
    host: str(files.meta.hostname),
    notes: str(files.meta.notes),
    created_at: created,
    started_at: num(files.status.started_at) ?? created,
    ended_at: num(files.status.ended_at),
    config: buildRunConfig(files.assets),
    summary: files.summary,
  };
}

function intFlag(v: unknown, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string" || !/^\d+$/.test(v) || Number(v) <= 0) throw new UsageError(`--${flag} must be a positive whole number`);
  return Number(v);
}

/** Spec §4.2 `rate-limit`: edits CFG/rate_limits.json (the server reads it at start). */
function rateLimitCommand(flags: Record<string, unknown>, deps: DataDeps, out: (l: string) => void, err: (l: string) => void): number {
  const action = (flags.action as string | undefined) ?? "show";
  const dir = deps.config.configDir;
  const load = (): JsonObject => {
    const cur = readUserFile(dir, RATE_LIMITS_FILE);
    return Object.keys(cur).length ? cur : structuredClone(DEFAULT_RATE_LIMITS);
  };
  const save = (cfg: JsonObject) => updateUserFile(dir, RATE_LIMITS_FILE, () => cfg);
  const endpoints = (cfg: JsonObject): JsonObject => (isObject(cfg.endpoints) ? cfg.endpoints : (cfg.endpoints = {}));
  const fmtLimit = (l: JsonObject) => `${l.max_requests}/${l.window_seconds}s`;
  switch (action) {
    case "show":
      out(JSON.stringify(load(), null, 2));
      return 0;
    case "list": {
      const cfg = load();
      const def = isObject(cfg.default) ? cfg.default : {};
      out(`Default:\n  ${def.max_requests ?? 6000}/${def.window_seconds ?? 60}s`);
      const eps = Object.entries(endpoints(cfg)).sort(([a], [b]) => a.localeCompare(b));
      if (!eps.length) out("\nNo endpoint-specific limits configured.");
      else {
        out("\nEndpoints:");
        for (const [ep, l] of eps) {
          if (!isObject(l)) continue;
          const burst = l.burst_size ? ` (burst: ${l.burst_size})` : "";
          const desc = l.description ? ` - ${l.description}` : "";
          out(`  ${ep}: ${fmtLimit(l)}${burst}${desc}`);
        }
      }
      return 0;
    }
    case "get": {
      const ep = flags.endpoint as string | undefined;
      if (!ep) throw new UsageError("--endpoint is required for 'get'");
      const cfg = load();
      const l = endpoints(cfg)[ep];
      const shown = isObject(l) ? l : isObject(cfg.default) ? cfg.default : {};
      out(`Endpoint: ${ep}${isObject(l) ? "" : " (using default)"}`);
      out(`  Max Requests: ${shown.max_requests ?? 6000}\n  Window: ${shown.window_seconds ?? 60}s\n  Burst Size: ${shown.burst_size ?? "None"}`);
      if (isObject(l) && l.description) out(`  Description: ${l.description}`);
      return 0;
    }
    case "set": {
      const ep = flags.endpoint as string | undefined;
      const max = intFlag(flags["max-requests"], "max-requests");
      if (!ep || max === undefined) throw new UsageError("--endpoint and --max-requests are required for 'set'");
      if (!ep.startsWith("/")) throw new UsageError("--endpoint must start with /");
      const window = intFlag(flags.window, "window") ?? 60;
      const burst = intFlag(flags.burst, "burst") ?? null;
      const cfg = load();
      endpoints(cfg)[ep] = { max_requests: max, window_seconds: window, burst_size: burst, ...(flags.description ? { description: flags.description } : {}) };
      save(cfg);
      out(`✓ Updated rate limit for ${ep}\n  Max Requests: ${max}/${window}s${burst ? `\n  Burst Size: ${burst}` : ""}`);
      return 0;
    }
    case "remove": {
      const ep = flags.endpoint as string | undefined;
      if (!ep) throw new UsageError("--endpoint is required for 'remove'");
      const cfg = load();
      if (!(ep in endpoints(cfg))) {
        out(`⚠ No specific rate limit found for ${ep}`);
        return 0;
      }
      delete endpoints(cfg)[ep];
      save(cfg);
      out(`✓ Removed rate limit for ${ep}`);
      return 0;
    }
    case "settings": {
      const cfg = load();
      const s: JsonObject = isObject(cfg.settings) ? cfg.settings : (cfg.settings = {});
      if (flags.enable && flags.disable) throw new UsageError("--enable and --disable exclude each other");
      if (flags.enable) s.enable_rate_limiting = true;
      if (flags.disable) s.enable_rate_limiting = false;
      if (flags["log-violations"]) s.log_violations = true;
      if (flags["no-log-violations"]) s.log_violations = false;
      if (flags["whitelist-localhost"]) s.whitelist_localhost = true;
      if (flags["no-whitelist-localhost"]) s.whitelist_localhost = false;
      save(cfg);
      out("✓ Updated settings:");
      out(`  Rate Limiting: ${s.enable_rate_limiting === false ? "Disabled" : "Enabled"}`);
      out(`  Log Violations: ${s.log_violations === false ? "No" : "Yes"}`);
      out(`  Whitelist Localhost: ${s.whitelist_localhost ? "Yes" : "No"}`);
      out("Restart the server to apply.");
      return 0;
    }
    case "reset": {
      if (!flags.yes) {
        const answer = (deps.ask ?? ((q: string) => prompt(q)))("Reset to default configuration? [y/N] ");
        if ((answer ?? "").trim().toLowerCase() !== "y") {
          out("Cancelled.");
          return 0;
        }
      }
      save(structuredClone(DEFAULT_RATE_LIMITS));
      out("✓ Reset to default configuration");
      return 0;
    }
    case "validate": {
      const cfg = load();
      const problems: string[] = [];
      const check = (l: unknown, where: string) => {
        if (!isObject(l)) return problems.push(`${where}: must be an object`);
        if (!Number.isInteger(l.max_requests) || (l.max_requests as number) <= 0) problems.push(`${where}: max_requests must be a positive integer`);
        if (!Number.isInteger(l.window_seconds) || (l.window_seconds as number) <= 0) problems.push(`${where}: window_seconds must be a positive integer`);
      };
      if ("default" in cfg) check(cfg.default, "default");
      if ("endpoints" in cfg) {
        if (!isObject(cfg.endpoints)) problems.push("endpoints must be an object");
        else for (const [ep, l] of Object.entries(cfg.endpoints)) {
          if (!ep.startsWith("/")) problems.push(`Endpoint '${ep}' must start with /`);
          check(l, ep);
        }
      }
      if (problems.length) {
        for (const p of problems) err(`✗ Configuration error: ${p}`);
        return 1;
      }
      out("✓ Configuration is valid");
      return 0;
    }
    default:
      throw new UsageError(`unknown --action '${action}' (show, list, get, set, remove, settings, reset, validate)`);
  }
}
