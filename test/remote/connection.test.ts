// SSH connections against a real OpenSSH sshd: auth methods, host-key verification (unknown, accepted, changed, hashed).
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connectSsh, HostKeyError, SshConnectError, type ConnectOptions } from "../../src/remote/connection.ts";
import { KnownHostsStore, type HostKeyProblem } from "../../src/remote/known-hosts.ts";
import { freePort, generateKey, startSshd, type TestSshd } from "./sshd.ts";
import { startAgent, startPasswordServer } from "./helpers.ts";

// Uploads of a ~100 MB binary and sshd round trips take seconds on a shared 2-core machine.
setDefaultTimeout(120_000);

let sshd: TestSshd;
let cfg: string;

/** ssh-keygen's own fingerprint of a public key file, to compare with ours. */
function keygenFingerprint(pubLine: string, dir: string): string {
  const f = join(dir, `fp-${Math.random()}.pub`);
  writeFileSync(f, pubLine + "\n");
  return Bun.spawnSync(["ssh-keygen", "-l", "-E", "sha256", "-f", f]).stdout.toString().split(" ")[1]!;
}

function base(over: Partial<ConnectOptions> = {}): ConnectOptions {
  return {
    host: sshd.host,
    port: sshd.port,
    username: sshd.user,
    knownHostsFiles: [join(cfg, "known_hosts"), join(sshd.clientHome, ".ssh", "known_hosts")],
    homeDir: sshd.clientHome,
    useAgent: false,
    ...over,
  };
}

function trustHost(): void {
  writeFileSync(join(sshd.clientHome, ".ssh", "known_hosts"), `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
}

beforeAll(async () => {
  sshd = await startSshd();
  cfg = join(sshd.dir, "cfg");
  mkdirSync(cfg);
});
afterAll(async () => {
  await sshd.stop();
});

describe("host keys", () => {
  it("refuses an unknown host key with the spec's 409 problem and ssh-keygen's fingerprint", async () => {
    writeFileSync(join(sshd.clientHome, ".ssh", "known_hosts"), "");
    const err = await connectSsh(base()).catch((e) => e);
    expect(err).toBeInstanceOf(HostKeyError);
    const p = (err as HostKeyError).problem;
    expect(p).toEqual({
      host: "127.0.0.1",
      port: sshd.port,
      known_hosts_host: `[127.0.0.1]:${sshd.port}`,
      key_type: "ssh-ed25519",
      fingerprint_sha256: keygenFingerprint(sshd.hostPublicKey, sshd.dir),
      public_key: sshd.hostPublicKey,
      reason: "unknown",
    });
  });

  it("records a confirmed unknown key in our known_hosts and does not ask again", async () => {
    const store = new KnownHostsStore(join(cfg, "known_hosts"));
    const asked: HostKeyProblem[] = [];
    const confirm = async (p: HostKeyProblem) => (asked.push(p), true);
    const c1 = await connectSsh(base({ acceptInto: store, confirmHostKey: confirm }));
    await c1.close();
    expect(asked.length).toBe(1);
    expect(readFileSync(store.path, "utf8")).toBe(`[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
    const c2 = await connectSsh(base({ confirmHostKey: confirm }));
    expect((await c2.exec("echo ok")).stdout).toBe("ok\n");
    await c2.close();
    expect(asked.length).toBe(1);
    store.remove("127.0.0.1", sshd.port, "ssh-ed25519");
  });

  it("does not connect when the user declines an unknown key", async () => {
    writeFileSync(join(sshd.clientHome, ".ssh", "known_hosts"), "");
    const err = await connectSsh(base({ confirmHostKey: async () => false })).catch((e) => e);
    expect(err).toBeInstanceOf(HostKeyError);
    expect((err as HostKeyError).problem.reason).toBe("unknown");
  });

  it("accepts a host listed by a hashed entry in ~/.ssh/known_hosts", async () => {
    const kh = join(sshd.clientHome, ".ssh", "known_hosts");
    trustHost();
    const hashed = Bun.spawnSync(["ssh-keygen", "-H", "-f", kh]);
    expect(hashed.exitCode).toBe(0);
    expect(readFileSync(kh, "utf8").startsWith("|1|")).toBe(true);
    const c = await connectSsh(base());
    expect(c.connected).toBe(true);
    await c.close();
  });

  it("refuses a changed host key without asking, naming the expected fingerprint", async () => {
    trustHost();
    const oldKey = sshd.hostPublicKey;
    await sshd.rotateHostKey();
    let asked = false;
    const err = await connectSsh(base({ confirmHostKey: async () => (asked = true) })).catch((e) => e);
    expect(asked).toBe(false);
    expect(err).toBeInstanceOf(HostKeyError);
    const p = (err as HostKeyError).problem;
    expect(p.reason).toBe("changed");
    expect(p.public_key).toBe(sshd.hostPublicKey);
    expect(p.expected_public_key).toBe(oldKey);
    expect(p.expected_fingerprint_sha256).toBe(keygenFingerprint(oldKey, sshd.dir));
    expect((err as Error).message).toContain("CHANGED");
    trustHost();
  });
});

