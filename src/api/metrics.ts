// Metrics API: compatible metrics_step/metrics, cache stats and logs WebSocket (spec §3.3, §3.4); series, keys, images, live push.
import { fileResponse } from "./file-response.ts";
import type { LiveSystemMessage } from "../wire/live-system.ts";
import { openForClient } from "./assets.ts";
import { existsSync, lstatSync, realpathSync } from "node:fs";
import { extname, join } from "node:path";
import { Elysia, t } from "elysia";
import { buildKeys, buildMetricsStep, buildSeries, type SeriesBody, type SeriesOptions } from "../metrics/query.ts";
import { systemKey } from "../index/metric-run.ts";
import type { RunState } from "../index/metric-store.ts";
import { isSystemKey, mergeKeys, mergeSeries, type SystemSample, withSystemColumns } from "../metrics/system.ts";
import { parseTolerant } from "../store/json.ts";
import type { LiveRow } from "../live/live-hub.ts";
import type { AppContext } from "./context.ts";
import { HttpError } from "./errors.ts";
import { getLiveRun } from "./run-ids.ts";
import { groupedSeries, groupedSeriesQuery } from "./compare.ts";

/** Lines the logs WebSocket sends on connect (spec §3.4: the last 10,000). */
export const LOG_WS_LINES = 10000;
/** Closes a logs WebSocket after this long without a new line (spec §3.4). */
export const LOG_WS_IDLE_MS = 3600_000;
const MAX_COMPARE_RUNS = 50;
const MAX_LIVE_RUNS = 200;
/**
 * A chart (`/series`) of a run whose file is still being read for the first time is answered after this
 * long from the rows read so far, flagged `X-Partial: <share of the file>`; the rest arrives on
 * `/api/live` as it is ingested (and a later request answers in full).
 */
const PARTIAL_AFTER_MS = 300;

const INT = /^\s*[+-]?\d+(?:_\d+)*\s*$/;

/** A FastAPI/pydantic-v2 style 422 for one query parameter. */
function invalid(name: string, type: string, msg: string, input: unknown, ctxInfo?: Record<string, unknown>): HttpError {
  const item: Record<string, unknown> = { type, loc: ["query", name], msg, input };
  if (ctxInfo) item.ctx = ctxInfo;
  return new HttpError(422, [item]);
}

/** Parses an optional integer query parameter within [min, max] (422 otherwise). */
export function intParam(name: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  if (!INT.test(raw)) throw invalid(name, "int_parsing", "Input should be a valid integer, unable to parse string as an integer", raw);
  const v = Number(raw.replace(/_/g, "").trim());
  if (v < min) throw invalid(name, "greater_than_equal", `Input should be greater than or equal to ${min}`, raw, { ge: min });
  if (v > max) throw invalid(name, "less_than_equal", `Input should be less than or equal to ${max}`, raw, { le: max });
  return v;
}

/** Parses an optional finite number query parameter (422 otherwise). */
function numParam(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined || raw === "") return undefined;
  const v = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(v)) {
    throw invalid(name, "float_parsing", "Input should be a valid number, unable to parse string as a number", raw);
  }
  return v;
}

function enumParam<T extends string>(name: string, raw: string | undefined, allowed: readonly T[], dflt: T): T {
  if (raw === undefined || raw === "") return dflt;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw invalid(name, "enum", `Input should be ${allowed.map((a) => `'${a}'`).join(" or ")}`, raw, { expected: allowed.join(", ") });
  }
  return raw as T;
}

function listParam(raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  const items = raw.split(",").map((s) => s.trim()).filter(Boolean);
  return items.length ? [...new Set(items)] : undefined;
}

