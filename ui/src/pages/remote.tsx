// The remote page: saved servers and profiles, the connect wizard with host-key confirmation, and active viewer sessions.
import { t } from "../i18n/i18n.ts";
import { useState } from "preact/hooks";
import { ApiError, getJson, qs, sendJson, useResource } from "../api.ts";
import { Confirm, Empty, ErrorState, Loading, Modal, StatusBadge, toast, useInterval } from "../components/common.tsx";
import { fmtDuration, fmtTime } from "../format.ts";
import { FleetBuilder, type FleetOption } from "../components/fleet-builder.tsx";
import type { RemoteSession } from "../types.ts";

/** A saved SSH server (spec §3.12 `connections.json`). */
interface Server {
  kind: "server";
  id: string;
  name: string;
  host: string;
  port: number;
  username: string;
  authMethod: "password" | "key";
  password?: string;
  privateKeyPath?: string;
  passphrase?: string;
  createdAt: number;
}

/** A saved viewer profile on a server. */
interface Profile {
  kind: "connection";
  id: string;
  serverId: string;
  name: string;
  condaEnv?: string;
  remoteRoot?: string;
  localPort?: number;
  remotePort?: number;
  createdAt: number;
}

interface HostKey {
  host: string;
  port: number;
  known_hosts_host: string;
  key_type: string;
  fingerprint_sha256: string;
  public_key: string;
  reason: string;
  expected_fingerprint_sha256?: string;
}

type Saved = (Server | Profile)[];

/** A viewer session with the additive fields our server sends (the SSH host, the pooled connection). */
type Session = RemoteSession;

function serverId(username: string, host: string, port: number): string {
  return `srv_${username}_${host}_${port}`.replace(/[^A-Za-z0-9_]/g, "_");
}

/** Reads the saved list, migrating legacy flat entries into a server plus a profile (spec §3.12). */
function normalize(list: unknown[]): Saved {
  const out: Saved = [];
  for (const e of list as Record<string, unknown>[]) {
    if (e.kind === "server" || e.kind === "connection") out.push(e as unknown as Server | Profile);
    else if (typeof e.host === "string" && typeof e.username === "string") {
      const port = Number(e.port) || 22;
      const sid = serverId(e.username, e.host, port);
      if (!out.some((x) => x.id === sid))
        out.push({ kind: "server", id: sid, name: String(e.name ?? e.host), host: e.host, port, username: e.username, authMethod: e.authMethod === "key" ? "key" : "password", password: e.password as string | undefined, privateKeyPath: e.privateKeyPath as string | undefined, createdAt: Number(e.createdAt) || Date.now() });
      out.push({ kind: "connection", id: String(e.id ?? `conn_${Date.now()}`), serverId: sid, name: String(e.name ?? "profile"), condaEnv: e.condaEnv as string | undefined, remoteRoot: e.remoteRoot as string | undefined, localPort: e.localPort as number | undefined, remotePort: e.remotePort as number | undefined, createdAt: Number(e.createdAt) || Date.now() });
    }
  }
  return out;
}

function sshBody(s: Server, password?: string) {
  return {
    host: s.host,
    port: s.port,
    username: s.username,
    password: s.authMethod === "password" ? (password ?? s.password) || undefined : undefined,
    private_key_path: s.authMethod === "key" ? s.privateKeyPath || undefined : undefined,
    passphrase: s.authMethod === "key" ? (password ?? s.passphrase) || undefined : undefined,
    use_agent: true,
  };
}

function hostKeyOf(e: unknown): HostKey | null {
  if (!(e instanceof ApiError) || e.status !== 409) return null;
  const d = (e.body as { detail?: { code?: string; host_key?: HostKey } } | null)?.detail;
  return d?.code === "HOST_KEY_CONFIRMATION_REQUIRED" && d.host_key ? d.host_key : null;
}

/** The saved connections a fleet can take: each profile (its root), and each server without one (the default root). */
function fleetOptions(servers: Server[], profiles: Profile[]): FleetOption[] {
  const needsPassword = (s: Server) => s.authMethod === "password" && !s.password && !(s as { has_password?: boolean }).has_password;
  return servers.flatMap((s) => {
    const own = profiles.filter((p) => p.serverId === s.id);
    const where = `${s.username}@${s.host}:${s.port}`;
    if (!own.length) return [{ id: s.id, label: s.name, detail: `${where} · ~/runicorn_data`, needsPassword: needsPassword(s) }];
    return own.map((p) => ({ id: p.id, label: `${s.name} · ${p.name}`, detail: `${where} · ${p.remoteRoot ?? "~/runicorn_data"}`, needsPassword: needsPassword(s) }));
  });
}

