// The remote (SSH) API of spec §3.12 and the saved SSH connections of §3.8, with the bugs of §10.10 and §10.13 fixed.
import { Elysia, t } from "elysia";
import type { Stats } from "ssh2";
import { HostKeyError, SshConnectError } from "../remote/connection.ts";
import type { SshConnection } from "../remote/connection.ts";
import {
  defaultRemoteRoot,
  listPythonEnvs,
  pythonForEnv,
  pythonRunicornVersion,
  pythonVersion,
} from "../remote/environment.ts";
import { pickRemotePort, probeHost } from "../remote/host-probe.ts";
import { KnownHostsError, fingerprintSha256, isPlainHost, parsePublicKey, plainHost } from "../remote/known-hosts.ts";
import { compiledSelfPath, LaunchError } from "../remote/launch.ts";
import { InvalidHostError, RemoteManager, TooManyAttemptsError } from "../remote/manager.ts";
import { LocalPortError, ViewerStartError } from "../remote/viewer.ts";
import { releaseSources } from "../remote/deploy-source.ts";
import { currentPlatform, sshAgentPath } from "../system/platform.ts";
import { expandRemoteHome, shq } from "../remote/shell-quote.ts";
import { isObject, type JsonObject } from "../store/json.ts";
import { VERSION } from "../version.ts";
import type { Config } from "../config/config.ts";
import type { Logger } from "../util/log.ts";
import type { AppContext } from "./context.ts";
import { HttpError } from "./errors.ts";

/** The remote manager of a server (cli/serve.ts builds it once); `selfPath` is the executable to deploy. */
export function createRemoteManager(config: Config, log: Logger, selfPath = compiledSelfPath()): RemoteManager {
  return new RemoteManager({
    configDir: config.configDir,
    homeDir: config.homeDir,
    log: log.child("remote"),
    selfPath,
    releases: releaseSources(config, selfPath),
    agentSocket: sshAgentPath(currentPlatform(config.env ?? {}, config.homeDir)),
    version: VERSION,
  });
}

const port = t.Integer({ minimum: 1, maximum: 65535 });
const optText = t.Optional(t.Nullable(t.String()));
const connectFields = {
  host: t.String({ minLength: 1 }),
  port: t.Integer({ minimum: 1, maximum: 65535, default: 22 }),
  username: t.String({ minLength: 1 }),
  password: optText,
  private_key: optText,
  private_key_path: optText,
  passphrase: optText,
  use_agent: t.Boolean({ default: true }),
};
const SSHConnectRequest = t.Object(connectFields);
const RemoteViewerStartRequest = t.Object({
  ...connectFields,
  remote_root: t.String(),
  local_port: t.Optional(t.Nullable(t.Integer({ minimum: 1, maximum: 65535 }))),
  remote_port: t.Optional(t.Nullable(t.Integer({ minimum: 1, maximum: 65535 }))),
  conda_env: optText,
});

type ConnectBody = typeof SSHConnectRequest.static;

function connectParams(b: ConnectBody) {
  return {
    host: b.host,
    port: b.port,
    username: b.username,
    password: b.password ?? undefined,
    private_key: b.private_key ?? undefined,
    private_key_path: b.private_key_path ?? undefined,
    passphrase: b.passphrase ?? undefined,
    use_agent: b.use_agent,
  };
}

/** Spec §3.12: the 409 detail for an unknown or changed host key. */
function hostKeyDetail(e: HostKeyError) {
  return { code: "HOST_KEY_CONFIRMATION_REQUIRED", message: "Host key verification failed", host_key: e.problem };
}

/** SFTP status codes (draft-ietf-secsh-filexfer) that name a client-side problem with a path. */
const SFTP_NO_SUCH_FILE = 2;
const SFTP_PERMISSION_DENIED = 3;

/**
 * Maps remote-layer failures to 4xx `{"detail": "<prefix><what went wrong>"}`: every SSH, SFTP and
 * viewer failure is about the server or the input the client named, never a fault of ours. SSH
 * authentication 403, host key 409, local port in use 409, limiter 429, a missing path 404, a
 * refused one 403, network/DNS/timeout and the rest 400. A programming error is rethrown (500, logged).
 */
