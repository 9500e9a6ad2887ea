// The typed shape of the index database (kysely `Database` interface). Times are epoch seconds (REAL).
import type { Generated } from "kysely";

/** One run directory found under ROOT, with what the API lists about it. */
export interface RunTable {
  /** Absolute run directory under the current root (primary key). */
  run_dir: string;
  id: string;
  /** Sort key reproducing the original's scan order (spec §1.9). */
  order_key: string;
  layout: "v06" | "legacy";
  /** Path from the directory structure (`cv/yolo`, legacy `proj/name`); null for root-level runs. */
  entry_path: string | null;
  /** `meta.path` as written by the SDK (may be `""` or absent). */
  meta_path: string | null;
  alias: string | null;
  /** JSON array of strings. */
  tags: string;
  status: string;
  created_time: number | null;
  started_at: number | null;
  ended_at: number | null;
  exit_reason: string | null;
  pid: number | null;
  hostname: string | null;
  heartbeat_at: number | null;
  best_metric_value: number | null;
  best_metric_name: string | null;
  /** JSON object: summary.json. */
  summary: string;
  assets_count: number;
  deleted: number;
  deleted_at: number | null;
  delete_reason: string | null;
  original_status: string | null;
  /** mtime/size fingerprint of the run's small files; a change triggers a re-read. */
  stamp: string;
  /** Pre-serialised `/api/runs` item, so the full list is a string join. */
  list_json: string;
}

/** Key/value state of the index itself (schema version, root it describes). */
export interface IndexStateTable {
  key: string;
  value: string;
}

/** Applied migrations. */
export interface MigrationTable {
  id: Generated<number>;
  name: string;
  applied_at: number;
}

/** All tables of the index. Features add their tables here with their migrations. */
export interface Database {
  run: RunTable;
  index_state: IndexStateTable;
  migration: MigrationTable;
}
