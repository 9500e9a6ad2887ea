// Read queries over the run table: the list with filters/sort/pagination, single rows, path statistics.
import { CompiledQuery, type Kysely, type SelectQueryBuilder, sql } from "kysely";
import type { FilterNode } from "../analysis/filter.ts";
import { compileFilter } from "../analysis/filter-sql.ts";
import { runFieldSql } from "../analysis/run-fields.ts";
import { hasRunFilterIndex, RUN_FILTER_INDEX } from "./migrations.ts";
import type { Database, RunTable } from "./schema.ts";

/** Filters and paging of `GET /api/runs` (all optional; none = the original's full list in scan order). */
export interface RunListQuery {
  limit?: number;
  offset?: number;
  sort?: string;
  order?: "asc" | "desc";
  status?: string[];
  /** Path prefix: runs whose path equals it or lies under it. */
  path?: string;
  /** Case-insensitive search in id, path, alias, tags and notes. */
  q?: string;
  /** A parsed filter expression (issue 16); unknown fields in it are reported to `onUnknownField`. */
  filter?: FilterNode;
  onUnknownField?: (path: string[]) => void;
  includeSummary?: boolean;
  includeConfig?: boolean;
  /** Adds `metrics` (metric.* fields per key; null while the run's metrics are not ingested). */
  includeMetrics?: boolean;
  deleted?: boolean;
}

/** Sortable columns of the list; `summary.<key>` sorts by a summary value. */
export const SORT_COLUMNS = [
  "created_time",
  "id",
  "status",
  "path",
  "alias",
  "best_metric_value",
  "duration",
  "assets_count",
] as const;

/** The list as a JSON array string plus the total before paging. */
export async function listRunsJson(db: Kysely<Database>, q: RunListQuery): Promise<{ json: string; total: number }> {
  // a filter is evaluated on the covering index of migration 0007 (a third of the table's bytes), walked in
  // list order, so a page fetches only the rows it shows; see `viaFilterIndex`
  let base = db.selectFrom("run").where("deleted", "=", q.deleted ? 1 : 0);
  if (q.status?.length) base = base.where("status", "in", q.status);
  if (q.path !== undefined && q.path !== "") {
    const p = q.path.replace(/^\/+|\/+$/g, "");
    base = base.where((eb) =>
      eb.or([
        eb(pathExpr(), "=", p),
        eb(sql<string>`substr(${pathExpr()}, 1, ${p.length + 1})`, "=", p + "/"),
      ]),
    );
  }
  if (q.q) {
    const like = `%${q.q.toLowerCase().replace(/[\\%_]/g, (c) => "\\" + c)}%`;
    base = base.where((eb) =>
      eb.or(
        (["id", "alias", "tags", "notes"] as const).map((c) => eb(sql`lower(${sql.ref(c)})`, "like", sql`${like} escape '\\'`)).concat([
          eb(sql`lower(${pathExpr()})`, "like", sql`${like} escape '\\'`),
        ]),
      ),
    );
  }
  if (q.filter) {
    const cond = compileFilter(q.filter, (p) => runFieldSql(p), q.onUnknownField);
    // as a WHERE term (not a value): SQLite splits a top-level AND and skips the later terms of a row that fails
    base = base.where(sql<boolean>`${cond}`);
  }
  const paged = q.limit !== undefined || q.offset !== undefined;
  // the covering index is missing only while a first index build runs (see dropRunFilterIndex)
  const covered = q.filter !== undefined && (await hasRunFilterIndex(db));
  if (q.filter && paged && q.sort) return filteredPage(db, base, q, covered);
  const filtered = paged || q.status?.length || q.path || q.q || q.filter;
  let total = -1;
  if (filtered) {
    const count = base.select((eb) => eb.fn.countAll<number>().as("n"));
    const r = covered ? (await viaFilterIndex(db, count)).rows[0] : await count.executeTakeFirst();
    total = Number(r?.n ?? 0);
  }
  const cols: ("list_json" | "summary" | "config")[] = ["list_json"];
  if (q.includeConfig) cols.push("config");
  if (q.includeSummary) cols.push("summary");
  let query = base.select(cols).$if(q.includeMetrics === true, (x) => x.select(sql<string | null>`metrics`.as("metrics")));
  const dir = q.order === "asc" ? "asc" : "desc";
  if (q.sort) query = query.orderBy(sortExpr(q.sort), dir).orderBy("order_key");
  else query = query.orderBy("order_key");
  if (q.limit !== undefined) query = query.limit(q.limit);
  if (q.offset !== undefined) query = query.offset(q.offset).$if(q.limit === undefined, (x) => x.limit(-1));
  type Row = { list_json: string; summary?: string; config?: string; metrics?: string | null };
  const rows = (covered ? (await viaFilterIndex(db, query)).rows : await query.execute()) as Row[];
  if (total < 0) total = rows.length;
  const items =
    q.includeSummary || q.includeConfig || q.includeMetrics
      ? rows.map(
          (r) =>
            r.list_json.slice(0, -1) +
            (q.includeConfig ? `,"config":${r.config ?? "{}"}` : "") +
            (q.includeSummary ? `,"summary":${r.summary ?? "{}"}` : "") +
            (q.includeMetrics ? `,"metrics":${r.metrics ?? "null"}` : "") +
            "}",
        )
      : rows.map((r) => r.list_json);
  return { json: "[" + items.join(",") + "]", total };
}

