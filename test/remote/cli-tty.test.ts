// `runicorn remote` (the compiled binary) under a real pseudo-terminal: host-key, passphrase and password prompts, and Ctrl-C.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { authorizeKey, copyBinary, eventually, FIXTURES, sshFingerprint, startPasswordServer } from "./helpers.ts";
import { generateKey, startSshd, type TestSshd } from "./sshd.ts";

// The first start uploads the ~110 MB binary over SFTP; sshd round trips take seconds on a shared 2-core machine.
setDefaultTimeout(120_000);

const RUN_ID = "20261129_031719_94b4ef"; // the one run of fixture rn-data2 (cv/yolo)
const PASSPHRASE = "correct horse battery";
const PASSWORD = "right-password";

let sshd: TestSshd;
let bin: { path: string; cleanup(): void };
let encryptedKey: string;
let encryptedPub: string;
let pwServer: Awaited<ReturnType<typeof startPasswordServer>>;
let ourKnownHosts: string;
const running = new Set<ReturnType<typeof Bun.spawn>>();

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const viewerDirs = () => readdirSync(sshd.remoteTmp).filter((n) => n.startsWith("runicorn-viewer."));

/** `runicorn remote …` with stdin, stdout and stderr on one pseudo-terminal, as a user runs it. */
function spawnTty(args: string[]) {
  let out = "";
  const decoder = new TextDecoder();
  const proc = Bun.spawn([bin.path, "remote", ...args], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: sshd.clientHome,
      USER: sshd.user,
      XDG_CONFIG_HOME: join(sshd.clientHome, ".config"),
      TERM: "xterm",
    },
    terminal: { cols: 200, rows: 50, data: (_t, d) => void (out += decoder.decode(d, { stream: true })) },
  });
  running.add(proc);
  void proc.exited.then(() => running.delete(proc));
  return {
    proc,
    get out() {
      return out;
    },
    /** Waits until the terminal shows `re` (after `from` characters); fails with the screen so far. */
    async waitFor(re: RegExp, from = 0, ms = 60_000): Promise<RegExpExecArray> {
      const end = Date.now() + ms;
      for (;;) {
        const m = re.exec(out.slice(from));
        if (m) return m;
        if (Date.now() > end || proc.exitCode !== null) throw new Error(`terminal never showed ${re}; it shows:\n${out}`);
        await Bun.sleep(25);
      }
    },
    /** Types on the terminal (`\r` is Enter, `\x03` is Ctrl-C). */
    type(text: string) {
      proc.terminal!.write(text);
    },
    async exit(): Promise<number> {
      const code = await proc.exited;
      proc.terminal?.close();
      return code;
    },
  };
}

beforeAll(async () => {
  sshd = await startSshd();
  bin = copyBinary();
  cpSync(join(FIXTURES, "rn-data2"), join(sshd.remoteHome, "data"), { recursive: true });
  encryptedKey = join(sshd.clientHome, ".ssh", "encrypted_ed25519");
  encryptedPub = generateKey(encryptedKey, PASSPHRASE);
  authorizeKey(sshd, encryptedPub);
  pwServer = await startPasswordServer(sshd.dir, sshd.user, PASSWORD);
  ourKnownHosts = join(sshd.clientHome, ".config", "runicorn", "known_hosts");
});

afterAll(async () => {
  for (const p of running) {
    p.kill("SIGKILL");
    await p.exited;
  }
  await pwServer?.stop();
  await sshd?.stop();
  bin?.cleanup();
});

