// Wire shapes of the config, GPU and system monitor answers: server and UI share them.

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
