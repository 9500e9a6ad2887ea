// A fleet built from saved connections on the Remote page: one viewer session per host over SSH (retried), a fleet-mode server over them and the local root ("local").
import { HttpError } from "../api/errors.ts";
import { HostKeyError, SshConnectError } from "../remote/connection.ts";
import { type ConnectParams, InvalidHostError, type RemoteManager, TooManyAttemptsError, type ViewerParams } from "../remote/manager.ts";
import { LocalPortError } from "../remote/viewer.ts";
import type { JsonObject } from "../store/json.ts";
import type { Logger } from "../util/log.ts";
import type { UiFleetAddRequest, UiFleetAnswer, UiFleetHost, UiFleetHostKey } from "../wire/fleet.ts";
import { Fleet } from "./fleet.ts";
import type { Upstream, UpstreamSpec } from "./upstream.ts";

/** The label of this machine's own root in a fleet built here. */
export const LOCAL_LABEL = "local";
/** The root a saved server without a profile is opened at (the Remote page's default). */
const DEFAULT_REMOTE_ROOT = "~/runicorn_data";

/** What the server that builds the fleet supplies (src/cli/serve.ts). */
export interface UiFleetOptions {
  manager: RemoteManager;
  log: Logger;
  /** The local root's own server as the `local` host (its loopback URL and token). */
  local(): UpstreamSpec;
  /** The port of that server (for the page's "back to this machine" link). */
  homePort(): number;
  /** Starts the fleet-mode server over `fleet` (a private empty root, this server's host and token). */
  startFleetServer(fleet: Fleet): Promise<{ port: number; stop(): Promise<void> }>;
  /** A free local port for a host's forward (kept across its restarts, so its upstream URL stays). */
  freePort(): Promise<number>;
  /** Retry delays after a session failed or ended: doubling from `minRetryMs` to `maxRetryMs` (the CLI's 2 s to 10 s). */
  minRetryMs?: number;
  maxRetryMs?: number;
}

type Phase = "connecting" | "running" | "waiting" | "failed";

/** One SSH host of the fleet: its saved connection and its session's phase. */
interface HostSession {
  label: string;
  connection: string;
  target: string;
  params: ConnectParams;
  viewer: ViewerParams;
  localPort: number;
  phase: Phase;
  reason: string | null;
  since: number;
  attempts: number;
  nextRetryAt: number | null;
  delay: number;
  sessionId?: string;
  timer?: ReturnType<typeof setTimeout>;
  removed: boolean;
  /**
   * True while the host has no session up (before its first one, and after one ended): its upstream is in
   * the fleet view all along (listed by `GET /api/fleet` and the System page) and reports the session's
   * state and SSH reason instead of probing a forward port that is closed.
   */
  held: boolean;
  /** The untrusted key of the last attempt's host-key failure. */
  hostKey?: UiFleetHostKey;
}

/** The Remote page's fleet: add a saved connection, remove one host or all, report every host's state. */
export class UiFleet {
  private fleet?: Fleet;
  private server?: { port: number; stop(): Promise<void> };
  private starting?: Promise<void>;
  /** Bumped when the view is detached, so a view still starting knows to stop. */
  private generation = 0;
  private readonly hosts = new Map<string, HostSession>();
  private readonly minRetryMs: number;
  private readonly maxRetryMs: number;

  constructor(private readonly opts: UiFleetOptions) {
    this.minRetryMs = opts.minRetryMs ?? 2000;
    this.maxRetryMs = opts.maxRetryMs ?? 10_000;
  }

