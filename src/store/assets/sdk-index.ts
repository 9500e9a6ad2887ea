// The SDK's own asset/run index ROOT/index/runicorn.db (spec §1.7): a foreign format, read and pruned with raw SQL.
import { Database } from "bun:sqlite";
import { lstatSync, mkdirSync } from "node:fs";
import { FileRefusedError } from "../safe-read.ts";
import { join } from "node:path";
import { withFileLock } from "./file-lock.ts";

/** Path of the SDK index of a root. */
export function sdkIndexPath(root: string): string {
  return join(root, "index", "runicorn.db");
}

/** The schema the SDK creates (spec §1.7), verbatim in meaning; `IF NOT EXISTS` so it never alters theirs. */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY, path TEXT NOT NULL DEFAULT 'default', alias TEXT NULL, created_at REAL NULL,
  ended_at REAL NULL, status TEXT NULL, run_dir TEXT NOT NULL, workspace_root TEXT NULL);
CREATE INDEX IF NOT EXISTS idx_runs_path ON runs(path);
CREATE INDEX IF NOT EXISTS idx_runs_alias ON runs(alias);
CREATE TABLE IF NOT EXISTS assets (
  asset_id TEXT PRIMARY KEY, asset_type TEXT NOT NULL, name TEXT NULL, source_uri TEXT NULL, archive_uri TEXT NULL,
  is_archived INTEGER NOT NULL, fingerprint_kind TEXT NULL, fingerprint TEXT NULL, size_bytes INTEGER NULL,
  mtime REAL NULL, created_at REAL NULL, metadata_json TEXT NULL);
CREATE TABLE IF NOT EXISTS run_assets (
  run_id TEXT NOT NULL, asset_id TEXT NOT NULL, role TEXT NOT NULL, created_at REAL NULL,
  PRIMARY KEY (run_id, asset_id, role),
  FOREIGN KEY (run_id) REFERENCES runs(run_id) ON DELETE CASCADE,
  FOREIGN KEY (asset_id) REFERENCES assets(asset_id) ON DELETE CASCADE);
