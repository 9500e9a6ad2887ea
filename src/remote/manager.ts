// The server's remote state: a pool of SSH connections keyed `user@host:port` and the remote viewer sessions (spec §3.12, §5.4).
import { join } from "node:path";
import type { Logger } from "../util/log.ts";
import { AttemptLimiter } from "./attempt-limiter.ts";
import { connectSsh, resolveSshAddress, type SshConnection } from "./connection.ts";
import { isPlainHost, KnownHostsStore, plainHost } from "./known-hosts.ts";
import { launchViewer, type Launched } from "./launch.ts";
import type { ReleaseSources } from "./deploy-source.ts";
import { SavedConnections } from "./saved-connections.ts";
import type { RemoteViewer } from "./viewer.ts";

/** Connection parameters as the API receives them (SSHConnectRequest). */
export interface ConnectParams {
  host: string;
  port: number;
  username: string;
  password?: string;
  private_key?: string;
  private_key_path?: string;
  passphrase?: string;
  use_agent: boolean;
}

/** Viewer parameters as the API receives them (RemoteViewerStartRequest minus the connection part). */
export interface ViewerParams {
  remote_root: string;
  local_port?: number;
  remote_port?: number;
  conda_env?: string;
}

/** A connect request that names no usable host (a pattern, a list, whitespace); the message says why. */
export class InvalidHostError extends Error {}

/** Too many connection attempts to one host; `retryAfter` in seconds. */
export class TooManyAttemptsError extends Error {
  constructor(
    readonly host: string,
    readonly retryAfter: number,
  ) {
    super(`Too many connection attempts to ${host}; try again in ${retryAfter} s`);
  }
}

/** The camelCase RemoteSession of spec §3.12. */
export interface RemoteSessionJson {
  sessionId: string;
  host: string;
  sshPort: number;
  username: string;
  localPort: number;
  remotePort: number;
  remoteRoot: string;
  remotePid: number;
  status: "running" | "stopped" | "connecting";
  startedAt: number;
  uptimeSeconds: number;
  isActive: boolean;
  url: string;
  /** Additive: the SSH host (the original's `host` is the remote bind address, spec §10.10). */
  sshHost: string;
  /** Additive: `user@host:port` of the pooled connection, for /api/remote/disconnect. */
  connectionId: string;
  /** Additive: `binary` (our deployed runicorn) or `python` (the server's Python runicorn). */
  viewerKind: "binary" | "python";
  /** Additive: the viewer requires the tunnel's per-session token (false for the Python viewer). */
  tokenProtected: boolean;
  /** Additive: the label of the Remote page's fleet host this session serves (managed from the fleet card), else null. */
  fleetHost: string | null;
}

interface Session {
  viewer: RemoteViewer;
  conn: SshConnection;
  root: string;
  kind: "binary" | "python";
  fleetHost?: string;
}

/** Options fixed when the server starts. */
export interface RemoteManagerOptions {
  configDir: string;
  homeDir: string;
  log: Logger;
  /** The runicorn executable to deploy (the compiled binary); undefined when running from source. */
  selfPath?: string;
  /** SSH_AUTH_SOCK, for `use_agent`. */
  agentSocket?: string;
  version: string;
  /** Where other platforms' builds are found (cross-platform deploy). */
  releases?: ReleaseSources;
  limiter?: AttemptLimiter;
}

/** Pool of connections and viewer sessions behind /api/remote/*. */
export class RemoteManager {
  private readonly pool = new Map<string, SshConnection>();
  private readonly sessions = new Map<string, Session>();
  private readonly limiter: AttemptLimiter;
  readonly knownHosts: KnownHostsStore;
  readonly saved: SavedConnections;

  constructor(private readonly opts: RemoteManagerOptions) {
    this.limiter = opts.limiter ?? new AttemptLimiter();
    this.knownHosts = new KnownHostsStore(join(opts.configDir, "known_hosts"));
    this.saved = new SavedConnections(opts.configDir);
  }

  /** A healthy pooled connection for `user@host:port`, if any. */
  findConnection(host: string, port: number, username: string): SshConnection | undefined {
    const c = this.pool.get(`${username}@${host}:${port}`);
    return c?.connected ? c : undefined;
  }

  /**
   * Reuses a healthy pooled connection or opens a new one (InvalidHostError, HostKeyError,
   * SshConnectError, TooManyAttemptsError). The host is resolved once; the limiter counts attempts
   * per resolved address and the connection goes to that same address.
   */
  async connect(p: ConnectParams): Promise<SshConnection> {
    const existing = this.findConnection(p.host, p.port, p.username);
    if (existing) return existing;
    if (!isPlainHost(p.host)) throw new InvalidHostError(`Invalid host '${p.host}': expected a host name or IP address`);
    const host = plainHost(p.host);
    const address = await resolveSshAddress(host);
    const wait = this.limiter.take(address);
    if (wait > 0) throw new TooManyAttemptsError(p.host, wait);
    // The browser never holds saved secrets (spec §10.13 fixed): fill them in here, for this exact target only.
    const saved =
      p.password || p.private_key || p.private_key_path ? undefined : this.saved.findSecrets(host, p.port, p.username);
    const keyPath = p.private_key_path ?? saved?.privateKeyPath;
    const conn = await connectSsh({
      host,
      address,
      port: p.port,
      username: p.username,
      knownHostsFiles: [this.knownHosts.path, join(this.opts.homeDir, ".ssh", "known_hosts")],
      password: p.password ?? saved?.password,
      privateKey: p.private_key,
      identityFiles: keyPath ? [expandHome(keyPath, this.opts.homeDir)] : undefined,
      homeDir: this.opts.homeDir,
      passphrase: p.passphrase ?? saved?.passphrase,
      useAgent: p.use_agent,
      agentSocket: this.opts.agentSocket,
      log: this.opts.log,
    });
    const key = conn.key;
    this.pool.get(key)?.close();
    this.pool.set(key, conn);
    conn.onClose(() => {
      if (this.pool.get(key) === conn) this.pool.delete(key);
    });
    return conn;
  }

