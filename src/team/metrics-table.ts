// A team-mode run's metrics as one row per step (the file mode's readMetricsTable shape), for the CSV export,
// the run report and the exported events.jsonl.
import { HttpError } from "../api/errors.ts";
import { buildMetricsStep, buildSeries } from "../metrics/query.ts";
import type { MetricsTable } from "../store/assets/metrics-table.ts";
import type { TeamRun } from "./metric-state.ts";

/** Most steps a team-mode table carries (the series query that adds `epoch` reads them all at once). */
export const MAX_TABLE_ROWS = 100_000;

/**
 * The run's metric rows: the columns of metrics_step plus `epoch` (which the compatible metrics_step leaves out and
 * the file mode's table keeps), after global_step in code-point order.
 */
export function teamMetricsTable(run: TeamRun): MetricsTable {
  const state = run.state;
  const table = JSON.parse(buildMetricsStep(state).json) as MetricsTable;
  if (!table.rows.length || !state.columns.includes("epoch")) return table;
  if (table.rows.length > MAX_TABLE_ROWS) throw new HttpError(413, `A team-mode metrics table is limited to ${MAX_TABLE_ROWS} steps`);
  const s = buildSeries(state, run.runId, { x: "step", points: MAX_TABLE_ROWS, mode: "lttb", keys: [], columns: ["epoch"] });
  const epochAt = new Map<number, number | null>();
  s.x.forEach((x, i) => epochAt.set(x, s.columns?.epoch?.[i] ?? null));
  const columns = ["global_step", ...[...table.columns.slice(1), "epoch"].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))];
  const rows = table.rows.map((r) => {
    const out: Record<string, unknown> = {};
    for (const c of columns) out[c] = c === "epoch" ? (epochAt.get(r.global_step as number) ?? null) : (r[c] ?? null);
    return out;
  });
  return { columns, rows };
}
