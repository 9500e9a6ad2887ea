// Wire shape of `GET /api/fleet` (fleet mode): server and UI share it.

/** `GET /api/fleet` (fleet mode only). */
export interface FleetInfo {
  hosts: { host: string; slug: string; state: "connecting" | "online" | "offline" | "reconnecting"; reason: string | null; latency_ms: number | null; runs: number }[];
  total_runs: number;
}