/** List items with the included objects appended (each item's JSON ends with `}`). */
function itemsJson(rows: { list_json: string; summary?: string; config?: string; metrics?: string | null }[], q: RunListQuery): string {
  const items =
    q.includeSummary || q.includeConfig || q.includeMetrics
      ? rows.map(
          (r) =>
            r.list_json.slice(0, -1) +
            (q.includeConfig ? `,"config":${r.config ?? "{}"}` : "") +
            (q.includeSummary ? `,"summary":${r.summary ?? "{}"}` : "") +
            (q.includeMetrics ? `,"metrics":${r.metrics ?? "null"}` : "") +
            "}",
        )
      : rows.map((r) => r.list_json);
  return "[" + items.join(",") + "]";
}

/**
 * A filtered page with its total in one scan of the table: the matching rows' rowid and sort values are
 * materialised once (the filter is evaluated once per row, not once for the count and again for the page),
 * then only the page's rows are read in full.
 */
async function filteredPage(
  db: Kysely<Database>,
  base: SelectQueryBuilder<Database, "run", {}>,
  q: RunListQuery,
  covered: boolean,
): Promise<{ json: string; total: number }> {
  const sortValue = q.sort ? sortExpr(q.sort) : sql`NULL`;
  const select = base.select([sql`rowid`.as("r"), "order_key", sortValue.as("s")]).compile();
  const matched = covered ? filterIndexed(select) : select;
  const dir = q.order === "asc" ? "ASC" : "DESC";
  const order = q.sort ? `m.s ${dir}, m.order_key` : "m.order_key";
  const cols = ["run.list_json", q.includeConfig ? "run.config" : "", q.includeSummary ? "run.summary" : "", q.includeMetrics ? "run.metrics" : ""]
    .filter(Boolean)
    .join(", ");
  // the page is cut from the matches before any run row is read: only its rows are fetched
  const text =
    `WITH m AS MATERIALIZED (${matched.sql}), p AS MATERIALIZED (SELECT * FROM m ORDER BY ${order} LIMIT ? OFFSET ?) ` +
    `SELECT (SELECT count(*) FROM m) AS total, ${cols} FROM p AS m JOIN run ON run.rowid = m.r ORDER BY ${order}`;
  const params = [...matched.parameters, q.limit ?? -1, q.offset ?? 0];
  const res = await db.executeQuery<{ total: number; list_json: string; summary?: string; config?: string; metrics?: string | null }>(
    CompiledQuery.raw(text, params),
  );
  let total = res.rows.length ? Number(res.rows[0].total) : -1;
  if (total < 0) {
    const count = base.select((eb) => eb.fn.countAll<number>().as("n"));
    const r = covered ? (await viaFilterIndex(db, count)).rows[0] : await count.executeTakeFirst();
    total = Number(r?.n ?? 0);
  }
  return { json: itemsJson(res.rows, q), total };
}

