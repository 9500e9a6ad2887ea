// GET /api/runs in team mode: paging, sort (any filter field), status/path/q, the filter language compiled to
// PostgreSQL (filter-pg.ts), include=config,summary,metrics. Items are pre-serialised (team_run.list_json), so
// a page is one query of strings joined here; the whole list (what the UI asks for on every visit) is kept per
// replica while the database's list version is unchanged (WholeListCache).
import type { SQL } from "bun";
import { type FilterNode, filterFields } from "../analysis/filter.ts";
import { HttpError } from "../api/errors.ts";
import { compileFilterPg, PgQuery, teamFieldJson } from "./filter-pg.ts";

/** Sort keys that are list columns, and their SQL (whitelisted: never interpolated from the request). */
const SORTS: Record<string, string> = {
  created_time: "created_at",
  created_at: "created_at",
  id: "run_id",
  run_id: "run_id",
  status: "coalesce(nullif(status->>'status', ''), 'finished')",
  alias: "nullif(meta->>'alias', '')",
  path: "nullif(path, '')",
  updated_at: "updated_at",
};

export interface TeamListQuery {
  limit?: number;
  offset?: number;
  sort?: string;
  order?: "asc" | "desc";
  statuses?: string[];
  path?: string;
  q?: string;
  filter?: FilterNode;
  include: Set<string>;
}

export interface TeamListAnswer {
  body: string;
  total: number;
  /** Filter fields no live run has (config/summary/metric fields), or that do not exist. */
  unknown: string[];
}

const likeEscape = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * A sort key as SQL expressions, or a 400 when it names no field. A JSON field sorts as SQLite's json_extract
 * does in the file mode: missing and null first, then numbers (booleans as 1/0), then text (arrays and objects
 * as their JSON text).
 */
function sortSql(q: PgQuery, sort: string, now: number): string[] {
  if (sort in SORTS) return [SORTS[sort]];
  const path = sort.split(".");
  const f = path.every((k) => k !== "") && !sort.includes("\u0000") ? teamFieldJson(q, path, now) : undefined;
  if (f === undefined) throw new HttpError(400, `Unsupported sort key: ${sort}`);
  const type = `jsonb_typeof(${f})`;
  return [
    `(case when ${type} in ('number', 'boolean') then 1 when ${type} in ('string', 'array', 'object') then 2 end)`,
    `(case ${type} when 'number' then (${f} #>> '{}')::float8 when 'boolean' then (case when ${f} = 'true'::jsonb then 1 else 0 end) end)`,
    `(case ${type} when 'string' then ${f} #>> '{}' when 'array' then ${f}::text when 'object' then ${f}::text end) collate "C"`,
  ];
}

/**
 * One page of the list (or the whole of it), with the total before paging. With `items` (the replica's copy of the
 * list items), the query reads only run ids and item versions, about a tenth of the bytes of the items themselves.
 */
export async function teamRunList(sql: SQL, req: TeamListQuery, items?: ListItemCache, now = Date.now() / 1000): Promise<TeamListAnswer> {
  const q = new PgQuery();
  const unknownPaths: string[][] = [];
  const conds = ["deleted_at is null"];
  if (req.statuses?.length) conds.push(`coalesce(nullif(status->>'status', ''), 'finished') in (${req.statuses.map((s) => q.param(s)).join(", ")})`);
  if (req.path !== undefined && req.path !== "") conds.push(`(path = ${q.param(req.path)} or path like ${q.param(`${likeEscape(req.path)}/%`)})`);
  if (req.q) {
    const like = q.param(`%${likeEscape(req.q)}%`);
    conds.push(`(run_id ilike ${like} or path ilike ${like} or coalesce(meta->>'alias', '') ilike ${like})`);
  }
  if (req.filter) conds.push(`coalesce(${compileFilterPg(q, req.filter, now, (p) => unknownPaths.push(p))}, false)`);
  // the count query reads only the conditions' parameters (the sort keys' and paging's come after them)
  const whereParams = q.params.length;
  const dir = req.order === "asc" ? "asc" : "desc";
  // SQLite's order (the file mode): missing values first going up, last going down
  const nulls = dir === "asc" ? "nulls first" : "nulls last";
  // ties (and no sort at all) in the file mode's scan order: by path, then run id
  const keys = req.sort === undefined ? [] : sortSql(q, req.sort, now);
  const order = [...keys.map((k) => `${k} ${dir} ${nulls}`), `path collate "C"`, `run_id collate "C"`].join(", ");
  // include=: the stored objects appended to each pre-serialised item
  const included = ["config", "summary", "metrics"].filter((c) => req.include.has(c));
  const item = (prefix: string) =>
    included.length ? `left(${prefix}list_json, -1) || ${included.map((c) => `',"${c}":' || ${prefix}${c}::text`).join(" || ")} || '}'` : `${prefix}list_json`;
  const where = conds.join(" and ");
  const whole = req.limit === undefined && !req.offset;
  const page = whole ? "" : ` limit ${req.limit === undefined ? "all" : q.param(req.limit)} offset ${q.param(req.offset ?? 0)}`;
  const counted = () => (whole ? Promise.resolve(undefined) : (sql.unsafe(`select count(*)::int as n from team_run where ${where}`, q.params.slice(0, whereParams)) as Promise<{ n: number }[]>));
  let body: string;
  let found: number;
  let count: { n: number }[] | undefined;
  if (included.length || !items) {
    // the items come back as rows and are joined here: one big string_agg is several times slower in a fresh backend
    const [rows, c] = await Promise.all([sql.unsafe(`select ${item("")} from team_run where ${where} order by ${order}${page}`, q.params).values() as Promise<string[][]>, counted()]);
    body = `[${rows.map((r) => r[0]).join(",")}]`;
    found = rows.length;
    count = c;
  } else {
    // only ids and item versions cross the wire (a tenth of the bytes); the items come from this replica's copy
    const [ids, c] = await Promise.all([sql.unsafe(`select run_id, list_version::text from team_run where ${where} order by ${order}${page}`, q.params).values() as Promise<[string, string][]>, counted()]);
    const joined = await items.join(sql, ids);
    if (whole && conds.length === 1 && items.size > ids.length) items.keepOnly(ids.map(([id]) => id));
    body = joined.body;
    found = joined.count;
    count = c;
  }
  const total = count ? count[0].n : found;
  const unknown = new Set(unknownPaths.map((p) => p.join(".")));
  if (req.filter) {
    for (const ref of filterFields(req.filter)) {
      const name = ref.path.join(".");
      if (unknown.has(name) || !["config", "summary", "metric"].includes(ref.path[0])) continue;
      const fq = new PgQuery();
      const f = teamFieldJson(fq, ref.path, now);
      if (f === undefined) continue;
      const hit = (await sql.unsafe(`select exists (select 1 from team_run where deleted_at is null and ${f} is not null) as x`, fq.params)) as { x: boolean }[];
      if (!hit[0]?.x) unknown.add(name);
    }
  }
  return { body, total, unknown: [...unknown] };
}