function remoteFailure(e: unknown, prefix: string): HttpError {
  if (e instanceof HttpError) return e;
  if (e instanceof HostKeyError) return new HttpError(409, hostKeyDetail(e));
  if (e instanceof TooManyAttemptsError) return new HttpError(429, e.message, { retry_after: e.retryAfter });
  if (e instanceof InvalidHostError) return new HttpError(400, e.message);
  if (e instanceof SshConnectError) return new HttpError(e.failure === "auth" ? 403 : 400, prefix + e.message);
  if (e instanceof LocalPortError) return new HttpError(409, prefix + e.message);
  if (e instanceof LaunchError || e instanceof ViewerStartError) return new HttpError(400, prefix + e.message);
  if (e instanceof TypeError || e instanceof RangeError || e instanceof ReferenceError || e instanceof SyntaxError || !(e instanceof Error)) {
    throw e;
  }
  const code = (e as Error & { code?: unknown }).code;
  if (code === SFTP_NO_SUCH_FILE) return new HttpError(404, `${prefix}no such file or directory`);
  if (code === SFTP_PERMISSION_DENIED) return new HttpError(403, `${prefix}permission denied`);
  return new HttpError(400, prefix + (e.message || String(e)));
}

/**
 * The known_hosts host of a request: a plain host name or IP address, optionally as `host:port` or
 * `[host]:port` when that port is the request's own; anything else (patterns, lists, spaces) is 400.
 */
function requirePlainHost(host: string, port: number): string {
  const withPort = /^\[([^\]]+)\]:(\d+)$/.exec(host) ?? /^([^:[\]]+):(\d+)$/.exec(host);
  const bare = withPort && Number(withPort[2]) === port ? withPort[1]! : host;
  if (!isPlainHost(bare)) {
    throw new HttpError(400, "Invalid host: expected a plain host name or IP address (no patterns, lists, other ports or spaces)");
  }
  return plainHost(bare);
}

/** Splits `user@host:port` (last `:`, first `@`), as the original does. */
function parseConnectionId(id: string): { username: string; host: string; port: number } {
  const colon = id.lastIndexOf(":");
  const at = id.indexOf("@");
  const portText = id.slice(colon + 1).trim();
  if (colon < 0 || at < 0 || at > colon || !/^\d+$/.test(portText)) {
    throw new HttpError(400, `Invalid connection_id format: ${id}`);
  }
  return { username: id.slice(0, at), host: id.slice(at + 1, colon), port: Number(portText) };
}

/** A NUL byte cannot be part of a remote path or name (and would cut a command short): 400. */
function noNul(value: string | null | undefined, field: string): void {
  if (value?.includes("\0")) throw new HttpError(400, `Invalid ${field}: contains a NUL byte`);
}

function requireConnection(manager: RemoteManager, id: string): SshConnection {
  const { username, host, port: p } = parseConnectionId(id);
  const conn = manager.findConnection(host, p, username);
  if (!conn) throw new HttpError(404, `Connection not found or inactive: ${id}`);
  return conn;
}

async function remoteHome(conn: SshConnection): Promise<string> {
  const r = await conn.exec(`printf '%s' "$HOME"`);
  return r.stdout || "/";
}

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const isDir = (st: Stats) => (st.mode & S_IFMT) === S_IFDIR;