describe("authentication", () => {
  it("logs in with the default key in ~/.ssh and runs commands", async () => {
    trustHost();
    const c = await connectSsh(base());
    const r = await c.exec(`printf '%s' "$HOME"; echo err >&2; exit 3`);
    expect(r).toEqual({ stdout: sshd.remoteHome, stderr: "err\n", code: 3 });
    await c.close();
    expect(c.connected).toBe(false);
  });

  it("logs in with an explicit passphrase-protected key, asking for the passphrase", async () => {
    trustHost();
    const keyPath = join(sshd.dir, "explicit_key");
    appendFileSync(join(sshd.dir, "authorized_keys"), generateKey(keyPath, "s3cret phrase") + "\n");
    const asked: string[] = [];
    const c = await connectSsh(
      base({
        identityFiles: [keyPath],
        homeDir: join(sshd.dir, "empty-home"),
        askPassphrase: async (k) => (asked.push(k), "s3cret phrase"),
      }),
    );
    expect(asked).toEqual([keyPath]);
    expect((await c.exec("echo hi")).stdout).toBe("hi\n");
    await c.close();
  });

  it("logs in through a real ssh-agent", async () => {
    trustHost();
    const keyPath = join(sshd.dir, "agent_key");
    appendFileSync(join(sshd.dir, "authorized_keys"), generateKey(keyPath) + "\n");
    const agent = await startAgent(sshd.dir, keyPath);
    try {
      const c = await connectSsh(base({ homeDir: join(sshd.dir, "empty-home"), useAgent: true, agentSocket: agent.socket }));
      expect((await c.exec("echo agent")).stdout).toBe("agent\n");
      await c.close();
    } finally {
      await agent.stop();
    }
  });

  it("fails with a clear message when no key is accepted", async () => {
    trustHost();
    const stranger = join(sshd.dir, "stranger_key");
    generateKey(stranger);
    const err = await connectSsh(base({ identityFiles: [stranger] })).catch((e) => e);
    expect(err).toBeInstanceOf(SshConnectError);
    expect((err as Error).message).toBe(`Authentication failed for ${sshd.user}@127.0.0.1:${sshd.port}`);
  });

  it("reports a refused connection as a connect error", async () => {
    const err = await connectSsh(base({ port: await freePort() })).catch((e) => e);
    expect(err).toBeInstanceOf(SshConnectError);
    expect((err as Error).message).toContain("ECONNREFUSED");
  });
});

describe("password authentication (ssh2 server at the network edge; no system password is changed)", () => {
  it("logs in with a given password and with a prompted one", async () => {
    const dir = join(sshd.dir, "pw");
    mkdirSync(dir);
    const srv = await startPasswordServer(dir, "alice", "correct horse");
    const kh = join(dir, "known_hosts");
    writeFileSync(kh, `[127.0.0.1]:${srv.port} ${srv.hostPublicKey}\n`);
    const opts = (o: Partial<ConnectOptions>): ConnectOptions => ({
      host: "127.0.0.1",
      port: srv.port,
      username: "alice",
      knownHostsFiles: [kh],
      homeDir: join(dir, "no-keys"),
      useAgent: false,
      ...o,
    });
    try {
      const c1 = await connectSsh(opts({ password: "correct horse" }));
      expect((await c1.exec("whoami")).stdout).toBe("ran: whoami\n");
      await c1.close();
      const prompts: string[] = [];
      const answers = ["wrong", "correct horse"];
      const c2 = await connectSsh(opts({ askPassword: async (q) => (prompts.push(q), answers.shift()) }));
      expect(prompts).toEqual(["alice@127.0.0.1's password: ", "alice@127.0.0.1's password: "]);
      await c2.close();
      const bad = await connectSsh(opts({ password: "nope" })).catch((e) => e);
      expect(bad).toBeInstanceOf(SshConnectError);
      expect(srv.attempts).toContain("keyboard-interactive");
    } finally {
      await srv.stop();
    }
  });
});
