// The run list and run detail: GET /api/runs, GET|PATCH /api/runs/{id}, progress, environment (spec §3.2, §3.10).
import { join } from "node:path";
import { Elysia, t } from "elysia";
import { FilterSyntaxError, type FilterNode, filterFields, MAX_FILTER_LENGTH, parseFilter } from "../analysis/filter.ts";
import { MAX_NOTES_BYTES } from "../analysis/run-fields.ts";
import {
  countRunsWithoutMetricFields,
  findRunRow,
  isSortKey,
  listRunsJson,
  runFieldExists,
  runStatusCounts,
  runsWithoutMetricFields,
  stalledRunDirs,
  stalledRuns,
} from "../index/run-queries.ts";
import { isStalled, STALLED_AFTER_S } from "../wire/liveness.ts";
import { listPath } from "../index/run-row.ts";
import type { RunTable } from "../index/schema.ts";
import { readJsonObject } from "../store/json.ts";
import { writeJsonAtomic } from "../store/run-files.ts";
import { collectWhenQuiet } from "../util/idle-gc.ts";
import type { AppContext } from "./context.ts";
import { HttpError } from "./errors.ts";
import { assertRunId, getLiveRun } from "./run-ids.ts";

const MAX_TAGS = 100;

/** Paging, sort and filter parameters of `GET /api/runs`, shared by the local and the fleet list. */
export const RUN_LIST_QUERY = {
  limit: t.Optional(t.Integer({ minimum: 0, maximum: 100000 })),
  offset: t.Optional(t.Integer({ minimum: 0, maximum: 1_000_000_000 })),
  sort: t.Optional(t.String({ maxLength: 256 })),
  order: t.Optional(t.Union([t.Literal("asc"), t.Literal("desc")])),
  status: t.Optional(t.String({ maxLength: 256 })),
  path: t.Optional(t.String({ maxLength: 1024 })),
  q: t.Optional(t.String({ maxLength: 256 })),
  include: t.Optional(t.String({ maxLength: 64 })),
};
/** A list this long (about 3,000 runs) leaves enough garbage to collect once the server is quiet. */
const LARGE_LIST_CHARS = 1 << 20;
const MAX_TEXT = 1000;

