// Wire shapes of the run list, run detail, stats, paths, recycle bin and asset refs (spec §3): server and UI share them.

/** One row of `GET /api/runs`. */
export interface RunItem {
  id: string;
  run_dir: string;
  created_time: number | null;
  status: string;
  /** A running run whose process lives but whose heartbeat is over a minute old (additive; status stays running). */
  stalled?: boolean;
  pid: number | null;
  best_metric_value: number | null;
  best_metric_name: string | null;
  path: string | null;
  alias: string | null;
  tags: string[];
  assets_count: number;
  summary?: Record<string, unknown>;
  /** Fleet mode: the host the run lives on (docs/FLEET.md). */
  host?: string;
}

/** `GET /api/runs/{id}`. */
export interface RunDetail {
  id: string;
  status: string;
  pid: number | null;
  run_dir: string;
  path: string | null;
  alias: string | null;
  logs: string;
  assets: Record<string, unknown>;
  assets_count: number;
  created_time?: number | null;
  start_time?: number | null;
  ended_at?: number | null;
  duration?: number | null;
  tags?: string[];
  hostname?: string | null;
  exit_reason?: string | null;
  summary?: Record<string, unknown>;
  heartbeat_at?: number | null;
}

/** `GET /api/stats/runs`. */
export interface RunStats {
  total: number;
  running: number;
  finished: number;
  failed: number;
  /** Absent on servers before the interrupted count. */
  interrupted?: number;
  other: number;
  /** Running runs whose heartbeat is over a minute old (a subset of running; absent on older servers). */
  stalled?: number;
}

/** `GET /api/paths?include_stats=true`. */
export interface PathsResponse {
  paths: string[];
  tree: Record<string, unknown>;
  stats?: Record<string, { total: number; running: number; finished: number; failed: number }>;
}

/** One entry of `GET /api/recycle-bin`. */
export interface DeletedRun {
  id: string;
  path: string | null;
  alias: string | null;
  created_time: number | null;
  deleted_at: number | null;
  delete_reason: string;
  original_status: string;
  run_dir: string;
}

/** `GET /api/runs/{id}/assets/refs`. */
export interface AssetRefs {
  run_id: string;
  orphaned_assets: { asset_id: string; asset_type: string; name: string; fingerprint: string; role: string; ref_count: number }[];
  shared_assets: { asset_id: string; asset_type: string; name: string; fingerprint: string; role: string; other_runs: string[] }[];
  orphaned_count: number;
  shared_count: number;
}