/** Every `/api/remote/*` route and `/api/config/ssh_connections*`. */
export function remoteRoutes(ctx: AppContext) {
  const manager = ctx.remote;
  const connectionQuery = t.Object({ connection_id: t.String() });

  return new Elysia({ name: "remote" })
    .post(
      "/api/remote/connect",
      async ({ body }) => {
        try {
          const conn = await manager.connect(connectParams(body));
          return { ok: true, connection_id: conn.key, host: conn.host, port: conn.port, username: conn.username, connected: conn.connected };
        } catch (e) {
          throw remoteFailure(e, "Connection failed: ");
        }
      },
      { body: SSHConnectRequest, detail: { summary: "Open (or reuse) an SSH connection; 409 when the host key needs confirmation" } },
    )
    .get("/api/remote/sessions", () => ({ sessions: manager.listConnections() }), {
      detail: { summary: "Pooled SSH connections" },
    })
    .post(
      "/api/remote/disconnect",
      async ({ body }) => {
        const ok = await manager.disconnect(body.host, body.port, body.username);
        return ok ? { ok: true, message: "Connection removed" } : { ok: false, message: "Connection not found" };
      },
      {
        body: t.Object({ host: t.String(), port: t.Integer({ minimum: 1, maximum: 65535, default: 22 }), username: t.String() }),
        detail: { summary: "Close a pooled SSH connection and the viewers that use it" },
      },
    )
    .get(
      "/api/remote/conda-envs",
      async ({ query }) => {
        const conn = requireConnection(manager, query.connection_id);
        try {
          return { ok: true, envs: await listPythonEnvs(conn) };
        } catch (e) {
          throw remoteFailure(e, "Failed to detect environments: ");
        }
      },
      { query: connectionQuery, detail: { summary: "Python environments on the server (conda and system)" } },
    )
    .get(
      "/api/remote/config",
      async ({ query }) => {
        const conn = requireConnection(manager, query.connection_id);
        const env = query.conda_env ?? "system";
        noNul(env, "conda_env");
        try {
          const python = await pythonForEnv(conn, env);
          if (!python && env !== "system") {
            throw new HttpError(404, `Environment '${env}' not found. Please check the environment name.`);
          }
          const version = python ? await pythonVersion(conn, python) : undefined;
          // Our own binary needs no Python, so a missing system python is not an error (it was a 500).
          if (!version && env !== "system") throw new HttpError(400, `Failed to run Python in environment: ${env}`);
          const runicornVersion = python && version ? ((await pythonRunicornVersion(conn, python)) ?? null) : null;
          const probe = await probeHost(conn, VERSION);
          const root = await defaultRemoteRoot(conn, runicornVersion ? python : undefined, probe.home);
          const exists = (await conn.exec(`test -d ${shq(root)}`)).code === 0;
          return {
            ok: true,
            condaEnv: env,
            pythonVersion: version ?? null,
            runicornVersion,
            defaultStorageRoot: root,
            storageRootExists: exists,
            suggestedRemotePort: pickRemotePort(probe.listening),
            connectionId: query.connection_id,
          };
        } catch (e) {
          throw remoteFailure(e, "Failed to get remote configuration: ");
        }
      },
      {
        query: t.Object({ connection_id: t.String(), conda_env: t.Optional(t.String()) }),
        detail: { summary: "Python/runicorn versions, default storage root and a free port on the server" },
      },
    )
    .get(
      "/api/remote/fs/list",
      async ({ query }) => {
        const conn = requireConnection(manager, query.connection_id);
        try {
          let path = query.path ?? "~";
          if (path === "~" || path.startsWith("~/")) path = expandRemoteHome(path, await remoteHome(conn));
          noNul(path, "path");
          const sftp = await conn.sftp();
          const st = await new Promise<Stats>((resolve, reject) => sftp.stat(path, (err, s) => (err ? reject(err) : resolve(s))));
          if (!isDir(st)) throw new HttpError(400, `Not a directory: ${path}`);
          const list = await new Promise<{ filename: string; attrs: Stats }[]>((resolve, reject) =>
            sftp.readdir(path, (err, l) => (err ? reject(err) : resolve(l as never))),
          );
          const items = list
            .map((e) => ({
              name: e.filename,
              is_dir: isDir(e.attrs),
              size: isDir(e.attrs) ? 0 : e.attrs.size,
              mtime: e.attrs.mtime,
            }))
            .sort((a, b) => (a.is_dir === b.is_dir ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : a.is_dir ? -1 : 1));
          return { path, items };
        } catch (e) {
          throw remoteFailure(e, `Failed to list directory ${query.path ?? "~"}: `);
        }
      },
      {
        query: t.Object({ connection_id: t.String(), path: t.Optional(t.String()) }),
        detail: { summary: "List a directory on the server (SFTP)" },
      },
    )
    .get(
      "/api/remote/fs/exists",
      async ({ query }) => {
        const conn = requireConnection(manager, query.connection_id);
        try {
          let path = query.path;
          noNul(path, "path");
          if (path === "~" || path.startsWith("~/")) path = expandRemoteHome(path, await remoteHome(conn));
          const sftp = await conn.sftp();
          // SFTP stat, not a shell `test -e '<path>'` (spec §6.1: that was an injection).
          const st = await new Promise<Stats | undefined>((resolve) => sftp.stat(path, (err, s) => resolve(err ? undefined : s)));
          return { path: query.path, exists: st !== undefined, is_dir: st ? isDir(st) : false };
        } catch (e) {
          throw remoteFailure(e, "Failed to check path: ");
        }
      },
      {
        query: t.Object({ connection_id: t.String(), path: t.String() }),
        detail: { summary: "Does a path exist on the server, and is it a directory (SFTP)" },
      },
    )
    .post(
      "/api/remote/viewer/start",
      async ({ body }) => {
        noNul(body.remote_root, "remote_root");
        noNul(body.conda_env, "conda_env");
        try {
          const session = await manager.startViewer(connectParams(body), {
            remote_root: body.remote_root,
            local_port: body.local_port ?? undefined,
            remote_port: body.remote_port ?? undefined,
            conda_env: body.conda_env ?? undefined,
          });
          return { ok: true, session, message: `Remote Viewer ready at ${session.url}` };
        } catch (e) {
          throw remoteFailure(e, "Failed to start Remote Viewer: ");
        }
      },
      {
        body: RemoteViewerStartRequest,
        detail: { summary: "Start a viewer on the server (our binary, or the env's Python runicorn) and forward a local port" },
      },
    )
    .post(
      "/api/remote/viewer/stop",
      async ({ body }) => {
        if (!(await manager.stopViewer(body.session_id))) throw new HttpError(404, `Session not found: ${body.session_id}`);
        return { ok: true, message: `Session ${body.session_id} stopped` };
      },
      { body: t.Object({ session_id: t.String() }), detail: { summary: "Stop a remote viewer and remove its files" } },
    )
    .get("/api/remote/viewer/sessions", () => ({ sessions: manager.listViewers() }), {
      detail: { summary: "Live remote viewer sessions" },
    })
    .get(
      "/api/remote/viewer/status/:session_id",
      ({ params }) => {
        const s = manager.getViewer(params.session_id);
        if (!s) throw new HttpError(404, `Session not found: ${params.session_id}`);
        return s;
      },
      { params: t.Object({ session_id: t.String() }), detail: { summary: "One remote viewer session" } },
    )
    .get(
      "/api/remote/status",
      () => {
        const viewers = manager.listViewers();
        const connections = manager.listConnections();
        return {
          connections,
          viewer_sessions: viewers,
          connection_count: connections.length,
          viewer_session_count: viewers.length,
        };
      },
      { detail: { summary: "Connections and viewer sessions" } },
    )
    .post(
      "/api/remote/known-hosts/accept",
      ({ body }) => {
        const bad = (s: string) => /\s/.test(s);
        const host = requirePlainHost(body.host, body.port);
        if (!body.key_type || bad(body.key_type)) throw new HttpError(400, "Invalid key_type");
        if (!body.fingerprint_sha256 || bad(body.fingerprint_sha256)) throw new HttpError(400, "Invalid fingerprint_sha256");
        if (/[\r\n]/.test(body.public_key)) throw new HttpError(400, "Invalid public_key");
        let parsed;
        try {
          parsed = parsePublicKey(body.public_key);
        } catch (e) {
          throw new HttpError(400, `Invalid public_key: ${(e as Error).message}`);
        }
        if (parsed.keyType !== body.key_type) throw new HttpError(400, "key_type does not match public_key");
        if (fingerprintSha256(parsed.blob) !== body.fingerprint_sha256) {
          throw new HttpError(400, "fingerprint_sha256 does not match public_key");
        }
        try {
          manager.knownHosts.upsert(host, body.port, body.key_type, parsed.keyBase64);
        } catch (e) {
          throw new HttpError(500, `Failed to write known_hosts: ${(e as Error).message}`);
        }
        return { ok: true };
      },
      {
        body: t.Object({
          host: t.String(),
          port,
          key_type: t.String(),
          public_key: t.String({ minLength: 1, maxLength: 8192 }),
          fingerprint_sha256: t.String(),
        }),
        detail: { summary: "Trust a host key (after a 409)" },
      },
    )
    .get(
      "/api/remote/known-hosts/list",
      () => {
        try {
          return { entries: manager.knownHosts.list() };
        } catch (e) {
          throw new HttpError(500, `Failed to list known_hosts: ${(e as Error).message}`);
        }
      },
      { detail: { summary: "Host keys trusted by Runicorn (CFG/known_hosts)" } },
    )
    .post(
      "/api/remote/known-hosts/remove",
      ({ body }) => {
        const host = requirePlainHost(body.host, body.port);
        if (!body.key_type || /\s/.test(body.key_type)) throw new HttpError(400, "Invalid key_type");
        try {
          return { ok: true, changed: manager.knownHosts.remove(host, body.port, body.key_type) };
        } catch (e) {
          throw new HttpError(500, `Failed to remove known_hosts entry: ${(e as KnownHostsError).message}`);
        }
      },
      {
        body: t.Object({ host: t.String(), port, key_type: t.String() }),
        detail: { summary: "Forget a trusted host key" },
      },
    )
    .get(
      "/api/remote/connections/saved",
      () => {
        try {
          return { ok: true, connections: manager.saved.listSaved() };
        } catch (e) {
          throw new HttpError(500, `Failed to load connections: ${(e as Error).message}`);
        }
      },
      { detail: { summary: "Saved servers and profiles; secrets are reported as has_password, never returned" } },
    )
    .post(
      "/api/remote/connections/saved",
      ({ body }) => {
        try {
          manager.saved.replaceSaved(body);
        } catch (e) {
          throw new HttpError(500, `Failed to save connections: ${(e as Error).message}`);
        }
        return { ok: true, message: "Connections saved successfully" };
      },
      {
        body: t.Array(t.Any()),
        detail: { summary: "Replace the saved servers and profiles (passwords encrypted; omitted ones are kept)" },
      },
    )
    .get("/api/config/ssh_connections", () => ({ connections: manager.saved.listConfigConnections() }), {
      detail: { summary: "Saved SSH connections of config.json, without secrets" },
    })
    .post(
      "/api/config/ssh_connections",
      ({ body }) => {
        if (!isObject(body) || typeof body.host !== "string" || typeof body.username !== "string") {
          throw new HttpError(400, "Failed to save connection: host and username are required");
        }
        manager.saved.saveConfigConnection(body as JsonObject);
        return { ok: true, message: "SSH connection saved" };
      },
      {
        body: t.Object(
          {
            host: t.String({ minLength: 1 }),
            port: t.Integer({ minimum: 1, maximum: 65535, default: 22 }),
            username: t.String({ minLength: 1 }),
            name: t.Optional(t.String()),
            remember_password: t.Optional(t.Boolean()),
            auth_method: t.Optional(t.String()),
            password: optText,
            private_key: optText,
            private_key_path: optText,
            passphrase: optText,
          },
          { additionalProperties: true },
        ),
        detail: { summary: "Save an SSH connection (secrets only with remember_password, encrypted)" },
      },
    )
    .get(
      "/api/config/ssh_connections/:key/details",
      ({ params }) => {
        const c = manager.saved.configConnectionDetails(params.key);
        if (!c) throw new HttpError(404, `Connection not found: ${params.key}`);
        return { ok: true, connection: c };
      },
      { params: t.Object({ key: t.String() }), detail: { summary: "One saved SSH connection (secrets are not returned)" } },
    )
    .delete(
      "/api/config/ssh_connections/:key",
      ({ params }) => {
        manager.saved.removeConfigConnection(params.key);
        return { ok: true, message: "SSH connection removed" };
      },
      { params: t.Object({ key: t.String() }), detail: { summary: "Forget a saved SSH connection" } },
    );
}
