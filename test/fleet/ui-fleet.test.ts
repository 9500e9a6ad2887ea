// The Remote page's fleet API on real sshd hosts: saved connections added as hosts (deploy, viewer, forward, merge with "local"), per-host errors, disconnect one or all.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RunningServer, startServer } from "../../src/cli/serve.ts";
import { loadConfig } from "../../src/config/config.ts";
import { AttemptLimiter } from "../../src/remote/attempt-limiter.ts";
import { RemoteManager } from "../../src/remote/manager.ts";
import { createLogger } from "../../src/util/log.ts";
import { VERSION } from "../../src/version.ts";
import type { UiFleetAnswer, UiFleetHost } from "../../src/wire/fleet.ts";
import { copyBinary, eventually, FIXTURES, startPasswordServer } from "../remote/helpers.ts";
import { startSshd, type TestSshd } from "../remote/sshd.ts";
import { startFleetServer, writeRun } from "./helpers.ts";

// uploads of the ~100 MB binary to two hosts and sshd round trips take a while on a shared 2-core machine
setDefaultTimeout(240_000);

let a: TestSshd;
let b: TestSshd;
let pw: Awaited<ReturnType<typeof startPasswordServer>>;
let bin: { path: string; cleanup(): void };
let dir: string;
let server: RunningServer;
let base: string;

async function api(url: string, path: string, init: { method?: string; json?: unknown; headers?: Record<string, string> } = {}) {
  const res = await fetch(url + path, {
    method: init.method ?? (init.json !== undefined ? "POST" : "GET"),
    headers: { ...(init.json !== undefined ? { "content-type": "application/json" } : {}), ...init.headers },
    body: init.json !== undefined ? JSON.stringify(init.json) : undefined,
  });
  return { status: res.status, body: (await res.json()) as any, text: "" };
}
const hosts = async () => (await api(base, "/api/fleet/hosts")).body as UiFleetAnswer;
const host = async (label: string) => (await hosts()).hosts.find((h) => h.host === label) as UiFleetHost | undefined;
const viewerDirs = (s: TestSshd) => readdirSync(s.remoteTmp).filter((n) => n.startsWith("runicorn-viewer."));

beforeAll(async () => {
  [a, b] = await Promise.all([startSshd(), startSshd()]);
  bin = copyBinary();
  dir = mkdtempSync(join(tmpdir(), "rn-ui-fleet-"));
  const home = join(dir, "home");
  mkdirSync(join(home, ".ssh"), { recursive: true });
  pw = await startPasswordServer(dir, a.user, "right-password", "127.0.0.2");
  writeFileSync(
    join(home, ".ssh", "known_hosts"),
    [`[127.0.0.1]:${a.port} ${a.hostPublicKey}`, `[127.0.0.1]:${b.port} ${b.hostPublicKey}`, `[127.0.0.2]:${pw.port} ${pw.hostPublicKey}`,
      // a key that is not b's: as if b had been reinstalled since it was trusted under this name
      `[localhost]:${b.port} ${a.hostPublicKey}`].join("\n") + "\n",
  );
  mkdirSync(join(a.remoteHome, "r1"), { recursive: true });
  cpSync(join(FIXTURES, "rn-data"), join(a.remoteHome, "r1"), { recursive: true });
  writeRun(join(b.remoteHome, "r2"), "gen/b", "20250101_000001_bbbbb1", { created: 1900000000 });
  const config = loadConfig({ root: join(dir, "root"), host: "127.0.0.1", logLevel: "error", port: 0 }, { HOME: home, PATH: process.env.PATH ?? "/usr/bin:/bin" });
  writeRun(join(dir, "root"), "local/exp", "20250101_000009_c0ffee", { created: 1900000009 });
  // the server's own assembly, with a manager that deploys the test binary; every host here is on loopback, so a roomier attempt limit
  const remote = new RemoteManager({ configDir: config.configDir, homeDir: config.homeDir, log: createLogger("error").child("remote"), selfPath: bin.path, version: VERSION, limiter: new AttemptLimiter(50) });
  server = await startServer(config, { remote });
  base = server.url;
  const srv = (id: string, name: string, h: string, port: number, extra: Record<string, unknown>) => ({ kind: "server", id, name, host: h, port, username: a.user, createdAt: 1, ...extra });
  const key = { authMethod: "key", privateKeyPath: a.userKey };
  const saved = [
    srv("srv_a", "gpu-a", "127.0.0.1", a.port, key),
    { kind: "connection", id: "prof_a", serverId: "srv_a", name: "r1", remoteRoot: "~/r1", createdAt: 1 },
    srv("srv_b", "gpu-b", "127.0.0.1", b.port, { authMethod: "key", privateKeyPath: b.userKey }),
    { kind: "connection", id: "prof_b", serverId: "srv_b", name: "r2", remoteRoot: "~/r2", createdAt: 1 },
    srv("srv_pw", "pw-box", "127.0.0.2", pw.port, { authMethod: "password", password: "wrong-password" }),
    srv("srv_dead", "dead", "127.0.0.3", 1, key),
    { kind: "connection", id: "prof_dead2", serverId: "srv_dead", name: "second root", remoteRoot: "~/other", createdAt: 1 },
    { kind: "connection", id: "prof_nul", serverId: "srv_dead", name: "nul", remoteRoot: "~/a\u0000b", createdAt: 1 },
    srv("srv_changed", "reinstalled", "localhost", b.port, key),
  ];
  expect((await api(base, "/api/remote/connections/saved", { json: saved })).status).toBe(200);
});

