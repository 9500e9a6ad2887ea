// Test harness: a real OpenSSH sshd on 127.0.0.1 with generated host and user keys, a temp HOME on both sides.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync, existsSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A running sshd and the files a client needs to reach it. */
export interface TestSshd {
  host: "127.0.0.1";
  port: number;
  /** The login name (the user running the tests). */
  user: string;
  /** Temp dir that holds everything; removed by stop(). */
  dir: string;
  /** Client-side HOME: `.ssh/id_ed25519` is the authorised user key; `.ssh/known_hosts` is empty. */
  clientHome: string;
  /** Server-side HOME given to sessions (sshd `SetEnv HOME=…`), so nothing lands in the real home. */
  remoteHome: string;
  /** Server-side TMPDIR given to sessions. */
  remoteTmp: string;
  /** Path of the authorised user private key (unencrypted ed25519). */
  userKey: string;
  /** The host public key line, `ssh-ed25519 AAAA…`. */
  hostPublicKey: string;
  /** Path of the sshd log (sshd -E). */
  logFile: string;
  /** Stops sshd (and its session children) and removes the temp dir. */
  stop(): Promise<void>;
  /** Replaces the host key with a new one and restarts sshd on the same port. */
  rotateHostKey(): Promise<void>;
  /** Stops the listening sshd (new connections are refused; sessions already open keep running). */
  pause(): Promise<void>;
  /** Starts sshd again on the same port with the same keys. */
  resume(): Promise<void>;
}

const SSHD = "/usr/sbin/sshd";

/** Runs a command and throws with its stderr if it fails. */
function run(cmd: string[], env?: Record<string, string>): string {
  const p = Bun.spawnSync(cmd, { env: { ...process.env, ...env }, stderr: "pipe", stdout: "pipe" });
  if (p.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed: ${p.stderr.toString()}`);
  return p.stdout.toString();
}

/** Finds a port that is free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Generates an unencrypted (or passphrase-protected) ed25519 key pair at `path`. */
export function generateKey(path: string, passphrase = "", type = "ed25519"): string {
  run(["ssh-keygen", "-q", "-t", type, "-N", passphrase, "-C", "runicorn-test", "-f", path]);
  return readFileSync(`${path}.pub`, "utf8").trim();
}

/** Options of startSshd. */
export interface SshdOptions {
  /** A folder put first on the sessions' PATH (e.g. a `uname` wrapper that reports another machine). */
  pathPrefix?: string;
  /** SFTP requests the server refuses (internal-sftp -P). */
  sftpDeny?: string[];
}

/** Starts sshd; call stop() in afterAll. */
export async function startSshd(opts: SshdOptions = {}): Promise<TestSshd> {
  if (!existsSync(SSHD)) throw new Error("openssh-server is not installed (apt-get install -y openssh-server)");
  // sshd running as root refuses to start without its privilege-separation directory.
  if (!existsSync("/run/sshd")) mkdirSync("/run/sshd", { mode: 0o755, recursive: true });
  const dir = mkdtempSync(join(tmpdir(), "rn-sshd-"));
  chmodSync(dir, 0o755);
  const clientHome = join(dir, "client-home");
  const remoteHome = join(dir, "remote-home");
  const remoteTmp = join(dir, "remote-tmp");
  for (const d of [join(clientHome, ".ssh"), remoteHome, remoteTmp]) mkdirSync(d, { recursive: true, mode: 0o700 });
  const hostKey = join(dir, "host_ed25519");
  let hostPublicKey = generateKey(hostKey).split(" ").slice(0, 2).join(" ");
  const userKey = join(clientHome, ".ssh", "id_ed25519");
  const userPub = generateKey(userKey);
  writeFileSync(join(dir, "authorized_keys"), userPub + "\n", { mode: 0o600 });
  writeFileSync(join(clientHome, ".ssh", "known_hosts"), "");
  const user = run(["id", "-un"]).trim();
  const logFile = join(dir, "sshd.log");
  const port = await freePort();
  const config = [
    `Port ${port}`,
    "ListenAddress 127.0.0.1",
    `HostKey ${hostKey}`,
    `PidFile ${join(dir, "sshd.pid")}`,
    `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
    "StrictModes no",
    "PubkeyAuthentication yes",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "UsePAM no",
    "PermitRootLogin yes",
    "AllowTcpForwarding yes",
    "MaxStartups 100",
    "MaxSessions 100",
    "LogLevel VERBOSE",
    `SetEnv HOME=${remoteHome} TMPDIR=${remoteTmp}${opts.pathPrefix ? ` PATH=${opts.pathPrefix}:${process.env.PATH ?? "/usr/bin:/bin"}` : ""}`,
    `Subsystem sftp internal-sftp -d ${remoteHome}${opts.sftpDeny?.length ? ` -P ${opts.sftpDeny.join(",")}` : ""}`,
  ].join("\n");
  const configFile = join(dir, "sshd_config");
  writeFileSync(configFile, config + "\n");

  let proc: ReturnType<typeof Bun.spawn> | undefined;
  const launch = async () => {
    proc = Bun.spawn([SSHD, "-D", "-f", configFile, "-E", logFile], { stdout: "ignore", stderr: "pipe" });
    // Ready when the port accepts a connection and answers with the SSH banner.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) {
        throw new Error(`sshd exited: ${readFileSync(logFile, "utf8")}`);
      }
      const ok = await probeBanner(port);
      if (ok) return;
      await Bun.sleep(30);
    }
    throw new Error("sshd did not start in 10 s");
  };
  await launch();

  const kill = async () => {
    if (!proc) return;
    const p = proc;
    proc = undefined;
    p.kill("SIGTERM");
    await p.exited;
  };

  return {
    host: "127.0.0.1",
    port,
    user,
    dir,
    clientHome,
    remoteHome,
    remoteTmp,
    userKey,
    get hostPublicKey() {
      return hostPublicKey;
    },
    logFile,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
    async rotateHostKey() {
      await kill();
      rmSync(hostKey, { force: true });
      rmSync(`${hostKey}.pub`, { force: true });
      hostPublicKey = generateKey(hostKey).split(" ").slice(0, 2).join(" ");
      await launch();
    },
    pause: kill,
    resume: launch,
  };
}

/** True when something on the port answers with an SSH banner. */
async function probeBanner(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const sock = connect({ host: "127.0.0.1", port });
    const finish = (v: boolean) => {
      sock.destroy();
      resolve(v);
    };
    sock.once("data", (d) => finish(d.toString().startsWith("SSH-")));
    sock.once("error", () => finish(false));
    sock.once("close", () => finish(false));
    sock.setTimeout(1000, () => finish(false));
  });
}
