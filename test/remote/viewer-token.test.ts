// The remote viewer's per-session token against a real sshd and the real binary: only the tunnel holds it.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { connectSsh, type SshConnection } from "../../src/remote/connection.ts";
import { launchViewer } from "../../src/remote/launch.ts";
import type { RemoteViewer } from "../../src/remote/viewer.ts";
import { VERSION } from "../../src/version.ts";
import { copyBinary, eventually, FIXTURES } from "./helpers.ts";
import { startSshd, type TestSshd } from "./sshd.ts";

// Uploads of a ~100 MB binary and sshd round trips take seconds on a shared 2-core machine.
setDefaultTimeout(120_000);

let sshd: TestSshd;
let bin: { path: string; cleanup(): void };
let conn: SshConnection;
let viewer: RemoteViewer;
let runId: string;

/** One raw HTTP/1.1 exchange on a fresh socket; resolves with everything received until the server closes or `until` matches. */
function rawHttp(port: number, text: string, until?: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, "127.0.0.1");
    let got = "";
    const done = () => {
      sock.destroy();
      resolve(got);
    };
    sock.on("data", (d) => {
      got += d.toString("latin1");
      if (until?.test(got)) done();
    });
    sock.on("end", done);
    sock.on("error", reject);
    sock.setTimeout(15_000, done);
    sock.write(text);
  });
}

