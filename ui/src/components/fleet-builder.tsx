// The Remote page's fleet builder: choose saved connections and connect them as one fleet, each host's state, disconnect one or all (GET|POST|DELETE /api/fleet/hosts).
import { useEffect, useState } from "preact/hooks";
import { ApiError, getJson, sendJson } from "../api.ts";
import { Confirm, toast, useInterval } from "./common.tsx";
import { fmtNum } from "../format.ts";
import { FleetHosts, gpuText } from "./fleet-hosts.tsx";
import type { UiFleetAnswer, UiFleetChangeAnswer, UiFleetHost, UiFleetHostKey } from "../../../src/wire/fleet.ts";

const POLL_MS = 2000;

/** A saved connection the fleet can take: a profile (its root) or a server (the default root). */
export interface FleetOption {
  id: string;
  label: string;
  detail: string;
  /** A password server without a saved password: the page asks for one. */
  needsPassword: boolean;
}

/** The URL of a port of this page's server (same scheme, host name and therefore token cookie). */
function portUrl(port: number): string {
  return `${location.protocol}//${location.hostname}:${port}/`;
}

function stateText(h: UiFleetHost): string {
  let s = h.state;
  if (h.reason) s += ` (${h.reason})`;
  if (h.state !== "online" && h.next_retry_at) s += ` · retry in ${Math.max(0, Math.round(h.next_retry_at - Date.now() / 1000))} s`;
  return s;
}