/**
 * Per replica, each run's pre-serialised list item with the list_version it was read at. A list query names the
 * runs in order with their versions; an item not held, or held at another version, is read again (by id, in one
 * query), so an item is never older than the query that listed it. Runs that leave the list are dropped when a
 * whole, unfiltered list no longer names them.
 */
export class ListItemCache {
  private readonly items = new Map<string, { v: string; json: string }>();

  /** The JSON array of the items of `rows` ([run id, version], in order); a run deleted meanwhile is left out. */
  async join(sql: SQL, rows: [string, string][]): Promise<{ body: string; count: number }> {
    const stale: string[] = [];
    for (const [id, v] of rows) if (this.items.get(id)?.v !== v) stale.push(id);
    if (stale.length) {
      const got = (await sql`select run_id, list_version::text as v, list_json from team_run where run_id = any(${stale}::text[])`) as { run_id: string; v: string; list_json: string }[];
      for (const r of got) this.items.set(r.run_id, { v: r.v, json: r.list_json });
    }
    const out: string[] = [];
    for (const [id] of rows) {
      const it = this.items.get(id);
      if (it) out.push(it.json);
    }
    // one join: appending 10,000 items to a string one by one is about 5x slower (a rope flattened later)
    return { body: `[${out.join(",")}]`, count: out.length };
  }

  /** Forgets the items of runs a whole list (every live run) did not name. */
  keepOnly(ids: Iterable<string>): void {
    const keep = new Set(ids);
    for (const id of this.items.keys()) if (!keep.has(id)) this.items.delete(id);
  }

  get size(): number {
    return this.items.size;
  }
}

/**
 * The version of the whole run list: the highest list_version (bumped by every change to a list item or a
 * deletion) and the number of rows (a permanent delete removes one). Two cheap reads, no list.
 */
export async function listVersion(sql: SQL): Promise<string> {
  const rows = (await sql`select coalesce((select max(list_version) from team_run), 0)::text as v, (select count(*) from team_run)::text as n`) as { v: string; n: string }[];
  return `${rows[0].v}:${rows[0].n}`;
}

/**
 * The whole default list, kept per replica while the database's list version is unchanged and no NOTIFY said
 * otherwise (a change committed late under an earlier version number still invalidates it through its NOTIFY).
 */
export class WholeListCache {
  private gen = 0;
  private kept?: { gen: number; version: string; answer: TeamListAnswer };

  invalidate(): void {
    this.gen++;
    this.kept = undefined;
  }

  async get(version: () => Promise<string>, load: () => Promise<TeamListAnswer>): Promise<TeamListAnswer> {
    const gen = this.gen;
    const v = await version();
    if (this.kept && this.kept.gen === gen && this.gen === gen && this.kept.version === v) return this.kept.answer;
    const answer = await load();
    // a change noticed while the query ran may be missing from it: keep it only when none was
    if (gen === this.gen) this.kept = { gen, version: v, answer };
    return answer;
  }
}
