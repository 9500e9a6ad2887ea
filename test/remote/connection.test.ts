// SSH connections against a real OpenSSH sshd: auth methods, host-key verification (unknown, accepted, changed, hashed).
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createServer } from "node:net";
import {
  canonicalAddress,
  connectSsh,
  HostKeyError,
  isPasswordPrompt,
  resolveSshAddress,
  SshConnectError,
  type ConnectOptions,
} from "../../src/remote/connection.ts";
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

  it("reports a refused connection as a connect error that says so", async () => {
    const port = await freePort();
    const err = await connectSsh(base({ port })).catch((e) => e);
    expect(err).toBeInstanceOf(SshConnectError);
    expect((err as SshConnectError).failure).toBe("refused");
    expect((err as Error).message).toBe(`Connection refused by 127.0.0.1:${port} (is an SSH server listening on that port?)`);
  });

  it("reports a server that never answers as a timeout", async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
    const port = (silent.address() as { port: number }).port;
    try {
      const err = await connectSsh(base({ port, readyTimeoutMs: 500 })).catch((e) => e);
      expect(err).toBeInstanceOf(SshConnectError);
      expect((err as SshConnectError).failure).toBe("timeout");
      expect((err as Error).message).toBe(`Timed out connecting to 127.0.0.1:${port}`);
    } finally {
      silent.close();
    }
  });

  it("resolves every spelling of an address to the same canonical one, and names a host that does not resolve", async () => {
    for (const h of ["127.0.0.1", "127.1", "0x7f.0.0.1", "2130706433", "017700000001", "::ffff:127.0.0.1", "::ffff:7f00:1"]) {
      expect(await resolveSshAddress(h)).toBe("127.0.0.1");
    }
    expect(await resolveSshAddress("0:0:0::1")).toBe("::1");
    expect(canonicalAddress("::FFFF:7F00:0001")).toBe("127.0.0.1");
    const err = await resolveSshAddress("no-such-host.invalid").catch((e) => e);
    expect(err).toBeInstanceOf(SshConnectError);
    expect((err as SshConnectError).failure).toBe("dns");
    expect((err as Error).message).toBe("Cannot resolve host 'no-such-host.invalid'");
  });

  it("skips a key path that is a FIFO or a device instead of blocking on it", async () => {
    trustHost();
    const fifo = join(sshd.dir, "key-fifo");
    Bun.spawnSync(["mkfifo", fifo]);
    const err = await connectSsh(base({ identityFiles: [fifo, "/dev/zero"] })).catch((e) => e);
    expect(err).toBeInstanceOf(SshConnectError);
    expect((err as SshConnectError).failure).toBe("auth");
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

  it("answers keyboard-interactive password prompts only, never a one-time code or an echoed question", async () => {
    const dir = join(sshd.dir, "kbd");
    mkdirSync(dir);
    const prompts = [
      { prompt: "Verification code: ", echo: false },
      { prompt: "Favourite colour? ", echo: true },
      { prompt: "Password: ", echo: false },
    ];
    const srv = await startPasswordServer(dir, "bob", "s3cret", "127.0.0.1", prompts);
    const kh = join(dir, "known_hosts");
    writeFileSync(kh, `[127.0.0.1]:${srv.port} ${srv.hostPublicKey}\n`);
    try {
      const c = await connectSsh({ host: "127.0.0.1", port: srv.port, username: "bob", knownHostsFiles: [kh], homeDir: join(dir, "none"), useAgent: false, password: "s3cret" });
      await c.close();
      // the password method came first and was accepted; force keyboard-interactive with a wrong password
      const bad = await connectSsh({ host: "127.0.0.1", port: srv.port, username: "bob", knownHostsFiles: [kh], homeDir: join(dir, "none"), useAgent: false, password: "other" }).catch((e) => e);
      expect(bad).toBeInstanceOf(SshConnectError);
      expect(srv.attempts).toContain("keyboard-interactive");
      // the kbd round answered: "" to the code, "" to the question, the password to "Password: "
      expect(srv.secrets.slice(-3)).toEqual(["", "", "other"]);
      expect(isPasswordPrompt({ prompt: "Password for bob@gpu: ", echo: false })).toBe(true);
      expect(isPasswordPrompt({ prompt: "密码：", echo: false })).toBe(true);
      expect(isPasswordPrompt({ prompt: "Enter your OTP password code: ", echo: false })).toBe(false);
      expect(isPasswordPrompt({ prompt: "Password: ", echo: true })).toBe(false);
    } finally {
      await srv.stop();
    }
  });
});