/** Run list and detail routes. */
export function runsRoutes(ctx: AppContext) {
  return new Elysia({ name: "runs" })
    .get(
      "/api/runs",
      async ({ query, set }) => {
        if (query.sort !== undefined && !isSortKey(query.sort)) {
          throw new HttpError(400, `Unsupported sort key: ${query.sort}`);
        }
        const include = new Set((query.include ?? "").split(",").map((s) => s.trim()));
        let filter: FilterNode | undefined;
        if (query.filter !== undefined && query.filter.trim() !== "") {
          try {
            filter = parseFilter(query.filter);
          } catch (e) {
            if (e instanceof FilterSyntaxError) throw new HttpError(400, e.message);
            throw e;
          }
        }
        const unknown = new Set<string>();
        const idx = ctx.index();
        const list = () => listRunsJson(idx.db, {
          limit: query.limit,
          offset: query.offset,
          sort: query.sort,
          order: query.order,
          status: query.status ? query.status.split(",").map((s) => s.trim()).filter(Boolean) : undefined,
          path: query.path,
          q: query.q,
          filter,
          onUnknownField: (p) => unknown.add(p.join(".")),
          includeSummary: include.has("summary"),
          includeConfig: include.has("config"),
          includeMetrics: include.has("metrics"),
        });
        // the whole list (what the original's UI asks for on every visit) is cached as segments, patched per change
        const whole = Object.values(query).every((v) => v === undefined);
        const cached = whole ? await ctx.storage.runList.get(idx, ctx.storage.runs) : undefined;
        const { json, total } = cached ? { json: undefined, total: cached.total } : await list();
        set.headers["content-type"] = "application/json";
        set.headers["x-total-count"] = String(total);
        // issue 13: while the first index builds the list holds the runs indexed so far
        const p = ctx.storage.runs.progress();
        set.headers["x-index-state"] = p.state;
        set.headers["x-index-progress"] = `${p.runs_indexed}/${p.runs_total ?? "?"}`;
        if ((cached?.size ?? json!.length) > LARGE_LIST_CHARS) collectWhenQuiet();
        if (filter) {
          // a JSON field (config.x, summary.y) no live run has is reported as unknown too
          for (const ref of filterFields(filter)) {
            const name = ref.path.join(".");
            if (!unknown.has(name) && !(await runFieldExists(ctx.index().db, ref.path))) unknown.add(name);
          }
        }
        // metric.* fields come from the metric store: runs not ingested yet are queued and counted, never silently absent
        const usesMetrics =
          include.has("metrics") ||
          query.sort?.startsWith("metric.") ||
          (filter !== undefined && filterFields(filter).some((f) => f.path[0] === "metric"));
        if (usesMetrics) {
          const pending = await pendingMetricFields(ctx);
          set.headers["x-metrics-pending"] = String(pending);
          for (const name of [...unknown]) if (name.startsWith("metric.") && pending > 0) unknown.delete(name);
        }
        if (unknown.size) set.headers["x-unknown-fields"] = headerSafe([...unknown].join(", "));
        const stalled = await stalledRuns(ctx.index().db, Date.now() / 1000 - STALLED_AFTER_S);
        if (cached) {
          // a Response, not the Blob: Elysia would serve a Blob as a file (ranges, content-range)
          const body = await cached.body({ runs: stalled.map((r) => ({ key: r.order_key, dir: r.run_dir })), text: markStalled });
          return new Response(body, { headers: set.headers as Record<string, string> });
        }
        return markStalled(json!, stalled.map((r) => r.run_dir));
      },
      {
        query: t.Object({
          ...RUN_LIST_QUERY,
          filter: t.Optional(t.String({ maxLength: MAX_FILTER_LENGTH })),
        }),
        detail: {
          summary: "List runs",
          description:
"Without parameters: every live run in the original's scan order. Optional limit/offset/sort/order/status/path/q filter and page the list; X-Total-Count gives the total before paging. X-Index-State (`building` while the first index build runs, then `ready`) and X-Index-Progress (`indexed/total`, total `?` until the walk has counted them) say whether the list is complete yet. filter=EXPR applies the filter language (README \"Filtering runs\"); a malformed expression is a 400 naming the column; fields no run has are listed in X-Unknown-Fields. include=config,summary,metrics adds those objects to each item (metrics: per key {last,min,max,count}, null while the run's metrics are not ingested yet); sort accepts any filter field (config.lr, summary.acc, metric.loss.min, created_at). When metric fields are used, X-Metrics-Pending says how many runs are still being ingested in the background (their metric fields read as missing until then).",
        },
      },
    )
    .get(
      "/api/stats/runs",
      async () => ({
        ...(await runStatusCounts(ctx.index().db)),
        stalled: (await stalledRunDirs(ctx.index().db, Date.now() / 1000 - STALLED_AFTER_S)).length,
      }),
      {
        detail: { summary: "Counts of live runs by status (total, running, finished, failed, interrupted, other; stalled counts the running runs whose heartbeat is over a minute old)" },
      },
    )
    .get(
      "/api/runs/:run_id",
      async ({ params }) => {
        const run = getLiveRun(ctx, params.run_id);
        const row = await findRunRow(ctx.index().db, run.run_dir);
        if (!row) throw new HttpError(404, "Run not found");
        return runDetail(row, ctx.root());
      },
      { detail: { summary: "One run: status, paths of its files, assets, times, tags, summary" } },
    )
    .patch(
      "/api/runs/:run_id",
      async ({ params, body }) => {
        assertRunId(params.run_id);
        const run = getLiveRun(ctx, params.run_id);
        const metaPath = join(run.run_dir, "meta.json");
        const meta = readJsonObject(metaPath, { root: ctx.root() }) ?? {};
        if (body.alias !== undefined) {
          const alias = body.alias === null ? "" : body.alias.trim();
          meta.alias = alias === "" ? null : alias;
        }
        if (body.tags !== undefined) {
          meta.tags = body.tags.map((s) => s.trim()).filter(Boolean);
        }
        if (body.notes !== undefined) {
          if (body.notes !== null && Buffer.byteLength(body.notes, "utf8") > MAX_NOTES_BYTES) {
            throw new HttpError(413, `Notes are limited to ${MAX_NOTES_BYTES} bytes`);
          }
          meta.notes = body.notes === null || body.notes.trim() === "" ? null : body.notes;
        }
        try {
          writeJsonAtomic(metaPath, meta);
        } catch (e) {
          throw new HttpError(500, `Failed to update run: ${(e as Error).message}`);
        }
        await ctx.storage.runs.refreshRun(run.run_dir);
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
        detail: { summary: "Rename a run (alias), set its tags or its Markdown notes (≤ 64 KB, stored in meta.json)" },
      },
    )
    .get(
      "/api/runs/:run_id/progress",
      ({ params }) => {
        getLiveRun(ctx, params.run_id);
        return { available: false, status: "unknown" };
      },
      { detail: { summary: "Compatibility stub of the original (always unavailable)" } },
    )
    .get(
      "/api/environment/:run_id",
      ({ params }) => {
        const run = ctx.runs.findRun(params.run_id);
        if (!run) throw new HttpError(404, `Run ${params.run_id} not found`);
        const env = readJsonObject(join(run.run_dir, "environment.json"), { root: ctx.root() });
        return env ? { available: true, environment: env } : { available: false };
      },
      { detail: { summary: "The run's environment.json, when the SDK captured one" } },
    );
}

