// /api/remote/fs/* when the server's SFTP refuses a request: 403 with the reason, never 5xx (real sshd, internal-sftp -P).
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RunningServer, startServer } from "../../src/cli/serve.ts";
import { loadConfig } from "../../src/config/config.ts";
import { startSshd, type TestSshd } from "./sshd.ts";

setDefaultTimeout(60_000);

let sshd: TestSshd;
let dir: string;
let server: RunningServer;

async function api(path: string, json?: unknown) {
  const res = await fetch(server.url + path, {
    method: json === undefined ? "GET" : "POST",
    headers: json === undefined ? {} : { "content-type": "application/json" },
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  return { status: res.status, body: (await res.json()) as any };
}

beforeAll(async () => {
  sshd = await startSshd({ sftpDeny: ["opendir"] });
  dir = mkdtempSync(join(tmpdir(), "rn-remote-sftp-"));
  const home = join(dir, "home");
  mkdirSync(join(home, ".ssh"), { recursive: true });
  const config = loadConfig({ root: join(dir, "root"), host: "127.0.0.1", logLevel: "error", port: 0 }, { HOME: home, PATH: process.env.PATH });
  mkdirSync(join(config.configDir), { recursive: true });
  writeFileSync(join(config.configDir, "known_hosts"), `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
  server = await startServer(config);
});
afterAll(async () => {
  await server?.stop();
  await sshd.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("fs/list when SFTP refuses", () => {
  it("answers 403 'permission denied' for a directory the server will not list", async () => {
    const login = { host: "127.0.0.1", port: sshd.port, username: sshd.user, private_key_path: sshd.userKey, use_agent: false };
    const c = await api("/api/remote/connect", login);
    expect(c.status).toBe(200);
    mkdirSync(join(sshd.remoteHome, "locked"));
    const r = await api(`/api/remote/fs/list?connection_id=${encodeURIComponent(c.body.connection_id)}&path=~/locked`);
    expect(r).toEqual({ status: 403, body: { detail: "Failed to list directory ~/locked: permission denied" } });
    const ex = await api(`/api/remote/fs/exists?connection_id=${encodeURIComponent(c.body.connection_id)}&path=~/locked`);
    expect(ex).toEqual({ status: 200, body: { path: "~/locked", exists: true, is_dir: true } });
  });
});
