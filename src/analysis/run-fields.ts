// The fields every run has for the filter language (issue 16): how each reads in SQL over the run table,
// and how each reads from a run's files (the CLI's evaluator) — the same semantics in both places.
import { type RawBuilder, sql } from "kysely";
import { isObject, type JsonObject } from "../store/json.ts";
import type { FieldSql } from "./filter-sql.ts";
import { jsonField } from "./filter-sql.ts";

/** Plain fields (one segment); `config.*` and `summary.*` are JSON fields; `metric.<key>.<stat>` reads the metric store's summary. */
export const PLAIN_FIELDS = ["status", "path", "alias", "tags", "host", "notes", "created_at", "duration", "run_id"] as const;

/** The statistics of `metric.<key>.<stat>`. */
export const METRIC_STATS = ["last", "min", "max", "count"] as const;

/** `metric.<key>.<stat>` as [key, stat] (a key may hold dots: `metric.val.acc.max`); undefined otherwise. */
export function metricFieldOf(path: string[]): [string, (typeof METRIC_STATS)[number]] | undefined {
  if (path[0] !== "metric" || path.length < 3) return undefined;
  const stat = path[path.length - 1] as (typeof METRIC_STATS)[number];
  if (!METRIC_STATS.includes(stat)) return undefined;
  return [path.slice(1, -1).join("."), stat];
}

/** Longest notes accepted by PATCH /api/runs/{id} (bytes of UTF-8). */
export const MAX_NOTES_BYTES = 64 * 1024;

/**
 * The `config` object of a run from assets.json's `config` (`{args, extra, config_files}`): the bare keys
 * of `args`, then of `extra` (extra wins on a clash), then the containers themselves, so `config.lr`,
 * `config.args.lr` and `config.extra.bs` all work. Nested dicts stay nested; a key holding dots
 * (`"optim.lr"`) is also placed nested, so `config.optim.lr` reads either shape. Non-finite numbers
 * are already null (tolerant parser), so the result is valid JSON for SQLite.
 */
export function buildRunConfig(assets: JsonObject | undefined): JsonObject {
  const cfg = assets && isObject(assets.config) ? assets.config : {};
  const out: JsonObject = {};
  for (const part of [cfg.args, cfg.extra]) {
    if (isObject(part)) for (const [k, v] of Object.entries(part)) put(out, k, v);
  }
  for (const [k, v] of Object.entries(cfg)) put(out, k, v);
  return out;
}

function put(out: JsonObject, key: string, value: unknown): void {
  const v = isObject(value) ? expandDotted(value) : value;
  out[key] = v;
  if (!key.includes(".")) return;
  const parts = key.split(".");
  if (parts.some((p) => p === "")) return;
  let at = out;
  for (const p of parts.slice(0, -1)) {
    if (!Object.hasOwn(at, p)) at[p] = {};
    const next = at[p];
    if (!isObject(next)) return; // a scalar already lives there: the flat key still reads
    at = next;
  }
  const last = parts[parts.length - 1];
  if (!Object.hasOwn(at, last)) at[last] = v;
}

function expandDotted(obj: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(obj)) put(out, k, v);
  return out;
}

/** Reads `keys` inside a JSON value; undefined when a step is missing (own keys only). */
export function lookupJson(value: unknown, keys: string[]): unknown {
  let at = value;
  for (const k of keys) {
    if (!isObject(at) || !Object.hasOwn(at, k)) return undefined;
    at = at[k];
  }
  return at;
}

/** The values of one run the evaluator reads, as the index stores them. */
export interface RunFieldValues {
  run_id: string;
  status: string;
  path: string | null;
  alias: string | null;
  tags: string[];
  host: string | null;
  notes: string | null;
  created_at: number | null;
  started_at: number | null;
  ended_at: number | null;
  config: JsonObject;
  summary: JsonObject;
  /** Per metric key: last/min/max/count (metric-fields.ts); absent when not computed. */
  metrics?: Record<string, Record<string, unknown>>;
}

/** The field reader for `evaluateFilter` over one run (undefined = missing, as in SQL). */
export function runFieldReader(r: RunFieldValues, now = Date.now() / 1000): (path: string[]) => unknown {
  return (path) => {
    const [head, ...rest] = path;
    if (head === "config") return rest.length ? lookupJson(r.config, rest) : undefined;
    if (head === "summary") return rest.length ? lookupJson(r.summary, rest) : undefined;
    const metric = metricFieldOf(path);
    if (metric) return r.metrics ? lookupJson(r.metrics, metric) : undefined;
    if (rest.length) return undefined;
    switch (head) {
      case "run_id":
      case "id":
        return r.run_id;
      case "status":
        return r.status;
      case "path":
        return r.path;
      case "alias":
        return r.alias;
      case "tags":
        return r.tags;
      case "host":
        return r.host;
      case "notes":
        return r.notes;
      case "created_at":
        return r.created_at;
      case "duration":
        return durationOf(r.started_at, r.ended_at, r.status, now);
      default:
        return undefined;
    }
  };
}

/** Seconds from start to end; a running run counts to now; null when a time is missing. */
export function durationOf(start: number | null, end: number | null, status: string, now: number): number | null {
  if (start === null) return null;
  if (end !== null) return end - start;
  return status === "running" ? now - start : null;
}

/** The path shown in the list: meta.path when set, else the directory path (spec §3.2, §10.7). */
export function pathSql(): RawBuilder<string> {
  return sql<string>`coalesce(nullif(meta_path, ''), entry_path)`;
}

function nullable(value: RawBuilder<unknown>, type: "text" | "real"): FieldSql {
  return { value, type: sql`(CASE WHEN ${value} IS NULL THEN 'null' ELSE ${type} END)`, column: type };
}

/** Maps a field path to SQL over the `run` table; undefined for an unknown field. */
export function runFieldSql(path: string[], now = Date.now() / 1000): FieldSql | undefined {
  const [head, ...rest] = path;
  // the JSONB copies (migration 0005): no text parse per row
  if (head === "config" && rest.length) return jsonField(sql`config_b`, rest);
  if (head === "summary" && rest.length) return jsonField(sql`summary_b`, rest);
  const metric = metricFieldOf(path);
  if (metric) return jsonField(sql`metrics_b`, metric);
  if (rest.length) return undefined;
  switch (head) {
    case "run_id":
    case "id":
      return { value: sql`id`, type: sql`'text'`, column: "text" };
    case "status":
      return { value: sql`status`, type: sql`'text'`, column: "text" };
    case "path":
      return nullable(pathSql(), "text");
    case "alias":
      return nullable(sql`alias`, "text");
    case "tags":
      return { value: sql`tags`, type: sql`'array'`, jsonArray: sql`tags` };
    case "host":
      return nullable(sql`hostname`, "text");
    case "notes":
      return nullable(sql`notes`, "text");
    case "created_at":
      return nullable(sql`created_time`, "real");
    case "duration":
      return nullable(
        sql`(CASE WHEN started_at IS NULL THEN NULL WHEN ended_at IS NOT NULL THEN ended_at - started_at WHEN status = 'running' THEN ${now} - started_at ELSE NULL END)`,
        "real",
      );
    default:
      return undefined;
  }
}