/** Route component for `/remote`. */
export function RemotePage() {
  const saved = useResource("saved", async (signal) => normalize((await getJson<{ connections: unknown[] }>("/api/remote/connections/saved", signal)).connections ?? []));
  const sessions = useResource("sessions", (signal) => getJson<{ sessions: Session[] }>("/api/remote/viewer/sessions", signal));
  const known = useResource("known", (signal) => getJson<{ entries: { host: string; port: number; key_type: string; fingerprint_sha256: string }[] }>("/api/remote/known-hosts/list", signal));
  const [wizard, setWizard] = useState<Server | "new" | null>(null);
  const [hostKey, setHostKey] = useState<{ key: HostKey; retry: () => void; cancel: () => void } | null>(null);
  const [starting, setStarting] = useState<{ profile: Profile; server: Server } | null>(null);
  // `disconnect`: also close the SSH connection (the original's Disconnect, §7.6, aimed at the right host).
  const [stop, setStop] = useState<{ session: Session; disconnect: boolean } | null>(null);
  useInterval(sessions.reload, 5000);

  const list = saved.data ?? [];
  const servers = list.filter((x): x is Server => x.kind === "server");
  const profiles = list.filter((x): x is Profile => x.kind === "connection");

  const persist = async (next: Saved) => {
    try {
      await sendJson("POST", "/api/remote/connections/saved", next);
      saved.mutate(() => next);
    } catch (e) {
      toast((e as ApiError).message, "error");
    }
  };

  /** Runs `call`; on a 409 host-key answer asks the user, records the key and runs it again; Cancel rejects with "Cancelled" (spec §5.3). */
  const withHostKey = async <T,>(call: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await call();
    } catch (e) {
      const key = hostKeyOf(e);
      if (!key) throw e;
      return new Promise<T | undefined>((resolve, reject) => {
        setHostKey({
          key,
          retry: () => {
            setHostKey(null);
            sendJson("POST", "/api/remote/known-hosts/accept", { host: key.host, port: key.port, key_type: key.key_type, public_key: key.public_key, fingerprint_sha256: key.fingerprint_sha256 })
              .then(() => {
                known.reload();
                return withHostKey(call);
              })
              .then(resolve, reject);
          },
          cancel: () => {
            setHostKey(null);
            reject(new Error("Cancelled"));
          },
        });
      });
    }
  };

  /** Shows a fleet host's untrusted key; on Trust records it and resolves true, on Cancel false. */
  const confirmHostKey = (key: HostKey) =>
    new Promise<boolean>((resolve) => {
      setHostKey({
        key,
        retry: () => {
          setHostKey(null);
          sendJson("POST", "/api/remote/known-hosts/accept", { host: key.host, port: key.port, key_type: key.key_type, public_key: key.public_key, fingerprint_sha256: key.fingerprint_sha256 }).then(
            () => {
              known.reload();
              resolve(true);
            },
            (e: ApiError) => {
              toast(e.message, "error");
              resolve(false);
            },
          );
        },
        cancel: () => {
          setHostKey(null);
          resolve(false);
        },
      });
    });

  const startViewer = async (p: Profile, s: Server, password?: string) => {
    setStarting(null);
    try {
      const r = await withHostKey(() =>
        sendJson<{ session: RemoteSession; message: string }>("POST", "/api/remote/viewer/start", {
          ...sshBody(s, password),
          remote_root: p.remoteRoot ?? "~/runicorn_data",
          local_port: p.localPort || undefined,
          remote_port: p.remotePort || undefined,
          conda_env: p.condaEnv || undefined,
        }),
      );
      if (r) toast(r.message);
      sessions.reload();
    } catch (e) {
      toast((e as ApiError).message, "error");
    }
  };

  const anyError = saved.error && !saved.data ? saved.error : null;

  return (
    <div class="page page-remote">
      <div class="toolbar">
        <h2 class="page-title">{t("remote.title")}</h2>
        <span class="spacer" />
        <button class="btn btn-primary" onClick={() => setWizard("new")}>
          {t("remote.add")}
        </button>
      </div>
      <FleetBuilder options={fleetOptions(servers, profiles)} confirmHostKey={confirmHostKey} />
      {anyError ? <ErrorState error={anyError} onRetry={saved.reload} what={t("remote.savedWhat")} /> : null}

      <section class="card">
        <h3>{t("remote.sessions")}</h3>
        {sessions.error && !sessions.data ? (
          <div class="muted">{sessions.error.message}</div>
        ) : !sessions.data ? (
          <Loading />
        ) : sessions.data.sessions.length === 0 ? (
          <div class="muted">{t("remote.noSessions")}</div>
        ) : (
          <div class="session-grid">
            {sessions.data.sessions.map((s) => (
              <div class="card session" key={s.sessionId} data-session={s.sessionId}>
                <div class="chart-head">
                  <b>
                    {s.username}@{s.host}
                  </b>
                  <StatusBadge status={s.status} />
                </div>
                <div class="muted mono">
                  {s.remoteRoot} · {t("remote.sessionPorts", { ssh: s.sshPort, remote: s.remotePort, pid: s.remotePid })}
                </div>
                <div class="muted">
                  {t("remote.sessionTimes", { start: fmtTime(s.startedAt / 1000), up: fmtDuration(s.uptimeSeconds) })}
                </div>
                <div class="form-row">
                  <a class="btn btn-primary" href={s.url} target="_blank" rel="noopener">
                    {t("remote.open", { url: s.url })}
                  </a>
                  {s.fleetHost ? (
                    // the fleet restarts its sessions: they are disconnected from the Fleet card
                    <span class="muted" data-fleet-host={s.fleetHost}>
                      Fleet host {s.fleetHost}
                    </span>
                  ) : (
                    <>
                      <button class="btn btn-danger" onClick={() => setStop({ session: s, disconnect: false })}>
                        {t("remote.stop")}
                      </button>
                      <button class="btn" onClick={() => setStop({ session: s, disconnect: true })}>
                        {t("remote.disconnect")}
                      </button>
                    </>
                  )}
                </div>
              </div>
            ))}
          </div>
        )}
      </section>

      <section class="card">
        <h3>{t("remote.saved")}</h3>
        {!saved.data && !anyError ? (
          <Loading />
        ) : servers.length === 0 ? (
          <Empty title={t("remote.noSaved")}>{t("remote.noSavedText")}</Empty>
        ) : (
          servers.map((s) => (
            <div class="server" key={s.id} data-server={s.id}>
              <div class="server-head">
                <b>{s.name}</b>
                <span class="muted mono">
                  {s.username}@{s.host}:{s.port} · {s.authMethod === "key" ? `key ${s.privateKeyPath ?? "(agent)"}` : "password"}
                </span>
                <span class="spacer" />
                <button class="btn btn-small" onClick={() => setWizard(s)}>
                  {t("remote.newProfile")}
                </button>
                <button class="btn btn-small btn-danger" onClick={() => persist(list.filter((x) => x.id !== s.id && !(x.kind === "connection" && x.serverId === s.id)))}>
                  {t("remote.remove")}
                </button>
              </div>
              <ul class="profiles">
                {profiles.filter((p) => p.serverId === s.id).map((p) => (
                  <li key={p.id}>
                    <span>{p.name}</span>
                    <span class="muted mono">
                      {p.condaEnv ?? "system"} · {p.remoteRoot ?? "~"}
                      {p.localPort ? ` · local ${p.localPort}` : ""}
                    </span>
                    <span class="spacer" />
                    <button class="btn btn-small btn-primary" onClick={() => (s.authMethod === "password" && !s.password ? setStarting({ profile: p, server: s }) : startViewer(p, s))}>
                      {t("remote.startViewer")}
                    </button>
                    <button class="btn btn-small" onClick={() => persist(list.filter((x) => x.id !== p.id))}>
                      {t("remote.delete")}
                    </button>
                  </li>
                ))}
              </ul>
            </div>
          ))
        )}
      </section>

      <section class="card">
        <h3>{t("remote.known")}</h3>
        {!known.data ? (
          known.error ? <div class="muted">{known.error.message}</div> : <Loading />
        ) : known.data.entries.length === 0 ? (
          <div class="muted">{t("remote.noKnown")}</div>
        ) : (
          <table class="table">
            <tbody>
              {known.data.entries.map((k) => (
                <tr key={`${k.host}:${k.port}:${k.key_type}`}>
                  <td>
                    {k.host}:{k.port}
                  </td>
                  <td>{k.key_type}</td>
                  <td class="mono">{k.fingerprint_sha256}</td>
                  <td>
                    <button
                      class="btn btn-small"
                      onClick={() =>
                        sendJson("POST", "/api/remote/known-hosts/remove", { host: k.host, port: k.port, key_type: k.key_type }).then(known.reload, (e: ApiError) => toast(e.message, "error"))
                      }
                    >
                      {t("remote.forget")}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      {wizard ? (
        <Wizard
          server={wizard === "new" ? undefined : wizard}
          withHostKey={withHostKey}
          onClose={() => setWizard(null)}
          onSave={(server, profile) => {
            const rest = list.filter((x) => x.id !== server.id);
            void persist([...rest, server, profile]);
            setWizard(null);
          }}
        />
      ) : null}
      {hostKey ? <HostKeyDialog hk={hostKey.key} onAccept={hostKey.retry} onCancel={hostKey.cancel} /> : null}
      {starting ? <PasswordPrompt server={starting.server} onCancel={() => setStarting(null)} onSubmit={(pw) => startViewer(starting.profile, starting.server, pw)} /> : null}
      {stop ? (
        <Confirm
          title={stop.disconnect ? t("remote.confirmDisconnect") : t("remote.confirmStop")}
          text={
            stop.disconnect
              ? t("remote.disconnectText", { target: `${stop.session.username}@${stop.session.sshHost ?? stop.session.host}:${stop.session.sshPort}` })
              : t("remote.stopText", { target: `${stop.session.username}@${stop.session.sshHost ?? stop.session.host}`, port: stop.session.localPort })
          }
          confirmText={stop.disconnect ? t("remote.disconnect") : t("remote.stop")}
          danger
          onCancel={() => setStop(null)}
          onConfirm={() => {
            const { session: s, disconnect } = stop;
            setStop(null);
            const call = disconnect
              ? sendJson<{ message: string }>("POST", "/api/remote/disconnect", { host: s.sshHost ?? s.host, port: s.sshPort, username: s.username })
              : sendJson<{ message: string }>("POST", "/api/remote/viewer/stop", { session_id: s.sessionId });
            call.then(
              (r) => {
                toast(r.message);
                sessions.reload();
              },
              (e: ApiError) => toast(e.message, "error"),
            );
          }}
        />
      ) : null}
    </div>
  );
}

/** spec §5.3: shows the presented key (and the expected one when it changed) before trusting it. */
function HostKeyDialog(props: { hk: HostKey; onAccept: () => void; onCancel: () => void }) {
  const changed = props.hk.reason === "changed";
  return (
    <Modal
      title={changed ? t("remote.hostKeyChanged") : t("remote.hostKeyConfirm")}
      onClose={props.onCancel}
      footer={
        <>
          <button class="btn" onClick={props.onCancel}>
            {t("common.cancel")}
          </button>
          <button class={`btn ${changed ? "btn-danger" : "btn-primary"}`} onClick={props.onAccept}>
            {changed ? t("remote.replaceTrust") : t("remote.trustConnect")}
          </button>
        </>
      }
    >
      <p>
        {changed
          ? t("remote.changedText")
          : t("remote.firstText")}
      </p>
      <dl class="facts">
        <div class="fact">
          <dt>{t("remote.hk.host")}</dt>
          <dd class="mono">{props.hk.known_hosts_host}</dd>
        </div>
        <div class="fact">
          <dt>{t("remote.hk.type")}</dt>
          <dd class="mono">{props.hk.key_type}</dd>
        </div>
        <div class="fact">
          <dt>{t("remote.hk.fingerprint")}</dt>
          <dd class="mono" data-testid="fingerprint">
            {props.hk.fingerprint_sha256}
          </dd>
        </div>
        {changed ? (
          <div class="fact">
            <dt>{t("remote.hk.expected")}</dt>
            <dd class="mono">{props.hk.expected_fingerprint_sha256}</dd>
          </div>
        ) : null}
      </dl>
    </Modal>
  );
}

function PasswordPrompt(props: { server: Server; onCancel: () => void; onSubmit: (pw: string) => void }) {
  const [pw, setPw] = useState("");
  return (
    <Modal
      title={t("remote.pw.title", { target: `${props.server.username}@${props.server.host}` })}
      onClose={props.onCancel}
      footer={
        <>
          <button class="btn" onClick={props.onCancel}>
            {t("common.cancel")}
          </button>
          <button class="btn btn-primary" disabled={!pw} onClick={() => props.onSubmit(pw)}>
            {t("remote.pw.start")}
          </button>
        </>
      }
    >
      <input class="input" type="password" aria-label={t("remote.pw.aria")} value={pw} autoFocus onInput={(e) => setPw((e.target as HTMLInputElement).value)} onKeyDown={(e) => e.key === "Enter" && pw && props.onSubmit(pw)} />
    </Modal>
  );
}

interface EnvInfo {
  name: string;
  type: string;
  python_version: string;
  is_default: boolean;
}

interface RemoteConfig {
  condaEnv: string;
  pythonVersion: string;
  runicornVersion: string | null;
  defaultStorageRoot: string;
  storageRootExists: boolean;
  suggestedRemotePort: number;
  connectionId: string;
}

/** Three steps: connect (with host-key confirmation), pick an environment, confirm and save a profile. */
function Wizard(props: {
  server?: Server;
  withHostKey: <T>(call: () => Promise<T>) => Promise<T | undefined>;
  onClose: () => void;
  onSave: (s: Server, p: Profile) => void;
}) {
  const init = props.server;
  const [form, setForm] = useState({
    name: init?.name ?? "",
    host: init?.host ?? "",
    port: init?.port ?? 22,
    username: init?.username ?? "",
    authMethod: init?.authMethod ?? ("password" as "password" | "key"),
    password: init?.password ?? "",
    privateKeyPath: init?.privateKeyPath ?? "",
    savePassword: !!init?.password,
  });
  const [step, setStep] = useState<1 | 2 | 3>(1);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<string | null>(null);
  const [connId, setConnId] = useState("");
  const [envs, setEnvs] = useState<EnvInfo[]>([]);
  const [env, setEnv] = useState("system");
  const [cfg, setCfg] = useState<RemoteConfig | null>(null);
  const [profile, setProfile] = useState({ name: "default", remoteRoot: "", localPort: "", remotePort: "" });

  const server = (): Server => ({
    kind: "server",
    id: serverId(form.username, form.host, form.port),
    name: form.name || form.host,
    host: form.host.trim(),
    port: form.port,
    username: form.username.trim(),
    authMethod: form.authMethod,
    password: form.authMethod === "password" && form.savePassword ? form.password : undefined,
    privateKeyPath: form.authMethod === "key" ? form.privateKeyPath : undefined,
    createdAt: init?.createdAt ?? Date.now(),
  });

  const act = async (fn: () => Promise<void>) => {
    setBusy(true);
    setErr(null);
    try {
      await fn();
    } catch (e) {
      setErr((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const connect = () =>
    act(async () => {
      const s = server();
      const r = await props.withHostKey(() => sendJson<{ connection_id: string }>("POST", "/api/remote/connect", sshBody(s, form.password)));
      if (!r) return;
      setConnId(r.connection_id);
      const e = await getJson<{ envs: EnvInfo[] }>(`/api/remote/conda-envs${qs({ connection_id: r.connection_id })}`);
      setEnvs(e.envs);
      setEnv(e.envs.find((x) => x.is_default)?.name ?? e.envs[0]?.name ?? "system");
      setStep(2);
    });

  const checkEnv = () =>
    act(async () => {
      const c = await getJson<RemoteConfig>(`/api/remote/config${qs({ connection_id: connId, conda_env: env })}`);
      setCfg(c);
      setProfile((p) => ({ ...p, remoteRoot: p.remoteRoot || c.defaultStorageRoot, remotePort: p.remotePort || String(c.suggestedRemotePort) }));
      setStep(3);
    });

  const finish = () => {
    const s = server();
    props.onSave(s, {
      kind: "connection",
      id: `conn_${Date.now()}_${Math.random().toString(36).slice(2, 8)}`,
      serverId: s.id,
      name: profile.name || env,
      condaEnv: env,
      remoteRoot: profile.remoteRoot || undefined,
      localPort: Number(profile.localPort) || undefined,
      remotePort: Number(profile.remotePort) || undefined,
      createdAt: Date.now(),
    });
    void sendJson("POST", "/api/remote/disconnect", { host: s.host, port: s.port, username: s.username }).catch(() => undefined);
  };

  const field = (label: string, key: keyof typeof form, type = "text") => (
    <label class="field">
      <span>{label}</span>
      <input
        class="input"
        type={type}
        aria-label={label}
        value={String(form[key])}
        onInput={(e) => {
          const v = (e.target as HTMLInputElement).value;
          setForm({ ...form, [key]: key === "port" ? Number(v) || 22 : v });
        }}
      />
    </label>
  );

  return (
    <Modal
      title={t("wiz.title", { step })}
      onClose={props.onClose}
      footer={
        <>
          {err ? <span class="inline-error">{err}</span> : null}
          <button class="btn" onClick={props.onClose}>
            {t("common.cancel")}
          </button>
          {step === 1 ? (
            <button class="btn btn-primary" disabled={busy || !form.host || !form.username} onClick={connect}>
              {busy ? t("wiz.connecting") : t("wiz.connect")}
            </button>
          ) : step === 2 ? (
            <button class="btn btn-primary" disabled={busy} onClick={checkEnv}>
              {busy ? t("wiz.checking") : t("wiz.useEnv")}
            </button>
          ) : (
            <button class="btn btn-primary" onClick={finish}>
              {t("wiz.save")}
            </button>
          )}
        </>
      }
    >
      {step === 1 ? (
        <div class="form">
          {field(t("wiz.name"), "name")}
          {field(t("wiz.host"), "host")}
          {field(t("wiz.port"), "port", "number")}
          {field(t("wiz.username"), "username")}
          <label class="field">
            <span>{t("wiz.auth")}</span>
            <select class="input" aria-label={t("wiz.auth")} value={form.authMethod} onChange={(e) => setForm({ ...form, authMethod: (e.target as HTMLSelectElement).value as "password" | "key" })}>
              <option value="password">{t("wiz.auth.password")}</option>
              <option value="key">{t("wiz.auth.key")}</option>
            </select>
          </label>
          {form.authMethod === "password" ? (
            <>
              {field(t("wiz.auth.password"), "password", "password")}
              <label class="field-inline">
                <input type="checkbox" checked={form.savePassword} onChange={(e) => setForm({ ...form, savePassword: (e.target as HTMLInputElement).checked })} />
                {t("wiz.remember")}
              </label>
            </>
          ) : (
            <>
              {field(t("wiz.keyPath"), "privateKeyPath")}
              {field(t("wiz.passphrase"), "password", "password")}
            </>
          )}
        </div>
      ) : step === 2 ? (
        <div class="form">
          <p class="muted">{t("wiz.connected", { id: String(connId) })}</p>
          {envs.length === 0 ? (
            <div class="muted">{t("wiz.noEnv")}</div>
          ) : (
            envs.map((e) => (
              <label class="field-inline" key={e.name}>
                <input type="radio" name="env" checked={env === e.name} onChange={() => setEnv(e.name)} />
                <b>{e.name}</b> <span class="muted">{e.type} · {e.python_version}</span>
              </label>
            ))
          )}
        </div>
      ) : (
        <div class="form">
          {cfg ? (
            <p class="muted">
              {cfg.pythonVersion} · Runicorn {cfg.runicornVersion ?? t("wiz.notInstalled")} · {t("wiz.storage", { root: cfg.defaultStorageRoot })}
              {cfg.storageRootExists ? "" : t("wiz.notExist")}
            </p>
          ) : null}
          {(["name", "remoteRoot", "localPort", "remotePort"] as const).map((k) => (
            <label class="field" key={k}>
              <span>{t(({ name: "wiz.profileName", remoteRoot: "wiz.remoteRoot", localPort: "wiz.localPort", remotePort: "wiz.remotePort" } as const)[k])}</span>
              <input class="input" aria-label={k} value={profile[k]} onInput={(e) => setProfile({ ...profile, [k]: (e.target as HTMLInputElement).value })} />
            </label>
          ))}
        </div>
      )}
    </Modal>
  );
}
