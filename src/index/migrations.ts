// Schema migrations, frozen in time and listed in code (a compiled binary has no migrations folder).
import { type Kysely, sql } from "kysely";

/** One forward migration; never edit a migration that has shipped, add a new one. */
export interface Migration {
  name: string;
  up(db: Kysely<any>): Promise<void>;
}

/** Every migration in order. */
export const MIGRATIONS: Migration[] = [
  {
    name: "0001_runs",
    async up(db) {
      await db.schema
        .createTable("run")
        .addColumn("run_dir", "text", (c) => c.primaryKey())
        .addColumn("id", "text", (c) => c.notNull())
        .addColumn("order_key", "text", (c) => c.notNull())
        .addColumn("layout", "text", (c) => c.notNull())
        .addColumn("entry_path", "text")
        .addColumn("meta_path", "text")
        .addColumn("alias", "text")
        .addColumn("tags", "text", (c) => c.notNull().defaultTo("[]"))
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("created_time", "real")
        .addColumn("started_at", "real")
        .addColumn("ended_at", "real")
        .addColumn("exit_reason", "text")
        .addColumn("pid", "integer")
        .addColumn("hostname", "text")
        .addColumn("heartbeat_at", "real")
        .addColumn("best_metric_value", "real")
        .addColumn("best_metric_name", "text")
        .addColumn("summary", "text", (c) => c.notNull().defaultTo("{}"))
        .addColumn("assets_count", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("deleted", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("deleted_at", "real")
        .addColumn("delete_reason", "text")
        .addColumn("original_status", "text")
        .addColumn("stamp", "text", (c) => c.notNull())
        .addColumn("list_json", "text", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("run_id_idx").on("run").column("id").execute();
      await db.schema.createIndex("run_order_idx").on("run").columns(["deleted", "order_key"]).execute();
      await db.schema.createIndex("run_entry_path_idx").on("run").column("entry_path").execute();
      await db.schema.createIndex("run_status_idx").on("run").column("status").execute();
      await db.schema.createIndex("run_created_idx").on("run").columns(["deleted", "created_time"]).execute();
      await db.schema.createIndex("run_path_status_idx").on("run").columns(["deleted", "entry_path", "status"]).execute();
      await db.schema
        .createTable("index_state")
        .addColumn("key", "text", (c) => c.primaryKey())
        .addColumn("value", "text", (c) => c.notNull())
        .execute();
    },
  },
  {
    // Metric columns (issue 3): per-run ingest state, chunked column blobs with digests, image events.
    name: "0002_metric_store",
    async up(db) {
      await db.schema
        .createTable("metric_run")
        .addColumn("sid", "integer", (c) => c.primaryKey().autoIncrement())
        .addColumn("run_dir", "text", (c) => c.notNull().unique())
        .addColumn("file_dev", "text", (c) => c.notNull())
        .addColumn("file_ino", "text", (c) => c.notNull())
        .addColumn("file_size", "integer", (c) => c.notNull())
        .addColumn("file_mtime", "text", (c) => c.notNull())
        .addColumn("byte_offset", "integer", (c) => c.notNull())
        .addColumn("tail_hex", "text", (c) => c.notNull())
        .addColumn("lines", "integer", (c) => c.notNull())
        .addColumn("next_chunk_id", "integer", (c) => c.notNull())
        .addColumn("updated_at", "real", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("metric_chunk")
        .addColumn("sid", "integer", (c) => c.notNull())
        .addColumn("level", "integer", (c) => c.notNull())
        .addColumn("chunk_id", "integer", (c) => c.notNull())
        .addColumn("rows", "integer", (c) => c.notNull())
        .addColumn("first_step", "real", (c) => c.notNull())
        .addColumn("last_step", "real", (c) => c.notNull())
        .addColumn("min_time", "real")
        .addColumn("max_time", "real")
        .addColumn("stats", "text")
        .addColumn("data", "blob", (c) => c.notNull())
        .addPrimaryKeyConstraint("metric_chunk_pk", ["sid", "level", "chunk_id"])
        .execute();
      await db.schema
        .createTable("metric_image")
        .addColumn("sid", "integer", (c) => c.notNull())
        .addColumn("seq", "integer", (c) => c.notNull())
        .addColumn("key", "text", (c) => c.notNull())
        .addColumn("step", "integer")
        .addColumn("caption", "text")
        .addColumn("path", "text", (c) => c.notNull())
        .addColumn("ts", "real")
        .addPrimaryKeyConstraint("metric_image_pk", ["sid", "seq"])
        .execute();
    },
  },
  {
    // `epoch` became a stored column (issue 20): metric data ingested before lacks it, so it is read again.
    name: "0003_metric_epoch_column",
    async up(db) {
      await db.deleteFrom("metric_chunk").execute();
      await db.deleteFrom("metric_image").execute();
      await db.deleteFrom("metric_run").execute();
    },
  },
  {
    // Issue 13: two indexes no query used (id lookups are in memory; entry-path counts use
    // run_path_status_idx) cost a third of the writes of an index build; an index built by an
    // earlier version was complete, so it is marked built (no "building" state after an upgrade).
    name: "0004_run_index_lean",
    async up(db) {
      await db.schema.dropIndex("run_id_idx").ifExists().execute();
      await db.schema.dropIndex("run_entry_path_idx").ifExists().execute();
      await sql`insert or ignore into index_state (key, value) select 'runs_built_at', ${String(Date.now() / 1000)} where exists (select 1 from run)`.execute(db);
    },
  },
  {
    // Filter fields (issue 16): the run's config object and notes. Rows are dropped so every run is read
    // again with the new columns (the run table is a cache of the files).
    name: "0005_run_filter_fields",
    async up(db) {
      await db.schema.alterTable("run").addColumn("config", "text", (c) => c.notNull().defaultTo("{}")).execute();
      await db.schema.alterTable("run").addColumn("notes", "text").execute();
      // binary JSON copies for the filter: json_extract on JSONB skips the text parse (~8x faster at 100k runs);
      // upsertRunRows writes them with jsonb() next to the text columns
      await db.schema.alterTable("run").addColumn("config_b", "blob").execute();
      await db.schema.alterTable("run").addColumn("summary_b", "blob").execute();
      await db.deleteFrom("run").execute();
      // and the index is built afresh (with its progress) rather than treated as complete
      await db.deleteFrom("index_state").where("key", "=", "runs_built_at").execute();
    },
  },
  {
    // metric.<key>.last|min|max|count (issue 16): the metric store writes each run's key summaries here
    // (text for include=metrics, JSONB for the filter). NULL = not ingested yet; the run index's upsert
    // leaves both columns alone. The partial index finds the runs still to ingest without a scan.
    name: "0006_run_metric_fields",
    async up(db) {
      await db.schema.alterTable("run").addColumn("metrics", "text").execute();
      await db.schema.alterTable("run").addColumn("metrics_b", "blob").execute();
      await sql`CREATE INDEX run_metrics_pending ON run (deleted) WHERE metrics IS NULL`.execute(db);
    },
  },
  {
    // issue 16: every column a filter or its page reads, in list order: a filter scans this narrow index
    // (a third of the table's bytes) and a page walks it in order, fetching only the rows that match
    name: "0007_run_filter_index",
    async up(db) {
      await createRunFilterIndex(db);
    },
  },
  {
    // Histogram offset index (issue 17): per run, where each (key, step) line of histograms.jsonl is, and the
    // file mark it was built against (device, inode, size, mtime, tail), so a restart answers without a re-scan.
    name: "0008_histogram_index",
    async up(db) {
      await db.schema
        .createTable("histogram_file")
        .addColumn("run_dir", "text", (c) => c.primaryKey())
        .addColumn("file_dev", "text", (c) => c.notNull())
        .addColumn("file_ino", "text", (c) => c.notNull())
        .addColumn("file_size", "integer", (c) => c.notNull())
        .addColumn("file_mtime", "text", (c) => c.notNull())
        .addColumn("byte_offset", "integer", (c) => c.notNull())
        .addColumn("tail", "blob", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("histogram_slot")
        .addColumn("run_dir", "text", (c) => c.notNull())
        .addColumn("key", "text", (c) => c.notNull())
        .addColumn("step", "integer", (c) => c.notNull())
        .addColumn("off", "integer", (c) => c.notNull())
        .addColumn("len", "integer", (c) => c.notNull())
        .addPrimaryKeyConstraint("histogram_slot_pk", ["run_dir", "key", "step"])
        .modifyEnd(sql`WITHOUT ROWID`)
        .execute();
    },
  },
];

/** The covering index of filtered lists (migration 0007). */
export const RUN_FILTER_INDEX = "run_filter_idx";
/** Its columns: (deleted, order_key) first, so a page walks it in list order; then every filter field's column. */
export const RUN_FILTER_INDEX_COLUMNS = [
  "deleted",
  "order_key",
  "status",
  "meta_path",
  "entry_path",
  "alias",
  "tags",
  "hostname",
  "notes",
  "created_time",
  "started_at",
  "ended_at",
  "id",
  "config_b",
  "summary_b",
  "metrics_b",
] as const;

/** Applies the migrations not yet recorded in the `migration` table, each in its own transaction. */
export async function migrate(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("migration")
    .ifNotExists()
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("name", "text", (c) => c.notNull().unique())
    .addColumn("applied_at", "real", (c) => c.notNull())
    .execute();
  const done = new Set(
    (await db.selectFrom("migration").select("name").execute()).map((r: { name: string }) => r.name),
  );
  for (const m of MIGRATIONS) {
    if (done.has(m.name)) continue;
    await db.transaction().execute(async (trx) => {
      await m.up(trx);
      await trx
        .insertInto("migration")
        .values({ name: m.name, applied_at: Date.now() / 1000 })
        .execute();
    });
  }
}

/** Creates the covering filter index (when missing); ~0.5 s at 100,000 runs. */
export async function createRunFilterIndex(db: Kysely<any>): Promise<void> {
  await sql`CREATE INDEX IF NOT EXISTS ${sql.raw(RUN_FILTER_INDEX)} ON run (${sql.raw(RUN_FILTER_INDEX_COLUMNS.join(", "))})`.execute(db);
}

/**
 * Drops it while a first index build writes every row: keeping it current row by row costs that build
 * about 80 % more than creating it once at the end. Filters read the table meanwhile (`hasRunFilterIndex`).
 */
export async function dropRunFilterIndex(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX IF EXISTS ${sql.raw(RUN_FILTER_INDEX)}`.execute(db);
}

/** Whether the covering filter index exists now. */
export async function hasRunFilterIndex(db: Kysely<any>): Promise<boolean> {
  const r = await sql<{ n: number }>`SELECT count(*) AS n FROM sqlite_master WHERE type = 'index' AND name = ${RUN_FILTER_INDEX}`.execute(db);
  return Number(r.rows[0]?.n ?? 0) > 0;
}
