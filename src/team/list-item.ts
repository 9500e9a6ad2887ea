// A team run's item of GET /api/runs (the original's RunListItem + created_by), kept pre-serialised in
// team_run.list_json whenever the run's meta/status/summary/assets change, so a 10,000-run list is one
// string_agg in PostgreSQL.
import { assetsCount } from "../store/run-files.ts";

export interface ListSource {
  run_id: string;
  path: string;
  meta: Record<string, unknown>;
  status: Record<string, unknown>;
  summary: Record<string, unknown>;
  assets: Record<string, unknown>;
  created_by: string | null;
  created_at: number;
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);

/** Team runs have no folder: `run_dir` names where the file mode would keep it, relative to a root. */
export function teamRunDir(row: { run_id: string; path: string }): string {
  return `runs/${row.path ? `${row.path}/` : ""}${row.run_id}`;
}

export function listItem(row: ListSource) {
  const { meta, status, summary } = row;
  const best = summary.best_metric_value;
  return {
    id: row.run_id,
    run_dir: teamRunDir(row),
    created_time: row.created_at,
    status: str(status.status) ?? "finished",
    pid: typeof meta.pid === "number" && Number.isInteger(meta.pid) ? meta.pid : null,
    best_metric_value: num(best) ?? (typeof best === "string" || typeof best === "boolean" ? best : null),
    best_metric_name: str(summary.best_metric_name),
    // a run at the root has no path (null), as in the file mode's list
    path: row.path === "" ? null : row.path,
    alias: str(meta.alias),
    tags: Array.isArray(meta.tags) ? meta.tags.filter((x) => typeof x === "string") : [],
    assets_count: assetsCount(row.assets as never),
    created_by: row.created_by,
  };
}

export function listItemJson(row: ListSource): string {
  return JSON.stringify(listItem(row));
}
