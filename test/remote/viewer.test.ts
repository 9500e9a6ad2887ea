// Deploy, start, tunnel, stop and connection loss against a real sshd, with the real runicorn binary as the remote viewer.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { appendFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer, connect, type Socket } from "node:net";
import { join } from "node:path";
import { connectSsh, type SshConnection } from "../../src/remote/connection.ts";
import { describeLocalBinary, ensureBinary } from "../../src/remote/deploy.ts";
import { probeHost } from "../../src/remote/host-probe.ts";
import { launchViewer, LaunchError } from "../../src/remote/launch.ts";
import { VERSION } from "../../src/version.ts";
import { copyBinary, eventually, FIXTURES } from "./helpers.ts";
import { startSshd, type TestSshd } from "./sshd.ts";

// Uploads of a ~100 MB binary and sshd round trips take seconds on a shared 2-core machine.
setDefaultTimeout(120_000);

let sshd: TestSshd;
let bin: { path: string; cleanup(): void };
let conn: SshConnection;
const HOSTILE = "~/a b/'; touch /tmp/rn-pwned-viewer; '";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function open(port = sshd.port): Promise<SshConnection> {
  return connectSsh({
    host: "127.0.0.1",
    port,
    username: sshd.user,
    knownHostsFiles: [join(sshd.clientHome, ".ssh", "known_hosts")],
    homeDir: sshd.clientHome,
    useAgent: false,
  });
}

