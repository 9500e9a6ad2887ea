// One SSH connection through ssh2: host-key verification, the auth chain (agent, keys, password), exec, SFTP and channels.
import { lookup } from "node:dns/promises";
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { isIPv4, isIPv6 } from "node:net";
import { join } from "node:path";
import {
  Client,
  utils,
  type AnyAuthMethod,
  type AuthenticationType,
  type ClientChannel,
  type ConnectConfig,
  type NextAuthHandler,
  type ParsedKey,
  type SFTPWrapper,
} from "ssh2";
import type { Logger } from "../util/log.ts";
import {
  checkHostKey,
  hostKeyProblem,
  knownKeyTypes,
  type HostKeyProblem,
  KnownHostsStore,
  keyTypeOfBlob,
} from "./known-hosts.ts";

/** Everything needed to open a connection. */
export interface ConnectOptions {
  /** The host name (already resolved from an ~/.ssh/config alias): host keys are checked for it. */
  host: string;
  /** The IP address to connect to, resolved once by the caller (so a limiter keyed by it sees this connection); default `host`. */
  address?: string;
  port: number;
  username: string;
  /** Known-hosts files, most authoritative first: our CFG/known_hosts, then ~/.ssh/known_hosts. */
  knownHostsFiles: string[];
  /** Where an accepted unknown key is recorded (our CFG/known_hosts). */
  acceptInto?: KnownHostsStore;
  password?: string;
  /** A private key's text (PEM / OpenSSH format), as the API accepts it. */
  privateKey?: string;
  /** Key files given explicitly (`-i`, the API's `private_key_path`) or by ~/.ssh/config IdentityFile. */
  identityFiles?: string[];
  /** Also try ~/.ssh/id_{ed25519,ecdsa,rsa} when no key file was named (OpenSSH's rule). */
  homeDir?: string;
  passphrase?: string;
  useAgent?: boolean;
  /** The agent socket (SSH_AUTH_SOCK), passed in by the caller that reads the environment. */
  agentSocket?: string;
  /** Asks whether to trust an unknown host key (a TTY prompt); without it unknown keys are refused. */
  confirmHostKey?: (problem: HostKeyProblem) => Promise<boolean>;
  /** Asks for a password when every other method failed (a TTY prompt). */
  askPassword?: (prompt: string) => Promise<string | undefined>;
  /** Asks for the passphrase of an encrypted key file. */
  askPassphrase?: (keyPath: string) => Promise<string | undefined>;
  readyTimeoutMs?: number;
  /** Gives up connecting when it fires (Ctrl-C of a fleet while a host's handshake still waits). */
  signal?: AbortSignal;
  log?: Logger;
}

/** The host key was unknown (and not accepted) or has changed: the caller shows or returns the problem. */
export class HostKeyError extends Error {
  constructor(readonly problem: HostKeyProblem) {
    super(
      problem.reason === "changed"
        ? `REMOTE HOST IDENTIFICATION HAS CHANGED for ${problem.known_hosts_host}: expected ${problem.expected_fingerprint_sha256}, got ${problem.fingerprint_sha256}`
        : `Host key for ${problem.known_hosts_host} is not known (${problem.key_type} ${problem.fingerprint_sha256})`,
    );
  }
}

/** Why a connection could not be set up. */
export type SshFailure = "auth" | "dns" | "refused" | "unreachable" | "timeout" | "closed" | "other";

/** The connection could not be set up (network, auth); the message is meant for the user. */
export class SshConnectError extends Error {
  constructor(
    message: string,
    readonly failure: SshFailure = "other",
  ) {
    super(message);
  }
}

/**
 * The one address a host name stands for, in canonical form: every spelling of an address
 * (`127.1`, `0x7f.0.0.1`, `2130706433`, `::ffff:127.0.0.1`, `0:0::1`) gives the same string, so a
 * limiter keyed by it cannot be side-stepped, and the connection goes to exactly this address.
 */
export async function resolveSshAddress(host: string): Promise<string> {
  let address: string | null | undefined;
  try {
    address = (await lookup(host)).address;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SshConnectError(`Cannot resolve host '${host}'${code && code !== "ENOTFOUND" ? ` (${code})` : ""}`, "dns");
  }
  if (!address) throw new SshConnectError(`Cannot resolve host '${host}'`, "dns");
  return canonicalAddress(address);
}