describe("runicorn remote on a terminal", () => {
  it("shows an unknown host key's SHA256 fingerprint and refuses with exit 1 when the answer is no", async () => {
    writeFileSync(join(sshd.clientHome, ".ssh", "known_hosts"), "");
    const t = spawnTty([`${sshd.user}@127.0.0.1`, "-p", String(sshd.port), "--root", "~/data"]);
    await t.waitFor(/Trust this host and continue connecting \(yes\/no\)\? $/);
    expect(t.out).toContain(`The authenticity of host [127.0.0.1]:${sshd.port} (ssh-ed25519)`);
    expect(t.out).toContain(`fingerprint: ${sshFingerprint(sshd.hostPublicKey)}`);
    t.type("no\r");
    expect(await t.exit()).toBe(1);
    expect(t.out).toContain("Not trusted; not connecting.");
    expect(existsSync(ourKnownHosts) ? readFileSync(ourKnownHosts, "utf8") : "").toBe("");
    expect(existsSync(join(sshd.remoteHome, ".runicorn"))).toBe(false);
    expect(viewerDirs()).toEqual([]);
  });

  it("asks for the passphrase of an encrypted -i key without echoing it, records the accepted host key, and stops everything on Ctrl-C", async () => {
    const t = spawnTty([`${sshd.user}@127.0.0.1`, "-p", String(sshd.port), "-i", encryptedKey, "--root", "~/data"]);
    await t.waitFor(new RegExp(`Enter passphrase for key '${encryptedKey}': $`));
    t.type(PASSPHRASE + "\r");
    const afterPassphrase = t.out.length;
    await t.waitFor(/Trust this host and continue connecting \(yes\/no\)\? $/, afterPassphrase);
    expect(t.out).toContain(`fingerprint: ${sshFingerprint(sshd.hostPublicKey)}`);
    t.type("yes\r");
    const url = (await t.waitFor(/is at (http:\/\/localhost:\d+)  \(Ctrl-C to stop\)/))[1]!;
    expect(t.out).not.toContain(PASSPHRASE);
    // "yes" recorded the key in CFG/known_hosts, and the login used the encrypted key.
    expect(readFileSync(ourKnownHosts, "utf8")).toBe(`[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
    expect(readFileSync(sshd.logFile, "utf8")).toContain(`Accepted publickey for ${sshd.user} from 127.0.0.1`);
    expect(readFileSync(sshd.logFile, "utf8")).toContain(sshFingerprint(encryptedPub));

    const base = url.replace("localhost", "127.0.0.1");
    const runs = (await (await fetch(`${base}/api/runs`)).json()) as { id: string; run_dir: string }[];
    expect(runs.map((r) => r.id)).toEqual([RUN_ID]);
    expect(runs[0]!.run_dir).toStartWith(join(sshd.remoteHome, "data"));
    const [dir] = viewerDirs();
    expect(dir).toBeDefined();
    const pid = Number(readFileSync(join(sshd.remoteTmp, dir!, "viewer.pid"), "utf8").trim());
    expect(alive(pid)).toBe(true);

    t.type("\x03");
    expect(await t.exit()).toBe(0);
    expect(t.out).toContain("stopping the remote viewer");
    // Progress lines are plain text, not painted red like errors.
    expect(t.out).toContain(`checking runicorn`);
    expect(t.out).not.toContain("\x1b[31m");
    expect(await eventually(() => !alive(pid))).toBe(true);
    expect(viewerDirs()).toEqual([]);
    expect(await eventually(async () => (await fetch(`${base}/api/health`).catch(() => null)) === null)).toBe(true);
  });

  it("asks again after a wrong password, logs in with the right one, and never echoes either", async () => {
    // The password-only stand-in server (a real sshd would need a system password): its key is already known.
    writeFileSync(join(sshd.clientHome, ".ssh", "known_hosts"), `[127.0.0.1]:${pwServer.port} ${pwServer.hostPublicKey}\n`);
    const prompt = new RegExp(`${sshd.user}@127\\.0\\.0\\.1's password: $`);
    const t = spawnTty([`${sshd.user}@127.0.0.1`, "-p", String(pwServer.port)]);
    await t.waitFor(prompt);
    t.type("wrong-password\r");
    const afterWrong = t.out.length;
    await t.waitFor(prompt, afterWrong);
    const before = pwServer.attempts.length;
    t.type(PASSWORD + "\r");
    // Logged in: the stand-in cannot run a viewer, so the command stops at the remote environment probe.
    expect(await t.exit()).toBe(1);
    expect(t.out).toContain("runicorn: cannot start the viewer on 127.0.0.1: could not read the remote environment");
    expect(pwServer.attempts.slice(before)[0]).toBe("password");
    expect(t.out).not.toContain("wrong-password");
    expect(t.out).not.toContain(PASSWORD);
  });
});