/**
 * Runs a query over `run` through the covering filter index (migration 0007): SQLite evaluates the filter
 * on the index entries and looks up a table row only for a match. Left to itself the planner walks the
 * (deleted, order_key) index and fetches every row at random to test it (400 ms for a page of a filter
 * matching 1,666 of 100,000 runs, 8 ms through the covering index).
 */
function viaFilterIndex<R>(db: Kysely<Database>, query: { compile(): CompiledQuery<R> }) {
  return db.executeQuery<R>(filterIndexed(query.compile()));
}

function filterIndexed<R>(c: CompiledQuery<R>): CompiledQuery<R> {
  const text = c.sql.replace(/ from "run"(?= |$)/, ` from "run" INDEXED BY "${RUN_FILTER_INDEX}"`);
  if (text === c.sql) throw new Error(`filter query without a run table to index: ${c.sql}`);
  return CompiledQuery.raw(text, [...c.parameters]) as CompiledQuery<R>;
}

/** The path shown in the list: meta.path when set, else the directory path (spec §3.2, §10.7). */
function pathExpr() {
  return sql<string>`coalesce(nullif(meta_path, ''), entry_path)`;
}

function sortExpr(sort: string) {
  if (sort === "path") return pathExpr();
  if (sort === "duration") return sql`coalesce(ended_at, ${Date.now() / 1000}) - started_at`;
  if (sort.startsWith("summary.")) {
    const key = sort.slice("summary.".length);
    return sql`json_extract(summary, ${"$." + JSON.stringify(key)})`;
  }
  if ((SORT_COLUMNS as readonly string[]).includes(sort)) return sql.ref(sort);
  // any filter field (`config.lr`, `created_at`, `host`); isSortKey vetted it
  return runFieldSql(sortFieldPath(sort))?.value ?? sql`NULL`;
}

/** A sort key as a field path: dots separate keys (`config.optim.lr`). */
function sortFieldPath(sort: string): string[] {
  return sort.split(".");
}

/** True for a sort key the list accepts: a list column, `summary.<key>`, or any filter field. */
export function isSortKey(sort: string): boolean {
  if ((SORT_COLUMNS as readonly string[]).includes(sort) || /^summary\.[^\u0000]{1,200}$/.test(sort)) return true;
  const path = sortFieldPath(sort);
  return !sort.includes("\u0000") && path.every((k) => k !== "") && runFieldSql(path) !== undefined;
}

/** False when `path` is a JSON field (config.x, summary.y, metric.k.min) that no live run has; plain fields always exist. */
export async function runFieldExists(db: Kysely<Database>, path: string[]): Promise<boolean> {
  const f = runFieldSql(path);
  if (!f || (path[0] !== "config" && path[0] !== "summary" && path[0] !== "metric")) return f !== undefined;
  const r = await db
    .selectFrom("run")
    .select(sql`1`.as("x"))
    .where("deleted", "=", 0)
    .where(sql<boolean>`${f.type} IS NOT NULL`, "=", sql<boolean>`1`)
    .limit(1)
    .executeTakeFirst();
  return r !== undefined;
}

/** Live runs whose metric.* fields are not stored yet (metrics IS NULL, through a partial index). */
export async function runsWithoutMetricFields(db: Kysely<Database>): Promise<string[]> {
  const rows = await db
    .selectFrom("run")
    .select("run_dir")
    .where("deleted", "=", 0)
    .where(sql<boolean>`metrics IS NULL`)
    .execute();
  return rows.map((r) => r.run_dir);
}

/** How many live runs have no metric.* fields stored yet. */
export async function countRunsWithoutMetricFields(db: Kysely<Database>): Promise<number> {
  const r = await db
    .selectFrom("run")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("deleted", "=", 0)
    .where(sql<boolean>`metrics IS NULL`)
    .executeTakeFirst();
  return Number(r?.n ?? 0);
}

