// Schema migrations, frozen in time and listed in code (a compiled binary has no migrations folder).
import type { Kysely } from "kysely";

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
      await db.schema
        .createTable("index_state")
        .addColumn("key", "text", (c) => c.primaryKey())
        .addColumn("value", "text", (c) => c.notNull())
        .execute();
    },
  },
];

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