  /**
   * Adds a saved connection (a profile: its server, root, environment and remote port; or a server: the
   * default root) and starts connecting it in the background. 404 for an unknown id, 409 when it is
   * already in the fleet. The first host also starts the fleet view with `local`.
   */
  async add(req: UiFleetAddRequest): Promise<UiFleetHost> {
    if (req.connection.includes("\0") || req.password?.includes("\0")) throw new HttpError(400, "Invalid connection: contains a NUL byte");
    const saved = this.opts.manager.saved.listSaved();
    const entry = saved.find((e) => e.id === req.connection);
    if (!entry) throw new HttpError(404, `Saved connection not found: ${req.connection}`);
    const server = entry.kind === "connection" ? saved.find((e) => e.kind !== "connection" && e.id === entry.serverId) : entry;
    const profile = entry.kind === "server" ? undefined : entry;
    if (!server || typeof server.host !== "string" || typeof server.username !== "string" || !server.host || !server.username) {
      throw new HttpError(400, `Saved connection ${req.connection} names no server (host and username are required)`);
    }
    for (const h of this.hosts.values()) {
      if (h.connection === req.connection) throw new HttpError(409, `Saved connection ${req.connection} is already in the fleet as ${h.label}`);
    }
    const port = Number(server.port ?? 22);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new HttpError(400, `Saved connection ${req.connection} has an invalid port`);
    const target = `${server.username}@${server.host}:${port}`;
    const label = this.labelFor(server, profile, target);
    const root = str(profile?.remoteRoot) ?? DEFAULT_REMOTE_ROOT;
    // a NUL byte cannot be part of a remote path or name (and would cut the viewer's command short)
    if (root.includes("\0") || str(profile?.condaEnv)?.includes("\0")) throw new HttpError(400, `Saved connection ${req.connection} has an invalid root or environment: contains a NUL byte`);
    const remotePort = Number(profile?.remotePort);
    const h: HostSession = {
      label,
      connection: req.connection,
      target,
      params: {
        host: server.host,
        port,
        username: server.username,
        // the saved password, passphrase and key path are filled in by the manager, for this exact target only
        password: req.password || undefined,
        use_agent: true,
      },
      viewer: {
        remote_root: root,
        conda_env: str(profile?.condaEnv),
        remote_port: Number.isInteger(remotePort) && remotePort > 0 && remotePort < 65536 ? remotePort : undefined,
      },
      localPort: 0,
      phase: "connecting",
      reason: null,
      since: Date.now() / 1000,
      attempts: 0,
      nextRetryAt: null,
      delay: this.minRetryMs,
      removed: false,
      held: true,
    };
    this.hosts.set(label, h);
    try {
      await this.ensureServer();
      h.localPort = await this.opts.freePort();
    } catch (e) {
      this.hosts.delete(label);
      throw e;
    }
    this.attach(h);
    void this.connect(h);
    return this.hostJson(h);
  }

  /** Disconnects one host: its forward closes, its remote viewer stops and cleans up, its runs leave the list. */
  async remove(label: string): Promise<void> {
    if (label === LOCAL_LABEL && this.fleet) {
      throw new HttpError(400, "The local root is part of every fleet built here; use Disconnect all to leave the fleet");
    }
    const h = this.hosts.get(label);
    if (!h) throw new HttpError(404, `Host not in the fleet: ${label}`);
    await this.stopHost(h);
  }

  /** Disconnects every host and stops the fleet view. */
  async removeAll(): Promise<void> {
    await this.disconnectHosts();
    await this.stopView();
  }

  /** Disconnects every SSH host (the fleet view keeps `local`). */
  async disconnectHosts(): Promise<void> {
    await Promise.all([...this.hosts.values()].map((h) => this.stopHost(h)));
  }

  /** Stops the fleet view (after `disconnectHosts`). */
  async stopView(): Promise<void> {
    await this.detachView()();
  }

  /**
   * Forgets the fleet view at once (status shows no fleet from now on) and returns what stops it: the
   * fleet view that answers "disconnect all" itself stops only after its answer is out.
   */
  detachView(): () => Promise<void> {
    const { fleet, server } = this;
    this.fleet = undefined;
    this.server = undefined;
    // a view still starting stops itself when it sees it was detached (ensureServer)
    this.starting = undefined;
    this.generation++;
    return async () => {
      fleet?.stop();
      await server?.stop();
    };
  }

  /** `GET /api/fleet/hosts`: `local` first, then the SSH hosts in the order they were added. */
  status(): UiFleetAnswer {
    const local = this.fleet?.hosts.find((u) => u.label === LOCAL_LABEL);
    return {
      managed: true,
      fleet_port: this.server?.port ?? null,
      home_port: this.opts.homePort(),
      hosts: [...(local ? [upstreamJson(local, null)] : []), ...[...this.hosts.values()].map((h) => this.hostJson(h))],
    };
  }

  get fleetPort(): number | null {
    return this.server?.port ?? null;
  }

  private labelFor(server: JsonObject, profile: JsonObject | undefined, target: string): string {
    const taken = (l: string) => l === LOCAL_LABEL || this.hosts.has(l);
    // a label shows in pages, headers and log lines: no control characters, a sensible length
    const name = clean(str(server.name)) || clean(target);
    const candidates = [name, profile ? `${name} (${clean(str(profile.name)) || clean(String(profile.id))})` : "", clean(target)];
    const free = candidates.find((c) => c && !taken(c));
    if (free) return free;
    let n = 2;
    while (taken(`${name} (${n})`)) n++;
    return `${name} (${n})`;
  }

