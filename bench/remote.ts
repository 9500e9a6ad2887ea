// Benchmark of `runicorn remote` against a loopback OpenSSH sshd: connect, deploy, and start-to-first-answer through the tunnel.
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connectSsh } from "../src/remote/connection.ts";
import { describeLocalBinary, ensureBinary } from "../src/remote/deploy.ts";
import { probeHost } from "../src/remote/host-probe.ts";
import { launchViewer } from "../src/remote/launch.ts";
import { VERSION } from "../src/version.ts";
import { copyBinary, FIXTURES } from "../test/remote/helpers.ts";
import { startSshd } from "../test/remote/sshd.ts";
import { finish, report } from "./lib.ts";

const N = Number(process.argv[2] ?? 10);
const describe = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  return `median ${at(0.5).toFixed(0)} ms, p95 ${at(0.95).toFixed(0)} ms (n=${s.length})`;
};

const sshd = await startSshd();
const bin = copyBinary();
try {
  writeFileSync(join(sshd.clientHome, ".ssh", "known_hosts"), `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
  mkdirSync(join(sshd.remoteHome, "data"), { recursive: true });
  cpSync(join(FIXTURES, "rn-data"), join(sshd.remoteHome, "data"), { recursive: true });
  const open = () =>
    connectSsh({
      host: "127.0.0.1",
      port: sshd.port,
      username: sshd.user,
      knownHostsFiles: [join(sshd.clientHome, ".ssh", "known_hosts")],
      homeDir: sshd.clientHome,
      useAgent: false,
    });

  const connects: number[] = [];
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    const c = await open();
    connects.push(performance.now() - t);
    await c.close();
  }

  let t = performance.now();
  const local = await describeLocalBinary(bin.path);
  const hashMs = performance.now() - t;
  const deploys: number[] = [];
  const conn = await open();
  for (let i = 0; i < Math.min(3, N); i++) {
    rmSync(join(sshd.remoteHome, ".runicorn"), { recursive: true, force: true });
    t = performance.now();
    await ensureBinary(conn, await probeHost(conn, VERSION), local, VERSION);
    deploys.push(performance.now() - t);
  }

  const starts: number[] = [];
  const startsWithConnect: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const c = await open();
    const t1 = performance.now();
    const { viewer } = await launchViewer(c, { root: "~/data", selfPath: bin.path, version: VERSION });
    const res = await fetch(`http://127.0.0.1:${viewer.localPort}/api/runs`);
    await res.arrayBuffer();
    const t2 = performance.now();
    if (!res.ok) throw new Error(`GET /api/runs answered ${res.status}`);
    starts.push(t2 - t1);
    startsWithConnect.push(t2 - t0);
    await viewer.stop();
    await c.close();
  }
  await conn.close();

  console.log(`binary: ${(local.size / 1048576).toFixed(1)} MB, sha256 of the local binary: ${hashMs.toFixed(0)} ms (once per process)`);
  console.log(`connect (TCP + key exchange + publickey auth):      ${describe(connects)}`);
  console.log(`deploy (gzip + SFTP + remote gunzip + sha256sum):   ${describe(deploys)}`);
  report("start → first /api/runs, binary deployed", starts, 1500); // the original: 4800 ms (spec §8.3)
  console.log(`  same, including a fresh SSH connection:           ${describe(startsWithConnect)}`);
} finally {
  await sshd.stop();
  bin.cleanup();
}
finish();
