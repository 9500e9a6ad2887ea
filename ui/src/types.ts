// Shapes of the server's JSON answers that the pages read (spec §3 plus the metrics and live additions).

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

/** `GET /api/fleet` (fleet mode only). */
export interface FleetInfo {
  hosts: { host: string; slug: string; state: "connecting" | "online" | "offline" | "reconnecting"; reason: string | null; latency_ms: number | null; runs: number }[];
  total_runs: number;
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

/** One metric key of `GET /api/runs/{id}/keys`. */
export interface MetricKey {
  key: string;
  count: number;
  numeric: boolean;
  min: number | null;
  max: number | null;
  last: number | string | null;
  last_step: number | null;
}

/** `GET /api/runs/{id}/keys`. */
export interface KeysResponse {
  run_id: string;
  keys: MetricKey[];
  stages: { stage: string; first_step: number; last_step: number }[];
  last_step: number | null;
  total_steps: number;
}

/** `GET /api/runs/{id}/series`: one shared x column and a column per key. */
export interface SeriesResponse {
  run_id: string;
  x_key: string;
  x: number[];
  series: Record<string, (number | null)[]>;
  /** Rows of the run in the window at full resolution. */
  total: number;
  /** True when the server downsampled (more rows than `points`). */
  sampled: boolean;
}

/** `GET /api/compare/series`. */
export interface CompareResponse {
  runs: Record<string, SeriesResponse>;
  missing: string[];
}

/** One image of `GET /api/runs/{id}/images`. */
export interface ImageItem {
  key: string;
  step: number | null;
  caption: string | null;
  path: string;
  url: string;
  ts: number | null;
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

/** `GET /api/config`. */
export interface ConfigResponse {
  user_root_dir: string;
  storage: string;
  config_file: string;
}

/** One GPU of `GET /api/gpu/telemetry`. */
export interface GpuInfo {
  index: number;
  name: string;
  util_gpu: number | null;
  util_mem: number | null;
  mem_total_mib: number | null;
  mem_used_mib: number | null;
  temp_c: number | null;
  power_w: number | null;
  power_limit_w: number | null;
  clock_sm_mhz: number | null;
  clock_mem_mhz: number | null;
  pstate: string | null;
  fan_speed_pct: number | null;
  mem_used_pct?: number | null;
}

/** `GET /api/gpu/telemetry`. */
export interface GpuTelemetry {
  available: boolean;
  reason?: string;
  ts?: number;
  gpus?: GpuInfo[];
}

/** `GET /api/gpu/history`: sample times and, per GPU, one column per field aligned with `ts`. */
export interface GpuHistory {
  available: boolean;
  interval_s: number;
  window_s: number;
  ts: number[];
  gpus: {
    index: number;
    name: string;
    uuid: string | null;
    util_gpu: (number | null)[];
    util_mem: (number | null)[];
    mem_used_mib: (number | null)[];
    mem_used_pct: (number | null)[];
    temp_c: (number | null)[];
    power_w: (number | null)[];
    clock_sm_mhz: (number | null)[];
    fan_speed_pct: (number | null)[];
  }[];
}

/** `GET /api/system/monitor`. */
export interface SystemMonitor {
  available: boolean;
  reason?: string;
  ts?: number;
  cpu?: {
    percent: number;
    count: number;
    logical_count: number;
    per_core: number[] | null;
    frequency: { current: number; min: number; max: number } | null;
    load_avg: number[] | null;
  } | null;
  memory?: { total: number; available: number; used: number; percent: number; swap_total: number; swap_used: number; swap_percent: number };
  disk?: { path: string; total: number; used: number; free: number; percent: number; io: Record<string, number> | null };
  platform?: { system: string; release: string; machine: string };
}

/** camelCase remote viewer session of spec §3.12. */
export interface RemoteSession {
  sessionId: string;
  host: string;
  sshPort: number;
  username: string;
  localPort: number;
  remotePort: number;
  remoteRoot: string;
  remotePid: number;
  status: string;
  startedAt: number;
  uptimeSeconds: number;
  isActive: boolean;
  url: string;
  /** Additions of ours: the SSH host (`host` is the remote bind address, as in the original) and the pool key. */
  sshHost?: string;
  connectionId?: string;
  viewerKind?: string;
}

/** One row of a live `metrics` message. */
export interface LiveRow {
  step: number;
  time: number | null;
  values: Record<string, unknown>;
}

/**
 * A message of the `/api/live` socket (`logs_reset` is the page's own: a log subscription is about
 * to resend its tail). `reset`: the run's events were read again from scratch; `truncated`: rows were
 * left out of this push. Either way a chart fetches its series again.
 */
export type LiveMessage =
  | { type: "metrics"; run_id: string; rows: LiveRow[]; reset?: boolean; truncated?: boolean }
  | { type: "logs"; run_id: string; lines: string[] }
  | { type: "logs_reset"; run_id: string }
  | { type: "status"; run_id: string; status: string }
  | { type: "run_changed"; run_id: string; kind: string }
  | { type: "error"; run_id?: undefined; message: string };
