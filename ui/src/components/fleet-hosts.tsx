// The Remote page's fleet panel: every host of a fleet-mode server (GET /api/fleet) with state, reason, latency, runs and GPU summary; nothing on a single-root server.
import { useEffect, useState } from "preact/hooks";
import { ApiError, getJson } from "../api.ts";
import { useInterval } from "./common.tsx";
import { fmtNum } from "../format.ts";
import type { FleetAnswer, FleetGpuSummary } from "../../../src/wire/fleet.ts";

const POLL_MS = 2000;

/** A host's GPUs in a few words. */
export function gpuText(h: { gpu: FleetGpuSummary | null }): string {
  if (!h.gpu) return "–";
  if (!h.gpu.available) return h.gpu.reason ? `no GPU (${h.gpu.reason})` : "no GPU";
  const mem = h.gpu.mem_used_mib !== null && h.gpu.mem_total_mib !== null ? ` · ${fmtNum(h.gpu.mem_used_mib)} / ${fmtNum(h.gpu.mem_total_mib)} MiB` : "";
  return `${h.gpu.count} × ${h.gpu.utilization === null ? "–" : `${fmtNum(h.gpu.utilization)} %`}${mem}`;
}

/** The hosts table; hidden where the server is no fleet (no hosts, or a 404 from an older server). */
export function FleetHosts() {
  const [fleet, setFleet] = useState<FleetAnswer | null>(null);
  const [absent, setAbsent] = useState(false);
  const poll = () => {
    if (absent) return;
    getJson<FleetAnswer>("/api/fleet").then(
      (f) => {
        // a server of its own root answers no hosts (an older one 404): no fleet to show or poll
        if (f.hosts.length === 0) setAbsent(true);
        else setFleet(f);
      },
      (e) => {
        // other failures keep the last answer
        if (e instanceof ApiError && e.status === 404) setAbsent(true);
      },
    );
  };
  useEffect(poll, []);
  useInterval(poll, POLL_MS, !absent);
  if (absent || !fleet) return null;
  return (
    <section class="card" data-testid="fleet-hosts">
      <div class="chart-head">
        <h3>Fleet</h3>
        <span class="muted">{fleet.hosts.length} hosts · {fleet.total_runs} runs listed</span>
      </div>
      <table class="table">
        <thead>
          <tr>
            <th>Host</th>
            <th>State</th>
            <th>Latency</th>
            <th>Runs</th>
            <th>GPUs</th>
          </tr>
        </thead>
        <tbody>
          {fleet.hosts.map((h) => (
            <tr key={h.host} data-host={h.host} data-state={h.state} class={h.state === "online" ? "" : "muted"}>
              <td class="mono">{h.host}</td>
              <td class="col-state">
                {h.state}
                {h.reason ? ` (${h.reason})` : ""}
                {h.state !== "online" && h.next_retry_at ? ` · retry in ${Math.max(0, Math.round(h.next_retry_at - Date.now() / 1000))} s` : ""}
              </td>
              <td class="col-latency">{h.latency_ms === null ? "–" : `${fmtNum(h.latency_ms)} ms`}</td>
              <td class="col-runs">
                {h.runs}
                {h.running ? ` (${h.running} running)` : ""}
              </td>
              <td class="col-gpu">{gpuText(h)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
