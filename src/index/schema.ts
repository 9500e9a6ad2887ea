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
  /** JSON object: assets.json `config` merged for filtering (analysis/run-fields.ts `buildRunConfig`). */
  config: string;
  /** meta.json `notes` (Markdown), searchable. */
  notes: string | null;
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
  metric_run: MetricRunTable;
  metric_chunk: MetricChunkTable;
  metric_image: MetricImageTable;
  histogram_file: HistogramFileTable;
  histogram_slot: HistogramSlotTable;
}

/** Ingest state of one run's events.jsonl: which file, how far it was read (issue 3). */
export interface MetricRunTable {
  sid: Generated<number>;
  run_dir: string;
  /** Device and inode of the file read (strings: they may exceed 2^53). */
  file_dev: string;
  file_ino: string;
  /** Size and mtime (ns, string) when last looked at. */
  file_size: number;
  file_mtime: string;
  /** Bytes consumed: the end of the last complete line. */
  byte_offset: number;
  /** Hex of up to 64 bytes before `byte_offset`, to notice a file rewritten in place. */
  tail_hex: string;
  lines: number;
  next_chunk_id: number;
  updated_at: number;
}

/** One chunk of a run's metric rows (level 0) or a digest of it (levels 1..3), as an encoded blob. */
export interface MetricChunkTable {
  sid: number;
  level: number;
  chunk_id: number;
  rows: number;
  first_step: number;
  last_step: number;
  min_time: number | null;
  max_time: number | null;
  /** JSON ChunkStats, on level 0 only. */
  stats: string | null;
  data: Uint8Array;
}

/** An image event of a run's events.jsonl, in file order. */
export interface MetricImageTable {
  sid: number;
  seq: number;
  key: string;
  step: number | null;
  caption: string | null;
  path: string;
  ts: number | null;
}

/** How far a run's histograms.jsonl is indexed, and how the file looked then (issue 17, `histogram-index.ts`). */
export interface HistogramFileTable {
  run_dir: string;
  /** Device and inode (strings: they may exceed 2^53). */
  file_dev: string;
  file_ino: string;
  file_size: number;
  /** mtime in ns, as a string. */
  file_mtime: string;
  /** Bytes indexed: the end of the last complete line. */
  byte_offset: number;
  /** Up to 64 bytes before `byte_offset`: an append must leave them unchanged. */
  tail: Uint8Array;
}

/** Where the histogram of one (key, step) of a run is in its histograms.jsonl (the last line logged wins). */
export interface HistogramSlotTable {
  run_dir: string;
  key: string;
  step: number;
  off: number;
  len: number;
}
