// Shared pieces of the remote tests: the real runicorn binary (copied to a temp dir), an ssh-agent, a password-only SSH server.
import { appendFileSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Server } from "ssh2";
import { generateKey, type TestSshd } from "./sshd.ts";

/** The project root. */
export const PROJECT = resolve(import.meta.dir, "../..");
/** The storage roots written by the real SDK. */
export const FIXTURES = resolve(PROJECT, "../shared/fixtures/runicorn-0.6");

/**
 * A private copy of the compiled binary (dist/runicorn, built with `bun run build` when missing),
 * so a rebuild during the tests cannot change it under them.
 */
export function copyBinary(): { path: string; cleanup(): void } {
  const dist = join(PROJECT, "dist", "runicorn");
  if (!existsSync(dist)) {
    const p = Bun.spawnSync([process.execPath, "run", "build"], { cwd: PROJECT, stdout: "inherit", stderr: "inherit" });
    if (p.exitCode !== 0 || !existsSync(dist)) throw new Error("dist/runicorn is missing and `bun run build` failed");
  }
  const dir = mkdtempSync(join(tmpdir(), "rn-bin-"));
  const path = join(dir, "runicorn");
  copyFileSync(dist, path);
  return { path, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A real ssh-agent on a socket in `dir`, holding `keyPath`. */
export async function startAgent(dir: string, keyPath: string): Promise<{ socket: string; stop(): Promise<void> }> {
  const socket = join(dir, "agent.sock");
  const agent = Bun.spawn(["ssh-agent", "-D", "-a", socket], { stdout: "ignore", stderr: "ignore" });
  for (let i = 0; i < 100 && !existsSync(socket); i++) await Bun.sleep(20);
  const add = Bun.spawnSync(["ssh-add", keyPath], { env: { ...process.env, SSH_AUTH_SOCK: socket }, stderr: "pipe" });
  if (add.exitCode !== 0) throw new Error(`ssh-add failed: ${add.stderr.toString()}`);
  return {
    socket,
    async stop() {
      agent.kill("SIGTERM");
      await agent.exited;
    },
  };
}

/**
 * An ssh2 server that only accepts `password` (or keyboard-interactive answering it) for `user`:
 * password login to the real sshd would need a system password, so this stands in at the network edge.
 */
export async function startPasswordServer(
  dir: string,
  user: string,
  password: string,
  /** Another loopback address (127.0.0.2) keeps its attempts apart from the sshd's in the per-host limit. */
  listenHost = "127.0.0.1",
  /** The keyboard-interactive prompts; the login succeeds when the one named `Password: ` is answered with the password. */
  kbdPrompts: { prompt: string; echo: boolean }[] = [{ prompt: "Password: ", echo: false }],
): Promise<{ port: number; hostPublicKey: string; attempts: string[]; secrets: string[]; stop(): Promise<void> }> {
  const keyPath = join(dir, `pw_host_ed25519_${Math.random().toString(36).slice(2)}`);
  const hostPublicKey = generateKey(keyPath);
  const attempts: string[] = [];
  /** Every password and keyboard-interactive answer received, to prove what a client sent. */
  const secrets: string[] = [];
  const server = new Server({ hostKeys: [readFileSync(keyPath)] }, (client) => {
    client.on("authentication", (ctx) => {
      attempts.push(ctx.method);
      if (ctx.method === "password") secrets.push(ctx.password);
      if (ctx.method === "password" && ctx.username === user && ctx.password === password) return ctx.accept();
      if (ctx.method === "keyboard-interactive") {
        return ctx.prompt(kbdPrompts, (answers) => {
          secrets.push(...answers);
          const i = kbdPrompts.findIndex((p) => p.prompt === "Password: ");
          return i >= 0 && answers[i] === password && ctx.username === user ? ctx.accept() : ctx.reject(["password", "keyboard-interactive"]);
        });
      }
      ctx.reject(["password", "keyboard-interactive"]);
    });
    client.on("ready", () => {
      client.on("session", (accept) => {
        const session = accept();
        session.on("exec", (acc, _rej, info) => {
          const ch = acc();
          ch.write(`ran: ${info.command}\n`);
          ch.exit(0);
          ch.end();
        });
      });
    });
    client.on("error", () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, listenHost, () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    hostPublicKey: hostPublicKey.split(" ").slice(0, 2).join(" "),
    attempts,
    secrets,
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Processes whose command line contains `needle` (to prove a remote viewer is gone). */
export function processesMatching(needle: string): number[] {
  const out = Bun.spawnSync(["ps", "-eo", "pid=,args="]).stdout.toString();
  return out
    .split("\n")
    .filter((l) => l.includes(needle) && !l.includes("ps -eo"))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

/** Polls `fn` until it returns true or `ms` pass. */
export async function eventually(fn: () => boolean | Promise<boolean>, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return true;
    await Bun.sleep(50);
  }
  return await fn();
}

/** The SHA256 fingerprint of a public key line (`type base64`) as OpenSSH's ssh-keygen prints it. */
export function sshFingerprint(publicKeyLine: string): string {
  const p = Bun.spawnSync(["ssh-keygen", "-l", "-E", "sha256", "-f", "-"], { stdin: Buffer.from(publicKeyLine + "\n"), stdout: "pipe", stderr: "pipe" });
  const m = /SHA256:[A-Za-z0-9+/]+/.exec(p.stdout.toString());
  if (p.exitCode !== 0 || !m) throw new Error(`ssh-keygen -l failed: ${p.stderr.toString()}`);
  return m[0];
}

/** Adds a public key line to the test sshd's authorized_keys (read by sshd on every login). */
export function authorizeKey(sshd: TestSshd, publicKeyLine: string): void {
  appendFileSync(join(sshd.dir, "authorized_keys"), publicKeyLine.trim() + "\n");
}
