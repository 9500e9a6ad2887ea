// The one SQLite-specific adapter: a kysely dialect over bun:sqlite (kysely ships none for Bun).
import { Database as BunDatabase } from "bun:sqlite";
import {
  CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type QueryResult,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type Kysely,
} from "kysely";

/** A kysely dialect running every query on one bun:sqlite connection, serialised by a mutex. */
export class BunSqliteDialect implements Dialect {
  constructor(private readonly db: BunDatabase) {}
  createAdapter() {
    return new SqliteAdapter();
  }
  createDriver(): Driver {
    return new BunSqliteDriver(this.db);
  }
  createQueryCompiler() {
    return new SqliteQueryCompiler();
  }
  createIntrospector(db: Kysely<any>) {
    return new SqliteIntrospector(db);
  }
}

class BunSqliteDriver implements Driver {
  private readonly connection: BunSqliteConnection;
  private queue: Promise<void> = Promise.resolve();
  constructor(private readonly db: BunDatabase) {
    this.connection = new BunSqliteConnection(db);
  }
  async init() {}
  async acquireConnection(): Promise<DatabaseConnection> {
    // One connection: callers wait their turn so transactions never interleave.
    let release!: () => void;
    const previous = this.queue;
    this.queue = new Promise((r) => (release = r));
    await previous;
    this.connection.release = release;
    return this.connection;
  }
  async beginTransaction(c: DatabaseConnection) {
    await c.executeQuery(CompiledQuery.raw("begin"));
  }
  async commitTransaction(c: DatabaseConnection) {
    await c.executeQuery(CompiledQuery.raw("commit"));
  }
  async rollbackTransaction(c: DatabaseConnection) {
    // SQLite has already rolled back after SQLITE_FULL/IOERR; a second rollback would hide that cause
    if (this.db.inTransaction) await c.executeQuery(CompiledQuery.raw("rollback"));
  }
  async releaseConnection(c: DatabaseConnection) {
    (c as BunSqliteConnection).release?.();
  }
  async destroy() {
    this.db.close();
  }
}

class BunSqliteConnection implements DatabaseConnection {
  release?: () => void;
  constructor(private readonly db: BunDatabase) {}
  async executeQuery<R>(q: CompiledQuery): Promise<QueryResult<R>> {
    const stmt = this.db.query(q.sql);
    if (stmt.columnNames.length > 0) {
      return { rows: stmt.all(...(q.parameters as any[])) as R[] };
    }
    const res = stmt.run(...(q.parameters as any[]));
    return {
      rows: [],
      numAffectedRows: BigInt(res.changes),
      insertId: BigInt(res.lastInsertRowid),
    };
  }
  async *streamQuery<R>(q: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    const stmt = this.db.query(q.sql);
    for (const row of stmt.iterate(...(q.parameters as any[]))) yield { rows: [row as R] };
  }
}