beforeAll(async () => {
  sshd = await startSshd();
  bin = copyBinary();
  writeFileSync(join(sshd.clientHome, ".ssh", "known_hosts"), `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
  const root = join(sshd.remoteHome, "a b", "'; touch /tmp/rn-pwned-viewer; '");
  mkdirSync(root, { recursive: true });
  cpSync(join(FIXTURES, "rn-data"), root, { recursive: true });
  conn = await open();
});
afterAll(async () => {
  await conn?.close();
  await sshd.stop();
  bin.cleanup();
});

describe("deploy", () => {
  it("uploads the binary compressed, verifies it and skips the upload when it is already there", async () => {
    const local = await describeLocalBinary(bin.path);
    const first = await ensureBinary(conn, await probeHost(conn, VERSION), local, VERSION);
    expect(first.uploaded).toBe(true);
    expect(first.remotePath).toBe(join(sshd.remoteHome, ".runicorn/bin", `runicorn-${VERSION}-linux-x64`));
    expect(first.wireBytes).toBeGreaterThan(0);
    expect(first.wireBytes).toBeLessThan(local.size);
    expect(statSync(first.remotePath).mode & 0o777).toBe(0o755);
    expect(readFileSync(`${first.remotePath}.sha256`, "utf8").trim()).toBe(local.sha256);
    const sum = Bun.spawnSync(["sha256sum", first.remotePath]).stdout.toString().split(" ")[0];
    expect(sum).toBe(local.sha256);
    expect(readdirSync(join(sshd.remoteHome, ".runicorn/bin")).sort()).toEqual([
      `runicorn-${VERSION}-linux-x64`,
      `runicorn-${VERSION}-linux-x64.sha256`,
    ]);
    const again = await ensureBinary(conn, await probeHost(conn, VERSION), local, VERSION);
    expect(again).toEqual({ remotePath: first.remotePath, uploaded: false, wireBytes: 0 });
  });

  it("uploads again when the deployed file differs from this binary", async () => {
    const local = await describeLocalBinary(bin.path);
    const remote = join(sshd.remoteHome, ".runicorn/bin", `runicorn-${VERSION}-linux-x64`);
    appendFileSync(remote, "tampered");
    const r = await ensureBinary(conn, await probeHost(conn, VERSION), local, VERSION);
    expect(r.uploaded).toBe(true);
    expect(Bun.spawnSync(["sha256sum", remote]).stdout.toString().split(" ")[0]).toBe(local.sha256);
  });
});

describe("viewer", () => {
  it("starts the viewer on a hostile root, answers /api/runs through the tunnel, and stop removes everything", async () => {
    const { viewer, kind, deploy } = await launchViewer(conn, { root: HOSTILE, selfPath: bin.path, version: VERSION });
    expect(kind).toBe("binary");
    expect(deploy?.uploaded).toBe(false);
    expect(viewer.url).toBe(`http://localhost:${viewer.localPort}`);
    const health = await (await fetch(`http://127.0.0.1:${viewer.localPort}/api/health`)).json();
    expect(health.storage).toBe(join(sshd.remoteHome, "a b", "'; touch /tmp/rn-pwned-viewer; '"));
    const runs = (await (await fetch(`http://127.0.0.1:${viewer.localPort}/api/runs`)).json()) as { id: string; run_dir: string }[];
    const fixtureIds = (readdirSync(join(FIXTURES, "rn-data", "runs"), { recursive: true }) as string[])
      .filter((p) => p.endsWith("meta.json"))
      .map((p) => p.split("/").at(-2));
    expect(runs.map((r) => r.id).sort()).toEqual(fixtureIds.sort() as string[]);
    for (const r of runs) expect(r.run_dir.startsWith(health.storage)).toBe(true);
    expect(existsSync("/tmp/rn-pwned-viewer")).toBe(false);
    expect(alive(viewer.remotePid)).toBe(true);
    expect(existsSync(join(viewer.remoteDir, "viewer.pid"))).toBe(true);
    expect(viewer.remoteDir.startsWith(sshd.remoteTmp)).toBe(true);

    await viewer.stop();
    expect(viewer.alive).toBe(false);
    expect(await eventually(() => !alive(viewer.remotePid))).toBe(true);
    expect(existsSync(viewer.remoteDir)).toBe(false);
    const after = await fetch(`http://127.0.0.1:${viewer.localPort}/api/health`).catch((e) => e);
    expect(after).toBeInstanceOf(Error);
  });

  it("uses the requested local and remote ports", async () => {
    const probe = await probeHost(conn, VERSION);
    const remotePort = 20000 + Math.floor(Math.random() * 20000);
    const { viewer } = await launchViewer(conn, { root: HOSTILE, selfPath: bin.path, version: VERSION, remotePort });
    try {
      expect(viewer.remotePort).toBe(remotePort);
      expect(probe.listening.has(remotePort)).toBe(false);
      const again = await probeHost(conn, VERSION);
      expect(again.listening.has(remotePort)).toBe(true);
    } finally {
      await viewer.stop();
    }
  });

  it("stops the remote viewer and removes its files when the SSH connection drops", async () => {
    // A TCP relay between us and sshd that the test can cut, as a network failure would.
    const sockets: Socket[] = [];
    const relay = createServer((s) => {
      const up = connect(sshd.port, "127.0.0.1");
      sockets.push(s, up);
      s.pipe(up).pipe(s);
      s.on("error", () => up.destroy());
      up.on("error", () => s.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, "127.0.0.1", () => r()));
    const relayPort = (relay.address() as { port: number }).port;
    appendFileSync(join(sshd.clientHome, ".ssh", "known_hosts"), `[127.0.0.1]:${relayPort} ${sshd.hostPublicKey}\n`);
    const c = await open(relayPort);
    const { viewer } = await launchViewer(c, { root: HOSTILE, selfPath: bin.path, version: VERSION });
    const reasons: string[] = [];
    viewer.onExit((r) => reasons.push(r));
    expect(alive(viewer.remotePid)).toBe(true);
    for (const s of sockets) s.destroy();
    relay.close();
    expect(await eventually(() => !c.connected, 20_000)).toBe(true);
    expect(reasons).toEqual(["SSH connection lost"]);
    expect(await eventually(() => !alive(viewer.remotePid), 15_000)).toBe(true);
    expect(await eventually(() => !existsSync(viewer.remoteDir), 15_000)).toBe(true);
  });

  it("refuses clearly when it cannot deploy itself and the named Python env has no runicorn", async () => {
    const err = await launchViewer(conn, { root: HOSTILE, python: "system", version: VERSION }).catch((e) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as Error).message).toContain("runicorn is not installed in the Python environment 'system'");
    const err2 = await launchViewer(conn, { root: HOSTILE, version: VERSION }).catch((e) => e);
    expect(err2).toBeInstanceOf(LaunchError);
    expect((err2 as Error).message).toContain("cannot deploy itself");
  });

  it("reports the viewer's own error when it exits before answering", async () => {
    const blocker = join(sshd.remoteHome, "a-file");
    writeFileSync(blocker, "not a directory");
    const err = await launchViewer(conn, { root: "~/a-file/sub", selfPath: bin.path, version: VERSION }).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/exited with status [1-9]/);
    expect(readdirSync(sshd.remoteTmp).filter((n) => n.startsWith("runicorn-viewer."))).toEqual([]);
  });
});
