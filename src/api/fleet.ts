// Fleet mode (issue 18): one API over several hosts' viewers — the merged run list, per-run routing, live relay, compare, GPU/system of every host, GET /api/fleet.
import { Elysia, t } from "elysia";
import type { Fleet, FleetChange } from "../fleet/fleet.ts";
import { compareSql, type FleetItem, isFleetSortKey, listItem, queryMerged } from "../fleet/merge.ts";
import { forward, getJsonFrom, rewriteIds } from "../fleet/proxy.ts";
import { failureReason, UNAUTHORIZED, type Upstream } from "../fleet/upstream.ts";
import { HttpError } from "./errors.ts";
import { parseBoolQuery } from "./params.ts";
import { headerSafe, RUN_LIST_QUERY } from "./runs.ts";
import type { FleetAnswer } from "../wire/fleet.ts";
import { FilterSyntaxError, type FilterNode, filterFields, MAX_FILTER_LENGTH, parseFilter } from "../analysis/filter.ts";
import { isSortKey } from "../index/run-queries.ts";
import { filterToString, includeForSort, itemSortValue, mergeableSort, specialiseForHost } from "../fleet/fleet-filter.ts";
import { buildTree } from "./paths.ts";

/** Hosts slower than this are left out of a fan-out answer (and named in it) instead of delaying it. */
const FAN_OUT_TIMEOUT_MS = 2000;
const MAX_COMPARE_RUNS = 100;
const MAX_LIVE_RUNS = 200;
/** The largest `limit` a host's run list takes (RUN_LIST_QUERY). */
const MAX_HOST_LIMIT = 100_000;

/** A page's socket to one host, with what the page sent before it opened. */
interface HostRelay {
  ws: WebSocket;
  queue: string[];
}

interface PageConn {
  hosts: Map<Upstream, HostRelay>;
  runsUnsub?: () => void;
  flush?: ReturnType<typeof setTimeout>;
  changes?: Map<string, string>;
}

