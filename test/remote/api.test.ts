// The /api/remote/* and /api/config/ssh_connections* routes on a real server (port 0) against a real sshd.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AppContext } from "../../src/api/context.ts";
import { type RunningServer, startServer } from "../../src/cli/serve.ts";
import { loadConfig } from "../../src/config/config.ts";
import { createLogger } from "../../src/util/log.ts";
import { VERSION } from "../../src/version.ts";
import { RemoteManager } from "../../src/remote/manager.ts";
import { copyBinary, eventually, FIXTURES, sshFingerprint, startPasswordServer } from "./helpers.ts";
import { startSshd, type TestSshd } from "./sshd.ts";

// Uploads of a ~100 MB binary and sshd round trips take seconds on a shared 2-core machine.
setDefaultTimeout(120_000);

let sshd: TestSshd;
let bin: { path: string; cleanup(): void };
let dir: string;
let ctx: AppContext;
let server: RunningServer;
let base: string;
let remote: RemoteManager;
const manager = () => remote;

async function api(path: string, init: { method?: string; json?: unknown } = {}) {
  const res = await fetch(base + path, {
    method: init.method ?? (init.json !== undefined ? "POST" : "GET"),
    headers: init.json !== undefined ? { "content-type": "application/json" } : {},
    body: init.json !== undefined ? JSON.stringify(init.json) : undefined,
  });
  return { status: res.status, body: (await res.json()) as any };
}

const login = () => ({
  host: "127.0.0.1",
  port: sshd.port,
  username: sshd.user,
  private_key_path: sshd.userKey,
  use_agent: false,
});