  private async ensureServer(): Promise<void> {
    if (this.server) return;
    if (!this.starting) {
      const generation = ++this.generation;
      this.starting = (async () => {
        const fleet = new Fleet([this.opts.local()], this.opts.log.child("fleet"));
        let server: { port: number; stop(): Promise<void> };
        try {
          server = await this.opts.startFleetServer(fleet);
        } catch (e) {
          fleet.stop();
          throw e;
        }
        if (this.generation !== generation) {
          // everything was disconnected while it started
          fleet.stop();
          await server.stop();
          throw new Error("the fleet was disconnected meanwhile");
        }
        this.fleet = fleet;
        this.server = server;
      })();
    }
    try {
      await this.starting;
    } catch (e) {
      this.starting = undefined;
      throw new HttpError(409, `Could not start the fleet view: ${(e as Error).message}`);
    }
  }

  /** One attempt to bring a host's session up; schedules the next after a failure or when the viewer ends. */
  private async connect(h: HostSession): Promise<void> {
    if (h.removed) return;
    h.timer = undefined;
    h.nextRetryAt = null;
    this.setPhase(h, "connecting", h.attempts ? h.reason : null);
    this.report(h);
    const started = Date.now();
    try {
      const session = await this.opts.manager.startViewer(h.params, { ...h.viewer, local_port: h.localPort }, { fleetHost: h.label });
      if (h.removed) {
        await this.opts.manager.stopViewer(session.sessionId, { closeIdleConnection: true });
        return;
      }
      h.sessionId = session.sessionId;
      h.attempts = 0;
      h.hostKey = undefined;
      this.setPhase(h, "running", null);
      h.held = false;
      const fleet = this.fleet;
      if (fleet && !fleet.hosts.some((u) => u.label === h.label)) fleet.add({ label: h.label, baseUrl: `http://127.0.0.1:${h.localPort}` });
      else fleet?.hosts.find((u) => u.label === h.label)?.release();
      this.opts.manager.onViewerExit(session.sessionId, (reason) => {
        if (h.removed || h.sessionId !== session.sessionId) return;
        h.sessionId = undefined;
        // forget the ended session (its forward is closed): it would keep its SSH connection counted as in use
        void this.opts.manager.stopViewer(session.sessionId);
        // a session that lasted a minute starts the backoff over
        if (Date.now() - started > 60_000) h.delay = this.minRetryMs;
        h.held = true;
        this.retry(h, `the viewer ended (${reason})`);
      });
    } catch (e) {
      if (h.removed) return;
      const f = classify(e);
      this.opts.log.warn(`fleet host ${h.label}: ${f.reason}`);
      if (e instanceof LocalPortError) {
        h.localPort = await this.newPort(h);
        this.attach(h);
      }
      if (e instanceof HostKeyError) h.hostKey = hostKeyJson(e);
      if (f.final) {
        h.attempts++;
        this.setPhase(h, "failed", f.reason);
        this.report(h);
        return;
      }
      this.retry(h, f.reason, f.retryAfterMs);
    }
  }

  private retry(h: HostSession, reason: string, afterMs?: number): void {
    h.attempts++;
    const wait = Math.max(afterMs ?? 0, h.delay);
    h.delay = Math.min(this.maxRetryMs, h.delay * 2);
    this.setPhase(h, "waiting", reason);
    h.nextRetryAt = Date.now() / 1000 + wait / 1000;
    this.report(h);
    h.timer = setTimeout(() => void this.connect(h), wait);
  }

  /** Puts a host that has no session up into the fleet view, reporting its SSH state (`held`). */
  private attach(h: HostSession): void {
    const fleet = this.fleet;
    if (!h.held || h.removed || !fleet || fleet.hosts.some((u) => u.label === h.label)) return;
    fleet.add({ label: h.label, baseUrl: `http://127.0.0.1:${h.localPort}` });
    this.report(h);
  }

  /** Tells a held host's upstream its session's state: connecting, or offline with the SSH reason and next retry. */
  private report(h: HostSession): void {
    if (!h.held) return;
    const up = this.fleet?.hosts.find((u) => u.label === h.label);
    up?.hold(sessionState(h), h.reason, h.attempts, h.nextRetryAt);
  }

