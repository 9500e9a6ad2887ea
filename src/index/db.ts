// Opens the index database beside the data (or in the user cache when ROOT is read-only) and migrates it.
import { Database as BunDatabase } from "bun:sqlite";
import { createHash } from "node:crypto";
import { accessSync, constants, mkdirSync } from "node:fs";
import { join } from "node:path";
import { Kysely } from "kysely";
import { migrate } from "./migrations.ts";
import type { Database } from "./schema.ts";
import { BunSqliteDialect, SqliteConnection } from "./sqlite-dialect.ts";

/**
 * An open index: kysely for queries, and the connection's lock for repositories that run prepared
 * statements in synchronous sections (`metric-repository.ts`). There is no other way to the connection:
 * every statement waits for the same lock, so no one's write lands inside another's transaction.
 */
export interface IndexDb {
  db: Kysely<Database>;
  connection: SqliteConnection;
  path: string;
  close(): Promise<void>;
}

/** The index file name inside ROOT/index/ — never the SDK's own `runicorn.db` (spec §1.7). */
export const INDEX_FILE = "viewer-index.sqlite";

/** Where the index for `root` lives: ROOT/index/ when writable, else a per-user cache directory. */
export function indexPathFor(root: string, cacheDir: string): string {
  const dir = join(root, "index");
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    return join(dir, INDEX_FILE);
  } catch {
    const key = createHash("sha1").update(root).digest("hex").slice(0, 16);
    const fallback = join(cacheDir, "index");
    mkdirSync(fallback, { recursive: true });
    return join(fallback, `${key}-${INDEX_FILE}`);
  }
}

/** Opens (creating if needed) and migrates the index at `path`. */
export async function openIndexDb(path: string): Promise<IndexDb> {
  const raw = new BunDatabase(path, { create: true });
  // large pages: metric chunks are BLOBs of tens of KB (takes effect only on a new file)
  raw.exec("PRAGMA page_size = 65536");
  raw.exec("PRAGMA journal_mode = WAL");
  raw.exec("PRAGMA synchronous = NORMAL");
  raw.exec("PRAGMA busy_timeout = 5000");
  const connection = new SqliteConnection(raw);
  const db = new Kysely<Database>({ dialect: new BunSqliteDialect(raw, connection) });
  await migrate(db);
  return {
    db,
    connection,
    path,
    close: async () => {
      await db.destroy();
    },
  };
}