CREATE INDEX IF NOT EXISTS idx_assets_type_name ON assets(asset_type, name);
CREATE INDEX IF NOT EXISTS idx_assets_fingerprint ON assets(fingerprint);
CREATE UNIQUE INDEX IF NOT EXISTS idx_assets_type_fingerprint_unique ON assets(asset_type, fingerprint);
CREATE INDEX IF NOT EXISTS idx_run_assets_run ON run_assets(run_id);
CREATE INDEX IF NOT EXISTS idx_run_assets_asset ON run_assets(asset_id);
`;

/** A row of `runs`. */
export interface SdkRunRow {
  run_id: string;
  path: string;
  alias: string | null;
  created_at: number | null;
  ended_at: number | null;
  status: string | null;
  run_dir: string;
  workspace_root: string | null;
}

/** A row of `assets`. */
export interface SdkAssetRow {
  asset_id: string;
  asset_type: string;
  name: string | null;
  source_uri: string | null;
  archive_uri: string | null;
  is_archived: number;
  fingerprint_kind: string | null;
  fingerprint: string | null;
  size_bytes: number | null;
  mtime: number | null;
  created_at: number | null;
  metadata_json: string | null;
}

/** A row of `run_assets`. */
export interface SdkLinkRow {
  run_id: string;
  asset_id: string;
  role: string;
  created_at: number | null;
}

/** An asset linked to a run, with the link's role. */
export type RunAsset = SdkAssetRow & { role: string };

/** An open SDK index. Writes go through `write`, which holds `runicorn.db.lock` as the SDK does. */
export class SdkIndex {
  private constructor(
    readonly db: Database,
    readonly path: string,
  ) {}

  /**
   * Opens the index of `root`. With `create: false` (readers, deletion) a missing file gives undefined and
   * nothing is created; with `create: true` (import) the directory, file and schema are created.
   */
  static open(root: string, opts: { create?: boolean; readonly?: boolean } = {}): SdkIndex | undefined {
    const path = sdkIndexPath(root);
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st) {
      if (!opts.create) return undefined;
      mkdirSync(join(root, "index"), { recursive: true });
    } else if (!st.isFile()) {
      // SQLite would block opening a FIFO, and a link could lead out of ROOT
      throw new FileRefusedError(path, "not_regular", "is not a regular file");
    }
    let db: Database;
    try {
      db = opts.readonly ? new Database(path, { readonly: true }) : new Database(path, { create: !!opts.create });
    } catch (e) {
      if (opts.readonly || opts.create) throw e;
      db = new Database(path, { readonly: true }); // a read-only root can still be read
      opts = { ...opts, readonly: true };
    }
    try {
      db.exec("PRAGMA busy_timeout = 5000");
      if (!opts.readonly) {
        db.exec("PRAGMA journal_mode = WAL");
        db.exec("PRAGMA synchronous = NORMAL");
        db.exec("PRAGMA foreign_keys = ON");
        if (opts.create) db.exec(SCHEMA);
      }
      if (!db.query("SELECT name FROM sqlite_master WHERE type='table' AND name='run_assets'").get()) {
        db.close();
        return undefined; // not the SDK's index (or empty): nothing to read
      }
    } catch (e) {
      db.close();
      throw e;
    }
    return new SdkIndex(db, path);
  }

  /** Runs `fn` in one transaction while holding the SDK's file lock (spec §1.7). */
  async write<T>(fn: (db: Database) => T): Promise<T> {
    return withFileLock(this.path + ".lock", () => this.db.transaction(() => fn(this.db)).immediate());
  }

  /** The assets linked to a run, one item per link (role). */
  assetsForRun(runId: string): RunAsset[] {
    return this.db
      .query<RunAsset, [string]>(
        "SELECT a.*, ra.role AS role FROM assets a JOIN run_assets ra ON a.asset_id = ra.asset_id WHERE ra.run_id = ? ORDER BY ra.rowid",
      )
      .all(runId);
  }

  /** Distinct run ids linked to an asset. */
  runsForAsset(assetId: string): string[] {
    return this.db
      .query<{ run_id: string }, [string]>("SELECT DISTINCT run_id FROM run_assets WHERE asset_id = ? ORDER BY rowid")
      .all(assetId)
      .map((r) => r.run_id);
  }

  /** Every asset row. */
  allAssets(): SdkAssetRow[] {
    return this.db.query<SdkAssetRow, []>("SELECT * FROM assets").all();
  }

  /** Every run row. */
  allRuns(): SdkRunRow[] {
    return this.db.query<SdkRunRow, []>("SELECT * FROM runs").all();
  }

  /** The run row of an id. */
  run(runId: string): SdkRunRow | undefined {
    return this.db.query<SdkRunRow, [string]>("SELECT * FROM runs WHERE run_id = ?").get(runId) ?? undefined;
  }

  /** Links of the given runs. */
  linksForRuns(runIds: string[]): SdkLinkRow[] {
    const out: SdkLinkRow[] = [];
    const q = this.db.query<SdkLinkRow, [string]>("SELECT * FROM run_assets WHERE run_id = ? ORDER BY rowid");
    for (const id of runIds) out.push(...q.all(id));
    return out;
  }

  /** Asset rows by id. */
  assetsByIds(ids: Iterable<string>): SdkAssetRow[] {
    const q = this.db.query<SdkAssetRow, [string]>("SELECT * FROM assets WHERE asset_id = ?");
    const out: SdkAssetRow[] = [];
    for (const id of ids) {
      const r = q.get(id);
      if (r) out.push(r);
    }
    return out;
  }

  /** Closes the handle. */
  close(): void {
    this.db.close();
  }
}

/** Deletes a run row (links cascade) and the given asset rows; call inside `SdkIndex.write`. */
export function deleteRunRows(db: Database, runId: string, assetIds: string[]): void {
  db.query("DELETE FROM run_assets WHERE run_id = ?").run(runId);
  db.query("DELETE FROM runs WHERE run_id = ?").run(runId);
  const del = db.query("DELETE FROM assets WHERE asset_id = ? AND NOT EXISTS (SELECT 1 FROM run_assets WHERE asset_id = ?)");
  for (const id of assetIds) del.run(id, id);
}

/**
 * Merges exported rows into an index (import, spec §1.7 dedup rules): a run row is inserted when absent;
 * an asset with the same (type, fingerprint) or the same id is reused; links are inserted or ignored.
 * Call inside `SdkIndex.write`. Returns the number of links written.
 */
export function mergeRows(db: Database, rows: { runs: SdkRunRow[]; assets: SdkAssetRow[]; links: SdkLinkRow[] }): number {
  const insRun = db.query(
    "INSERT OR IGNORE INTO runs(run_id, path, alias, created_at, ended_at, status, run_dir, workspace_root) VALUES (?,?,?,?,?,?,?,?)",
  );
  for (const r of rows.runs) {
    insRun.run(r.run_id, r.path ?? "default", r.alias, r.created_at, r.ended_at, r.status, r.run_dir, r.workspace_root);
  }
  const byFp = db.query<{ asset_id: string }, [string, string]>("SELECT asset_id FROM assets WHERE asset_type = ? AND fingerprint = ?");
  const byId = db.query<{ asset_id: string }, [string]>("SELECT asset_id FROM assets WHERE asset_id = ?");
  const insAsset = db.query(
    `INSERT INTO assets(asset_id, asset_type, name, source_uri, archive_uri, is_archived, fingerprint_kind, fingerprint,
      size_bytes, mtime, created_at, metadata_json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
  );
  const idMap = new Map<string, string>();
  for (const a of rows.assets) {
    const existing = (a.fingerprint ? byFp.get(a.asset_type, a.fingerprint) : null) ?? byId.get(a.asset_id);
    if (existing) {
      idMap.set(a.asset_id, existing.asset_id);
      continue;
    }
    insAsset.run(
      a.asset_id, a.asset_type, a.name, a.source_uri, a.archive_uri, a.is_archived ? 1 : 0, a.fingerprint_kind,
      a.fingerprint, a.size_bytes, a.mtime, a.created_at, a.metadata_json,
    );
    idMap.set(a.asset_id, a.asset_id);
  }
  const insLink = db.query("INSERT OR IGNORE INTO run_assets(run_id, asset_id, role, created_at) VALUES (?,?,?,?)");
  let n = 0;
  for (const l of rows.links) {
    const id = idMap.get(l.asset_id);
    if (!id) continue;
    n += insLink.run(l.run_id, id, l.role, l.created_at).changes;
  }
  return n;
}
