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

/** One host of a fleet built on the Remote page (`GET /api/fleet/hosts`); `local` is this machine's own root. */
export interface UiFleetHost {
  host: string;
  /** The saved connection it came from (a server or profile id of connections.json); null for `local`. */
  connection: string | null;
  /** `user@host:port`; null for `local`. */
  target: string | null;
  /** The storage root on the host; null for `local`. */
  remote_root: string | null;
  /**
   * `connecting` (SSH, deploy, viewer start), `online`, `offline` with `reason` (and `next_retry_at`
   * when it is tried again; null after a failure that trying again cannot fix: authentication, host key),
   * `reconnecting`.
   */
  state: FleetHostState;
  reason: string | null;
  since: number;
  latency_ms: number | null;
  attempts: number;
  next_retry_at: number | null;
  runs: number;
  running: number;
  gpu: FleetGpuSummary | null;
  /**
   * When the host's key is unknown or changed: the key it presented (spec §3.12's host-key problem), so
   * the page can show it, trust it (`POST /api/remote/known-hosts/accept`) and add the host again.
   */
  host_key?: UiFleetHostKey;
}

/** The host key a fleet host presented that is not trusted (yet). */
export interface UiFleetHostKey {
  host: string;
  port: number;
  known_hosts_host: string;
  key_type: string;
  fingerprint_sha256: string;
  public_key: string;
  reason: "unknown" | "changed";
  expected_fingerprint_sha256?: string;
}

/** `GET /api/fleet/hosts`. */
export interface UiFleetAnswer {
  /** False on a server whose fleet came from the command line (`runicorn remote H1 H2`, `serve --upstream`): hosts are managed there. */
  managed: boolean;
  /** The port of the fleet view (same host name, token and UI as this page); null while no fleet is built. */
  fleet_port: number | null;
  /** The port of the server that built the fleet (its own root alone). */
  home_port: number | null;
  hosts: UiFleetHost[];
}

/** `POST /api/fleet/hosts`: a saved connection (server or profile id) to add; `password` when none is saved (never stored or echoed). */
export interface UiFleetAddRequest {
  connection: string;
  password?: string;
}

/** `POST /api/fleet/hosts` (202: the host is connecting) and `DELETE /api/fleet/hosts[/{label}]`. */
export interface UiFleetChangeAnswer {
  ok: true;
  message: string;
  host?: UiFleetHost;
  fleet_port: number | null;
  home_port: number | null;
}