/** Canonical text of an IP address (IPv4 dotted quad; IPv6 compressed lower case; IPv4-mapped IPv6 as IPv4). */
export function canonicalAddress(address: string): string {
  if (isIPv4(address)) return address;
  if (!isIPv6(address)) return address.toLowerCase();
  const v6 = new URL(`http://[${address.replace(/%.*$/, "")}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(v6);
  if (mapped) {
    const hi = parseInt(mapped[1]!, 16);
    const lo = parseInt(mapped[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return v6;
}

/** Largest private key file read (a key is a few KiB; anything bigger is not a key). */
const MAX_KEY_BYTES = 1 << 20;

/** Reads a key file: regular files only (never a FIFO or device that would block or never end), at most 1 MiB. */
function readKeyFile(path: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return undefined; // a default key that does not exist is simply skipped
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > MAX_KEY_BYTES) return undefined;
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

/** Keyboard-interactive prompts that ask for the account password (never a one-time code or a question). */
const PASSWORD_PROMPT = /pass(?:word|wort|wd)|mot de passe|contrase(?:ñ|n)a|senha|密码|密碼|パスワード|비밀번호/i;

/** True when a keyboard-interactive prompt looks like a password prompt (and does not echo). */
export function isPasswordPrompt(prompt: { prompt: string; echo?: boolean }): boolean {
  return prompt.echo !== true && PASSWORD_PROMPT.test(prompt.prompt) && !/code|otp|token|verification/i.test(prompt.prompt);
}

/** Output of a finished remote command. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

const DEFAULT_KEYS = ["id_ed25519", "id_ecdsa", "id_rsa"];

type AuthStep = AnyAuthMethod;

/** An open SSH connection. */
export class SshConnection {
  private sftpPromise: Promise<SFTPWrapper> | undefined;
  private closed = false;
  private readonly closeHandlers: Array<(hadError: boolean) => void> = [];

  constructor(
    readonly client: Client,
    readonly host: string,
    readonly port: number,
    readonly username: string,
  ) {
    client.on("close", () => {
      this.closed = true;
      for (const fn of this.closeHandlers.splice(0)) fn(false);
    });
    client.on("error", () => {
      // After 'ready', errors (keepalive timeout, reset) are followed by 'close'; nothing else to do.
    });
  }

  /** `user@host:port`, the original's pool key and `connection_id`. */
  get key(): string {
    return `${this.username}@${this.host}:${this.port}`;
  }

  /** False once the transport has closed. */
  get connected(): boolean {
    return !this.closed;
  }

  /** Calls `fn` once when the connection closes (at once if it already has). */
  onClose(fn: (hadError: boolean) => void): void {
    if (this.closed) fn(false);
    else this.closeHandlers.push(fn);
  }

  /** Runs a command to completion; `stdin` is written and closed first. */
  async exec(command: string, opts: { stdin?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
    const ch = await this.execChannel(command);
    return await new Promise((resolve, reject) => {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let code = -1;
      const timer = setTimeout(() => {
        ch.close();
        reject(new SshConnectError(`Remote command timed out after ${opts.timeoutMs} ms`));
      }, opts.timeoutMs ?? 30_000);
      ch.on("data", (d: Buffer) => out.push(d));
      ch.stderr.on("data", (d: Buffer) => err.push(d));
      ch.on("exit", (c: number | null) => {
        code = c ?? -1;
      });
      ch.on("close", () => {
        clearTimeout(timer);
        resolve({ stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8"), code });
      });
      if (opts.stdin !== undefined) ch.end(opts.stdin);
      else ch.end();
    });
  }

  /** Opens an exec channel and leaves it to the caller (streams, long-lived guards). */
  execChannel(command: string): Promise<ClientChannel> {
    if (this.closed) return Promise.reject(new SshConnectError("SSH connection is closed"));
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, ch) => (err ? reject(err) : resolve(ch)));
    });
  }

  /** The connection's SFTP session, opened on first use. */
  sftp(): Promise<SFTPWrapper> {
    this.sftpPromise ??= new Promise<SFTPWrapper>((resolve, reject) => {
      this.client.sftp((err, s) => {
        if (err) {
          this.sftpPromise = undefined;
          reject(err);
          return;
        }
        s.on("close", () => {
          this.sftpPromise = undefined;
        });
        resolve(s);
      });
    });
    return this.sftpPromise;
  }

  /** Opens a direct-tcpip channel to `host:port` as seen from the server. */
  forwardOut(host: string, port: number, srcPort = 0): Promise<ClientChannel> {
    if (this.closed) return Promise.reject(new SshConnectError("SSH connection is closed"));
    return new Promise((resolve, reject) => {
      this.client.forwardOut("127.0.0.1", srcPort, host, port, (err, ch) => (err ? reject(err) : resolve(ch)));
    });
  }

  /** Closes the connection; resolves when the transport is down. */
  async close(): Promise<void> {
    if (this.closed) return;
    await new Promise<void>((resolve) => {
      this.onClose(() => resolve());
      this.client.end();
      setTimeout(() => {
        this.client.destroy();
        resolve();
      }, 2000).unref?.();
    });
  }
}

/** Loads a key file; undefined when absent. A passphrase is asked for when the key needs one. */
async function loadKey(
  path: string,
  opts: ConnectOptions,
): Promise<ParsedKey | undefined> {
  const data = readKeyFile(path);
  if (!data) {
    if (opts.identityFiles?.includes(path)) opts.log?.warn(`skipping key ${path}: not a readable regular file of at most 1 MiB`);
    return undefined;
  }
  return await parseKeyText(data, path, opts);
}

async function parseKeyText(data: Buffer | string, label: string, opts: ConnectOptions): Promise<ParsedKey | undefined> {
  let parsed = utils.parseKey(data, opts.passphrase);
  if (parsed instanceof Error && /passphrase|encrypted/i.test(parsed.message)) {
    const pass = opts.passphrase ?? (await opts.askPassphrase?.(label));
    if (pass === undefined) {
      opts.log?.warn(`skipping encrypted key ${label}: no passphrase`);
      return undefined;
    }
    parsed = utils.parseKey(data, pass);
  }
  if (parsed instanceof Error) {
    opts.log?.warn(`skipping key ${label}: ${parsed.message}`);
    return undefined;
  }
  return Array.isArray(parsed) ? parsed[0] : parsed;
}

/** Host key algorithms, with those already known for this host first (as OpenSSH orders them). */
function hostKeyOrder(known: string[]): string[] {
  const all = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
    "ssh-rsa",
  ];
  const wanted = new Set(known.flatMap((t) => (t === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [t])));
  return [...all.filter((a) => wanted.has(a)), ...all.filter((a) => !wanted.has(a))];
}

/**
 * Opens and authenticates a connection. Rejects with HostKeyError for an unknown (not accepted) or
 * changed host key, with SshConnectError for network and authentication failures.
 */
export async function connectSsh(opts: ConnectOptions): Promise<SshConnection> {
  const client = new Client();
  let hostKeyFailure: HostKeyError | undefined;

  const hostVerifier = (key: Buffer, verify: (ok: boolean) => void) => {
    const check = checkHostKey(opts.knownHostsFiles, opts.host, opts.port, key);
    if (check.status === "ok") return verify(true);
    if (check.status === "revoked") {
      hostKeyFailure = new HostKeyError(hostKeyProblem(opts.host, opts.port, key, { status: "unknown" }));
      hostKeyFailure.message = `Host key for ${opts.host} is marked @revoked in ${check.file}`;
      return verify(false);
    }
    const problem = hostKeyProblem(opts.host, opts.port, key, check);
    if (check.status === "changed" || !opts.confirmHostKey) {
      hostKeyFailure = new HostKeyError(problem);
      return verify(false);
    }
    opts.confirmHostKey(problem).then(
      (ok) => {
        if (!ok) {
          hostKeyFailure = new HostKeyError(problem);
          return verify(false);
        }
        try {
          opts.acceptInto?.upsert(opts.host, opts.port, keyTypeOfBlob(key), key.toString("base64"));
        } catch (err) {
          // trusted for this connection as the user said; it will be asked again next time
          opts.log?.warn(`could not record the host key of ${opts.host}: ${(err as Error).message}`);
        }
        verify(true);
      },
      () => {
        hostKeyFailure = new HostKeyError(problem);
        verify(false);
      },
    );
  };

  const steps = await authSteps(opts);
  let promptsLeft = opts.askPassword ? 3 : 0;
  const authHandler = (methodsLeft: AuthenticationType[] | null, _partial: boolean | null, next: NextAuthHandler) => {
    const allowed = (m: AuthenticationType) => !methodsLeft || methodsLeft.includes(m);
    for (;;) {
      const step = steps.shift();
      if (!step) break;
      if (allowed(step.type === "agent" ? "publickey" : step.type)) return next(step);
    }
    if (promptsLeft > 0 && (allowed("password") || allowed("keyboard-interactive"))) {
      promptsLeft--;
      opts.askPassword!(`${opts.username}@${opts.host}'s password: `).then((pw) => {
        if (pw === undefined) return stop(next);
        steps.push(...passwordSteps(opts.username, pw));
        authHandler(methodsLeft, null, next);
      }, () => stop(next));
      return;
    }
    stop(next);
  };

  const config: ConnectConfig = {
    host: opts.address ?? opts.host,
    port: opts.port,
    username: opts.username,
    readyTimeout: opts.readyTimeoutMs ?? 20_000,
    keepaliveInterval: 15_000,
    keepaliveCountMax: 3,
    hostVerifier,
    authHandler: authHandler as ConnectConfig["authHandler"],
    algorithms: { serverHostKey: hostKeyOrder(knownKeyTypes(opts.knownHostsFiles, opts.host, opts.port)) as never },
  };

  return await new Promise<SshConnection>((resolve, reject) => {
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      client.destroy();
      reject(err);
    };
    client.once("ready", () => {
      if (settled) return;
      settled = true;
      resolve(new SshConnection(client, opts.host, opts.port, opts.username));
    });
    client.on("error", (err: Error & { level?: string; code?: string }) => {
      if (hostKeyFailure) return fail(hostKeyFailure);
      // An agent that cannot be reached (a stale SSH_AUTH_SOCK, the Windows agent service stopped): ssh2 goes on with the next method.
      if (err.level === "agent") return void opts.log?.warn(`SSH agent ${opts.agentSocket} not reachable (${err.message}); trying keys`);
      fail(describeFailure(err, opts));
    });
    client.on("close", () =>
      fail(hostKeyFailure ?? new SshConnectError(`${opts.host}:${opts.port} closed the connection before authentication`, "closed")),
    );
    const cancel = () => fail(new SshConnectError(`connecting to ${opts.host}:${opts.port} was cancelled`, "other"));
    if (opts.signal?.aborted) return cancel();
    opts.signal?.addEventListener("abort", cancel, { once: true });
    client.once("ready", () => opts.signal?.removeEventListener("abort", cancel));
    client.once("close", () => opts.signal?.removeEventListener("abort", cancel));
    try {
      client.connect(config);
    } catch (err) {
      fail(new SshConnectError((err as Error).message));
    }
  });
}