/**
 * Runs whose metric.* fields are not stored yet: queued for a background ingest (the metric store writes
 * the fields when done). Returns how many are still waiting, for the `X-Metrics-Pending` header.
 */
export async function pendingMetricFields(ctx: AppContext): Promise<number> {
  const db = ctx.index().db;
  const n = await countRunsWithoutMetricFields(db);
  if (n === 0) return 0;
  const store = ctx.metrics();
  // the run list is read again only once the queue has drained (at 100k runs it is not free)
  if (store.runFieldsWaiting === 0) store.fillRunFields(await runsWithoutMetricFields(db));
  return n;
}

/** The original's detail keys (spec §3.2) plus the ones its UI wanted (§10.7). */
function runDetail(row: RunTable, root: string) {
  const dir = row.run_dir;
  const assets = readJsonObject(join(dir, "assets.json"), { root }) ?? {};
  const start = row.started_at ?? row.created_time;
  const end = row.ended_at ?? (row.status === "running" ? Date.now() / 1000 : null);
  return {
    id: row.id,
    status: row.status,
    pid: row.pid,
    run_dir: dir,
    path: listPath(row.meta_path, row.entry_path),
    alias: row.alias,
    logs: join(dir, "logs.txt"),
    metrics: join(dir, "events.jsonl"),
    metrics_step: join(dir, "events.jsonl"),
    assets,
    assets_count: row.assets_count,
    created_time: row.created_time,
    start_time: start,
    ended_at: row.ended_at,
    duration: start !== null && end !== null ? Math.max(0, end - start) : null,
    tags: JSON.parse(row.tags),
    hostname: row.hostname,
    exit_reason: row.exit_reason,
    heartbeat_at: row.heartbeat_at,
    stalled: isStalled(row.status, row.heartbeat_at),
    best_metric_value: row.best_metric_value,
    best_metric_name: row.best_metric_name,
    summary: JSON.parse(row.summary),
    notes: row.notes,
  };
}

/**
 * Adds `"stalled": true` after the status of each listed run whose process lives but whose heartbeat is old
 * (additive: the status stays `running` for the original's UI). Items are pre-serialised, so the key is
 * spliced in after `"run_dir":<dir>` … `"status":"running"`; stalled runs are few, so this stays cheap.
 */
function markStalled(json: string, stalledDirs: string[]): string {
  const RUNNING = `"status":"running"`;
  const cuts: number[] = [];
  for (const dir of stalledDirs) {
    const at = json.indexOf(`"run_dir":${JSON.stringify(dir)},`);
    const status = at < 0 ? -1 : json.indexOf(RUNNING, at);
    if (status >= 0) cuts.push(status + RUNNING.length);
  }
  if (!cuts.length) return json;
  cuts.sort((a, b) => a - b);
  const parts: string[] = [];
  let from = 0;
  for (const cut of cuts) {
    parts.push(json.slice(from, cut), `,"stalled":true`);
    from = cut;
  }
  parts.push(json.slice(from));
  return parts.join("");
}

/** Header values must be Latin-1 without control characters: anything else is escaped as \uXXXX. */
export function headerSafe(v: string): string {
  return v.replace(/[^\x20-\x7e]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}