beforeAll(async () => {
  sshd = await startSshd();
  bin = copyBinary();
  writeFileSync(join(sshd.clientHome, ".ssh", "known_hosts"), `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
  mkdirSync(join(sshd.remoteHome, "data"), { recursive: true });
  cpSync(join(FIXTURES, "rn-data"), join(sshd.remoteHome, "data"), { recursive: true });
  const logs = (readdirSync(join(sshd.remoteHome, "data", "runs"), { recursive: true }) as string[]).find((p) => p.endsWith("logs.txt"))!;
  runId = logs.split("/").at(-2)!;
  conn = await connectSsh({
    host: "127.0.0.1",
    port: sshd.port,
    username: sshd.user,
    knownHostsFiles: [join(sshd.clientHome, ".ssh", "known_hosts")],
    homeDir: sshd.clientHome,
    useAgent: false,
  });
  viewer = (await launchViewer(conn, { root: "~/data", selfPath: bin.path, version: VERSION })).viewer;
});
afterAll(async () => {
  await viewer?.stop();
  await conn?.close();
  await sshd.stop();
  bin.cleanup();
});

describe("the remote viewer's token", () => {
  it("tells training scripts on the server the URL to open on this machine (the forward), not the server's own port", () => {
    const info = JSON.parse(readFileSync(join(sshd.remoteHome, "data", ".viewer.json"), "utf8"));
    expect(info.url).toBe(viewer.url);
    expect(info.listen_url).toBe(`http://127.0.0.1:${viewer.remotePort}`);
    expect(JSON.stringify(info)).not.toContain(readFileSync(join(viewer.remoteDir, "token"), "utf8").trim());
    // the Python SDK's init line, as a training script on the server prints it
    const py = Bun.spawnSync(["python3", "-c", "import runicorn as rn\nr = rn.init(path='remote/line', storage=" + JSON.stringify(join(sshd.remoteHome, "data")) + ")\nr.finish()"], {
      env: { ...process.env, PYTHONPATH: join(import.meta.dir, "../../sdk/python"), RUNICORN_QUIET: "", HOME: sshd.remoteHome },
    });
    expect(py.exitCode).toBe(0);
    expect(py.stderr.toString()).toMatch(new RegExp(`view: ${viewer.url.replace(/[.:/]/g, "\\$&")}/runs/\\S+`));
  });

  it("keeps the token in a 0600 file of a 0700 dir on the server, never in any process's arguments", () => {
    expect(viewer.tokenProtected).toBe(true);
    const file = join(viewer.remoteDir, "token");
    expect(statSync(viewer.remoteDir).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const token = readFileSync(file, "utf8").trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 random bytes, base64url
    const args = Bun.spawnSync(["ps", "-eo", "args="]).stdout.toString();
    expect(args).toContain(`--token-file ${file}`);
    expect(args).not.toContain(token);
    expect(readFileSync(join(viewer.remoteDir, "viewer.log"), "utf8")).not.toContain(token);
  });

  it("answers 401 to a direct connection to the viewer's port on the server without the token", async () => {
    const direct = `http://127.0.0.1:${viewer.remotePort}`;
    for (const path of ["/api/health", "/api/runs", `/api/runs/${runId}`, "/"]) {
      expect((await fetch(direct + path)).status).toBe(401);
    }
    expect((await fetch(`${direct}/api/runs`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    const patch = await fetch(`${direct}/api/runs/${runId}`, { method: "PATCH", body: JSON.stringify({ alias: "x" }), headers: { "content-type": "application/json" } });
    expect(patch.status).toBe(401);
    const ws = await rawHttp(
      viewer.remotePort,
      `GET /api/live HTTP/1.1\r\nHost: 127.0.0.1:${viewer.remotePort}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      /\r\n\r\n/,
    );
    expect(ws).toStartWith("HTTP/1.1 401");
  });

  it("serves every API call through the tunnel, with Content-Length and chunked bodies", async () => {
    const base = `http://127.0.0.1:${viewer.localPort}`;
    expect((await fetch(`${base}/api/health`)).status).toBe(200);
    const runs = (await (await fetch(`${base}/api/runs`)).json()) as { id: string }[];
    expect(runs.map((r) => r.id)).toContain(runId);
    expect((await fetch(`${base}/api/runs/${runId}`)).status).toBe(200);
    expect((await fetch(`${base}/`)).status).toBe(200);
    const patched = await fetch(`${base}/api/runs/${runId}`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ alias: "through the tunnel" }),
    });
    expect(await patched.json()).toMatchObject({ ok: true, alias: "through the tunnel" });
    // chunked body, then a second request on the same keep-alive connection
    const body = JSON.stringify({ alias: "chunked" });
    const chunked =
      `PATCH /api/runs/${runId} HTTP/1.1\r\nHost: localhost:${viewer.localPort}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n` +
      `${(5).toString(16)}\r\n${body.slice(0, 5)}\r\n${(body.length - 5).toString(16)}\r\n${body.slice(5)}\r\n0\r\n\r\n` +
      `GET /api/runs/${runId} HTTP/1.1\r\nHost: localhost:${viewer.localPort}\r\nConnection: close\r\n\r\n`;
    const both = await rawHttp(viewer.localPort, chunked);
    expect(both.match(/HTTP\/1\.1 200/g)?.length).toBe(2);
    expect(both).toContain('"alias":"chunked"');
  });

  it("carries the /api/live and logs WebSockets through the tunnel", async () => {
    const origin = `http://localhost:${viewer.localPort}`;
    const logs = await new Promise<string[]>((resolve, reject) => {
      const ws = new WebSocket(`ws://localhost:${viewer.localPort}/api/runs/${runId}/logs/ws`, { headers: { origin } } as never);
      const lines: string[] = [];
      ws.onmessage = (m) => {
        lines.push(String(m.data));
        if (lines.length >= 1) {
          ws.close();
          resolve(lines);
        }
      };
      ws.onerror = () => reject(new Error("logs WebSocket failed"));
      setTimeout(() => resolve(lines), 10_000);
    });
    const firstLine = readFileSync(join(sshd.remoteHome, "data", (readdirSync(join(sshd.remoteHome, "data", "runs"), { recursive: true }) as string[]).map((p) => join("runs", p)).find((p) => p.endsWith(`${runId}/logs.txt`))!), "utf8").split("\n")[0];
    expect(logs).toEqual([firstLine!]);

    const live = await new Promise<Record<string, unknown>[]>((resolve, reject) => {
      const ws = new WebSocket(`ws://localhost:${viewer.localPort}/api/live`, { headers: { origin } } as never);
      const msgs: Record<string, unknown>[] = [];
      ws.onopen = () => ws.send(JSON.stringify({ op: "subscribe", run_ids: [runId, "nope"], logs: true, logs_tail: 5 }));
      ws.onmessage = (m) => {
        msgs.push(JSON.parse(String(m.data)));
        if (msgs.some((x) => x.type === "error")) {
          ws.close();
          resolve(msgs);
        }
      };
      ws.onerror = () => reject(new Error("live WebSocket failed"));
      setTimeout(() => resolve(msgs), 10_000);
    });
    expect(live).toContainEqual({ type: "error", message: "run not found: nope" });
  });

  it("refuses another host name (DNS rebinding) and never hands the token to the browser", async () => {
    const rebinding = await rawHttp(viewer.localPort, `GET /api/runs HTTP/1.1\r\nHost: evil.example:${viewer.localPort}\r\n\r\n`);
    expect(rebinding).toStartWith("HTTP/1.1 403");
    expect(rebinding).toContain('{"detail":"Host not allowed: evil.example"}');
    const token = readFileSync(join(viewer.remoteDir, "token"), "utf8").trim();
    const page = await fetch(`http://127.0.0.1:${viewer.localPort}/?token=guess`, { headers: { authorization: "Bearer wrong", cookie: "runicorn_token=wrong" } });
    expect(page.status).toBe(200);
    expect(page.headers.get("set-cookie")).toBeNull();
    expect(await page.text()).not.toContain(token);
  });

  it("never sends the token to a neighbour squatting on the viewer's port", async () => {
    const received: string[] = [];
    const squatter = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(sock, d) {
          received.push(Buffer.from(d).toString("latin1"));
          sock.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}");
        },
      },
    });
    try {
      const err = await launchViewer(conn, { root: "~/data", selfPath: bin.path, version: VERSION, remotePort: squatter.port }).catch((e) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(/exited with status [1-9]/);
      expect(received.join("")).not.toContain("Authorization");
    } finally {
      squatter.stop(true);
    }
  });

  it("removes the token file with the viewer when it stops", async () => {
    const dir = viewer.remoteDir;
    expect(existsSync(join(dir, "token"))).toBe(true);
    await viewer.stop();
    expect(await eventually(() => !existsSync(dir))).toBe(true);
    const args = Bun.spawnSync(["ps", "-eo", "args="]).stdout.toString();
    expect(args).not.toContain(`${dir}/token`);
  });
});
