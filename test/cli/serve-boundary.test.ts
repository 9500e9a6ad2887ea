import { afterAll, afterEach, describe, expect, it } from "bun:test";
import { chmodSync, copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { copyFixture, isolatedEnv, PROJECT, startTestServer, tempDir, type TestServer } from "../helpers/server.ts";
import { rawRequest } from "../helpers/raw-http.ts";

const MAIN = join(PROJECT, "src", "cli", "main.ts");
const BINARY = join(PROJECT, "dist", "runicorn");

/** Runs `runicorn serve ARGS` from source to its exit (for commands that must refuse to start). */
async function serveExits(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([process.execPath, MAIN, "serve", ...args], { env, stdout: "pipe", stderr: "pipe" });
  const killer = setTimeout(() => proc.kill(), 20_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(killer);
  return { code, stdout, stderr };
}

/** Starts `cmd` and resolves with the URL of its "listening on" line (the process is the caller's to kill). */
async function spawnServer(cmd: string[], cwd: string, env: Record<string, string>) {
  const proc = Bun.spawn(cmd, { cwd, env, stdout: "pipe", stderr: "pipe" });
  const reader = proc.stdout.getReader();
  const dec = new TextDecoder();
  let out = "";
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    out += dec.decode(value);
    const m = /listening on (http:\/\/\S+)/.exec(out);
    if (m) {
      reader.releaseLock();
      return { proc, url: m[1], banner: out };
    }
  }
  proc.kill();
  throw new Error(`server did not start: ${out}${await new Response(proc.stderr).text()}`);
}

describe("runicorn serve at the HTTP boundary", () => {
  const t = tempDir("rn-serve-boundary-");
  const root = copyFixture("rn-data", join(t.dir, "root"));
  const env = isolatedEnv(t.dir);
  const procs: { kill(): void; exited: Promise<number> }[] = [];
  let s: TestServer | undefined;
  afterEach(async () => {
    for (const p of procs.splice(0)) {
      p.kill();
      await p.exited;
    }
    await s?.close();
    s = undefined;
  });
  afterAll(() => t.cleanup());

  it("refuses a port already in use by another server, naming the process, and exits non-zero", async () => {
    s = await startTestServer({ fixture: "rn-data" });
    const r = await serveExits(["--root", root, "--port", String(s.port)], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`runicorn: port ${s.port} on 127.0.0.1 is in use (by `);
    expect(r.stderr).toContain(`(pid ${process.pid})`);
    expect(r.stdout).not.toContain("listening on");
    // the first server still has the port to itself
    expect((await s.api("/api/health")).body.storage).toBe(s.root);
  });

  it("refuses a port held by any other program too", async () => {
    const other = createServer();
    await new Promise<void>((res) => other.listen(0, "127.0.0.1", res));
    const port = (other.address() as { port: number }).port;
    try {
      const r = await serveExits(["--root", root, "--port", String(port)], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use \\(by .+\\); choose another with --port`));
    } finally {
      other.close();
    }
  });

  it("takes the token from RUNICORN_TOKEN without showing it in argv or the banner", async () => {
    const secret = "env-token-Zq9";
    const srv = await spawnServer([process.execPath, MAIN, "serve", "--root", root, "--port", "0"], t.dir, { ...env, RUNICORN_TOKEN: secret });
    procs.push(srv.proc);
    expect(srv.banner).not.toContain(secret);
    expect((await fetch(`${srv.url}/api/runs`)).status).toBe(401);
    expect((await fetch(`${srv.url}/api/runs`, { headers: { authorization: `Bearer ${secret}` } })).status).toBe(200);
    expect(readFileSync(`/proc/${srv.proc.pid}/cmdline`, "utf8")).not.toContain(secret);
  });

  it("takes the token from a private --token-file and refuses one others can read", async () => {
    const file = join(t.dir, "token");
    writeFileSync(file, "file-token-7Hk\n");
    chmodSync(file, 0o644);
    const open = await serveExits(["--root", root, "--port", "0", "--token-file", file], env);
    expect(open.code).toBe(1);
    expect(open.stderr).toContain(`token file ${file} is readable by other users (mode 644); run: chmod 600 ${file}`);
    chmodSync(file, 0o600);
    const srv = await spawnServer([process.execPath, MAIN, "serve", "--root", root, "--port", "0", "--token-file", file], t.dir, env);
    procs.push(srv.proc);
    expect((await fetch(`${srv.url}/api/health`, { headers: { authorization: "Bearer file-token-7Hk" } })).status).toBe(200);
    expect((await fetch(`${srv.url}/api/health`)).status).toBe(401);
    writeFileSync(file, "\n");
    expect((await serveExits(["--root", root, "--port", "0", "--token-file", file], env)).stderr).toContain("is empty");
    expect((await serveExits(["--root", root, "--port", "0", "--token-file", join(t.dir, "missing")], env)).stderr).toContain("cannot read token file");
  });

  it("refuses bad values of the boundary flags as usage errors", async () => {
    const cases: [string[], string][] = [
      [["--token", "a", "--token-file", "f"], "either --token or --token-file"],
      [["--cors-origin", "localhost:5173"], "--cors-origin needs an origin"],
      [["--allowed-host", "evil.com:80"], "--allowed-host needs a host name"],
      [["--allowed-host", "a b"], "--allowed-host needs a host name"],
      [["--trusted-proxy", "proxy.lan"], "--trusted-proxy needs an IP address"],
    ];
    for (const [args, message] of cases) {
      const r = await serveExits(["--root", root, "--port", "0", ...args], env);
      expect([args, r.code]).toEqual([args, 2]);
      expect(r.stderr).toContain(message);
    }
  });

  const targets: [string, () => string[]][] = [["from source with NODE_ENV=development", () => [process.execPath, MAIN]]];
  if (existsSync(BINARY)) {
    targets.push([
      "as the compiled binary",
      () => {
        copyFileSync(BINARY, join(t.dir, "runicorn"));
        return [join(t.dir, "runicorn")];
      },
    ]);
  }
  for (const [name, cmd] of targets) {
    it(`never shows Bun's development error page, ${name}`, async () => {
      const srv = await spawnServer([...cmd(), "serve", "--root", root, "--port", "0"], t.dir, { ...env, NODE_ENV: "development" });
      procs.push(srv.proc);
      const port = Number(new URL(srv.url).port);
      for (const head of ["GET /api/health HTTP/1.0\r\n", "GET /api/health HTTP/1.1\r\nHost: a b\r\n", "GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1:99999\r\n", "GET / HTTP/1.1\r\nHost: [::1\r\n"]) {
        const r = await rawRequest(port, `${head}Connection: close\r\n\r\n`);
        expect([head, r.status]).toEqual([head, 400]);
        expect(r.headers["content-type"]).toContain("application/json");
        expect(r.body).not.toContain("<html");
      }
    });
  }
});