/** One run's row by directory. */
export async function findRunRow(db: Kysely<Database>, runDir: string): Promise<RunTable | undefined> {
  return db.selectFrom("run").selectAll().where("run_dir", "=", runDir).executeTakeFirst();
}

/** Rows of live (or deleted) runs in scan order, with the columns the paths/projects endpoints need. */
export async function listRunRows(db: Kysely<Database>, deleted = false): Promise<RunTable[]> {
  return db.selectFrom("run").selectAll().where("deleted", "=", deleted ? 1 : 0).orderBy("order_key").execute();
}

/** Live runs whose directory path is `prefix` or lies under it (only `prefix` when exact), in scan order. */
export async function listRunRowsUnder(db: Kysely<Database>, prefix: string, exact: boolean): Promise<RunTable[]> {
  return db
    .selectFrom("run")
    .selectAll()
    .where("deleted", "=", 0)
    .where((eb) => (exact ? eb("entry_path", "=", prefix) : eb.or([eb("entry_path", "=", prefix), eb(sql<string>`substr(entry_path, 1, ${prefix.length + 1})`, "=", prefix + "/")])))
    .orderBy("order_key")
    .execute();
}

/** A run as a bulk export selects it: where it is and the path fields the selection reads. */
export type RunPlace = Pick<RunTable, "id" | "run_dir" | "entry_path" | "meta_path" | "deleted">;

/**
 * Runs whose path (the directory path, else meta.path: spec §3.5) is `path` or lies under it (every run
 * without one), soft-deleted ones only when asked, in scan order: only these columns, so a path of a few
 * runs in a root of 100,000 reads a few rows.
 */
export async function runPlacesUnder(db: Kysely<Database>, q: { path?: string; exact?: boolean; includeDeleted?: boolean }): Promise<RunPlace[]> {
  let query = db.selectFrom("run").select(["id", "run_dir", "entry_path", "meta_path", "deleted"]);
  if (!q.includeDeleted) query = query.where("deleted", "=", 0);
  const p = q.path?.replace(/^\/+|\/+$/g, "");
  if (p) {
    const path = sql<string>`coalesce(nullif(entry_path, ''), meta_path)`;
    query = query.where((eb) => (q.exact ? eb(path, "=", p) : eb.or([eb(path, "=", p), eb(sql<string>`substr(${path}, 1, ${p.length + 1})`, "=", p + "/")])));
  }
  return query.orderBy("order_key").execute();
}

/** Counts of live runs by status for the UI header. */
export async function runStatusCounts(db: Kysely<Database>): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom("run")
    .select(["status", (eb) => eb.fn.countAll<number>().as("n")])
    .where("deleted", "=", 0)
    .groupBy("status")
    .execute();
  const out: Record<string, number> = { total: 0, running: 0, finished: 0, failed: 0, interrupted: 0, other: 0 };
  for (const r of rows) {
    const n = Number(r.n);
    out.total += n;
    if (r.status === "running" || r.status === "finished" || r.status === "failed" || r.status === "interrupted") out[r.status] += n;
    else out.other += n;
  }
  return out;
}

/** Live runs still `running` whose heartbeat is older than `before` (epoch s): the stalled ones (src/wire/liveness.ts). */
export async function stalledRunDirs(db: Kysely<Database>, before: number): Promise<string[]> {
  return (await stalledRuns(db, before)).map((r) => r.run_dir);
}

/** The stalled runs (see stalledRunDirs) with their list order keys. */
export async function stalledRuns(db: Kysely<Database>, before: number): Promise<{ run_dir: string; order_key: string }[]> {
  return db
    .selectFrom("run")
    .select(["run_dir", "order_key"])
    .where("deleted", "=", 0)
    .where("status", "=", "running")
    .where("heartbeat_at", "<", before)
    .execute();
}

/**
 * The whole list's rows (live runs in list order) with order keys in [lo, hi), hi null for no end: the
 * whole-list cache reads the list, and later one changed stretch of it, through this.
 */
