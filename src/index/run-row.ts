// Turns a discovered run directory and its files into the index row (and the pre-serialised list item).
import { isObject } from "../store/json.ts";
import type { RunEntry } from "../store/discover.ts";
import { assetsCount, num, type RunFiles, str } from "../store/run-files.ts";
import type { RunTable } from "./schema.ts";
import { buildRunConfig } from "../analysis/run-fields.ts";
import type { RunItem } from "../wire/runs.ts";

/** Spec §3.2: `path` = meta.path when truthy, else the directory path (full, not only the first segment: §10.7). */
export function listPath(metaPath: string | null, entryPath: string | null): string | null {
  return metaPath ? metaPath : entryPath;
}

/** Builds the index row of one run. */
export function buildRunRow(entry: RunEntry, files: RunFiles): RunTable {
  const { meta, status, summary, deleted } = files;
  const tags = Array.isArray(meta.tags) ? meta.tags.filter((t): t is string => typeof t === "string") : [];
  const metaPath = str(meta.path) ?? (str(meta.project) && str(meta.name) ? `${meta.project}/${meta.name}` : null);
  const created = num(meta.created_at) ?? files.dirMtime;
  const statusStr = typeof status.status === "string" && status.status ? status.status : "finished";
  const pid = typeof meta.pid === "number" && Number.isInteger(meta.pid) ? meta.pid : null;
  const bestValue = summary.best_metric_value;
  const row: RunTable = {
    run_dir: entry.dir,
    id: entry.id,
    order_key: entry.orderKey,
    layout: entry.layout,
    entry_path: entry.entryPath,
    meta_path: metaPath,
    alias: str(meta.alias),
    tags: JSON.stringify(tags),
    status: statusStr,
    created_time: created,
    started_at: num(status.started_at) ?? created,
    ended_at: num(status.ended_at),
    exit_reason: str(status.exit_reason),
    pid,
    hostname: str(meta.hostname),
    heartbeat_at: num(status.heartbeat_at),
    best_metric_value: num(bestValue),
    best_metric_name: str(summary.best_metric_name),
    summary: JSON.stringify(summary),
    config: JSON.stringify(buildRunConfig(files.assets)),
    notes: str(meta.notes),
    assets_count: assetsCount(files.assets),
    deleted: deleted ? 1 : 0,
    deleted_at: deleted ? num(deleted.deleted_at) : null,
    delete_reason: deleted ? (str(deleted.reason) ?? "unknown") : null,
    original_status: deleted ? (str(deleted.original_status) ?? "unknown") : null,
    stamp: entry.stamp,
    list_json: "",
  };
  row.list_json = listItemJson(row, bestValue);
  return row;
}

/** The original's `RunListItem` (spec §3.2), keys in its order. */
export function listItemJson(row: RunTable, rawBest?: unknown): string {
  // best_metric_value may legitimately be a string or bool in summary.json; keep what the file says
  const best = rawBest !== undefined ? jsonScalar(rawBest) : row.best_metric_value;
  return JSON.stringify({
    id: row.id,
    run_dir: row.run_dir,
    created_time: row.created_time,
    status: row.status,
    pid: row.pid,
    best_metric_value: best,
    best_metric_name: row.best_metric_name,
    path: listPath(row.meta_path, row.entry_path),
    alias: row.alias,
    tags: JSON.parse(row.tags),
    assets_count: row.assets_count,
  } satisfies Omit<RunItem, "best_metric_value"> & { best_metric_value: unknown });
}

function jsonScalar(v: unknown): unknown {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "string" || typeof v === "boolean") return v;
  if (v === null || isObject(v) || Array.isArray(v)) return v ?? null;
  return null;
}
