// The one SQLite-specific adapter: one bun:sqlite connection behind one lock, and a kysely dialect over it.
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

/** What `SqliteConnection.tryNow` answers when another owner holds the connection. */
export const BUSY: unique symbol = Symbol("connection busy");

/**
 * The one connection to the index file and the one queue in front of it. Every statement runs while its
 * caller holds the lock: kysely queries and transactions (one hold each, across their awaits), and the
 * repositories' synchronous sections (`exclusive`, `tryNow`). A transaction is thus held by one owner at
 * a time: a write never lands inside somebody else's open transaction as a SAVEPOINT.
 */
export class SqliteConnection {
  private tail: Promise<void> = Promise.resolve();
  private held = false;
  private waiting = 0;
  /** A synchronous section is running: code running now is its owner. */
  private inSection = false;

  constructor(private readonly db: BunDatabase) {}

  /** Waits for the connection; resolves with the function that releases it. */
  async acquire(): Promise<() => void> {
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    this.waiting++;
    await previous;
    this.waiting--;
    this.held = true;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.held = false;
      release();
    };
  }

  /**
   * Runs `fn` with the connection once it is free, synchronously (nothing else runs meanwhile); with
   * `transaction`, inside BEGIN IMMEDIATE … COMMIT (ROLLBACK when `fn` or the commit throws).
   */
  async exclusive<T>(fn: (db: BunDatabase) => T, transaction = false): Promise<T> {
    const release = await this.acquire();
    try {
      return this.section(fn, transaction);
    } finally {
      release();
    }
  }

  /**
   * Runs `fn` at once when the connection is free (or when called from inside a running section, whose
   * owner the caller then is); BUSY while another owner holds it (e.g. an open kysely transaction).
   */
  tryNow<T>(fn: (db: BunDatabase) => T): T | typeof BUSY {
    if (this.inSection) return fn(this.db);
    if (this.held || this.waiting > 0) return BUSY;
    this.held = true;
    try {
      return this.section(fn, false);
    } finally {
      this.held = false;
    }
  }

  private section<T>(fn: (db: BunDatabase) => T, transaction: boolean): T {
    this.inSection = true;
    try {
      if (!transaction) return fn(this.db);
      this.db.exec("BEGIN IMMEDIATE");
      try {
        const out = fn(this.db);
        this.db.exec("COMMIT");
        return out;
      } catch (e) {
        // SQLite has already rolled back after SQLITE_FULL/IOERR; a second rollback would hide that cause
        if (this.db.inTransaction) this.db.exec("ROLLBACK");
        throw e;
      }
    } finally {
      this.inSection = false;
    }
  }

  /** Closes the connection (after the kysely instance is destroyed). */
  close(): void {
    this.db.close();
  }
}

/** A kysely dialect running every query on the one connection, under its lock. */
export class BunSqliteDialect implements Dialect {
  constructor(
    private readonly db: BunDatabase,
    private readonly conn: SqliteConnection,
  ) {}
  createAdapter() {
    return new SqliteAdapter();
  }
  createDriver(): Driver {
    return new BunSqliteDriver(this.db, this.conn);
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
  constructor(
    private readonly db: BunDatabase,
    private readonly conn: SqliteConnection,
  ) {
    this.connection = new BunSqliteConnection(db);
  }
  async init() {}
  async acquireConnection(): Promise<DatabaseConnection> {
    // One connection: callers wait their turn so transactions never interleave.
    this.connection.release = await this.conn.acquire();
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
    const release = (c as BunSqliteConnection).release;
    (c as BunSqliteConnection).release = undefined;
    release?.();
  }
  async destroy() {
    this.conn.close();
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
