"""The SQLite asset/run index ROOT/index/runicorn.db (WAL, serialised by runicorn.db.lock)."""
from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

try:
    import sqlite3
except ImportError:  # pragma: no cover - Python built without sqlite
    sqlite3 = None  # type: ignore[assignment]

from ._io import FileLock

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
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
CREATE INDEX IF NOT EXISTS idx_runs_alias ON runs(alias);
CREATE TABLE IF NOT EXISTS assets (
  asset_id TEXT PRIMARY KEY,
  asset_type TEXT NOT NULL,
  name TEXT NULL,
  source_uri TEXT NULL,
  archive_uri TEXT NULL,
  is_archived INTEGER NOT NULL,
  fingerprint_kind TEXT NULL,
  fingerprint TEXT NULL,
  size_bytes INTEGER NULL,
  mtime REAL NULL,
  created_at REAL NULL,
  metadata_json TEXT NULL
);
CREATE TABLE IF NOT EXISTS run_assets (
  run_id TEXT NOT NULL,
  asset_id TEXT NOT NULL,
  role TEXT NOT NULL,
  created_at REAL NULL,
  PRIMARY KEY (run_id, asset_id, role),
  FOREIGN KEY (run_id) REFERENCES runs(run_id) ON DELETE CASCADE,
  FOREIGN KEY (asset_id) REFERENCES assets(asset_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_assets_type_name ON assets(asset_type, name);
CREATE INDEX IF NOT EXISTS idx_assets_fingerprint ON assets(fingerprint);
CREATE UNIQUE INDEX IF NOT EXISTS idx_assets_type_fingerprint_unique ON assets(asset_type, fingerprint);
CREATE INDEX IF NOT EXISTS idx_run_assets_run ON run_assets(run_id);
CREATE INDEX IF NOT EXISTS idx_run_assets_asset ON run_assets(asset_id);
"""


class IndexDb:
    """Writer/reader of ROOT/index/runicorn.db with the original's schema; every write holds the file lock.

    One connection per call (opened, used, closed): the SDK writes a handful of rows per run, so
    holding connections open buys nothing and would keep WAL files alive after finish().
    """

    def __init__(self, storage_root: Path) -> None:
        if sqlite3 is None:
            raise RuntimeError("sqlite3 is not available in this Python")
        self.storage_root = Path(storage_root)
        self.db_path = self.storage_root / "index" / "runicorn.db"
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(self.db_path) + ".lock")
        self._tlock = threading.Lock()
        with self._lock:
            conn = self._connect()
            try:
                conn.executescript(_SCHEMA)
                conn.commit()
            finally:
                conn.close()

    def _connect(self) -> "sqlite3.Connection":
        conn = sqlite3.connect(str(self.db_path), timeout=5.0)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL;")
        conn.execute("PRAGMA synchronous=NORMAL;")
        conn.execute("PRAGMA busy_timeout=5000;")
        conn.execute("PRAGMA foreign_keys=ON;")
        return conn

    def _write(self, sql: str, params: tuple) -> None:
        with self._lock:
            conn = self._connect()
            try:
                conn.execute(sql, params)
                conn.commit()
            finally:
                conn.close()

    def close(self) -> None:
        """Nothing stays open between calls; kept for API compatibility."""
        return None

    close_all = close

    def upsert_run(self, *, run_id: str, path: str, alias: Optional[str], created_at: float, status: str,
                   run_dir: str, workspace_root: Optional[str]) -> None:
        """Insert or update the run row."""
        self._write(
            "INSERT INTO runs(run_id, path, alias, created_at, status, run_dir, workspace_root) VALUES(?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(run_id) DO UPDATE SET path=excluded.path, alias=excluded.alias, created_at=excluded.created_at, "
            "status=excluded.status, run_dir=excluded.run_dir, workspace_root=excluded.workspace_root",
            (run_id, path, alias, float(created_at), status, run_dir, workspace_root),
        )

    def finish_run(self, *, run_id: str, status: str, ended_at: float) -> None:
        """Record the final status and end time."""
        self._write("UPDATE runs SET status=?, ended_at=? WHERE run_id=?", (status, float(ended_at), run_id))

    def record_asset_for_run(self, *, run_id: str, role: str, asset_type: str, name: Optional[str],
                             source_uri: Optional[str], archive_uri: Optional[str], is_archived: bool,
                             fingerprint_kind: Optional[str], fingerprint: Optional[str],
                             size_bytes: Optional[int] = None, mtime: Optional[float] = None,
                             created_at: Optional[float] = None, metadata: Optional[Dict[str, Any]] = None) -> str:
        """Insert an asset (reusing the row with the same (asset_type, fingerprint)) and link it to the run."""
        metadata_json = json.dumps(metadata, ensure_ascii=False) if metadata is not None else None
        with self._lock:
            conn = self._connect()
            try:
                asset_id = None
                if fingerprint:
                    row = conn.execute("SELECT asset_id FROM assets WHERE asset_type=? AND fingerprint=?",
                                       (asset_type, fingerprint)).fetchone()
                    if row:
                        asset_id = str(row["asset_id"])
                if asset_id is None:
                    asset_id = str(uuid.uuid4())
                    conn.execute(
                        "INSERT INTO assets(asset_id, asset_type, name, source_uri, archive_uri, is_archived, fingerprint_kind, "
                        "fingerprint, size_bytes, mtime, created_at, metadata_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (asset_id, asset_type, name, source_uri, archive_uri, 1 if is_archived else 0, fingerprint_kind,
                         fingerprint, size_bytes, mtime, created_at, metadata_json),
                    )
                conn.execute("INSERT OR IGNORE INTO run_assets(run_id, asset_id, role, created_at) VALUES(?, ?, ?, ?)",
                             (run_id, asset_id, role, created_at))
                conn.commit()
                return asset_id
            finally:
                conn.close()

    def get_run(self, run_id: str) -> Optional[Dict[str, Any]]:
        """The run row as a dict, or None."""
        conn = self._connect()
        try:
            row = conn.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
            return dict(row) if row else None
        finally:
            conn.close()

    def get_assets_for_run(self, run_id: str) -> List[Dict[str, Any]]:
        """Asset rows linked to the run, with their role."""
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT a.*, ra.role, ra.created_at AS linked_at FROM assets a JOIN run_assets ra ON a.asset_id = ra.asset_id "
                "WHERE ra.run_id = ?", (run_id,)).fetchall()
            return [dict(r) for r in rows]
        finally:
            conn.close()
