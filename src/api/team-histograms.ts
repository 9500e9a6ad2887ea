// Team mode (PostgreSQL): GET /api/runs/{id}/histograms over the `histograms` lines of a run's batches, with the
// file mode's answers (api/histograms.ts): keys with step counts, or one key's bins over steps, the last line
// logged for a step winning, at most `points` steps spread evenly.
import { Elysia, t } from "elysia";
import type { TeamService } from "../team/service.ts";
import { HttpError } from "./errors.ts";
import { histogramEntryOf } from "../index/histogram-index.ts";
import type { HistogramStep } from "../wire/media.ts";
import { numberParam, pickSteps } from "./histograms.ts";

const DEFAULT_POINTS = 200;
const MAX_POINTS = 10000;

/** A stored line as a histogram entry of `key`, or undefined when it is not a well-formed one (as the file mode reads it). */
function entryOf(o: Record<string, unknown>, key: string): HistogramStep | undefined {
  const e = histogramEntryOf(o);
  return e && e.key === key ? e.entry : undefined;
}

export function teamHistogramsRoutes(svc: TeamService) {
  const sql = svc.sql;
  return new Elysia({ name: "team-histograms" }).get(
    "/api/runs/:run_id/histograms",
    async ({ params, query }) => {
      const runId = params.run_id;
      await svc.runRow(runId);
      const integerStep = sql`(case when jsonb_typeof(line->'step') = 'number' then (line->>'step')::numeric = trunc((line->>'step')::numeric) else false end)`;
      if (query.key === undefined) {
        const keys = (await sql`select line->>'key' as key, count(distinct (line->>'step')::numeric)::int as steps,
            min((line->>'step')::numeric)::float8 as first_step, max((line->>'step')::numeric)::float8 as last_step
          from team_run_line where run_id = ${runId} and kind = 'histograms' and jsonb_typeof(line->'key') = 'string' and ${integerStep}
          group by 1 order by (line->>'key') collate "C"`) as { key: string; steps: number; first_step: number; last_step: number }[];
        return { run_id: runId, keys };
      }
      const from = numberParam("from", query.from) ?? -Infinity;
      const to = numberParam("to", query.to) ?? Infinity;
      let points = DEFAULT_POINTS;
      if (query.points !== undefined) {
        points = Number(query.points);
        if (!Number.isInteger(points) || points < 2 || points > MAX_POINTS) {
          throw new HttpError(422, [{ type: "range", loc: ["query", "points"], msg: `Input should be an integer from 2 to ${MAX_POINTS}`, input: query.points }]);
        }
      }
      const rows = (await sql`select line from team_run_line where run_id = ${runId} and kind = 'histograms' and line->>'key' = ${query.key}
          and ${integerStep} order by seq, n`) as { line: Record<string, unknown> }[];
      // the last line logged for a step wins; a malformed last line leaves the step out (as the file mode's index does once it read it)
      const bySteps = new Map<number, HistogramStep | null>();
      for (const { line } of rows) bySteps.set(Number(line.step), entryOf(line, query.key) ?? null);
      const all = [...bySteps.values()].filter((e): e is HistogramStep => e !== null && e.step >= from && e.step <= to).sort((a, b) => a.step - b.step);
      const steps = pickSteps(all, points);
      return { run_id: runId, key: query.key, steps, total: all.length, sampled: steps.length < all.length };
    },
    {
      query: t.Object({
        key: t.Optional(t.String()),
        from: t.Optional(t.String()),
        to: t.Optional(t.String()),
        points: t.Optional(t.String()),
      }),
      detail: { summary: "Histograms logged with rn.Histogram: keys, or one key's bins over steps (team mode)" },
    },
  );
}
