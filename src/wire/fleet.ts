// Wire types of fleet mode (issue 18) that the server sends and the UI reads: GET /api/fleet and the per-host parts of the system answers.

/** A host's connection state. */
export type FleetHostState = "connecting" | "online" | "offline" | "reconnecting";

/** A host's GPUs in one line of numbers. */
export interface FleetGpuSummary {
  available: boolean;
  count: number;
  utilization: number | null;
  mem_used_mib: number | null;
  mem_total_mib: number | null;
  reason?: string;
}

/** One host of `GET /api/fleet`. */
export interface FleetHost {
  host: string;
  slug: string;
  url: string;
  state: FleetHostState;
  reason: string | null;
  since: number;
  latency_ms: number | null;
  attempts: number;
  next_retry_at: number | null;
  runs: number;
  running: number;
  server_version: string | null;
  gpu: FleetGpuSummary | null;
  /** `building` while the host's last list was read during its first index build (its runs are partial); null when not online. */
  index_state: "building" | "ready" | null;
  /** `indexed/total` while building. */
  index_progress: string | null;
}

/** `GET /api/fleet`. */
export interface FleetAnswer {
  hosts: FleetHost[];
  total_runs: number;
}

/** A fleet system answer (`/api/system/monitor`, `/api/gpu/history`…): each online host's own answer, labelled. */
export interface PerHost<T> {
  hosts?: (T & { host: string })[];
}

/** The name the UI used before the wire types were shared. */
export type FleetInfo = FleetAnswer;