/** The fleet card; on a fleet started from the command line it shows that fleet's hosts (FleetHosts) instead. */
export function FleetBuilder(props: {
  options: FleetOption[];
  /** Shows a host's untrusted key; resolves true once the user trusted it (and it was recorded). */
  confirmHostKey: (key: UiFleetHostKey) => Promise<boolean>;
}) {
  const [fleet, setFleet] = useState<UiFleetAnswer | null>(null);
  const [chosen, setChosen] = useState<Record<string, boolean>>({});
  const [passwords, setPasswords] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const [confirmAll, setConfirmAll] = useState(false);
  const poll = () => {
    getJson<UiFleetAnswer>("/api/fleet/hosts").then(setFleet, (e: ApiError) => {
      // an older server without the route: no builder
      if (e.status === 404) setFleet({ managed: false, fleet_port: null, home_port: null, hosts: [] });
    });
  };
  useEffect(poll, []);
  useInterval(poll, POLL_MS, fleet?.managed !== false);
  if (!fleet) return null;
  if (!fleet.managed) return <FleetHosts />;

  const inFleet = new Set(fleet.hosts.map((h) => h.connection).filter(Boolean));
  const onView = fleet.fleet_port !== null && Number(location.port) === fleet.fleet_port;
  const picked = props.options.filter((o) => chosen[o.id] && !inFleet.has(o.id));

  const connect = async () => {
    setBusy(true);
    const answers = await Promise.allSettled(
      picked.map((o) => sendJson<UiFleetChangeAnswer>("POST", "/api/fleet/hosts", { connection: o.id, password: passwords[o.id] || undefined })),
    );
    setBusy(false);
    answers.forEach((a, i) => {
      if (a.status === "rejected") toast(`${picked[i].label}: ${(a.reason as Error).message}`, "error");
    });
    setChosen({});
    setPasswords({});
    poll();
  };
  const disconnect = (label: string) =>
    sendJson<UiFleetChangeAnswer>("DELETE", `/api/fleet/hosts/${encodeURIComponent(label)}`, undefined).then(
      (r) => {
        toast(r.message);
        poll();
      },
      (e: ApiError) => toast(e.message, "error"),
    );
  /** Trusts the key a host presented, then connects it again (disconnect and add: its label stays). */
  const trust = async (h: UiFleetHost) => {
    if (!h.host_key || !h.connection || !(await props.confirmHostKey(h.host_key))) return;
    try {
      await sendJson("DELETE", `/api/fleet/hosts/${encodeURIComponent(h.host)}`, undefined);
      await sendJson("POST", "/api/fleet/hosts", { connection: h.connection });
    } catch (e) {
      toast((e as ApiError).message, "error");
    }
    poll();
  };
  const disconnectAll = () => {
    setConfirmAll(false);
    sendJson<UiFleetChangeAnswer>("DELETE", "/api/fleet/hosts", undefined).then(
      (r) => {
        toast(r.message);
        // the fleet view closes: go back to this machine's own server
        if (onView && r.home_port) location.href = portUrl(r.home_port) + "remote";
        else poll();
      },
      (e: ApiError) => toast(e.message, "error"),
    );
  };

  return (
    <section class="card" data-testid="fleet-builder">
      <div class="chart-head">
        <h3>Fleet</h3>
        <span class="muted">
          {fleet.hosts.length ? `${fleet.hosts.length} hosts · ${fleet.hosts.reduce((n, h) => n + h.runs, 0)} runs` : "several saved servers as one run list, with this machine's runs as host “local”"}
        </span>
        <span class="spacer" />
        {fleet.fleet_port !== null && !onView ? (
          <a class="btn btn-primary" href={portUrl(fleet.fleet_port)} data-testid="fleet-open">
            Open fleet view
          </a>
        ) : null}
        {onView && fleet.home_port ? (
          <a class="btn" href={portUrl(fleet.home_port)}>
            This machine only
          </a>
        ) : null}
        {fleet.hosts.length ? (
          <button class="btn btn-danger" onClick={() => setConfirmAll(true)} data-testid="fleet-disconnect-all">
            Disconnect all
          </button>
        ) : null}
      </div>
      {fleet.hosts.length ? (
        <table class="table" data-testid="fleet-builder-hosts">
          <thead>
            <tr>
              <th>Host</th>
              <th>State</th>
              <th>Latency</th>
              <th>Runs</th>
              <th>GPUs</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {fleet.hosts.map((h) => (
              <tr key={h.host} data-host={h.host} data-state={h.state} class={h.state === "online" ? "" : "muted"}>
                <td class="mono" title={h.target ? `${h.target} ${h.remote_root ?? ""}` : "this machine's root"}>
                  {h.host}
                </td>
                <td class="col-state">{stateText(h)}</td>
                <td class="col-latency">{h.latency_ms === null ? "–" : `${fmtNum(h.latency_ms)} ms`}</td>
                <td class="col-runs">
                  {h.runs}
                  {h.running ? ` (${h.running} running)` : ""}
                </td>
                <td class="col-gpu">{gpuText(h)}</td>
                <td>
                  {h.host_key ? (
                    <button class="btn btn-small btn-primary" onClick={() => void trust(h)} data-testid="fleet-check-key">
                      Check key
                    </button>
                  ) : null}
                  {h.connection ? (
                    <button class="btn btn-small" onClick={() => disconnect(h.host)} aria-label={`Disconnect ${h.host}`}>
                      Disconnect
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {props.options.length ? (
        <div class="fleet-choose" data-testid="fleet-choose">
          {props.options.map((o) => (
            <label key={o.id} class="form-row" data-option={o.id}>
              <input
                type="checkbox"
                disabled={inFleet.has(o.id)}
                checked={inFleet.has(o.id) || !!chosen[o.id]}
                onChange={(e) => setChosen({ ...chosen, [o.id]: (e.target as HTMLInputElement).checked })}
              />
              <span>{o.label}</span>
              <span class="muted mono">{o.detail}</span>
              {o.needsPassword && chosen[o.id] && !inFleet.has(o.id) ? (
                <input
                  type="password"
                  placeholder="password"
                  autocomplete="off"
                  value={passwords[o.id] ?? ""}
                  onInput={(e) => setPasswords({ ...passwords, [o.id]: (e.target as HTMLInputElement).value })}
                />
              ) : null}
            </label>
          ))}
          <button class="btn btn-primary" disabled={busy || picked.length === 0} onClick={connect} data-testid="fleet-connect">
            {fleet.hosts.length ? "Add to fleet" : "Connect as fleet"}
          </button>
        </div>
      ) : (
        <div class="muted">Save servers below to build a fleet from them.</div>
      )}
      {confirmAll ? (
        <Confirm
          title="Disconnect every host?"
          text="Each host's viewer stops and removes its files; the fleet view closes. This machine's runs stay here."
          confirmText="Disconnect all"
          danger
          onCancel={() => setConfirmAll(false)}
          onConfirm={disconnectAll}
        />
      ) : null}
    </section>
  );
}