/** Series options shared by /series and /compare/series. */
export function seriesOptions(q: Record<string, string | undefined>): SeriesOptions {
  const from = numParam("from", q.from);
  const to = numParam("to", q.to);
  if (from !== undefined && to !== undefined && from > to) {
    throw invalid("to", "greater_than_equal", "Input should be greater than or equal to from", q.to, { ge: from });
  }
  return {
    keys: listParam(q.keys),
    x: enumParam("x", q.x, ["step", "time"] as const, "step"),
    points: intParam("points", q.points, 10, 100000) ?? 2000,
    from,
    to,
    mode: enumParam("mode", q.mode, ["lttb", "minmax"] as const, "lttb"),
    columns: listParam(q.columns),
  };
}

export const seriesQuery = {
  keys: t.Optional(t.String({ description: "Comma-separated keys; default every numeric metric" })),
  x: t.Optional(t.String({ description: "step (default) or time" })),
  points: t.Optional(t.String({ description: "Points per key, 10..100000 (default 2000)" })),
  from: t.Optional(t.String({ description: "Lowest x kept (inclusive)" })),
  to: t.Optional(t.String({ description: "Highest x kept (inclusive)" })),
  mode: t.Optional(t.String({ description: "lttb (default) or minmax" })),
  columns: t.Optional(
    t.String({ description: "Comma-separated keys (e.g. epoch) returned under `columns` with a value at every x kept" }),
  ),
};

const IMAGE_TYPES: Record<string, string> = {
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".bmp": "image/bmp",
  ".svg": "image/svg+xml",
  ".tif": "image/tiff",
  ".tiff": "image/tiff",
  ".ico": "image/x-icon",
  ".avif": "image/avif",
};

/** The plain file `name` inside the run's media/ folder, or undefined (no separators, no `..`, no symlinks). */
export function mediaFile(runDir: string, name: string): string | undefined {
  if (!name || name === "." || name === ".." || /[/\\\0]/.test(name)) return undefined;
  const dir = join(runDir, "media");
  try {
    const d = lstatSync(dir);
    if (!d.isDirectory()) return undefined;
    const path = join(dir, name);
    const f = lstatSync(path);
    if (!f.isFile()) return undefined;
    if (realpathSync(path) !== join(realpathSync(runDir), "media", name)) return undefined;
    return path;
  } catch {
    return undefined; // missing: 404
  }
}

/** Brings a live run's columns up to date and returns them (404 for unknown or deleted runs). */
async function syncedRun(ctx: AppContext, id: string) {
  const run = getLiveRun(ctx, id);
  return ctx.metrics().sync(run.run_dir);
}

/** The run's system metrics (system.jsonl) brought up to date, or null when it has none. */
async function systemState(ctx: AppContext, runDir: string): Promise<RunState | null> {
  if (!existsSync(systemKey(runDir))) return null;
  const state = await ctx.metrics().sync(systemKey(runDir));
  return state.totalRows ? state : null;
}

/** The system series of a run for `keys` (every `sys/…` key when none is asked for), or null. */
function systemSeries(state: RunState, runId: string, opts: SeriesOptions, keys: string[] | undefined): SeriesBody | null {
  const all = state.columns.filter(isSystemKey);
  const want = keys ? keys.filter((k) => all.includes(k)) : all;
  if (!want.length) return null;
  return buildSeries(state, runId, { ...opts, keys: want, columns: undefined });
}

/**
 * A run's series with system keys: `sys/…` keys asked for come from system.jsonl (x = time, or the sample
 * number for x = step), the others from the run; with no keys asked for, only the run's own metrics.
 */
async function seriesWithSystem(ctx: AppContext, runDir: string, runId: string, opts: SeriesOptions, own: () => Promise<SeriesBody>): Promise<SeriesBody> {
  const sysKeys = opts.keys?.filter(isSystemKey) ?? [];
  if (!sysKeys.length) return own();
  const sys = await systemState(ctx, runDir);
  const sysBody = sys ? systemSeries(sys, runId, opts, sysKeys) : null;
  const rest = opts.keys!.filter((k) => !isSystemKey(k));
  const empty: SeriesBody = { run_id: runId, x_key: opts.x, x: [], series: {}, total: 0, sampled: false };
  const ownBody = rest.length || opts.columns?.length ? await ownWith(own, rest) : null;
  for (const k of sysKeys) if (!sysBody?.series[k]) (sysBody ?? empty).series[k] = new Array((sysBody ?? empty).x.length).fill(null);
  if (!ownBody) return sysBody ?? empty;
  return mergeSeries(ownBody, sysBody ?? empty);
}