/** A network or authentication error of ssh2, said plainly. */
function describeFailure(err: Error & { level?: string; code?: string }, opts: ConnectOptions): SshConnectError {
  const where = `${opts.host}:${opts.port}`;
  if (err.level === "client-authentication") {
    return new SshConnectError(`Authentication failed for ${opts.username}@${where}`, "auth");
  }
  if (err.level === "client-timeout" || err.code === "ETIMEDOUT") {
    return new SshConnectError(`Timed out connecting to ${where}`, "timeout");
  }
  switch (err.code) {
    case "ECONNREFUSED":
      return new SshConnectError(`Connection refused by ${where} (is an SSH server listening on that port?)`, "refused");
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
      return new SshConnectError(`Cannot resolve host '${opts.host}'`, "dns");
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "EHOSTDOWN":
    case "EADDRNOTAVAIL":
      return new SshConnectError(`${where} is unreachable (${err.code})`, "unreachable");
    case "ECONNRESET":
    case "EPIPE":
      return new SshConnectError(`${where} reset the connection`, "closed");
  }
  return new SshConnectError(`SSH connection to ${where} failed: ${err.message || String(err)}`);
}

/** Tells ssh2 that no method is left (its API takes `false`, which the typings omit). */
function stop(next: NextAuthHandler): void {
  (next as unknown as (v: false) => void)(false);
}