afterAll(async () => {
  await server?.stop();
  await Promise.all([a?.stop(), b?.stop(), pw?.stop()]);
  bin?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe("building a fleet from saved connections", () => {
  it("refuses bad requests with a clear detail and changes nothing", async () => {
    expect((await api(base, "/api/fleet/hosts", { json: {} })).status).toBe(422);
    const unknown = await api(base, "/api/fleet/hosts", { json: { connection: "nope" } });
    expect(unknown.status).toBe(404);
    expect(unknown.body.detail).toBe("Saved connection not found: nope");
    expect((await api(base, "/api/fleet/hosts/gpu-a", { method: "DELETE" })).status).toBe(404);
    // names are looked up, never used as paths
    expect((await api(base, "/api/fleet/hosts", { json: { connection: "../../connections.json" } })).status).toBe(404);
    expect((await api(base, `/api/fleet/hosts/${encodeURIComponent("../../etc/passwd")}`, { method: "DELETE" })).body.detail).toBe("Host not in the fleet: ../../etc/passwd");
    expect((await api(base, "/api/fleet/hosts", { json: { connection: "x\u0000y" } })).status).toBe(400);
    expect((await api(base, "/api/fleet/hosts", { json: { connection: "x".repeat(300) } })).status).toBe(422);
    // a page of another site cannot add hosts (the origin guard)
    const cross = await api(base, "/api/fleet/hosts", { json: { connection: "prof_a" }, headers: { origin: "http://evil.example" } });
    expect(cross.status).toBe(403);
    expect(await hosts()).toEqual({ managed: true, fleet_port: null, home_port: server.port, hosts: [] });
  });

  it("connects three saved hosts as one fleet with the local root, shows each failure on its host, and the others keep working", async () => {
    for (const c of ["prof_a", "prof_b", "srv_pw", "srv_dead", "srv_changed"]) {
      const r = await api(base, "/api/fleet/hosts", { json: { connection: c } });
      expect(r.status).toBe(202);
      expect(["connecting", "online"]).toContain(r.body.host.state);
      expect(r.body.fleet_port).toBeGreaterThan(0);
    }
    expect((await api(base, "/api/fleet/hosts", { json: { connection: "prof_a" } })).body.detail).toBe("Saved connection prof_a is already in the fleet as gpu-a");
    expect(await eventually(async () => (await hosts()).hosts.filter((h) => h.state === "online").length === 3, 200_000)).toBe(true);
    // the final failures are known once their one attempt is over
    expect(await eventually(async () => (await hosts()).hosts.filter((h) => h.state === "offline" && h.next_retry_at === null).length === 2, 30_000)).toBe(true);
    const s = await hosts();
    expect(s.hosts.map((h) => h.host)).toEqual(["local", "gpu-a", "gpu-b", "pw-box", "dead", "reinstalled"]);
    const by = new Map(s.hosts.map((h) => [h.host, h]));
    expect(by.get("gpu-a")).toMatchObject({ state: "online", target: `${a.user}@127.0.0.1:${a.port}`, remote_root: "~/r1", connection: "prof_a" });
    expect(by.get("gpu-b")!.runs).toBe(1);
    expect(by.get("gpu-a")!.latency_ms).toBeGreaterThanOrEqual(0);
    expect(by.get("pw-box")).toMatchObject({ state: "offline", next_retry_at: null });
    expect(by.get("pw-box")!.reason).toBe(`Authentication failed for ${a.user}@127.0.0.2:${pw.port}: check the saved password or key`);
    expect(by.get("reinstalled")).toMatchObject({ state: "offline", next_retry_at: null });
    expect(by.get("reinstalled")!.reason).toContain("host key changed for [localhost]");
    // the key it presented, for the page to show and trust: b's own
    expect(by.get("reinstalled")!.host_key).toMatchObject({ reason: "changed", known_hosts_host: `[localhost]:${b.port}`, public_key: b.hostPublicKey });
    expect(by.get("dead")!.host_key).toBeUndefined();
    expect(await eventually(async () => ((await host("dead"))?.reason ?? "").startsWith("Connection refused by 127.0.0.3:1"), 30_000)).toBe(true);
    expect(["offline", "reconnecting"]).toContain((await host("dead"))!.state);
    // no answer carries a secret
    expect(JSON.stringify(s)).not.toContain("wrong-password");

    // the fleet view merges local, gpu-a and gpu-b
    const view = `http://127.0.0.1:${s.fleet_port}`;
    const runs = (await api(view, "/api/runs")).body as { id: string; host: string }[];
    expect(new Set(runs.map((r) => r.host))).toEqual(new Set(["local", "gpu-a", "gpu-b"]));
    const local = (await api(base, "/api/runs")).body as { id: string }[];
    expect(runs.filter((r) => r.host === "local").map((r) => r.id).sort()).toEqual(local.map((r) => r.id).sort());
    const bRun = await api(view, "/api/runs/20250101_000001_bbbbb1");
    expect(bRun.status).toBe(200);
    expect(bRun.body.run_dir).toContain("/r2/");
    // the view's own page lists the same hosts, and the server that built it still serves its own root alone
    expect((await api(view, "/api/fleet/hosts")).body.hosts.map((h: UiFleetHost) => h.host)).toEqual(s.hosts.map((h) => h.host));
    expect(((await api(base, "/api/runs")).body as { host?: string }[]).every((r) => r.host === undefined)).toBe(true);
    expect(viewerDirs(a).length).toBe(1);
    expect(viewerDirs(b).length).toBe(1);
  });

  it("marks a host whose viewer died offline and brings it back without user action", async () => {
    const sessions = (await api(base, "/api/remote/viewer/sessions")).body.sessions as { sshPort: number; remotePid: number; fleetHost: string | null }[];
    expect(sessions.map((x) => x.fleetHost).sort()).toEqual(["gpu-a", "gpu-b"]);
    const pid = sessions.find((x) => x.sshPort === a.port)!.remotePid;
    const view = `http://127.0.0.1:${(await hosts()).fleet_port}`;
    process.kill(pid, "SIGKILL");
    expect(await eventually(async () => (await host("gpu-a"))!.state !== "online", 10_000)).toBe(true);
    // the fleet view says why, as the Remote page does: the session's reason, not a probe's "connection refused"
    const inView = async () => ((await api(view, "/api/fleet")).body.hosts as { host: string; state: string; reason: string | null }[]).find((h) => h.host === "gpu-a")!;
    expect(await eventually(async () => ((await inView()).reason ?? "").startsWith("the viewer ended"), 10_000)).toBe(true);
    expect(((await api(view, "/api/runs")).body as { host: string }[]).some((r) => r.host === "gpu-a")).toBe(false);
    expect(await eventually(async () => (await host("gpu-a"))!.state === "online", 60_000)).toBe(true);
    expect(await eventually(async () => ((await api(view, "/api/runs")).body as { host: string }[]).some((r) => r.host === "gpu-a"), 10_000)).toBe(true);
    // the ended session is forgotten: one viewer (and one guard dir) per host
    expect(((await api(base, "/api/remote/viewer/sessions")).body.sessions as unknown[]).length).toBe(2);
    expect(await eventually(() => viewerDirs(a).length === 1, 10_000)).toBe(true);
  });

  it("disconnects one host: its viewer stops and cleans up, its runs leave the list, the rest keep answering", async () => {
    const view = `http://127.0.0.1:${(await hosts()).fleet_port}`;
    expect((await api(base, "/api/fleet/hosts/local", { method: "DELETE" })).status).toBe(400);
    const sessions = (await api(base, "/api/remote/viewer/sessions")).body.sessions as { localPort: number; fleetHost: string | null }[];
    const forward = sessions.find((x) => x.fleetHost === "gpu-b")!.localPort;
    expect((await fetch(`http://127.0.0.1:${forward}/api/health`)).status).toBe(200);
    const r = await api(view, `/api/fleet/hosts/${encodeURIComponent("gpu-b")}`, { method: "DELETE" });
    expect(r.status).toBe(200);
    expect(viewerDirs(b)).toEqual([]);
    const runs = (await api(view, "/api/runs")).body as { host: string }[];
    expect(new Set(runs.map((x) => x.host))).toEqual(new Set(["local", "gpu-a"]));
    expect((await api(view, "/api/runs/20250101_000001_bbbbb1")).status).toBe(404);
    expect((await hosts()).hosts.map((h) => h.host)).not.toContain("gpu-b");
    // its forward is closed, and it left the fleet view's hosts (the three that never connected stay listed there)
    expect(await fetch(`http://127.0.0.1:${forward}/api/health`).then(() => "answered", () => "closed")).toBe("closed");
    expect((await api(view, "/api/fleet")).body.hosts.map((h: { host: string }) => h.host)).toEqual(["local", "gpu-a", "pw-box", "dead", "reinstalled"]);
    expect(((await api(base, "/api/remote/viewer/sessions")).body.sessions as { fleetHost: string }[]).map((x) => x.fleetHost)).toEqual(["gpu-a"]);
    // and its SSH connection, which nothing else used
    const pool = (await api(base, "/api/remote/sessions")).body.sessions as { port: number }[];
    expect(pool.map((c) => c.port)).not.toContain(b.port);
    expect(pool.map((c) => c.port)).toContain(a.port);
  });

  it("disconnects all: every viewer stops, the fleet view closes, this server keeps its own root", async () => {
    const fleetPort = (await hosts()).fleet_port!;
    const r = await api(base, "/api/fleet/hosts", { method: "DELETE" });
    expect(r.status).toBe(200);
    expect(r.body.home_port).toBe(server.port);
    expect(await hosts()).toEqual({ managed: true, fleet_port: null, home_port: server.port, hosts: [] });
    expect(viewerDirs(a)).toEqual([]);
    expect(await fetch(`http://127.0.0.1:${fleetPort}/api/health`).then(() => "answered", () => "closed")).toBe("closed");
    expect((await api(base, "/api/remote/viewer/sessions")).body.sessions).toEqual([]);
    expect((await api(base, "/api/runs")).status).toBe(200);
    expect(existsSync(join(dir, "root"))).toBe(true);
  });
});

describe("labels", () => {
  it("labels a second profile of a server with the profile's name, which disconnects like any label", async () => {
    expect((await api(base, "/api/fleet/hosts", { json: { connection: "srv_dead" } })).body.host.host).toBe("dead");
    expect((await api(base, "/api/fleet/hosts", { json: { connection: "prof_dead2" } })).body.host.host).toBe("dead (second root)");
    const nul = await api(base, "/api/fleet/hosts", { json: { connection: "prof_nul" } });
    expect(nul.status).toBe(400);
    expect(nul.body.detail).toContain("NUL");
    expect((await api(base, `/api/fleet/hosts/${encodeURIComponent("dead (second root)")}`, { method: "DELETE" })).status).toBe(200);
    expect((await hosts()).hosts.map((h) => h.host)).toEqual(["local", "dead"]);
    expect((await api(base, "/api/fleet/hosts", { method: "DELETE" })).status).toBe(200);
    expect((await hosts()).hosts).toEqual([]);
  });
});

describe("a host that has never connected", () => {
  it("is in the fleet view's GET /api/fleet from the start, with the state and SSH reason of its session, and holds nothing back", async () => {
    for (const c of ["srv_pw", "srv_dead"]) expect((await api(base, "/api/fleet/hosts", { json: { connection: c } })).status).toBe(202);
    const view = `http://127.0.0.1:${(await hosts()).fleet_port}`;
    type ViewHost = { host: string; state: string; reason: string | null; attempts: number; next_retry_at: number | null; runs: number };
    const inView = async (label: string) => ((await api(view, "/api/fleet")).body.hosts as ViewHost[]).find((h) => h.host === label)!;
    // listed at once, before any session is up (the System page draws a section per host of this list)
    expect(((await api(view, "/api/fleet")).body.hosts as ViewHost[]).map((h) => h.host)).toEqual(["local", "pw-box", "dead"]);
    // a final failure: offline with the SSH reason, not retried
    expect(await eventually(async () => (await inView("pw-box")).state === "offline", 30_000)).toBe(true);
    expect(await inView("pw-box")).toMatchObject({ state: "offline", reason: `Authentication failed for ${a.user}@127.0.0.2:${pw.port}: check the saved password or key`, next_retry_at: null, runs: 0 });
    expect((await inView("pw-box")).attempts).toBe(1);
    // a refused host: the SSH reason and the session's retries, never a probe's "connection refused" of its unused forward port
    expect(await eventually(async () => ((await inView("dead")).reason ?? "").startsWith("Connection refused by 127.0.0.3:1"), 30_000)).toBe(true);
    const dead = await inView("dead");
    expect(["offline", "reconnecting"]).toContain(dead.state);
    expect(dead.attempts).toBeGreaterThanOrEqual(1);
    expect(dead.reason).toBe((await host("dead"))!.reason);
    // the merged list answers with local's runs, complete (neither host holds it as building)
    expect(await eventually(async () => (await fetch(`${view}/api/runs`)).headers.get("x-index-state") === "ready", 10_000)).toBe(true);
    const runs = (await api(view, "/api/runs")).body as { host: string }[];
    expect(new Set(runs.map((r) => r.host))).toEqual(new Set(["local"]));
    // disconnected, it leaves the view's list like any host
    expect((await api(base, "/api/fleet/hosts/dead", { method: "DELETE" })).status).toBe(200);
    expect(((await api(view, "/api/fleet")).body.hosts as ViewHost[]).map((h) => h.host)).toEqual(["local", "pw-box"]);
    expect((await api(base, "/api/fleet/hosts", { method: "DELETE" })).status).toBe(200);
    expect((await hosts()).hosts).toEqual([]);
  });
});

describe("a fleet started from the command line", () => {
  it("is reported as not managed here and refuses changes with a 409 that says where to change it", async () => {
    const cli = await startFleetServer([{ label: "this", baseUrl: base }]);
    try {
      expect((await cli.api("/api/fleet/hosts")).body).toEqual({ managed: false, fleet_port: null, home_port: null, hosts: [] });
      const add = await cli.api("/api/fleet/hosts", { method: "POST", json: { connection: "prof_a" } });
      expect(add.status).toBe(409);
      expect(add.body.detail).toContain("started from the command line");
      expect((await cli.api("/api/fleet/hosts/this", { method: "DELETE" })).status).toBe(409);
      expect((await cli.api("/api/fleet")).body.hosts.map((h: { host: string }) => h.host)).toEqual(["this"]);
    } finally {
      await cli.server.stop();
    }
  });
});

describe("a password given for the fleet", () => {
  it("is used for that host's sessions only, and neither stored nor echoed", async () => {
    const before = pw.secrets.length;
    const r = await api(base, "/api/fleet/hosts", { json: { connection: "srv_pw", password: "right-password" } });
    expect(r.status).toBe(202);
    // the stand-in server accepts the password, then cannot run a viewer: the failure is past authentication
    expect(await eventually(async () => ((await host("pw-box"))?.reason ?? "") !== "", 30_000)).toBe(true);
    expect((await host("pw-box"))!.reason).not.toStartWith("Authentication failed");
    expect(pw.secrets.slice(before)).toContain("right-password");
    expect(JSON.stringify(r.body) + JSON.stringify(await hosts())).not.toContain("right-password");
    const saved = readFileSync(join(dir, "home", ".config", "runicorn", "connections.json"), "utf8");
    expect(saved).not.toContain("right-password");
    expect((await api(base, "/api/fleet/hosts", { method: "DELETE" })).status).toBe(200);
  });
});

describe("a fleet built on a server that requires a token", () => {
  it("guards the fleet view with the same token and reaches the local root with it", async () => {
    const d = mkdtempSync(join(tmpdir(), "rn-ui-fleet-tok-"));
    const token = "fleet-view-token-0123456789";
    const config = loadConfig({ root: join(d, "root"), host: "127.0.0.1", logLevel: "error", port: 0, token }, { HOME: join(d, "home"), PATH: process.env.PATH ?? "/usr/bin:/bin" });
    writeRun(join(d, "root"), "p", "20250101_000007_abcdef");
    const s = await startServer(config);
    const auth = { authorization: `Bearer ${token}` };
    try {
      const saved = [{ kind: "server", id: "srv_dead", name: "dead", host: "127.0.0.3", port: 1, username: "nobody", authMethod: "key", createdAt: 1 }];
      expect((await api(s.url, "/api/remote/connections/saved", { json: saved, headers: auth })).status).toBe(200);
      expect((await api(s.url, "/api/fleet/hosts", { json: { connection: "srv_dead" } })).status).toBe(401);
      const added = await api(s.url, "/api/fleet/hosts", { json: { connection: "srv_dead" }, headers: auth });
      expect(added.status).toBe(202);
      const view = `http://127.0.0.1:${added.body.fleet_port}`;
      expect((await api(view, "/api/runs")).status).toBe(401);
      const listed = await waitForRuns(view, auth);
      expect(listed.map((r) => `${r.host}/${r.id}`)).toEqual(["local/20250101_000007_abcdef"]);
      const dead = ((await api(s.url, "/api/fleet/hosts", { headers: auth })).body as UiFleetAnswer).hosts.find((h) => h.host === "dead")!;
      expect(["connecting", "offline", "reconnecting"]).toContain(dead.state);
      expect(JSON.stringify((await api(view, "/api/fleet/hosts", { headers: auth })).body)).not.toContain(token);
    } finally {
      await s.stop();
      rmSync(d, { recursive: true, force: true });
    }
  });
});

async function waitForRuns(view: string, headers: Record<string, string>): Promise<{ id: string; host: string }[]> {
  let runs: { id: string; host: string }[] = [];
  await eventually(async () => {
    runs = (await api(view, "/api/runs", { headers })).body;
    return runs.length > 0;
  }, 20_000);
  return runs;
}