  /** Another local port after the host's was taken: its upstream moves with it. */
  private async newPort(h: HostSession): Promise<number> {
    const port = await this.opts.freePort();
    if (this.fleet?.remove(h.label)) this.opts.log.info(`fleet host ${h.label}: local port ${h.localPort} taken, using ${port}`);
    return port;
  }

  private setPhase(h: HostSession, phase: Phase, reason: string | null): void {
    if (h.phase !== phase) h.since = Date.now() / 1000;
    h.phase = phase;
    h.reason = reason;
  }

  private async stopHost(h: HostSession): Promise<void> {
    h.removed = true;
    clearTimeout(h.timer);
    this.hosts.delete(h.label);
    this.fleet?.remove(h.label);
    const id = h.sessionId;
    h.sessionId = undefined;
    if (id) await this.opts.manager.stopViewer(id, { closeIdleConnection: true });
  }

  private hostJson(h: HostSession): UiFleetHost {
    const base = { connection: h.connection, target: h.target, remote_root: h.viewer.remote_root };
    const up = h.phase === "running" ? this.fleet?.hosts.find((u) => u.label === h.label) : undefined;
    if (up) return { ...upstreamJson(up, null), ...base };
    return {
      host: h.label,
      ...base,
      state: sessionState(h),
      reason: h.reason,
      since: h.since,
      latency_ms: null,
      attempts: h.attempts,
      next_retry_at: h.nextRetryAt,
      runs: 0,
      running: 0,
      gpu: null,
      ...(h.phase === "failed" && h.hostKey ? { host_key: h.hostKey } : {}),
    };
  }
}

/** A host's state from its session alone (a session just up counts as connecting until its viewer answers). */
function sessionState(h: HostSession): "connecting" | "reconnecting" | "offline" {
  return h.phase === "connecting" ? (h.attempts ? "reconnecting" : "connecting") : h.phase === "running" ? "connecting" : "offline";
}

/** The presented key of a host-key failure, as the page needs it to ask the user (public data only). */
function hostKeyJson(e: HostKeyError): UiFleetHostKey {
  const p = e.problem;
  return {
    host: p.host,
    port: p.port,
    known_hosts_host: p.known_hosts_host,
    key_type: p.key_type,
    fingerprint_sha256: p.fingerprint_sha256,
    public_key: p.public_key,
    reason: p.reason,
    ...(p.expected_fingerprint_sha256 ? { expected_fingerprint_sha256: p.expected_fingerprint_sha256 } : {}),
  };
}

function upstreamJson(up: Upstream, connection: string | null): UiFleetHost {
  return {
    host: up.label,
    connection,
    target: null,
    remote_root: null,
    state: up.state,
    reason: up.reason,
    since: up.since,
    latency_ms: up.online ? up.latencyMs : null,
    attempts: up.attempts,
    next_retry_at: up.nextRetryAt,
    runs: up.online ? up.runs.length : 0,
    running: up.online ? up.runs.filter((r) => r.status === "running").length : 0,
    gpu: up.online ? up.gpu : null,
  };
}

/** A failure as the page shows it, and whether trying again without the user can help. */
function classify(e: unknown): { reason: string; final: boolean; retryAfterMs?: number } {
  if (e instanceof HostKeyError) {
    const p = e.problem;
    return {
      final: true,
      reason:
        p.reason === "changed"
          ? `host key changed for ${p.known_hosts_host} (expected ${p.expected_fingerprint_sha256}, got ${p.fingerprint_sha256}): if the server was reinstalled, check the new fingerprint and trust it (Check key)`
          : `host key of ${p.known_hosts_host} is not known yet (${p.key_type} ${p.fingerprint_sha256}): check the fingerprint and trust it (Check key)`,
    };
  }
  if (e instanceof SshConnectError && e.failure === "auth") return { final: true, reason: `${e.message}: check the saved password or key` };
  if (e instanceof InvalidHostError) return { final: true, reason: e.message };
  if (e instanceof TooManyAttemptsError) return { final: false, reason: e.message, retryAfterMs: e.retryAfter * 1000 };
  if (e instanceof Error) return { final: false, reason: e.message.split("\n")[0] || String(e) };
  return { final: false, reason: String(e) };
}

function clean(v: string | undefined): string {
  return (v ?? "").replace(/[\u0000-\u001f\u007f]+/g, " ").trim().slice(0, 80);
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}