function passwordSteps(username: string, password: string): AuthStep[] {
  return [
    { type: "password", username, password },
    {
      type: "keyboard-interactive",
      username,
      // Only password prompts get the password; any other question (a one-time code, a custom
      // challenge) gets an empty answer, so the password is never typed into something else.
      prompt: (_n, _i, _l, prompts, finish) => finish(prompts.map((p) => (isPasswordPrompt(p) ? password : ""))),
    },
  ];
}

/** The auth attempts in order: given key, agent, key files (or the default keys), given password. */
async function authSteps(opts: ConnectOptions): Promise<AuthStep[]> {
  const username = opts.username;
  const steps: AuthStep[] = [];
  if (opts.privateKey) {
    const key = await parseKeyText(opts.privateKey, "private_key", opts);
    if (key) steps.push({ type: "publickey", username, key });
  }
  if (opts.useAgent !== false && opts.agentSocket) {
    steps.push({ type: "agent", username, agent: opts.agentSocket });
  }
  let files = opts.identityFiles ?? [];
  if (files.length === 0 && !opts.privateKey && opts.homeDir) {
    files = DEFAULT_KEYS.map((k) => join(opts.homeDir!, ".ssh", k));
  }
  for (const f of files) {
    const key = await loadKey(f, opts);
    if (key) steps.push({ type: "publickey", username, key });
  }
  if (opts.password !== undefined && opts.password !== "") steps.push(...passwordSteps(username, opts.password));
  return steps;
}
