// The PostgreSQL adapter: a kysely dialect over Bun's built-in PostgreSQL client (`Bun.SQL`), so the
// team server (issue 19) runs the same kysely queries as the SQLite index with no npm driver.
// Each kysely connection is one reserved connection of Bun's pool; transactions stay on it.
// Bun.SQL binds a JS string as a JSON string even for a jsonb parameter: pass objects for jsonb.
import type { ReservedSQL, SQL } from "bun";
import {
  CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryResult,
} from "kysely";

/** A kysely dialect over a `Bun.SQL` pool. */
export class BunPostgresDialect implements Dialect {
  constructor(private readonly pool: SQL) {}
  createAdapter() {
    return new PostgresAdapter();
  }
  createDriver(): Driver {
    return new BunPostgresDriver(this.pool);
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
  createIntrospector(db: Kysely<any>) {
    return new PostgresIntrospector(db);
  }
}

class BunPostgresDriver implements Driver {
  constructor(private readonly pool: SQL) {}
  async init() {}
  async acquireConnection(): Promise<DatabaseConnection> {
    return new BunPostgresConnection(await this.pool.reserve());
  }
  async beginTransaction(c: DatabaseConnection) {
    await c.executeQuery(CompiledQuery.raw("begin"));
  }
  async commitTransaction(c: DatabaseConnection) {
    await c.executeQuery(CompiledQuery.raw("commit"));
  }
  async rollbackTransaction(c: DatabaseConnection) {
    await c.executeQuery(CompiledQuery.raw("rollback"));
  }
  async releaseConnection(c: DatabaseConnection) {
    (c as BunPostgresConnection).reserved.release();
  }
  async destroy() {
    await this.pool.close();
  }
}

/** Statements that report affected rows (kysely reads `numAffectedRows` for them). */
const WRITES = new Set(["INSERT", "UPDATE", "DELETE", "MERGE", "COPY"]);

class BunPostgresConnection implements DatabaseConnection {
  constructor(readonly reserved: ReservedSQL) {}
  async executeQuery<R>(q: CompiledQuery): Promise<QueryResult<R>> {
    const res = (await this.reserved.unsafe(q.sql, q.parameters as unknown[])) as unknown as R[] & { count?: number | null; command?: string };
    const rows = Array.from(res);
    if (res.command && WRITES.has(res.command)) return { rows, numAffectedRows: BigInt(res.count ?? 0) };
    return { rows };
  }
  async *streamQuery<R>(q: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    // Bun.SQL has no cursor API yet: one batch
    yield await this.executeQuery<R>(q);
  }
}