/** The routes that replace the single-root run, metrics, export and system features in fleet mode. */
export function fleetRoutes(fleet: Fleet) {
  const pages = new WeakMap<object, PageConn>();
  const logSockets = new WeakMap<object, WebSocket>();
  return new Elysia({ name: "fleet" })
    .get(
      "/api/fleet",
      (): FleetAnswer => ({
        hosts: fleet.hosts.map((h) => ({
          host: h.label,
          slug: h.slug,
          url: h.spec.baseUrl,
          state: h.state,
          reason: h.reason,
          since: h.since,
          latency_ms: h.online ? h.latencyMs : null,
          attempts: h.attempts,
          next_retry_at: h.nextRetryAt,
          runs: h.online ? h.runs.length : 0,
          running: h.online ? h.runs.filter((r) => r.status === "running").length : 0,
          server_version: h.version,
          gpu: h.online ? h.gpu : null,
          index_state: h.online ? h.indexState : null,
          index_progress: h.online ? h.indexProgress : null,
        })),
        total_runs: fleet.items().length,
      }),
      { detail: { summary: "Fleet hosts: state (connecting, online, offline with reason, reconnecting), latency, run counts, GPU summary" } },
    )
    .get(
      "/api/runs",
      async ({ query, set }) => {
        if (query.sort !== undefined && !isFleetSortKey(query.sort) && !isSortKey(query.sort)) throw new HttpError(400, `Unsupported sort key: ${query.sort}`);
        set.headers["content-type"] = "application/json";
        // a host still building its first index lists part of its runs: say so, as a single host does (issue 13)
        const index = fleet.indexState();
        set.headers["x-index-state"] = index.state;
        set.headers["x-index-progress"] = index.progress;
        const include = (query.include ?? "").split(",").map((s) => s.trim()).filter(Boolean);
        const includeSummary = include.includes("summary");
        const hosts = query.host ? query.host.split(",").map((s) => s.trim()).filter(Boolean) : undefined;
        const filterText = query.filter?.trim() ? query.filter : undefined;
        // a filter, a sort on a value the cached items lack, or include=config… : ask the hosts (docs/FLEET.md)
        if (filterText !== undefined || (query.sort !== undefined && !isFleetSortKey(query.sort)) || include.some((i) => i !== "summary")) {
          const out = await fanOutList(fleet, { ...query, filterText, hosts, include });
          set.headers["x-total-count"] = String(out.total);
          if (out.unknown.length) set.headers["x-unknown-fields"] = out.unknown.join(", ");
          if (out.unavailable.length) set.headers["x-fleet-unavailable"] = headerSafe(out.unavailable.join(", "));
          return JSON.stringify(out.items);
        }
        const plain = [query.limit, query.offset, query.sort, query.status, query.path, query.q, query.host].every((v) => v === undefined || v === "");
        if (plain && !includeSummary) {
          set.headers["x-total-count"] = String(fleet.items().length);
          return fleet.itemsJson();
        }
        const { items, total } = queryMerged(fleet.items(), {
          limit: query.limit,
          offset: query.offset,
          sort: query.sort,
          order: query.order,
          status: query.status ? query.status.split(",").map((s) => s.trim()).filter(Boolean) : undefined,
          path: query.path,
          q: query.q,
          hosts,
        });
        set.headers["x-total-count"] = String(total);
        return JSON.stringify(items.map((r) => listItem(r, includeSummary)));
      },
      {
        query: t.Object({
          ...RUN_LIST_QUERY,
          filter: t.Optional(t.String({ maxLength: MAX_FILTER_LENGTH })),
          host: t.Optional(t.String({ maxLength: 1024, description: "Only runs of these hosts (comma-separated labels)" })),
        }),
        detail: {
          summary: "Runs of every online host, each with `host`; ids qualified as `<host>--<id>` only where hosts share an id",
          description:
            "filter=EXPR is sent to every host (comparisons on `host`, the fleet label, are evaluated here and left out); the answers are merged, sorted by any filter field across hosts and paged; X-Total-Count counts all hosts; X-Unknown-Fields names the fields no run of any answering host has; X-Fleet-Unavailable names hosts that did not answer in time.",
        },
      },
    )
    .get("/api/stats/runs", () => {
      const counts = { total: 0, running: 0, finished: 0, failed: 0, other: 0 };
      for (const r of fleet.items()) {
        counts.total++;
        const s = r.status;
        if (s === "running" || s === "finished" || s === "failed") counts[s]++;
        else counts.other++;
      }
      return counts;
    })
    .get("/api/paths", ({ query }) => mergedPaths(fleet, parseBoolQuery(query.include_stats, "include_stats")), {
      query: t.Object({ include_stats: t.Optional(t.String()) }),
      detail: { summary: "Every run path of every online host, as a list and a tree; with include_stats=true, counts per path" },
    })
    .get("/api/paths/tree", () => ({ tree: buildTree([...new Set(fleet.items().map((r) => String(r.path ?? "")))].sort()) }))
    .get("/api/runs/:run_id", ({ params, request }) => routed(fleet, params.run_id, request, 3))
    .patch("/api/runs/:run_id", ({ params, request, body }) => routed(fleet, params.run_id, request, 3, body))
    .get("/api/runs/:run_id/*", ({ params, request }) => routed(fleet, params.run_id, request, 3))
    .get("/api/environment/:run_id", ({ params, request }) => routed(fleet, params.run_id, request, 3))
    .get("/api/export/:run_id/*", ({ params, request }) => routed(fleet, params.run_id, request, 3))
    .get(
      "/api/compare/series",
      async ({ query, request }) => {
        const ids = (query.runs ?? "").split(",").map((s) => s.trim()).filter(Boolean);
        if (ids.length === 0) throw new HttpError(422, [{ type: "missing", loc: ["query", "runs"], msg: "Field required", input: null }]);
        if (ids.length > MAX_COMPARE_RUNS) throw new HttpError(400, `Cannot compare more than ${MAX_COMPARE_RUNS} runs at once`);
        const missing: string[] = [];
        const byHost = new Map<Upstream, { runId: string; fleetId: string }[]>();
        for (const id of ids) {
          try {
            const r = fleet.resolve(id);
            const list = byHost.get(r.up) ?? [];
            list.push({ runId: r.runId, fleetId: id });
            byHost.set(r.up, list);
          } catch (e) {
            if (!(e instanceof HttpError)) throw e;
            missing.push(id);
          }
        }
        const params = new URL(request.url).searchParams;
        const runs: Record<string, unknown> = {};
        await Promise.all(
          [...byHost].map(async ([up, list]) => {
            params.set("runs", list.map((x) => x.runId).join(","));
            const got = await getJsonFrom(up, `/api/compare/series?${params}`, FAN_OUT_TIMEOUT_MS * 5);
            if (!got.ok) {
              if (/HTTP (4|5)/.test(got.reason)) throw new HttpError(502, `Host ${up.label}: ${got.reason}`);
              missing.push(...list.map((x) => x.fleetId));
              return;
            }
            const body = got.body as { runs?: Record<string, unknown>; missing?: string[] };
            for (const x of list) {
              if (body.runs && x.runId in body.runs) runs[x.fleetId] = rewriteIds(body.runs[x.runId], x.runId, x.fleetId);
              else missing.push(x.fleetId);
            }
          }),
        );
        return { runs: Object.fromEntries(ids.filter((id) => id in runs).map((id) => [id, runs[id]])), missing };
      },
      { detail: { summary: "Series of several runs on any hosts (same options as /series); unknown or unreachable runs in `missing`" } },
    )
    .get("/api/gpu/telemetry", async () => {
      const answers = await fanOut(fleet, "/api/gpu/telemetry");
      const gpus: unknown[] = [];
      const processes: unknown[] = [];
      const hosts = answers.map(({ up, got }) => {
        const tel = (got.ok ? got.body : undefined) as { available?: boolean; reason?: string; gpus?: object[]; processes?: object[] } | undefined;
        for (const g of tel?.gpus ?? []) gpus.push({ ...g, host: up.label });
        for (const p of tel?.processes ?? []) processes.push({ ...p, host: up.label });
        return { host: up.label, available: !!tel?.available, reason: got.ok ? (tel?.reason ?? null) : got.reason };
      });
      if (gpus.length === 0) return { available: false, reason: hosts.map((h) => `${h.host}: ${h.reason ?? "no GPU"}`).join("; ") || "no host online", hosts };
      return { available: true, ts: Date.now() / 1000, gpus, processes, hosts, source: "fleet" };
    })
    .get("/api/system/monitor", () => perHost(fleet, "/api/system/monitor"))
    .get("/api/system/temperatures", () => perHost(fleet, "/api/system/temperatures"))
    .get("/api/storage/stats", () => perHost(fleet, "/api/storage/stats"))
    .get("/api/gpu/history", ({ request }) => perHost(fleet, `/api/gpu/history${new URL(request.url).search}`, "gpus"))
    .ws("/api/runs/:run_id/logs/ws", {
      open(ws) {
        const id = (ws.data as { params: { run_id: string } }).params.run_id;
        let run;
        try {
          run = fleet.resolve(id);
        } catch (e) {
          ws.send(`[error] ${e instanceof HttpError ? String(e.detail) : "run not found"}`);
          ws.close();
          return;
        }
        const up = run.up.socketTo(`/api/runs/${encodeURIComponent(run.runId)}/logs/ws`);
        logSockets.set(ws.raw, up);
        up.onmessage = (ev) => ws.send(typeof ev.data === "string" ? ev.data : String(ev.data));
        up.onclose = () => ws.close();
        up.onerror = () => ws.send(`[error] host ${run.up.label} closed the log stream`);
      },
      close(ws) {
        logSockets.get(ws.raw)?.close();
        logSockets.delete(ws.raw);
      },
    })
    .ws("/api/live", {
      open(ws) {
        pages.set(ws.raw, { hosts: new Map() });
      },
      message(ws, message) {
        const conn = pages.get(ws.raw);
        if (!conn) return;
        const send = (obj: unknown) => ws.send(JSON.stringify(obj));
        const msg = (typeof message === "string" ? safeParse(message) : message) as Record<string, unknown> | undefined;
        if (!msg || typeof msg !== "object" || Array.isArray(msg) || typeof msg.op !== "string") return send({ type: "error", message: "messages must be JSON objects with an op" });
        switch (msg.op) {
          case "subscribe":
          case "unsubscribe": {
            const ids = msg.run_ids;
            if (!Array.isArray(ids) || !ids.every((x) => typeof x === "string")) return send({ type: "error", message: `${msg.op} needs run_ids: a list of run ids` });
            if (msg.op === "subscribe" && ids.length > MAX_LIVE_RUNS) return send({ type: "error", message: `cannot subscribe to more than ${MAX_LIVE_RUNS} runs` });
            const byHost = new Map<Upstream, string[]>();
            for (const id of ids as string[]) {
              try {
                const r = fleet.resolve(id);
                byHost.set(r.up, [...(byHost.get(r.up) ?? []), r.runId]);
              } catch {
                if (msg.op === "subscribe") send({ type: "error", message: `run not found: ${id}` });
              }
            }
            for (const [up, runIds] of byHost) relayTo(conn, up, send).send({ ...msg, run_ids: runIds });
            return;
          }
          case "subscribe_runs": {
            if (conn.runsUnsub) return;
            conn.changes = new Map();
            conn.runsUnsub = fleet.onChange((changes: FleetChange[]) => {
              for (const c of changes) conn.changes!.set(c.run_id, c.kind);
              conn.flush ??= setTimeout(() => {
                conn.flush = undefined;
                for (const [run_id, kind] of conn.changes!) send({ type: "run_changed", run_id, kind });
                conn.changes!.clear();
              }, 100);
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
        const conn = pages.get(ws.raw);
        if (!conn) return;
        conn.runsUnsub?.();
        if (conn.flush) clearTimeout(conn.flush);
        for (const h of conn.hosts.values()) h.ws.close();
        pages.delete(ws.raw);
      },
    });

  /** The page's socket to a host (opened on first use); host messages come back with fleet ids. */
  function relayTo(conn: PageConn, up: Upstream, send: (obj: unknown) => void): { send(obj: unknown): void } {
    let relay = conn.hosts.get(up);
    if (!relay) {
      const ws = up.socketTo("/api/live");
      const r: HostRelay = { ws, queue: [] };
      relay = r;
      conn.hosts.set(up, r);
      ws.onopen = () => {
        for (const m of r.queue.splice(0)) ws.send(m);
      };
      ws.onmessage = (ev) => {
        const m = typeof ev.data === "string" ? (safeParse(ev.data) as Record<string, unknown> | undefined) : undefined;
        if (!m) return;
        if (typeof m.run_id === "string") m.run_id = fleet.fleetId(up, m.run_id);
        send(m);
      };
      ws.onclose = () => {
        // the host left; the next subscribe opens a new socket
        if (conn.hosts.get(up) === r) conn.hosts.delete(up);
      };
    }
    const r = relay;
    return {
      send: (obj) => {
        const text = JSON.stringify(obj);
        if (r.ws.readyState === WebSocket.OPEN) r.ws.send(text);
        else r.queue.push(text);
      },
    };
  }
}

type PathStat = { total: number; running: number; finished: number; failed: number };

/** `/api/paths` over the merged list (the list's `path` of each run), with the single-host answer's shape. */
function mergedPaths(fleet: Fleet, withStats: boolean) {
  const leaves = [...new Set(fleet.items().map((r) => String(r.path ?? "")))].filter(Boolean).sort();
  const tree = buildTree(leaves);
  if (!withStats) return { paths: leaves, tree };
  const stats: Record<string, PathStat> = {};
  for (const r of fleet.items()) {
    const segs = String(r.path ?? "").split("/").filter(Boolean);
    for (let i = segs.length; i >= 1; i--) {
      const s = (stats[segs.slice(0, i).join("/")] ??= { total: 0, running: 0, finished: 0, failed: 0 });
      s.total++;
      if (r.status === "running" || r.status === "finished" || r.status === "failed") s[r.status]++;
    }
  }
  return { paths: Object.keys(stats).sort(), tree, stats };
}

/** Forwards a per-run request: the id segment at `segment` of the path is resolved and replaced by the host's id. */
async function routed(fleet: Fleet, id: string, request: Request, segment: number, body?: unknown): Promise<Response> {
  const run = fleet.resolve(id);
  const url = new URL(request.url);
  const parts = url.pathname.split("/");
  parts[segment] = encodeURIComponent(run.runId);
  return forward(run, request.method, parts.join("/") + url.search, request, body);
}

/**
 * A system answer of every host: `hosts: [{host, …its answer}]`, and the first answering host's fields at
 * the top level for the single-host page (its `listKey` items also carry `host`).
 */
async function perHost(fleet: Fleet, path: string, listKey?: string) {
  const answers = await fanOut(fleet, path);
  const hosts = answers.map(({ up, got }) => (got.ok ? { host: up.label, ...(got.body as object) } : { host: up.label, available: false, reason: got.reason }));
  const first = answers.find((a) => a.got.ok);
  const top = { ...((first?.got.ok ? first.got.body : {}) as Record<string, unknown>) };
  if (first && listKey && Array.isArray(top[listKey])) top[listKey] = (top[listKey] as object[]).map((x) => ({ ...x, host: first.up.label }));
  return { ...top, hosts };
}

/** GETs a path from every online host at once; a host slower than the fan-out limit is reported, not awaited. */
async function fanOut(fleet: Fleet, path: string) {
  const online = fleet.hosts.filter((h) => h.online);
  return Promise.all(online.map(async (up) => ({ up, got: await getJsonFrom(up, path, FAN_OUT_TIMEOUT_MS) })));
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The list query of the fan-out path. */
interface FanOutQuery {
  filterText?: string;
  hosts?: string[];
  include: string[];
  limit?: number;
  offset?: number;
  sort?: string;
  order?: "asc" | "desc";
  status?: string;
  path?: string;
  q?: string;
}

/**
 * Asks every online host (of `hosts`, when given) for its runs matching the filter (with `host`
 * evaluated here), merges the answers, sorts them across hosts and pages the merged list. Each host
 * sorts its own answer and sends only the first offset+limit runs when the merged order can be
 * rebuilt from the items' values.
 */
async function fanOutList(fleet: Fleet, q: FanOutQuery): Promise<{ items: Record<string, unknown>[]; total: number; unknown: string[]; unavailable: string[] }> {
  let filter: FilterNode | undefined;
  if (q.filterText !== undefined) {
    try {
      filter = parseFilter(q.filterText);
    } catch (e) {
      if (e instanceof FilterSyntaxError) throw new HttpError(400, e.message);
      throw e;
    }
  }
  const wanted = q.hosts?.length ? new Set(q.hosts) : undefined;
  const mergeable = q.sort === undefined || mergeableSort(q.sort);
  const offset = q.offset ?? 0;
  const hostInclude = [...new Set([...q.include, ...includeForSort(q.sort)])];
  const asked = fleet.hosts.filter((h) => h.online && (!wanted || wanted.has(h.label)));
  const unavailable: string[] = [];
  // field name → answering hosts that were asked about it, and how many of them know no run with it
  const fieldAsked = new Map<string, { asked: number; unknown: number }>();
  const answers = await Promise.all(
    asked.map(async (up) => {
      const own = filter ? specialiseForHost(filter, up.label) : true;
      if (own === false) return { up, items: [] as FleetItem[], total: 0 };
      const params = new URLSearchParams();
      if (own !== true) params.set("filter", filterToString(own));
      for (const k of ["sort", "order", "status", "path", "q"] as const) if (q[k] !== undefined && q[k] !== "") params.set(k, String(q[k]));
      if (q.sort === "host") params.delete("sort");
      if (hostInclude.length) params.set("include", hostInclude.join(","));
      // a host sends only the runs that can reach the page (its list takes at most MAX_HOST_LIMIT at once)
      if (q.limit !== undefined && (mergeable || asked.length === 1) && offset + q.limit <= MAX_HOST_LIMIT) params.set("limit", String(offset + q.limit));
      try {
        const res = await fetch(`${up.spec.baseUrl}/api/runs?${params}`, { headers: up.headers(), signal: AbortSignal.any([AbortSignal.timeout(FAN_OUT_TIMEOUT_MS * 5), up.sessionSignal]) });
        const body = (await res.json().catch(() => undefined)) as unknown;
        if (res.status === 401) {
          // its token was refused: the host is offline "unauthorized" (never a 401 of ours: the browser would ask for our token)
          up.fail(UNAUTHORIZED);
          unavailable.push(`${up.label} (${UNAUTHORIZED})`);
          return undefined;
        }
        if (!res.ok) {
          const detail = body && typeof body === "object" && "detail" in body ? `: ${String((body as { detail: unknown }).detail)}` : "";
          if (res.status === 400) throw new HttpError(400, `Host ${up.label}${detail}`);
          unavailable.push(`${up.label} (HTTP ${res.status})`);
          return undefined;
        }
        if (!Array.isArray(body)) {
          unavailable.push(`${up.label} (not a run list)`);
          return undefined;
        }
        if (own !== true) {
          const unknown = new Set((res.headers.get("x-unknown-fields") ?? "").split(",").map((s) => s.trim()).filter(Boolean));
          for (const f of filterFields(own)) {
            const name = f.path.join(".");
            const c = fieldAsked.get(name) ?? { asked: 0, unknown: 0 };
            c.asked++;
            if (unknown.has(headerSafe(name))) c.unknown++;
            fieldAsked.set(name, c);
          }
        }
        const items = (body as Record<string, unknown>[])
          .filter((r) => r && typeof r === "object" && typeof r.id === "string")
          .map((r) => ({ ...r, id: fleet.fleetId(up, r.id as string), host: up.label }) as FleetItem);
        const total = Number(res.headers.get("x-total-count") ?? items.length);
        return { up, items, total: Number.isFinite(total) ? total : items.length };
      } catch (e) {
        if (e instanceof HttpError) throw e;
        unavailable.push(`${up.label} (${failureReason(e, FAN_OUT_TIMEOUT_MS * 5)})`);
        return undefined;
      }
    }),
  );
  let merged: FleetItem[] = [];
  let total = 0;
  for (const a of answers) {
    if (!a) continue;
    merged = merged.concat(a.items);
    total += a.total;
  }
  if (q.sort && mergeable) {
    const dir = q.order === "asc" ? 1 : -1;
    const sort = q.sort;
    // stable: equal keys keep host order, then each host's own order
    merged = merged
      .map((item, i) => ({ item, i, k: itemSortValue(item, sort) }))
      .sort((a, b) => dir * compareSql(a.k, b.k) || a.i - b.i)
      .map((x) => x.item);
  }
  const page = q.limit === undefined ? merged.slice(offset) : merged.slice(offset, offset + q.limit);
  // include only what was asked for: the parts added for sorting go
  const extra = hostInclude.filter((i) => !q.include.includes(i));
  const items = extra.length
    ? page.map((r) => {
        const copy: Record<string, unknown> = { ...r };
        for (const k of extra) delete copy[k];
        return copy;
      })
    : page;
  // a field is unknown when no run of any host asked about it has it (the single-host meaning, over the fleet)
  const unknown = [...fieldAsked].filter(([, c]) => c.asked > 0 && c.unknown === c.asked).map(([name]) => headerSafe(name));
  return { items, total, unknown, unavailable };
}