beforeAll(async () => {
  sshd = await startSshd();
  bin = copyBinary();
  dir = mkdtempSync(join(tmpdir(), "rn-remote-api-"));
  const home = join(dir, "home");
  mkdirSync(join(home, ".ssh"), { recursive: true });
  const config = loadConfig({ root: join(dir, "root"), host: "127.0.0.1", logLevel: "error", port: 0 }, { HOME: home, PATH: process.env.PATH });
  mkdirSync(join(sshd.remoteHome, "data"), { recursive: true });
  cpSync(join(FIXTURES, "rn-data"), join(sshd.remoteHome, "data"), { recursive: true });
  // the server's own assembly, with a manager that deploys the test binary (the test inspects it)
  remote = new RemoteManager({ configDir: config.configDir, homeDir: config.homeDir, log: createLogger("error").child("remote"), selfPath: bin.path, version: VERSION });
  server = await startServer(config, { remote });
  ctx = server.ctx;
  base = server.url;
});
afterAll(async () => {
  await server?.stop();
  await sshd.stop();
  bin.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe("bad input", () => {
  it("answers 422 for missing fields and out-of-range ports", async () => {
    expect((await api("/api/remote/connect", { json: { host: "127.0.0.1" } })).status).toBe(422);
    expect((await api("/api/remote/connect", { json: { host: "h", username: "u", port: 70000 } })).status).toBe(422);
    expect((await api("/api/remote/viewer/start", { json: { host: "h", username: "u" } })).status).toBe(422);
    expect((await api("/api/remote/known-hosts/accept", { json: { host: "h", port: 0, key_type: "k", public_key: "x", fingerprint_sha256: "f" } })).status).toBe(422);
    expect((await api("/api/remote/connections/saved", { json: { not: "a list" } })).status).toBe(422);
    expect((await api("/api/remote/fs/exists?connection_id=u@h:22")).status).toBe(422);
  });

  it("answers 400 for a malformed connection_id and 404 for an unknown one", async () => {
    for (const path of ["conda-envs", "config", "fs/list"]) {
      const bad = await api(`/api/remote/${path}?connection_id=bad`);
      expect(bad).toEqual({ status: 400, body: { detail: "Invalid connection_id format: bad" } });
      const unknown = await api(`/api/remote/${path}?connection_id=u@h:22`);
      expect(unknown).toEqual({ status: 404, body: { detail: "Connection not found or inactive: u@h:22" } });
    }
    expect((await api("/api/remote/fs/exists?connection_id=u@h:x&path=/")).status).toBe(400);
  });

  it("answers 404 for unknown sessions and the original's shapes when nothing is connected", async () => {
    expect(await api("/api/remote/viewer/stop", { json: { session_id: "nope" } })).toEqual({ status: 404, body: { detail: "Session not found: nope" } });
    expect(await api("/api/remote/viewer/status/nope")).toEqual({ status: 404, body: { detail: "Session not found: nope" } });
    expect(await api("/api/remote/disconnect", { json: { host: "h", username: "u" } })).toEqual({ status: 200, body: { ok: false, message: "Connection not found" } });
    expect(await api("/api/remote/status")).toEqual({ status: 200, body: { connections: [], viewer_sessions: [], connection_count: 0, viewer_session_count: 0 } });
  });

  it("reports a refused connection, an unknown host and an invalid host as 400 with what went wrong", async () => {
    // 127.0.0.3: its attempts stay out of 127.0.0.1's budget in the per-address limit
    expect(await api("/api/remote/connect", { json: { host: "127.0.0.3", port: 1, username: "u", password: "p" } })).toEqual({
      status: 400,
      body: { detail: "Connection failed: Connection refused by 127.0.0.3:1 (is an SSH server listening on that port?)" },
    });
    expect(await api("/api/remote/connect", { json: { host: "no-such-host.invalid", port: 22, username: "u" } })).toEqual({
      status: 400,
      body: { detail: "Connection failed: Cannot resolve host 'no-such-host.invalid'" },
    });
    for (const host of ["*", "a b", "a,b", "-oProxyCommand=x", "h\nx", "[127.0.0.1]:22"]) {
      const r = await api("/api/remote/connect", { json: { host, port: 22, username: "u" } });
      expect(r.status).toBe(400);
      expect(r.body.detail).toStartWith("Invalid host");
    }
    const start = await api("/api/remote/viewer/start", { json: { host: "127.0.0.3", port: 1, username: "u", remote_root: "~" } });
    expect(start).toEqual({ status: 400, body: { detail: "Failed to start Remote Viewer: Connection refused by 127.0.0.3:1 (is an SSH server listening on that port?)" } });
    expect((await api("/api/remote/viewer/start", { json: { host: "h", username: "u", remote_root: "a\u0000b" } })).status).toBe(400);
    expect((await api("/api/remote/disconnect", { json: { host: "h", port: 70000, username: "u" } })).status).toBe(422);
  });

  it("counts connection attempts per resolved address, whatever the spelling", async () => {
    const spellings = ["127.0.0.5", "127.5", "0x7f.0.0.5", "2130706437", "017700000005", "::ffff:127.0.0.5", "0x7f000005"];
    const statuses: number[] = [];
    for (const host of spellings) statuses.push((await api("/api/remote/connect", { json: { host, port: 1, username: "u" } })).status);
    expect(statuses).toEqual([400, 400, 400, 400, 400, 429, 429]);
  });
});

describe("known hosts", () => {
  const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
  const fp = "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU";

  it("validates, accepts, lists and removes a host key as the captures show", async () => {
    const body = { host: "example.com", port: 2222, key_type: "ssh-ed25519", public_key: key, fingerprint_sha256: fp };
    expect(await api("/api/remote/known-hosts/accept", { json: { ...body, fingerprint_sha256: "SHA256:wrong" } })).toEqual({ status: 400, body: { detail: "fingerprint_sha256 does not match public_key" } });
    expect((await api("/api/remote/known-hosts/accept", { json: { ...body, key_type: "ssh-rsa" } })).body.detail).toBe("key_type does not match public_key");
    for (const host of ["a,b", "a b", "*", "*.example.com", "h?st", "!evil", "example.com\n[evil]:22", "[a]:22", "[::1]:22", "|1|abc|def", "", "-x", "exa mple", "a..b", "[example.com]", "example.com:22", "\texample.com"]) {
      const r = await api("/api/remote/known-hosts/accept", { json: { ...body, host } });
      expect(r).toEqual({ status: 400, body: { detail: "Invalid host: expected a plain host name or IP address (no patterns, lists, other ports or spaces)" } });
      expect((await api("/api/remote/known-hosts/remove", { json: { host, port: 2222, key_type: "ssh-ed25519" } })).status).toBe(400);
    }
    expect(existsSync(join(ctx.config.configDir, "known_hosts"))).toBe(false);
    expect((await api("/api/remote/known-hosts/accept", { json: { ...body, public_key: key + "\nevil 1 2" } })).body.detail).toBe("Invalid public_key");
    expect((await api("/api/remote/known-hosts/accept", { json: { ...body, public_key: "ssh-ed25519 ***" } })).body.detail).toBe("Invalid public_key: Invalid base64 public key");
    expect(await api("/api/remote/known-hosts/accept", { json: body })).toEqual({ status: 200, body: { ok: true } });
    expect(readFileSync(join(ctx.config.configDir, "known_hosts"), "utf8")).toBe(`[example.com]:2222 ${key}\n`);
    expect((await api("/api/remote/known-hosts/list")).body).toEqual({
      entries: [{ host: "example.com", port: 2222, known_hosts_host: "[example.com]:2222", key_type: "ssh-ed25519", key_base64: key.split(" ")[1], fingerprint_sha256: fp }],
    });
    expect((await api("/api/remote/known-hosts/remove", { json: { host: "example.com", port: 2222, key_type: "ssh-ed25519" } })).body).toEqual({ ok: true, changed: true });
    expect((await api("/api/remote/known-hosts/list")).body).toEqual({ entries: [] });
    expect(statSync(join(ctx.config.configDir, "known_hosts")).mode & 0o777).toBe(0o600);
  });

  it("accepts IPv4 and IPv6 addresses (bracketed or not) and host names with dashes and underscores", async () => {
    for (const host of ["10.0.0.1", "::1", "[::1]", "gpu-01.lab_x.example.com", "10.0.0.1:2222", "[::1]:2222", "[gpu-01.lab_x.example.com]:2222"]) {
      expect((await api("/api/remote/known-hosts/accept", { json: { ...body0(), host } })).body).toEqual({ ok: true });
    }
    const hosts = (await api("/api/remote/known-hosts/list")).body.entries.map((e: { known_hosts_host: string }) => e.known_hosts_host);
    expect(hosts).toEqual(["[10.0.0.1]:2222", "[::1]:2222", "[gpu-01.lab_x.example.com]:2222"]);
    for (const host of ["10.0.0.1", "::1", "gpu-01.lab_x.example.com"]) {
      await api("/api/remote/known-hosts/remove", { json: { host, port: 2222, key_type: "ssh-ed25519" } });
    }
  });
  const body0 = () => ({ port: 2222, key_type: "ssh-ed25519", public_key: key, fingerprint_sha256: fp });
});

describe("saved connections keep secrets on the server", () => {
  it("encrypts saved passwords, never returns them, and keeps them when the browser posts the list back", async () => {
    const list = [{ kind: "server", id: "srv_u_h_22", name: "s1", host: "h", port: 22, username: "u", password: "secret", authMethod: "password" }];
    expect(await api("/api/remote/connections/saved", { json: list })).toEqual({ status: 200, body: { ok: true, message: "Connections saved successfully" } });
    const stored = readFileSync(join(ctx.config.configDir, "connections.json"), "utf8");
    expect(stored).not.toContain("secret");
    expect(JSON.parse(stored)[0].password).toStartWith("rnenc2:");
    const got = await api("/api/remote/connections/saved");
    expect(got.body).toEqual({ ok: true, connections: [{ kind: "server", id: "srv_u_h_22", name: "s1", host: "h", port: 22, username: "u", authMethod: "password", has_password: true }] });
    await api("/api/remote/connections/saved", { json: got.body.connections.map((c: object) => ({ ...c, name: "renamed" })) });
    expect(JSON.parse(readFileSync(join(ctx.config.configDir, "connections.json"), "utf8"))[0]).toMatchObject({ name: "renamed", password: JSON.parse(stored)[0].password });
    await api("/api/remote/connections/saved", { json: [{ ...got.body.connections[0], has_password: false }] });
    expect((await api("/api/remote/connections/saved")).body.connections[0].has_password).toBe(false);
  });

  it("saves config.json ssh_connections encrypted and never returns the secret", async () => {
    const body = { host: "h1", port: 2222, username: "u", name: "srv", remember_password: true, password: "pw", auth_method: "password" };
    expect(await api("/api/config/ssh_connections", { json: body })).toEqual({ status: 200, body: { ok: true, message: "SSH connection saved" } });
    const cfg = JSON.parse(readFileSync(join(ctx.config.configDir, "config.json"), "utf8"));
    expect(cfg.ssh_connections[0].password).toStartWith("rnenc2:");
    const entry = { host: "h1", port: 2222, username: "u", name: "srv", remember_password: true, auth_method: "password", key: "h1:2222@u", has_password: true, has_private_key: false };
    expect((await api("/api/config/ssh_connections")).body).toEqual({ connections: [entry] });
    expect((await api("/api/config/ssh_connections/h1:2222@u/details")).body).toEqual({ ok: true, connection: entry });
    expect(await api("/api/config/ssh_connections/none/details")).toEqual({ status: 404, body: { detail: "Connection not found: none" } });
    expect((await api("/api/config/ssh_connections/h1:2222@u", { method: "DELETE" })).body).toEqual({ ok: true, message: "SSH connection removed" });
    expect((await api("/api/config/ssh_connections")).body).toEqual({ connections: [] });
    expect((await api("/api/config/ssh_connections", { json: { host: "", username: "u" } })).status).toBe(422);
  });
});

describe("the remote viewer flow", () => {
  it("runs connect → 409 → accept → connect → fs → start → runs through the tunnel → stop → disconnect", async () => {
    const first = await api("/api/remote/connect", { json: login() });
    expect(first.status).toBe(409);
    expect(first.body.detail.code).toBe("HOST_KEY_CONFIRMATION_REQUIRED");
    expect(first.body.detail.message).toBe("Host key verification failed");
    const hk = first.body.detail.host_key;
    expect(hk).toMatchObject({ host: "127.0.0.1", port: sshd.port, known_hosts_host: `[127.0.0.1]:${sshd.port}`, key_type: "ssh-ed25519", public_key: sshd.hostPublicKey, reason: "unknown" });
    const { reason: _r, known_hosts_host: _k, ...accept } = hk;
    expect((await api("/api/remote/known-hosts/accept", { json: accept })).body).toEqual({ ok: true });
    const ok = await api("/api/remote/connect", { json: login() });
    const id = `${sshd.user}@127.0.0.1:${sshd.port}`;
    expect(ok).toEqual({ status: 200, body: { ok: true, connection_id: id, host: "127.0.0.1", port: sshd.port, username: sshd.user, connected: true } });
    expect((await api("/api/remote/sessions")).body).toEqual({ sessions: [{ key: id, host: "127.0.0.1", port: sshd.port, username: sshd.user, connected: true }] });

    const ls = await api(`/api/remote/fs/list?connection_id=${encodeURIComponent(id)}&path=~/data`);
    expect(ls.body.path).toBe(join(sshd.remoteHome, "data"));
    expect(ls.body.items.map((i: { name: string }) => i.name)).toContain("runs");
    writeFileSync(join(sshd.remoteHome, "a-file"), "x");
    expect(await api(`/api/remote/fs/list?connection_id=${encodeURIComponent(id)}&path=~/missing`)).toEqual({
      status: 404,
      body: { detail: "Failed to list directory ~/missing: no such file or directory" },
    });
    expect(await api(`/api/remote/fs/list?connection_id=${encodeURIComponent(id)}&path=~/a-file`)).toEqual({
      status: 400,
      body: { detail: `Not a directory: ${join(sshd.remoteHome, "a-file")}` },
    });
    expect((await api(`/api/remote/fs/list?connection_id=${encodeURIComponent(id)}&path=/tmp%00x`)).status).toBe(400);
    expect((await api(`/api/remote/fs/exists?connection_id=${encodeURIComponent(id)}&path=/tmp%00x`)).status).toBe(400);
    const hostile = "~/'; touch /tmp/rn-pwned-api; '";
    const ex = await api(`/api/remote/fs/exists?connection_id=${encodeURIComponent(id)}&path=${encodeURIComponent(hostile)}`);
    expect(ex.body).toEqual({ path: hostile, exists: false, is_dir: false });
    expect(existsSync("/tmp/rn-pwned-api")).toBe(false);
    const cfg = await api(`/api/remote/config?connection_id=${encodeURIComponent(id)}`);
    expect(cfg.body).toMatchObject({ ok: true, condaEnv: "system", runicornVersion: null, defaultStorageRoot: join(sshd.remoteHome, "runicorn_data"), storageRootExists: false, connectionId: id });
    expect((await api(`/api/remote/config?connection_id=${encodeURIComponent(id)}&conda_env=nosuchenv`)).body).toEqual({ detail: "Environment 'nosuchenv' not found. Please check the environment name." });

    const held = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const clash = await api("/api/remote/viewer/start", { json: { ...login(), remote_root: "~/data", local_port: held.port } });
      expect(clash.status).toBe(409);
      expect(clash.body.detail).toStartWith(`Failed to start Remote Viewer: cannot listen on local port ${held.port}`);
    } finally {
      held.stop(true);
    }
    const start = await api("/api/remote/viewer/start", { json: { ...login(), remote_root: "~/data", conda_env: "system" } });
    expect(start.status).toBe(200);
    const s = start.body.session;
    expect(start.body.message).toBe(`Remote Viewer ready at http://localhost:${s.localPort}`);
    expect(s).toMatchObject({ host: "127.0.0.1", sshPort: sshd.port, username: sshd.user, remoteRoot: "~/data", status: "running", isActive: true, url: `http://localhost:${s.localPort}`, sshHost: "127.0.0.1", connectionId: id, viewerKind: "binary", tokenProtected: true });
    expect((await fetch(`http://127.0.0.1:${s.remotePort}/api/runs`)).status).toBe(401);
    expect(s.sessionId).toMatch(/^[0-9a-f]{8}$/);
    const runs = (await (await fetch(`http://127.0.0.1:${s.localPort}/api/runs`)).json()) as { run_dir: string }[];
    expect(runs.length).toBeGreaterThan(0);
    expect(runs[0]!.run_dir.startsWith(join(sshd.remoteHome, "data"))).toBe(true);
    expect((await api("/api/remote/viewer/sessions")).body.sessions.map((x: { sessionId: string }) => x.sessionId)).toEqual([s.sessionId]);
    expect((await api(`/api/remote/viewer/status/${s.sessionId}`)).body.remotePid).toBe(s.remotePid);
    expect((await api("/api/remote/status")).body).toMatchObject({ connection_count: 1, viewer_session_count: 1 });

    expect((await api("/api/remote/viewer/stop", { json: { session_id: s.sessionId } })).body).toEqual({ ok: true, message: `Session ${s.sessionId} stopped` });
    expect((await api("/api/remote/viewer/sessions")).body).toEqual({ sessions: [] });
    expect(await eventually(() => !Bun.spawnSync(["kill", "-0", String(s.remotePid)]).success)).toBe(true);
    expect((await api("/api/remote/disconnect", { json: { host: "127.0.0.1", port: sshd.port, username: sshd.user } })).body).toEqual({ ok: true, message: "Connection removed" });
    expect((await api("/api/remote/sessions")).body).toEqual({ sessions: [] });
  });

  it("answers 403 with the reason when SSH authentication fails", async () => {
    const stranger = join(dir, "stranger_key");
    Bun.spawnSync(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", stranger]);
    expect(await api("/api/remote/connect", { json: { ...login(), private_key_path: stranger } })).toEqual({
      status: 403,
      body: { detail: `Connection failed: Authentication failed for ${sshd.user}@127.0.0.1:${sshd.port}` },
    });
  });

  it("returns 409 with the expected key when the host key changed", async () => {
    const old = sshd.hostPublicKey;
    await sshd.rotateHostKey();
    const r = await api("/api/remote/connect", { json: login() });
    expect(r.status).toBe(409);
    expect(r.body.detail.host_key).toMatchObject({ reason: "changed", public_key: sshd.hostPublicKey, expected_public_key: old });
    expect(r.body.detail.host_key.expected_fingerprint_sha256).toStartWith("SHA256:");
  });

  it("allows at most 5 connection attempts per host per minute", async () => {
    const statuses: number[] = [];
    let last: any;
    for (let i = 0; i < 7; i++) {
      last = await api("/api/remote/connect", { json: login() });
      statuses.push(last.status);
    }
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(last.status).toBe(429);
    expect(last.body.detail).toStartWith("Too many connection attempts to 127.0.0.1");
    expect(last.body.retry_after).toBeGreaterThan(0);
  });
});

describe("secrets are bound to the user@host:port they were saved for", () => {
  it("drops a saved password when a connection is re-saved for another port, host or user, so it is never sent there", async () => {
    const pwDir = join(dir, "pw");
    mkdirSync(pwDir, { recursive: true });
    const a = await startPasswordServer(pwDir, "alice", "pw-A", "127.0.0.2");
    const b = await startPasswordServer(pwDir, "alice", "pw-B", "127.0.0.2");
    try {
      for (const srv of [a, b]) {
        const [key_type, b64] = srv.hostPublicKey.split(" ");
        const fingerprint_sha256 = sshFingerprint(srv.hostPublicKey);
        expect((await api("/api/remote/known-hosts/accept", { json: { host: "127.0.0.2", port: srv.port, key_type, public_key: `${key_type} ${b64}`, fingerprint_sha256 } })).body).toEqual({ ok: true });
      }
      const entry = { kind: "server", id: "srv_bind", name: "a", host: "127.0.0.2", port: a.port, username: "alice", authMethod: "password" };
      await api("/api/remote/connections/saved", { json: [{ ...entry, password: "pw-A" }] });
      const target = { host: "127.0.0.2", username: "alice", use_agent: false };
      const okA = await api("/api/remote/connect", { json: { ...target, port: a.port } });
      expect(okA.status).toBe(200);
      expect(a.secrets).toContain("pw-A");
      await api("/api/remote/disconnect", { json: { ...target, port: a.port } });

      // the browser posts the list back with the same id but B's port, and no password (it never had it)
      const listed = (await api("/api/remote/connections/saved")).body.connections;
      expect(listed[0].has_password).toBe(true);
      await api("/api/remote/connections/saved", { json: [{ ...listed[0], port: b.port }] });
      expect((await api("/api/remote/connections/saved")).body.connections[0]).toMatchObject({ id: "srv_bind", port: b.port, has_password: false });
      expect(JSON.parse(readFileSync(join(ctx.config.configDir, "connections.json"), "utf8"))[0].password).toBeUndefined();
      const toB = await api("/api/remote/connect", { json: { ...target, port: b.port } });
      expect(toB).toEqual({ status: 403, body: { detail: `Connection failed: Authentication failed for alice@127.0.0.2:${b.port}` } });
      expect(b.secrets).not.toContain("pw-A");

      // a changed user or host drops it too
      for (const change of [{ username: "mallory" }, { host: "127.0.0.3" }]) {
        await api("/api/remote/connections/saved", { json: [{ ...entry, password: "pw-A" }] });
        const back = (await api("/api/remote/connections/saved")).body.connections[0];
        await api("/api/remote/connections/saved", { json: [{ ...back, ...change }] });
        expect((await api("/api/remote/connections/saved")).body.connections[0].has_password).toBe(false);
      }
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it("encrypts a password that looks encrypted already, and a ciphertext moved to another entry is useless", async () => {
    await api("/api/remote/connections/saved", {
      json: [
        { kind: "server", id: "s1", host: "h1", port: 22, username: "u", password: "rnenc1:AAAA" },
        { kind: "server", id: "s2", host: "h2", port: 22, username: "u", password: "ENC:abc" },
      ],
    });
    const path = join(ctx.config.configDir, "connections.json");
    const stored = JSON.parse(readFileSync(path, "utf8"));
    expect(stored[0].password).toStartWith("rnenc2:");
    expect(stored[1].password).toStartWith("rnenc2:");
    expect(stored[0].password).not.toContain("AAAA");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    // a hand-edited file that copies s1's ciphertext into s2 does not give s2 the password
    stored[1].password = stored[0].password;
    writeFileSync(path, JSON.stringify(stored));
    expect(manager().saved.findSecrets("h2", 22, "u")).toBeUndefined();
    expect(manager().saved.findSecrets("h1", 22, "u")).toEqual({ password: "rnenc1:AAAA" });
  });

  it("writes config.json 0600 (fixing a looser file) and keeps a remembered password only for the same target", async () => {
    const cfgPath = join(ctx.config.configDir, "config.json");
    writeFileSync(cfgPath, JSON.stringify({ user_root_dir: "/x" }));
    chmodSync(cfgPath, 0o644);
    const body = { host: "h9", port: 2222, username: "u", remember_password: true, password: "pw9" };
    await api("/api/config/ssh_connections", { json: body });
    expect(statSync(cfgPath).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(cfgPath, "utf8")).user_root_dir).toBe("/x");
    await api("/api/config/ssh_connections", { json: { ...body, password: undefined, name: "renamed" } });
    expect(manager().saved.findSecrets("h9", 2222, "u")?.password).toBe("pw9");
    expect(manager().saved.findSecrets("h9", 22, "u")).toBeUndefined();
    await api("/api/config/ssh_connections", { json: { ...body, password: undefined, remember_password: false } });
    expect(manager().saved.findSecrets("h9", 2222, "u")).toBeUndefined();
  });
});
