// Team mode's grouped compare (GET /api/compare/series?run_ids=…&key=…&group_by=…): the file mode's request
// parsing, grouping order and aggregation (api/compare.ts, analysis/group-series.ts) over team_run rows and
// the replica's metric state.
import type { RunFieldValues } from "../analysis/run-fields.ts";
import { foldGroups, groupFor, type GroupedQuery, orderGroups, parseGroupedQuery, type RunGroup } from "../api/compare.ts";
import { HttpError } from "../api/errors.ts";
import type { RunData } from "../metrics/run-data.ts";
import type { CompareSeriesResponse } from "../wire/analysis.ts";
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
  const groups = new Map<string, RunGroup>();
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
    groupFor(p, groups, rowValues(row), now, (g) => g).runs.push(id);
  }
  const live: (RunGroup & { data: RunData[] })[] = [];
  for (const g of orderGroups(groups)) {
    const runs: string[] = [];
    const data: RunData[] = [];
    for (const id of g.runs) {
      try {
        data.push((await svc.runData(id)).state);
        runs.push(id);
      } catch (e) {
        // deleted between the two reads: the run is missing, as if it had been before
        if (!(e instanceof HttpError) || e.status !== 404) throw e;
        missing.push(id);
      }
    }
    if (runs.length) live.push({ ...g, runs, data });
  }
  return foldGroups(p, live, (acc, run, key) => acc.addRun(run, key), missing, []);
}
