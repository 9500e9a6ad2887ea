// Team mode (PostgreSQL): the run list, stats, run detail and edits, crash checks, metric answers (steps,
// series with system keys, keys, compare, CSV), images and media, with the same shapes as the file mode's
// routes (src/api/runs.ts, metrics.ts, compare.ts, export.ts), so the UI works unchanged.
import { Elysia, t } from "elysia";
import { MAX_NOTES_BYTES } from "../analysis/run-fields.ts";
import { buildMetricsStep } from "../metrics/query.ts";
import type { ImageEvent } from "../metrics/events.ts";
import { tableToCsv } from "../store/assets/metrics-table.ts";
import { teamKeys, teamSeries } from "../team/series.ts";
import { teamMetricsTable } from "../team/metrics-table.ts";
import { teamGroupedSeries } from "../team/grouped-compare.ts";
import { groupedSeriesQuery } from "./compare.ts";
import { listItem } from "../team/list-item.ts";
import { refreshListJson } from "../team/sink.ts";
import type { TeamRunRow, TeamService } from "../team/service.ts";
import { HttpError } from "./errors.ts";
import { intParam, mediaHeaders, seriesOptions, seriesQuery } from "./metrics.ts";
import { headerSafe, RUN_LIST_QUERY } from "./runs.ts";
import { isStalled, STALLED_AFTER_S } from "../wire/liveness.ts";
import { type FilterNode, FilterSyntaxError, parseFilter } from "../analysis/filter.ts";
import { listVersion, type TeamListQuery, teamRunList } from "../team/run-list.ts";

const MAX_TEXT = 1000;
/** Most runs one compare may name (as the file mode). */
const MAX_COMPARE_RUNS = 50;
const MAX_TAGS = 100;

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);

function detail(row: TeamRunRow) {
  const item = listItem(row);
  const start = num(row.status.started_at) ?? row.created_at;
  const ended = num(row.status.ended_at);
  const end = ended ?? (item.status === "running" ? Date.now() / 1000 : null);
  return {
    id: item.id,
    status: item.status,
    pid: item.pid,
    run_dir: item.run_dir,
    path: item.path,
    alias: item.alias,
    logs: `${item.run_dir}/logs.txt`,
    metrics: `${item.run_dir}/events.jsonl`,
    metrics_step: `${item.run_dir}/events.jsonl`,
    assets: row.assets,
    assets_count: item.assets_count,
    created_time: row.created_at,
    start_time: start,
    ended_at: ended,
    duration: end !== null ? Math.max(0, end - start) : null,
    tags: item.tags,
    hostname: str(row.meta.hostname),
    exit_reason: str(row.status.exit_reason),
    heartbeat_at: num(row.status.heartbeat_at),
    stalled: isStalled(item.status, num(row.status.heartbeat_at)),
    best_metric_value: item.best_metric_value,
    best_metric_name: item.best_metric_name,
    summary: row.summary,
    notes: str(row.meta.notes),
    created_by: row.created_by,
    total_steps: Number(row.total_rows),
  };
}

