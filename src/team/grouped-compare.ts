// Team mode's grouped compare (GET /api/compare/series?run_ids=…&key=…&group_by=…): the file mode's request
// parsing, grouping order and aggregation (api/compare.ts, analysis/group-series.ts) over team_run rows and
// the replica's metric state.
import { GroupAccumulator, type GroupSeries } from "../analysis/group-series.ts";
import { runFieldReader, type RunFieldValues } from "../analysis/run-fields.ts";
import { compareValues, type GroupedQuery, parseGroupedQuery } from "../api/compare.ts";
import { HttpError } from "../api/errors.ts";
import type { RunData } from "../metrics/run-data.ts";
import type { CompareSeriesGroup, CompareSeriesResponse } from "../wire/analysis.ts";
import type { TeamRunRow, TeamService } from "./service.ts";

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);

/** A team run's field values for the filter language's reader. */
function rowValues(row: TeamRunRow & { config: Record<string, unknown>; metrics: Record<string, Record<string, unknown>> }): RunFieldValues {
  return {
    run_id: row.run_id,
    status: str(row.status.status) ?? "finished",
    path: row.path === "" ? null : row.path,
    alias: str(row.meta.alias),
    tags: Array.isArray(row.meta.tags) ? row.meta.tags.filter((x): x is string => typeof x === "string") : [],
    host: str(row.meta.hostname),
    notes: str(row.meta.notes),
    created_at: row.created_at,
    started_at: num(row.status.started_at),
    ended_at: num(row.status.ended_at),
    config: row.config,
    summary: row.summary,
    metrics: row.metrics,
  };
}

export async function teamGroupedSeries(svc: TeamService, q: GroupedQuery): Promise<CompareSeriesResponse> {
  const p = parseGroupedQuery(q);
  const missing: string[] = [];
  const groups = new Map<string, { key: Record<string, unknown>; values: unknown[]; runs: string[] }>();
  const now = Date.now() / 1000;
  const rows = (await svc.sql`select run_id, path, meta, status, summary, config, metrics, created_at from team_run
    where run_id = any(${p.ids}::text[]) and deleted_at is null`) as (TeamRunRow & { config: Record<string, unknown>; metrics: Record<string, Record<string, unknown>> })[];
  const byId = new Map(rows.map((r) => [r.run_id, r]));
  for (const id of p.ids) {
    const row = byId.get(id);
    if (!row) {
      missing.push(id);
      continue;
    }
    const read = runFieldReader(rowValues(row), now);
    const values = p.groupPaths.map((path) => read(path) ?? null);
    const gk = JSON.stringify(values);
    let g = groups.get(gk);
    if (!g) {
      const key: Record<string, unknown> = {};
      p.groupNames.forEach((name, i) => (key[name] = values[i]));
      g = { key, values, runs: [] };
      groups.set(gk, g);
    }
    g.runs.push(id);
  }
  const ordered = [...groups.values()].sort((a, b) => {
    for (let i = 0; i < a.values.length; i++) {
      const c = compareValues(a.values[i], b.values[i]);
      if (c) return c;
    }
    return 0;
  });
  const states = new Map<string, RunData>();
  for (const g of ordered) {
    for (const id of g.runs) {
      try {
        states.set(id, (await svc.runData(id)).state);
      } catch (e) {
        // deleted between the two reads: the run is missing, as if it had been before
        if (!(e instanceof HttpError) || e.status !== 404) throw e;
      }
    }
    const gone = g.runs.filter((id) => !states.has(id));
    if (gone.length) {
      missing.push(...gone);
      g.runs = g.runs.filter((id) => states.has(id));
    }
  }
  const live = ordered.filter((g) => g.runs.length);
  const series = new Map<string, GroupSeries>();
  for (const key of p.keys) {
    for (const g of live) {
      const runs = g.runs.map((id) => states.get(id)!);
      const acc = new GroupAccumulator(runs, p.x, p.points);
      for (const run of runs) acc.addRun(run, key);
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
      groups: live.map((g): CompareSeriesGroup => ({ key: g.key, runs: g.runs, ...series.get(`${key}\u0000${JSON.stringify(g.values)}`)! })),
    })),
    missing_runs: missing,
    pending_runs: [],
  };
}
