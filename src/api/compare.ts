// GET /api/compare/series with run_ids=…: runs grouped by field values, one metric aligned on steps and
// aggregated per group (mean/std/min/max/count) from the column store (issue 16). The route itself is
// the compare route of metrics.ts, which hands run_ids/group_by requests to `groupedSeries`.
import { t } from "elysia";
import { GroupAccumulator, type GroupSeries } from "../analysis/group-series.ts";
import { FilterSyntaxError, parseFilter } from "../analysis/filter.ts";
import { PLAIN_FIELDS, runFieldReader, type RunFieldValues } from "../analysis/run-fields.ts";
import { findRunRow } from "../index/run-queries.ts";
import { listPath } from "../index/run-row.ts";
import type { RunTable } from "../index/schema.ts";
import type { RunData } from "../metrics/run-data.ts";
import type { CompareAgg, CompareSeriesGroup, CompareSeriesResponse } from "../wire/analysis.ts";
import type { AppContext } from "./context.ts";
import { HttpError } from "./errors.ts";

/** Most runs one grouped request may name. */
export const MAX_GROUPED_RUNS = 1000;
/** Most keys per request, group_by fields, and the points range. */
const MAX_KEYS = 16;
const MAX_GROUP_FIELDS = 4;
const DEFAULT_POINTS = 1000;
const MAX_POINTS = 10000;
const AGGS: readonly CompareAgg[] = ["mean", "std", "min", "max"];
/** A first read of a long events file is answered with what is read after this long (the run is listed in pending_runs). */
const PARTIAL_AFTER_MS = 1000;

/** Query parameters of the grouped form (the others — keys, x, points — are shared with the plain compare). */
export const groupedSeriesQuery = {
  run_ids: t.Optional(t.String({ description: `Comma-separated run ids (grouped form; at most ${MAX_GROUPED_RUNS})` })),
  key: t.Optional(t.String({ description: "The metric to aggregate (grouped form); keys=a,b for several" })),
  group_by: t.Optional(t.String({ description: "Comma-separated fields (config.lr, summary.x, path, …); none = one group of all runs" })),
  agg: t.Optional(t.String({ description: "Comma-separated of mean, std, min, max (default all)" })),
};

/** The grouped request's parameters as received (strings). */
export interface GroupedQuery {
  run_ids?: string;
  runs?: string;
  key?: string;
  keys?: string;
  group_by?: string;
  agg?: string;
  x?: string;
  points?: string;
}

function list(raw: string | undefined): string[] {
  return raw === undefined ? [] : [...new Set(raw.split(",").map((s) => s.trim()).filter(Boolean))];
}

/** A group_by field as a path, through the filter grammar (backticks allowed); 400 for anything else. */
function groupField(name: string): string[] {
  let node;
  try {
    node = parseFilter(`${name} == 0`);
  } catch (e) {
    if (e instanceof FilterSyntaxError) throw new HttpError(400, `Invalid group_by field ${JSON.stringify(name)}: ${e.reason}`);
    throw e;
  }
  if (node.kind !== "cmp") throw new HttpError(400, `Invalid group_by field ${JSON.stringify(name)}`);
  const path = node.field.path;
  const known =
    ((path[0] === "config" || path[0] === "summary" || path[0] === "metric") && path.length > 1) ||
    (path.length === 1 && ((PLAIN_FIELDS as readonly string[]).includes(path[0]) || path[0] === "id"));
  if (!known) throw new HttpError(400, `Unknown group_by field ${JSON.stringify(name)}: use config.*, summary.*, metric.*.<stat> or ${PLAIN_FIELDS.join(", ")}`);
  return path;
}

/** Validates the grouped request: 400 with a clear detail for each kind of bad input. */
export function parseGroupedQuery(q: GroupedQuery) {
  const ids = list(q.run_ids);
  if (!ids.length) throw new HttpError(400, "run_ids is required: comma-separated run ids");
  if (ids.length > MAX_GROUPED_RUNS) throw new HttpError(400, `Cannot group more than ${MAX_GROUPED_RUNS} runs at once (got ${ids.length})`);
  const keys = list(q.keys ?? q.key);
  if (q.key !== undefined && q.keys !== undefined) for (const k of list(q.key)) if (!keys.includes(k)) keys.unshift(k);
  if (!keys.length) throw new HttpError(400, "key is required: the metric to aggregate (keys=a,b for several)");
  if (keys.length > MAX_KEYS) throw new HttpError(400, `At most ${MAX_KEYS} keys per request (got ${keys.length})`);
  const groupNames = list(q.group_by);
  if (groupNames.length > MAX_GROUP_FIELDS) throw new HttpError(400, `At most ${MAX_GROUP_FIELDS} group_by fields (got ${groupNames.length})`);
  const groupPaths = groupNames.map(groupField);
  const aggNames = q.agg === undefined ? [...AGGS] : list(q.agg);
  const badAgg = aggNames.filter((a) => !(AGGS as readonly string[]).includes(a));
  if (badAgg.length) throw new HttpError(400, `Unknown agg ${badAgg.map((a) => JSON.stringify(a)).join(", ")}: use ${AGGS.join(", ")}`);
  if (!aggNames.length) throw new HttpError(400, `agg is empty: use ${AGGS.join(", ")}`);
  const x = q.x ?? "step";
  if (x !== "step" && x !== "time") throw new HttpError(400, `x must be step or time (got ${JSON.stringify(x)})`);
  let points = DEFAULT_POINTS;
  if (q.points !== undefined) {
    points = Number(q.points);
    if (!/^\d+$/.test(q.points.trim()) || points < 2 || points > MAX_POINTS) {
      throw new HttpError(400, `points must be an integer from 2 to ${MAX_POINTS} (got ${JSON.stringify(q.points)})`);
    }
  }
  return { ids, keys, groupNames, groupPaths, aggs: aggNames as CompareAgg[], x: x as "step" | "time", points };
}