/** Run list/detail/edit/delete and metric routes of a team-mode server. */
export function teamRunsRoutes(svc: TeamService) {
  const sql = svc.sql;
  return new Elysia({ name: "team-runs" })
    .get(
      "/api/runs",
      async ({ query, set }) => {
        let filter: FilterNode | undefined;
        if (query.filter !== undefined && query.filter.trim() !== "") {
          try {
            filter = parseFilter(query.filter);
          } catch (e) {
            if (e instanceof FilterSyntaxError) throw new HttpError(400, e.message);
            throw e;
          }
        }
        const req: TeamListQuery = {
          limit: query.limit,
          offset: query.offset,
          sort: query.sort,
          order: query.order,
          statuses: query.status ? query.status.split(",").map((s) => s.trim()).filter(Boolean) : undefined,
          path: query.path,
          q: query.q,
          filter,
          include: new Set((query.include ?? "").split(",").map((s) => s.trim())),
        };
        const whole = Object.values(query).every((v) => v === undefined);
        // the version check is two index reads (main pool); lists go through the list pool, whose backends stay warm
        const lists = svc.listSql;
        const answer = whole
          ? await svc.wholeList.get(() => listVersion(sql), () => teamRunList(lists, req, svc.listItems))
          : await teamRunList(lists, req, svc.listItems);
        set.headers["x-total-count"] = String(answer.total);
        set.headers["x-index-state"] = "ready";
        set.headers["content-type"] = "application/json";
        if (answer.unknown.length) set.headers["x-unknown-fields"] = headerSafe(answer.unknown.join(", "));
        return answer.body;
      },
      {
        query: t.Object({ ...RUN_LIST_QUERY, filter: t.Optional(t.String({ maxLength: 4096 })) }),
        detail: { summary: "List runs (team mode): paging, sort by any filter field, status/path/q, filter=, include=; X-Total-Count" },
      },
    )
    .get(
      "/api/stats/runs",
      async () => {
        const rows = (await sql`select coalesce(nullif(status->>'status', ''), 'finished') as s, count(*)::int as n,
            count(*) filter (where (case when jsonb_typeof(status->'heartbeat_at') = 'number' then (status->>'heartbeat_at')::float8 end) < ${Date.now() / 1000 - STALLED_AFTER_S})::int as stalled
          from team_run where deleted_at is null group by 1`) as { s: string; n: number; stalled: number }[];
        const out = { total: 0, running: 0, finished: 0, failed: 0, interrupted: 0, other: 0, stalled: 0 };
        for (const r of rows) {
          out.total += r.n;
          if (r.s === "running" || r.s === "finished" || r.s === "failed" || r.s === "interrupted") out[r.s] += r.n;
          else out.other += r.n;
          if (r.s === "running") out.stalled += r.stalled;
        }
        return out;
      },
      { detail: { summary: "Counts of live runs by status, and the running ones whose heartbeat is over a minute old (team mode)" } },
    )
    .get(
      "/api/fleet",
      async () => {
        const [r] = (await sql`select count(*)::int as n from team_run where deleted_at is null`) as { n: number }[];
        return { hosts: [], total_runs: r?.n ?? 0 };
      },
      { detail: { summary: "Fleet hosts: a team server is no fleet, so none, and its run count (team mode)" } },
    )
    .get("/api/runs/:run_id", async ({ params }) => detail(await svc.runRow(params.run_id)), {
      detail: { summary: "One run (team mode)" },
    })
    .patch(
      "/api/runs/:run_id",
      async ({ params, body }) => {
        const patch: Record<string, unknown> = {};
        if (body.alias !== undefined) patch.alias = body.alias === null || body.alias.trim() === "" ? null : body.alias.trim();
        if (body.tags !== undefined) patch.tags = body.tags.map((s) => s.trim()).filter(Boolean);
        if (body.notes !== undefined) {
          if (body.notes !== null && Buffer.byteLength(body.notes, "utf8") > MAX_NOTES_BYTES) {
            throw new HttpError(413, `Notes are limited to ${MAX_NOTES_BYTES} bytes`);
          }
          patch.notes = body.notes === null || body.notes.trim() === "" ? null : body.notes;
        }
        const rows = (await sql`update team_run set meta = meta || ${patch}::jsonb, updated_at = ${Date.now() / 1000}
          where run_id = ${params.run_id} and deleted_at is null returning meta`) as { meta: Record<string, unknown> }[];
        if (!rows.length) throw new HttpError(404, "Run not found");
        await refreshListJson(sql, params.run_id);
        await svc.notify({ run_id: params.run_id, seq: 0, kind: "updated" });
        const meta = rows[0].meta;
        return {
          ok: true,
          alias: meta.alias ?? null,
          tags: Array.isArray(meta.tags) ? meta.tags : [],
          ...(body.notes !== undefined ? { notes: typeof meta.notes === "string" ? meta.notes : null } : {}),
        };
      },
      {
        body: t.Object({
          alias: t.Optional(t.Union([t.String({ maxLength: MAX_TEXT }), t.Null()])),
          tags: t.Optional(t.Array(t.String({ maxLength: MAX_TEXT }), { maxItems: MAX_TAGS })),
          notes: t.Optional(t.Union([t.String({ maxLength: MAX_NOTES_BYTES }), t.Null()])),
        }),
        detail: { summary: "Set a run's alias, tags or notes (team mode)" },
      },
    )
    .delete(
      "/api/runs/:run_id",
      async ({ params }) => {
        const rows = await sql`update team_run set deleted_at = ${Date.now() / 1000}, delete_reason = 'user_deleted', list_version = nextval('team_list_version') where run_id = ${params.run_id} and deleted_at is null returning run_id`;
        if (!rows.length) throw new HttpError(404, "Run not found");
        await svc.notify({ run_id: params.run_id, seq: 0, kind: "deleted" });
        return { success: true, run_id: params.run_id, deleted: true };
      },
      { detail: { summary: "Soft-delete a run (team mode: it leaves the list; its rows stay)" } },
    )
    .get(
      "/api/runs/:run_id/metrics_step",
      async ({ params, query }) => metricsStep(svc, params.run_id, query.downsample),
      { query: t.Object({ downsample: t.Optional(t.String()) }), detail: { summary: "Metric rows by step (team mode)" } },
    )
    .get(
      "/api/runs/:run_id/metrics",
      async ({ params, query }) => metricsStep(svc, params.run_id, query.downsample),
      { query: t.Object({ downsample: t.Optional(t.String()) }), detail: { summary: "Same as metrics_step" } },
    )
    .get(
      "/api/runs/:run_id/series",
      async ({ params, query }) => teamSeries(svc, params.run_id, seriesOptions(query)),
      { query: t.Object(seriesQuery), detail: { summary: "Columnar series for charts, sys/… keys from the run's system metrics (team mode)" } },
    )
    .get("/api/runs/:run_id/keys", async ({ params }) => teamKeys(svc, params.run_id), {
      detail: { summary: "Metric keys and their summaries, then the system keys (team mode)" },
    })
    .get(
      "/api/compare/series",
      async ({ query }) => {
        // run_ids (with group_by, agg, key) asks for the grouped, aggregated form
        if (query.run_ids !== undefined || query.group_by !== undefined || query.agg !== undefined) return teamGroupedSeries(svc, query);
        const ids = query.runs?.split(",").map((s) => s.trim()).filter(Boolean);
        if (!ids?.length) throw new HttpError(422, [{ type: "missing", loc: ["query", "runs"], msg: "Field required", input: null }]);
        const unique = [...new Set(ids)];
        if (unique.length > MAX_COMPARE_RUNS) throw new HttpError(400, `Cannot compare more than ${MAX_COMPARE_RUNS} runs at once`);
        const opts = seriesOptions(query);
        const runs: Record<string, unknown> = {};
        const missing: string[] = [];
        for (const id of unique) {
          try {
            runs[id] = await teamSeries(svc, id, opts);
          } catch (e) {
            if (!(e instanceof HttpError) || e.status !== 404) throw e;
            missing.push(id);
          }
        }
        return { runs, missing };
      },
      {
        query: t.Object({ runs: t.Optional(t.String()), ...seriesQuery, ...groupedSeriesQuery }),
        detail: { summary: "Series of several runs (same options as /series); unknown runs are listed in `missing` (team mode)" },
      },
    )
    .get(
      "/api/export/:run_id/csv",
      async ({ params }) => {
        const run = await svc.runData(params.run_id);
        return new Response(tableToCsv(teamMetricsTable(run)), {
          headers: { "content-type": "text/csv; charset=utf-8", "content-disposition": `attachment; filename="${params.run_id}_metrics.csv"` },
        });
      },
      { detail: { summary: "A run's metrics as CSV, one row per step (team mode)" } },
    )
    .post(
      "/api/status/check",
      async () => {
        const { checked, updated } = await svc.checkLiveness();
        return { checked, updated, message: `Checked ${checked} running experiments, updated ${updated} statuses` };
      },
      { detail: { summary: "Mark running runs whose SDK heartbeat is lost as failed now (team mode: the heartbeat rule only)" } },
    )
    .get(
      "/api/runs/:run_id/progress",
      async ({ params }) => {
        await svc.runRow(params.run_id);
        return { available: false, status: "unknown" };
      },
      { detail: { summary: "Compatibility stub of the original (always unavailable), as the file mode" } },
    )
    .get(
      "/api/environment/:run_id",
      async ({ params }) => {
        const rows = await sql`select 1 from team_run where run_id = ${params.run_id} and deleted_at is null`;
        if (!rows.length) throw new HttpError(404, `Run ${params.run_id} not found`);
        // the ingest contract carries no environment.json
        return { available: false };
      },
      { detail: { summary: "The run's environment.json: never sent over the ingest API, so unavailable (team mode)" } },
    )
    .get(
      "/api/runs/:run_id/images",
      async ({ params }) => {
        await svc.runRow(params.run_id);
        const rows = (await sql`select line from team_run_line where run_id = ${params.run_id} and kind = 'image' order by seq, n`) as { line: ImageEvent }[];
        const id = encodeURIComponent(params.run_id);
        return {
          images: rows.map(({ line: img }) => {
            const m = /^media\/([^/\\]+)$/.exec(img.path);
            return { key: img.key, step: img.step, caption: img.caption, path: img.path, ts: img.ts, url: m ? `/api/runs/${id}/media/${encodeURIComponent(m[1])}` : null };
          }),
        };
      },
      { detail: { summary: "Image events of the run (key, step, caption, media path and URL, ts) (team mode)" } },
    )
    .get(
      "/api/runs/:run_id/media/:file",
      async ({ params, request }) => {
        const res = await svc.media.respond(params.run_id, params.file, request, mediaHeaders(params.file));
        if (!res) throw new HttpError(404, "File not found");
        return res;
      },
      { detail: { summary: "A media file of the run (team mode: from the blob store)" } },
    );
}

async function metricsStep(svc: TeamService, runId: string, downsampleRaw: string | undefined): Promise<Response> {
  const downsample = intParam("downsample", downsampleRaw, 100, 50000);
  const run = await svc.runData(runId);
  const m = buildMetricsStep(run.state, downsample);
  const headers: Record<string, string> = { "content-type": "application/json", "x-row-count": String(m.rowCount), "x-total-count": String(m.total) };
  if (m.lastStep !== null) headers["x-last-step"] = String(m.lastStep);
  return new Response(m.json, { headers });
}
