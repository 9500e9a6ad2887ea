// The TS SDK's rows in ROOT/index/runicorn.db (spec §1.7), as the Python SDK writes them: the run row at init, status and end at finish.
import { mkdirSync } from "node:fs";
import { join } from "node:path";

/** The run-row schema of the Python SDK's index (only the table the TS SDK writes; Python adds the asset tables). */
const SCHEMA = `CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY,
  path TEXT NOT NULL DEFAULT 'default',
  alias TEXT NULL,
  created_at REAL NULL,
  ended_at REAL NULL,
  status TEXT NULL,
  run_dir TEXT NOT NULL,
  workspace_root TEXT NULL
);
CREATE INDEX IF NOT EXISTS idx_runs_path ON runs(path);
CREATE INDEX IF NOT EXISTS idx_runs_alias ON runs(alias);`;

interface Stmt {
  run(...params: unknown[]): unknown;
}
interface Db {
  exec(sql: string): unknown;
  prepare(sql: string): Stmt;
  close(): void;
}

/** Opens the index with the runtime's SQLite (bun:sqlite, or node:sqlite where Node has it); undefined when neither exists. */
function open(path: string): Db | undefined {
  const g = globalThis as { Bun?: unknown; require?: (m: string) => unknown };
  if (g.Bun !== undefined) {
    const mod = "bun:sqlite"; // a computed name keeps Node bundles from resolving it
    const { Database } = require(mod) as { Database: new (p: string) => Db };
    return new Database(path);
  }
  const getBuiltin = (process as { getBuiltinModule?: (m: string) => unknown }).getBuiltinModule;
  const sqlite = getBuiltin?.("node:sqlite") as { DatabaseSync?: new (p: string) => Db } | undefined;
  return sqlite?.DatabaseSync ? new sqlite.DatabaseSync(path) : undefined;
}

/** One statement on ROOT/index/runicorn.db in its own connection (WAL, 5 s busy timeout), like the Python SDK. */
function write(storageRoot: string, sql: string, params: unknown[]): void {
  const dir = join(storageRoot, "index");
  mkdirSync(dir, { recursive: true });
  const db = open(join(dir, "runicorn.db"));
  if (!db) return; // a runtime without SQLite: the viewer indexes runs from their files anyway
  try {
    db.exec("PRAGMA busy_timeout=5000;");
    db.exec("PRAGMA journal_mode=WAL;");
    db.exec("PRAGMA synchronous=NORMAL;");
    db.exec(SCHEMA);
    db.prepare(sql).run(...params);
  } finally {
    db.close();
  }
}

/** The run row at init (insert, or update every column of an existing row). */
export function upsertRunRow(storageRoot: string, r: { runId: string; path: string; alias: string | null; createdAt: number; runDir: string; workspaceRoot: string | null }): void {
  write(
    storageRoot,
    "INSERT INTO runs(run_id, path, alias, created_at, status, run_dir, workspace_root) VALUES(?, ?, ?, ?, ?, ?, ?) " +
      "ON CONFLICT(run_id) DO UPDATE SET path=excluded.path, alias=excluded.alias, created_at=excluded.created_at, " +
      "status=excluded.status, run_dir=excluded.run_dir, workspace_root=excluded.workspace_root",
    [r.runId, r.path, r.alias, r.createdAt, "running", r.runDir, r.workspaceRoot],
  );
}

/** The final status and end time at finish. */
export function finishRunRow(storageRoot: string, runId: string, status: string, endedAt: number): void {
  write(storageRoot, "UPDATE runs SET status=?, ended_at=? WHERE run_id=?", [status, endedAt, runId]);
}