  /** Closes and forgets a pooled connection (its viewers stop with it); false when there was none. */
  async disconnect(host: string, port: number, username: string): Promise<boolean> {
    const key = `${username}@${host}:${port}`;
    const conn = this.pool.get(key);
    if (!conn) return false;
    this.pool.delete(key);
    for (const [id, s] of this.sessions) {
      if (s.conn === conn) {
        this.sessions.delete(id);
        await s.viewer.stop();
      }
    }
    await conn.close();
    return true;
  }

  /** `GET /api/remote/sessions` items. */
  listConnections(): { key: string; host: string; port: number; username: string; connected: boolean }[] {
    return [...this.pool.entries()].map(([key, c]) => ({
      key,
      host: c.host,
      port: c.port,
      username: c.username,
      connected: c.connected,
    }));
  }

  /** Connects (if needed), launches the viewer and registers the session. */
  async startViewer(p: ConnectParams, v: ViewerParams, opts: { fleetHost?: string } = {}): Promise<RemoteSessionJson> {
    const conn = await this.connect(p);
    const launched: Launched = await launchViewer(conn, {
      root: v.remote_root,
      remotePort: v.remote_port,
      localPort: v.local_port,
      python: v.conda_env,
      // our binary (token-protected) whenever it can run there; the env's Python runicorn (no token) only as a fallback
      pythonFirst: false,
      selfPath: this.opts.selfPath,
      version: this.opts.version,
      releases: this.opts.releases,
      onStatus: (m) => this.opts.log.info(`${conn.key}: ${m}`),
    });
    const session: Session = { viewer: launched.viewer, conn, root: v.remote_root, kind: launched.kind, fleetHost: opts.fleetHost };
    this.sessions.set(launched.viewer.sessionId, session);
    launched.viewer.onExit((reason) => this.opts.log.info(`remote viewer ${launched.viewer.sessionId} ended: ${reason}`));
    return toJson(session);
  }

  /** Stops a session; false when unknown. With `closeIdleConnection`, its SSH connection closes too when no other session uses it. */
  async stopViewer(sessionId: string, opts: { closeIdleConnection?: boolean } = {}): Promise<boolean> {
    const s = this.sessions.get(sessionId);
    if (!s) return false;
    this.sessions.delete(sessionId);
    await s.viewer.stop();
    if (opts.closeIdleConnection && ![...this.sessions.values()].some((o) => o.conn === s.conn)) {
      if (this.pool.get(s.conn.key) === s.conn) this.pool.delete(s.conn.key);
      await s.conn.close();
    }
    return true;
  }

  /** Calls `fn` once when a session's viewer ends (exit, stop, lost connection) with the reason; at once when it is unknown or over. */
  onViewerExit(sessionId: string, fn: (reason: string) => void): void {
    const s = this.sessions.get(sessionId);
    if (!s) return fn("stopped");
    s.viewer.onExit(fn);
  }

  /** Live sessions; dead ones (viewer exited, connection lost) are pruned first (spec §5.4). */
  listViewers(): RemoteSessionJson[] {
    for (const [id, s] of this.sessions) {
      if (!s.viewer.alive || !s.conn.connected) {
        this.sessions.delete(id);
        void s.viewer.stop();
      }
    }
    return [...this.sessions.values()].map(toJson);
  }

  /** One session, or undefined. */
  getViewer(sessionId: string): RemoteSessionJson | undefined {
    const s = this.sessions.get(sessionId);
    return s ? toJson(s) : undefined;
  }

  /** Stops every session and closes every connection (server shutdown). */
  async closeAll(): Promise<void> {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(sessions.map((s) => s.viewer.stop().catch(() => undefined)));
    const conns = [...this.pool.values()];
    this.pool.clear();
    await Promise.all(conns.map((c) => c.close()));
  }
}

function toJson(s: Session): RemoteSessionJson {
  const v = s.viewer;
  const active = v.alive && s.conn.connected;
  return {
    sessionId: v.sessionId,
    host: "127.0.0.1",
    sshPort: s.conn.port,
    username: s.conn.username,
    localPort: v.localPort,
    remotePort: v.remotePort,
    remoteRoot: s.root,
    remotePid: v.remotePid,
    status: active ? "running" : "stopped",
    startedAt: v.startedAt,
    uptimeSeconds: (Date.now() - v.startedAt) / 1000,
    isActive: active,
    url: v.url,
    sshHost: s.conn.host,
    connectionId: s.conn.key,
    viewerKind: s.kind,
    tokenProtected: v.tokenProtected,
    fleetHost: s.fleetHost ?? null,
  };
}

function expandHome(p: string, home: string): string {
  if (p === "~") return home;
  return p.startsWith("~/") ? join(home, p.slice(2)) : p;
}