export async function wholeListRange(db: Kysely<Database>, lo: string, hi: string | null): Promise<{ order_key: string; list_json: string }[]> {
  return db
    .selectFrom("run")
    .select(["order_key", "list_json"])
    .where("deleted", "=", 0)
    .$if(lo !== "", (q) => q.where("order_key", ">=", lo))
    .$if(hi !== null, (q) => q.where("order_key", "<", hi!))
    .orderBy("order_key")
    .execute();
}

/** Per entry path and status: counts of live runs, in scan order of each group's first run (root-level runs have no path). */
export async function entryPathCounts(
  db: Kysely<Database>,
): Promise<{ entry_path: string; status: string; n: number; first_key: string }[]> {
  const rows = await db
    .selectFrom("run")
    .select(["entry_path", "status", (eb) => eb.fn.countAll<number>().as("n"), (eb) => eb.fn.min("order_key").as("first_key")])
    .where("deleted", "=", 0)
    .where("entry_path", "is not", null)
    .groupBy(["entry_path", "status"])
    .orderBy("first_key")
    .execute();
  return rows.map((r) => ({ entry_path: r.entry_path as string, status: r.status, n: Number(r.n), first_key: String(r.first_key) }));
}

/** Columns of the run table in the order the upsert binds them. */
const RUN_COLUMNS = [
  "run_dir", "id", "order_key", "layout", "entry_path", "meta_path", "alias", "tags", "status", "created_time",
  "started_at", "ended_at", "exit_reason", "pid", "hostname", "heartbeat_at", "best_metric_value", "best_metric_name",
  "summary", "assets_count", "deleted", "deleted_at", "delete_reason", "original_status", "stamp", "list_json",
  "config", "notes",
] as const satisfies readonly (keyof RunTable)[];
/** Binary JSON copies the filter reads (issue 16), written from their text columns in the same statement. */
const JSONB_COLUMNS = [
  ["config_b", "config"],
  ["summary_b", "summary"],
] as const;
/** Rows per statement (30 parameters each; SQLite allows 32,766). */
const UPSERT_ROWS = 256;
const upsertSql = new Map<number, string>();

/**
 * Inserts or replaces run rows. The statement text is built once per row count (not by the query builder
 * for every batch: that was a third of the index build's write time at 100k runs) and runs through
 * kysely's executor, so it takes the same connection lock as every other query.
 */
export async function upsertRunRows(db: Kysely<Database>, rows: RunTable[]): Promise<void> {
  for (let i = 0; i < rows.length; i += UPSERT_ROWS) {
    const batch = rows.slice(i, i + UPSERT_ROWS);
    let text = upsertSql.get(batch.length);
    if (!text) {
      const one = `(${[...RUN_COLUMNS.map(() => "?"), ...JSONB_COLUMNS.map(() => "jsonb(?)")].join(",")})`;
      const cols = [...RUN_COLUMNS, ...JSONB_COLUMNS.map(([b]) => b)];
      text =
        `insert into "run" (${cols.map((c) => `"${c}"`).join(",")}) values ${Array(batch.length).fill(one).join(",")} ` +
        `on conflict ("run_dir") do update set ${cols.slice(1).map((c) => `"${c}" = excluded."${c}"`).join(",")}`;
      upsertSql.set(batch.length, text);
    }
    const params: unknown[] = [];
    for (const r of batch) {
      for (const c of RUN_COLUMNS) params.push(r[c]);
      for (const [, c] of JSONB_COLUMNS) params.push(r[c]);
    }
    // CompiledQuery.raw freezes its parameter array, which costs more than the insert for thousands of values
    await db.executeQuery({ ...CompiledQuery.raw(text, []), parameters: params });
  }
}

/** Deletes the rows of these run directories. */
export async function deleteRunRows(db: Kysely<Database>, runDirs: string[]): Promise<void> {
  for (let i = 0; i < runDirs.length; i += 500) {
    await db.deleteFrom("run").where("run_dir", "in", runDirs.slice(i, i + 500)).execute();
  }
}