/** A run row's field values (metric.* from its stored fields). */
function rowValues(row: RunTable): RunFieldValues {
  const metrics = (row as RunTable & { metrics?: string | null }).metrics;
  return {
    run_id: row.id,
    status: row.status,
    path: listPath(row.meta_path, row.entry_path),
    alias: row.alias,
    tags: JSON.parse(row.tags) as string[],
    host: row.hostname,
    notes: row.notes,
    created_at: row.created_time,
    started_at: row.started_at,
    ended_at: row.ended_at,
    config: JSON.parse(row.config),
    summary: JSON.parse(row.summary),
    metrics: metrics ? JSON.parse(metrics) : undefined,
  };
}

/** Orders group values: numbers ascending, then strings, booleans, others; missing (null) last. */
export function compareValues(a: unknown, b: unknown): number {
  const rank = (v: unknown) => (typeof v === "number" ? 0 : typeof v === "string" ? 1 : typeof v === "boolean" ? 2 : v === null ? 4 : 3);
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (typeof a === "number" && typeof b === "number") return a - b;
  const sa = typeof a === "string" ? a : JSON.stringify(a);
  const sb = typeof b === "string" ? b : JSON.stringify(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

/** A validated grouped request (parseGroupedQuery). */
export type GroupedParams = ReturnType<typeof parseGroupedQuery>;

/** Runs sharing the same group_by values. */
export interface RunGroup {
  key: Record<string, unknown>;
  values: unknown[];
  runs: string[];
}

/** The group of a run whose fields read `fields` (made with `make` when new), keyed by its group_by values. */
export function groupFor<G extends RunGroup>(p: GroupedParams, groups: Map<string, G>, fields: RunFieldValues, now: number, make: (g: RunGroup) => G): G {
  const read = runFieldReader(fields, now);
  const values = p.groupPaths.map((path) => read(path) ?? null);
  const gk = JSON.stringify(values);
  let g = groups.get(gk);
  if (!g) {
    const key: Record<string, unknown> = {};
    p.groupNames.forEach((name, i) => (key[name] = values[i]));
    g = make({ key, values, runs: [] });
    groups.set(gk, g);
  }
  return g;
}

/** The groups in answer order: by their values, field by field (compareValues). */
export function orderGroups<G extends RunGroup>(groups: Map<string, G>): G[] {
  return [...groups.values()].sort((a, b) => {
    for (let i = 0; i < a.values.length; i++) {
      const c = compareValues(a.values[i], b.values[i]);
      if (c) return c;
    }
    return 0;
  });
}

/**
 * The grouped answer from each group's run data: every key folded from the runs into the group's buckets
 * (`add` reads a run's chunks; the file mode's may wait for the index connection).
 */
export async function foldGroups(
  p: GroupedParams,
  groups: (RunGroup & { data: RunData[] })[],
  add: (acc: GroupAccumulator, run: RunData, key: string) => void | Promise<void>,
  missing: string[],
  pending: string[],
): Promise<CompareSeriesResponse> {
  const series = new Map<string, GroupSeries>();
  for (const key of p.keys) {
    for (const g of groups) {
      const acc = new GroupAccumulator(g.data, p.x, p.points);
      for (const run of g.data) await add(acc, run, key);
      series.set(`${key}\u0000${JSON.stringify(g.values)}`, acc.result(p.aggs));
    }
  }
  return {
    x: p.x,
    group_by: p.groupNames,
    agg: p.aggs,
    points: p.points,
    series: p.keys.map((key) => ({
      key,
      groups: groups.map((g): CompareSeriesGroup => ({ key: g.key, runs: g.runs, ...series.get(`${key}\u0000${JSON.stringify(g.values)}`)! })),
    })),
    missing_runs: missing,
    pending_runs: pending,
  };
}

/** The grouped answer: runs grouped by the group_by values, each key aggregated per group. */
export async function groupedSeries(ctx: AppContext, q: GroupedQuery): Promise<CompareSeriesResponse> {
  const p = parseGroupedQuery(q);
  const store = ctx.metrics();
  const missing: string[] = [];
  const pending: string[] = [];
  const groups = new Map<string, RunGroup & { dirs: string[] }>();
  const now = Date.now() / 1000;
  for (const id of p.ids) {
    const run = ctx.runs.findRun(id);
    const row = run ? await findRunRow(ctx.index().db, run.run_dir) : undefined;
    if (!run || !row || row.deleted) {
      missing.push(id);
      continue;
    }
    const g = groupFor(p, groups, rowValues(row), now, (g) => ({ ...g, dirs: [] }));
    g.runs.push(id);
    g.dirs.push(run.run_dir);
  }
  // each group's runs are synced once; each key is folded from their chunks into the group's buckets
  const ordered: (RunGroup & { data: RunData[] })[] = [];
  for (const g of orderGroups(groups)) {
    const data: RunData[] = [];
    for (let i = 0; i < g.dirs.length; i++) {
      const state = await store.sync(g.dirs[i], "query", { partialAfterMs: PARTIAL_AFTER_MS });
      if (state.progress < 1) pending.push(g.runs[i]);
      data.push(state);
    }
    ordered.push({ ...g, data });
  }
  return foldGroups(p, ordered, (acc, run, key) => store.compute(() => acc.addRun(run, key)), missing, pending);
}
