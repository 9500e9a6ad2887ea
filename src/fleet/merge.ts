// The merged run list of a fleet: filter, sort and page over every online host's runs with the original list semantics.
import type { RunItem } from "./upstream.ts";

/** The list query of `GET /api/runs` (spec §3.2 plus our filters). */
export interface MergedQuery {
  limit?: number;
  offset?: number;
  sort?: string;
  order?: "asc" | "desc";
  status?: string[];
  path?: string;
  q?: string;
  /** Only runs of these hosts (labels). */
  hosts?: string[];
}

/** A merged item: the upstream's item with the fleet id and `host`; `summary` is kept for sorting and `include=summary`. */
export type FleetItem = RunItem & { host: string };

/** Sort keys whose values list items carry (`duration` is not among them: see docs/FLEET.md). */
const ITEM_SORT_KEYS = new Set(["host", "created_time", "id", "status", "path", "alias", "best_metric_value", "assets_count"]);

/** True for a sort key the merged list can order by. */
export function isFleetSortKey(sort: string): boolean {
  return ITEM_SORT_KEYS.has(sort) || sort === "duration" || /^summary\.[^\u0000]{1,200}$/.test(sort);
}

/** Filters, sorts and pages merged items as the single-host list does (SQLite order: null < numbers < text). */
export function queryMerged(items: FleetItem[], q: MergedQuery): { items: FleetItem[]; total: number } {
  let out = items;
  if (q.hosts?.length) {
    const wanted = new Set(q.hosts);
    out = out.filter((r) => wanted.has(r.host));
  }
  if (q.status?.length) {
    const wanted = new Set(q.status);
    out = out.filter((r) => wanted.has(String(r.status)));
  }
  if (q.path !== undefined && q.path !== "") {
    const p = q.path.replace(/^\/+|\/+$/g, "");
    out = out.filter((r) => {
      const path = String(r.path ?? "");
      return path === p || path.startsWith(p + "/");
    });
  }
  if (q.q) {
    const needle = q.q.toLowerCase();
    out = out.filter((r) =>
      [r.id, r.alias, r.tags === undefined ? undefined : JSON.stringify(r.tags), r.path].some(
        (v) => typeof v === "string" && v.toLowerCase().includes(needle),
      ),
    );
  }
  if (q.sort && q.sort !== "duration") {
    const key = sortValue(q.sort);
    const dir = q.order === "asc" ? 1 : -1;
    // a stable sort keeps each host's own order (its scan order) between equal keys
    out = out
      .map((item, i) => ({ item, i, k: key(item) }))
      .sort((a, b) => dir * compareSql(a.k, b.k) || a.i - b.i)
      .map((x) => x.item);
  }
  const total = out.length;
  const offset = q.offset ?? 0;
  const end = q.limit === undefined ? undefined : offset + q.limit;
  return { items: offset || end !== undefined ? out.slice(offset, end) : out, total };
}

function sortValue(sort: string): (r: FleetItem) => unknown {
  if (sort.startsWith("summary.")) {
    const k = sort.slice("summary.".length);
    return (r) => {
      const s = r.summary;
      return s && typeof s === "object" ? (s as Record<string, unknown>)[k] : undefined;
    };
  }
  return (r) => r[sort];
}

/** SQLite's ordering of JSON values: null/missing first, then numbers (booleans as 0/1), then text, then anything else. */
export function compareSql(a: unknown, b: unknown): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 1) return Number(a) - Number(b);
  if (ra === 2) return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0;
  if (ra === 3) {
    const sa = JSON.stringify(a);
    const sb = JSON.stringify(b);
    return sa < sb ? -1 : sa > sb ? 1 : 0;
  }
  return 0;
}

function rank(v: unknown): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === "number" || typeof v === "boolean") return 1;
  if (typeof v === "string") return 2;
  return 3;
}

/** An item as listed: without `summary` unless asked for. */
export function listItem(item: FleetItem, includeSummary: boolean): Record<string, unknown> {
  if (includeSummary) return item;
  const { summary: _summary, ...rest } = item;
  return rest;
}