async function ownWith(own: () => Promise<SeriesBody>, rest: string[]): Promise<SeriesBody> {
  const body = await own();
  if (!rest.length) return { ...body, series: {} };
  return body;
}

interface LiveConn {
  subs: Map<string, () => void>;
  cleanup?: (() => void)[];
  runsUnsub?: () => void;
  runChanges?: Map<string, string>;
  flush?: ReturnType<typeof setTimeout>;
}

/** Metric, image and live routes. */
export function metricsRoutes(ctx: AppContext) {
  const conns = new WeakMap<object, LiveConn>();

  const metricsStep = async (id: string, downsampleRaw: string | undefined, includeSystemRaw?: string) => {
    const downsample = intParam("downsample", downsampleRaw, 100, 50000);
    const includeSystem = intParam("include_system", includeSystemRaw, 0, 1) === 1;
    const state = await syncedRun(ctx, id);
    const r = await ctx.metrics().result(state, `metrics_step:${downsample ?? ""}`, true, () => {
      const m = buildMetricsStep(state, downsample);
      return { body: m.json, rowCount: m.rowCount, total: m.total, lastStep: m.lastStep };
    });
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "x-row-count": String(r.rowCount),
      "x-total-count": String(r.total),
    };
    if (r.lastStep !== null) headers["x-last-step"] = String(r.lastStep);
    const sys = includeSystem ? await systemState(ctx, state.runDir) : null;
    if (!sys) return new Response(r.body, { headers });
    // opt-in: each row gets the system sample taken at or before its time (the original has no such columns)
    const text = typeof r.body === "string" ? r.body : new TextDecoder().decode(r.body);
    const body = parseTolerant(text) as { columns: string[]; rows: Record<string, unknown>[] };
    const all = await ctx.metrics().compute(() => systemSeries(sys, id, { x: "time", points: Math.max(10, sys.totalRows), mode: "lttb" }, undefined));
    const samples: SystemSample[] = all
      ? all.x.map((time, i) => ({ time, values: Object.fromEntries(Object.entries(all.series).map(([k, v]) => [k, v[i]])) }))
      : [];
    withSystemColumns(body, samples);
    return new Response(JSON.stringify(body), { headers });
  };
  const stepQuery = t.Object({
    include_system: t.Optional(t.String({ description: "1: add the run's system metrics (sys/…) as columns, as of each row's time" })),
    downsample: t.Optional(t.String({ description: "Target rows, 100..50000: the union of every metric's own LTTB selection" })),
  });

  return new Elysia({ name: "metrics" })
    .get("/api/runs/:run_id/metrics_step", ({ params, query }) => metricsStep(params.run_id, query.downsample, query.include_system), {
      query: stepQuery,
      detail: { summary: "Metric rows by step (Runicorn 0.6 shape); headers X-Row-Count, X-Total-Count, X-Last-Step" },
    })
    .get("/api/runs/:run_id/metrics", ({ params, query }) => metricsStep(params.run_id, query.downsample, query.include_system), {
      query: stepQuery,
      detail: { summary: "Same as metrics_step (the original serves both from one handler)" },
    })
    .get(
      "/api/metrics/cache/stats",
      () => {
        const store = ctx.metrics();
        const c = store.counters;
        const all = c.hits + c.misses + c.incremental_updates;
        return {
          size: store.size,
          max_size: store.maxRuns,
          hits: c.hits,
          misses: c.misses,
          incremental_updates: c.incremental_updates,
          hit_rate: all ? c.hits / all : 0.0,
          incremental_rate: all ? c.incremental_updates / all : 0.0,
          lines_parsed: c.lines_parsed,
          bytes_parsed: c.bytes_parsed,
          full_parses: c.full_parses,
          index_loads: c.index_loads,
          chunks_loaded: c.chunks_loaded,
          chunks_written: c.chunks_written,
          result_hits: c.result_hits,
          result_loads: c.result_loads,
          results_computed: c.results_computed,
          results_stored: c.results_stored,
          cached_chunks: store.cache.size,
          cache_bytes: store.cache.bytes,
          cache_max_bytes: store.cache.maxBytes,
          live_watched_runs: ctx.live.watchedCount,
        };
      },
      { detail: { summary: "Counters of the metric column store (the original's keys first)" } },
    )
    .get(
      "/api/runs/:run_id/series",
      async ({ params, query }) => {
        const opts = seriesOptions(query);
        const run = getLiveRun(ctx, params.run_id);
        const state = await ctx.metrics().sync(run.run_dir, "query", { partialAfterMs: PARTIAL_AFTER_MS });
        // full-range answers are kept (and stored) until the rows change; zoom windows are cheap to recompute
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (opts.keys?.some(isSystemKey)) {
          const own = { ...opts, keys: opts.keys.filter((k) => !isSystemKey(k)) };
          const body = await seriesWithSystem(ctx, run.run_dir, params.run_id, opts, () =>
            ctx.metrics().compute(() => buildSeries(state, params.run_id, own)),
          );
          return new Response(JSON.stringify(body), { headers });
        }
        const key = `series:${opts.x}:${opts.points}:${opts.mode}:${opts.keys?.join(",") ?? ""}:${opts.from ?? ""}:${opts.to ?? ""}:${opts.columns?.join(",") ?? ""}`;
        const r = await ctx.metrics().result(state, key, opts.from === undefined && opts.to === undefined, () => {
          const body = JSON.stringify(buildSeries(state, params.run_id, opts));
          return { body, rowCount: 0, total: 0, lastStep: null };
        });
        if (r.partial !== undefined) headers["x-partial"] = r.partial.toFixed(3);
        return new Response(r.body, { headers });
      },
      {
        query: t.Object(seriesQuery),
        detail: {
          summary: "Columnar series for charts: one shared x array, one array per key (null where a key kept no point)",
          description:
            "Each key is downsampled on its own (LTTB or min/max) with its first, last, minimum and maximum kept; from/to zoom in at full resolution when the window holds no more than `points` rows.",
        },
      },
    )
    .get(
      "/api/compare/series",
      async ({ query }) => {
        // issue 16: run_ids (with group_by, agg, key) asks for the grouped, aggregated form
        if (query.run_ids !== undefined || query.group_by !== undefined || query.agg !== undefined) return groupedSeries(ctx, query);
        const ids = listParam(query.runs);
        if (!ids) throw new HttpError(422, [{ type: "missing", loc: ["query", "runs"], msg: "Field required", input: null }]);
        if (ids.length > MAX_COMPARE_RUNS) throw new HttpError(400, `Cannot compare more than ${MAX_COMPARE_RUNS} runs at once`);
        const opts = seriesOptions(query);
        const runs: Record<string, SeriesBody> = {};
        const missing: string[] = [];
        for (const id of ids) {
          const run = ctx.runs.findRun(id);
          if (!run) {
            missing.push(id);
            continue;
          }
          const state = await ctx.metrics().sync(run.run_dir);
          const own = { ...opts, keys: opts.keys?.filter((k) => !isSystemKey(k)) };
          runs[id] = await seriesWithSystem(ctx, run.run_dir, id, opts, () => ctx.metrics().compute(() => buildSeries(state, id, own)));
        }
        return { runs, missing };
      },
      {
        query: t.Object({ runs: t.Optional(t.String({ description: "Comma-separated run ids" })), ...seriesQuery, ...groupedSeriesQuery }),
        detail: {
          summary: "Series of several runs (same options as /series); unknown runs are listed in `missing`",
          description:
            "With run_ids=…&key=… (group_by, agg): the runs grouped by field values and one metric aggregated per group (mean, std, min, max, count), aligned on steps and downsampled to `points` (docs/ANALYSIS.md).",
        },
      },
    )
    .get(
      "/api/runs/:run_id/keys",
      async ({ params }) => {
        const state = await syncedRun(ctx, params.run_id);
        const sys = await systemState(ctx, state.runDir);
        return mergeKeys(buildKeys(state, params.run_id), sys ? buildKeys(sys, params.run_id) : null);
      },
      { detail: { summary: "Metric keys with count, numeric flag, min/max/last; stage segments; step count" } },
    )
    .get(
      "/api/runs/:run_id/images",
      async ({ params }) => {
        const store = ctx.metrics();
        const state = await syncedRun(ctx, params.run_id);
        const id = encodeURIComponent(params.run_id);
        return {
          images: (await store.images(state)).map((img) => {
            const m = /^media\/([^/\\]+)$/.exec(img.path);
            return { ...img, url: m ? `/api/runs/${id}/media/${encodeURIComponent(m[1])}` : null };
          }),
        };
      },
      { detail: { summary: "Image events of the run (key, step, caption, media path and URL, ts)" } },
    )
    .get(
      "/api/runs/:run_id/media/:file",
      ({ params, request }) => {
        const run = getLiveRun(ctx, params.run_id);
        const path = mediaFile(run.run_dir, params.file);
        if (!path) throw new HttpError(404, "File not found");
        const type = IMAGE_TYPES[extname(path).toLowerCase()] ?? "application/octet-stream";
        const headers: Record<string, string> = { "content-type": type, "x-content-type-options": "nosniff" };
        if (type === "image/svg+xml") headers["content-security-policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox";
        return fileResponse(request, openForClient(ctx.root(), path), headers);
      },
      { detail: { summary: "A file of the run's media/ folder (images logged with log_image)" } },
    )
    .ws("/api/runs/:run_id/logs/ws", {
      detail: { summary: "Live log lines as text frames (spec §3.4): the last 10,000 lines, then new ones" },
      open(ws) {
        const id = (ws.data as { params: { run_id: string } }).params.run_id;
        const live = ctx.live;
        let idle: ReturnType<typeof setTimeout> | undefined;
        const armIdle = () => {
          if (idle) clearTimeout(idle);
          idle = setTimeout(() => {
            ws.send("[info] Connection timeout after 1 hour of inactivity");
            ws.close();
          }, LOG_WS_IDLE_MS);
        };
        let waiting = false;
        const unsub = live.watch(id, {
          logs: (lines) => {
            for (const line of lines) ws.send(line);
            armIdle();
          },
          logsAvailable: () => {
            if (waiting) ws.send("[info] Logs are now available, streaming...");
            waiting = false;
          },
        });
        if (!unsub) {
          ws.send("[error] run not found");
          ws.close();
          return;
        }
        const info = live.logTailInfo(id, LOG_WS_LINES)!;
        if (!info.exists) {
          waiting = true;
          ws.send("[info] No logs available yet. Waiting for logs to be created...");
        } else {
          if (info.more) ws.send(`[info] Showing last ${LOG_WS_LINES} lines. Full log file: logs.txt`);
          for (const line of info.lines) ws.send(line);
        }
        armIdle();
        conns.set(ws.raw, { subs: new Map([[id, unsub]]), cleanup: [() => idle && clearTimeout(idle)] });
      },
      close(ws) {
        closeConn(conns, ws.raw);
      },
    })
    .ws("/api/live", {
      detail: { summary: "Live push: subscribe to runs for new metric rows, log lines and status; or to run-list changes" },
      open(ws) {
        conns.set(ws.raw, { subs: new Map() });
      },
      message(ws, message) {
        const conn = conns.get(ws.raw);
        if (!conn) return;
        const send = (obj: unknown): void => {
          ws.send(JSON.stringify(obj));
        };
        const msg = parseMessage(message);
        if (!msg) return send({ type: "error", message: "messages must be JSON objects with an op" });
        const ids = msg.run_ids;
        switch (msg.op) {
          case "subscribe": {
            if (!Array.isArray(ids) || !ids.every((x) => typeof x === "string")) {
              return send({ type: "error", message: "subscribe needs run_ids: a list of run ids" });
            }
            const logs = msg.logs === true;
            const tail = typeof msg.logs_tail === "number" && msg.logs_tail > 0 ? Math.min(LOG_WS_LINES, Math.floor(msg.logs_tail)) : 0;
            for (const id of ids as string[]) {
              if (conn.subs.size >= MAX_LIVE_RUNS && !conn.subs.has(id)) {
                send({ type: "error", message: `cannot subscribe to more than ${MAX_LIVE_RUNS} runs` });
                break;
              }
              conn.subs.get(id)?.();
              conn.subs.delete(id);
              const unsub = ctx.live.watch(
                id,
                {
                  metrics: (rows: LiveRow[], info) => {
                    const out: Record<string, unknown> = { type: "metrics", run_id: id, rows };
                    if (info.reset) out.reset = true;
                    if (info.truncated) out.truncated = true;
                    send(out);
                  },
                  system: (rows: LiveRow[], info) => {
                    const out: LiveSystemMessage = { type: "system", run_id: id, rows };
                    if (info.reset) out.reset = true;
                    if (info.truncated) out.truncated = true;
                    send(out);
                  },
                  logs: logs ? (lines) => send({ type: "logs", run_id: id, lines }) : undefined,
                  status: (status) => send({ type: "status", run_id: id, status }),
                },
                { logTail: logs ? tail : 0 },
              );
              if (unsub) conn.subs.set(id, unsub);
              else send({ type: "error", message: `run not found: ${id}` });
            }
            return;
          }
          case "unsubscribe": {
            if (!Array.isArray(ids)) return send({ type: "error", message: "unsubscribe needs run_ids: a list of run ids" });
            for (const id of ids) {
              if (typeof id !== "string") continue;
              conn.subs.get(id)?.();
              conn.subs.delete(id);
            }
            return;
          }
          case "subscribe_runs": {
            if (conn.runsUnsub) return;
            conn.runChanges = new Map();
            conn.runsUnsub = ctx.live.watchRuns((c) => {
              // coalesce bursts (every append is an "updated") into one message per run per 200 ms
              const prev = conn.runChanges!.get(c.id);
              conn.runChanges!.set(c.id, prev === "added" && c.kind === "updated" ? "added" : c.kind);
              conn.flush ??= setTimeout(() => {
                conn.flush = undefined;
                for (const [run_id, kind] of conn.runChanges!) send({ type: "run_changed", run_id, kind });
                conn.runChanges!.clear();
              }, 200);
            });
            return;
          }
          case "unsubscribe_runs": {
            conn.runsUnsub?.();
            conn.runsUnsub = undefined;
            return;
          }
          default:
            return send({ type: "error", message: `unknown op: ${String(msg.op)}` });
        }
      },
      close(ws) {
        closeConn(conns, ws.raw);
      },
    });
}

function closeConn(conns: WeakMap<object, LiveConn>, key: object): void {
  const conn = conns.get(key);
  if (!conn) return;
  for (const unsub of conn.subs.values()) unsub();
  conn.subs.clear();
  conn.runsUnsub?.();
  for (const fn of conn.cleanup ?? []) fn();
  if (conn.flush) clearTimeout(conn.flush);
  conns.delete(key);
}

function parseMessage(message: unknown): Record<string, unknown> | undefined {
  let m = message;
  if (typeof m === "string") {
    try {
      m = JSON.parse(m);
    } catch {
      return undefined;
    }
  } else if (m instanceof Uint8Array || m instanceof ArrayBuffer) return undefined;
  if (m === null || typeof m !== "object" || Array.isArray(m)) return undefined;
  if (typeof (m as Record<string, unknown>).op !== "string") return undefined;
  return m as Record<string, unknown>;
}
