// `runicorn remote [user@]host`: connect over SSH, deploy and start the viewer there, forward a local port, stop it all on Ctrl-C.
import { join } from "node:path";
import type { Config } from "../config/config.ts";
import { connectSsh, HostKeyError, SshConnectError, type SshConnection } from "../remote/connection.ts";
import type { HostKeyProblem } from "../remote/known-hosts.ts";
import { KnownHostsStore } from "../remote/known-hosts.ts";
import { launchViewer, LaunchError } from "../remote/launch.ts";
import { releaseSources } from "../remote/deploy-source.ts";
import { currentPlatform, expandUserPath, openBrowser, sshAgentPath } from "../system/platform.ts";
import { resolveSshHost } from "../remote/ssh-config.ts";
import { ViewerStartError } from "../remote/viewer.ts";
import type { Logger } from "../util/log.ts";
import { VERSION } from "../version.ts";
import { type FlagSpec, flagHelp, parseArgs, parsePort, UsageError } from "./args.ts";

const SPECS: FlagSpec[] = [
  { name: "port", short: "p", kind: "string", valueName: "PORT", help: "SSH port (default: ~/.ssh/config, else 22)" },
  { name: "identity", short: "i", kind: "list", valueName: "KEY", help: "private key file (repeatable)" },
  { name: "root", kind: "string", valueName: "DIR", help: "storage root on the server (default: the server's runicorn default)" },
  { name: "local-port", kind: "string", valueName: "N", help: "local port to forward (default: a free one)" },
  { name: "remote-port", kind: "string", valueName: "N", help: "port of the viewer on the server (default: a free one)" },
  { name: "python", kind: "string", valueName: "ENV", help: "fall back to the Python runicorn in this env (system, a conda env); it runs without a token" },
  { name: "no-browser", kind: "boolean", help: "do not open a browser" },
  { name: "help", short: "h", kind: "boolean", help: "show this help" },
];

/** Help text of `runicorn remote`. */
export const REMOTE_HELP = `Usage: runicorn remote [user@]host[:port] [host…] [options]

View a server's runs: connect over SSH, put this runicorn on the server if it is missing
(~/.runicorn/bin), start its viewer on 127.0.0.1 there and forward a local port to it.
Ctrl-C stops the remote viewer and removes its files.

${flagHelp(SPECS)}`;

/** Terminal input and output; tests pass pipes. */
export interface RemoteIo {
  input: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (on: boolean) => unknown };
  /** Where the URL goes. */
  stdout: NodeJS.WritableStream;
  /** Messages, prompts and the progress bar. */
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** True when prompts can be answered (stdin and stderr are a terminal). */
  interactive: boolean;
}

/** What the command needs from main.ts. */
export interface RemoteDeps {
  config: Config;
  log: Logger;
  /** The executable to deploy (process.execPath of the compiled binary). */
  selfPath: string;
  io?: RemoteIo;
  /** Aborting stops the session as Ctrl-C does (tests). */
  signal?: AbortSignal;
}

function defaultIo(): RemoteIo {
  const input = process.stdin as RemoteIo["input"];
  return {
    input,
    stdout: process.stdout,
    stderr: process.stderr,
    interactive: Boolean(process.stdin.isTTY && process.stderr.isTTY),
  };
}

/** Reads one line from the terminal; with `hidden`, nothing is echoed. Undefined on EOF or Ctrl-C. */
export function promptLine(io: RemoteIo, question: string, hidden = false): Promise<string | undefined> {
  return new Promise((resolve) => {
    io.stderr.write(question);
    const raw = hidden && io.input.isTTY && io.input.setRawMode;
    if (raw) io.input.setRawMode!(true);
    let line = "";
    const finish = (v: string | undefined) => {
      io.input.off("data", onData);
      io.input.off("end", onEnd);
      if (raw) io.input.setRawMode!(false);
      io.input.pause();
      if (hidden) io.stderr.write("\n");
      resolve(v);
    };
    const onEnd = () => finish(undefined);
    const onData = (d: Buffer | string) => {
      for (const ch of d.toString()) {
        if (ch === "\u0003" || ch === "\u0004") return finish(undefined);
        if (ch === "\r" || ch === "\n") return finish(line);
        if (ch === "\u007f" || ch === "\b") line = line.slice(0, -1);
        else line += ch;
      }
    };
    io.input.on("data", onData);
    io.input.once("end", onEnd);
    io.input.resume();
  });
}

/**
 * Parses `[user@]host[:port]` (`[v6addr]:port` for an IPv6 address with a port; a bare IPv6 address has
 * no port). The host part may be an ~/.ssh/config alias.
 */
export function parseTarget(target: string): { user?: string; host: string; port?: number } {
  const at = target.lastIndexOf("@");
  const user = at > 0 ? target.slice(0, at) : undefined;
  let host = at >= 0 ? target.slice(at + 1) : target;
  let port: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::([^:]*))?$/.exec(host);
  if (bracketed) [host, port] = [bracketed[1]!, bracketed[2]];
  else if (host.indexOf(":") > 0 && host.indexOf(":") === host.lastIndexOf(":")) [host, port] = host.split(":") as [string, string];
  if (!host || /[\s\[\]]/.test(host) || port === "") throw new UsageError(`invalid target '${target}': expected [user@]host[:port]`);
  if (port !== undefined && (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535)) {
    throw new UsageError(`invalid target '${target}': the port must be a number 1-65535`);
  }
  return { user, host, port: port === undefined ? undefined : Number(port) };
}

function progressBar(io: RemoteIo): (sent: number, total: number) => void {
  let last = -1;
  return (sent, total) => {
    if (!io.stderr.isTTY) return;
    const pct = total ? Math.floor((sent / total) * 100) : 100;
    if (pct === last) return;
    last = pct;
    const width = 30;
    const fill = Math.round((pct / 100) * width);
    const mb = (n: number) => (n / 1048576).toFixed(1);
    io.stderr.write(`\r  uploading [${"#".repeat(fill)}${" ".repeat(width - fill)}] ${pct}% ${mb(sent)}/${mb(total)} MB`);
    if (sent >= total) io.stderr.write("\n");
  };
}

function describeProblem(p: HostKeyProblem): string {
  return `${p.known_hosts_host} (${p.key_type})\n  fingerprint: ${p.fingerprint_sha256}`;
}

/** Runs `runicorn remote …` and returns the exit code (0 after a clean Ctrl-C). */
export async function runRemoteCommand(argv: string[], deps: RemoteDeps): Promise<number> {
  const io = deps.io ?? defaultIo();
  const say = (m: string) => io.stderr.write(m + "\n");
  const { flags, positionals } = parseArgs(argv, SPECS, "remote");
  if (flags.help) {
    io.stdout.write(REMOTE_HELP + "\n");
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("expected one target: runicorn remote [user@]host[:port]");
  const target = parseTarget(positionals[0]!);
  const env = deps.config.env ?? {};
  const localUser = env.USER || env.LOGNAME || "root";
  const home = deps.config.homeDir;
  const sshCfg = resolveSshHost(target.host, home, localUser);
  for (const opt of sshCfg.unsupported) say(`warning: ~/.ssh/config option ${opt} for ${target.host} is not supported; connecting directly`);
  const host = sshCfg.hostName ?? target.host;
  // the target's own :port, then -p (which a fleet passes to every host), then ~/.ssh/config's Port
  const port = target.port ?? (flags.port ? parsePort(String(flags.port), "port") : (sshCfg.port ?? 22));
  const username = target.user ?? sshCfg.user ?? localUser;
  const localPort = flags["local-port"] ? parsePort(String(flags["local-port"]), "local-port") : undefined;
  const remotePort = flags["remote-port"] ? parsePort(String(flags["remote-port"]), "remote-port") : undefined;
  const facts = currentPlatform(env, home);
  const identities = ((flags.identity as string[] | undefined) ?? []).map((p) => expandUserPath(facts, p));
  const ours = new KnownHostsStore(join(deps.config.configDir, "known_hosts"));

  let conn: SshConnection;
  try {
    conn = await connectSsh({
      host,
      port,
      username,
      knownHostsFiles: [ours.path, join(home, ".ssh", "known_hosts"), join(home, ".ssh", "known_hosts2")],
      acceptInto: ours,
      identityFiles: [...identities, ...sshCfg.identityFiles],
      homeDir: home,
      useAgent: !sshCfg.identitiesOnly || identities.length === 0,
      agentSocket: sshAgentPath(facts),
      log: deps.log,
      signal: deps.signal,
      confirmHostKey: io.interactive
        ? async (p) => {
            say(`The authenticity of host ${describeProblem(p)}\ncan't be established.`);
            const a = await promptLine(io, "Trust this host and continue connecting (yes/no)? ");
            return a?.trim().toLowerCase() === "yes" || a?.trim().toLowerCase() === "y";
          }
        : undefined,
      askPassword: io.interactive ? (q) => promptLine(io, q, true) : undefined,
      askPassphrase: io.interactive ? (k) => promptLine(io, `Enter passphrase for key '${k}': `, true) : undefined,
    });
  } catch (e) {
    if (e instanceof HostKeyError && e.problem.reason === "changed") {
      const p = e.problem;
      say(
        [
          "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@",
          "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @",
          "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@",
          "Someone could be eavesdropping on you right now (man-in-the-middle attack),",
          "or the host key has just been changed.",
          `Host:     ${p.known_hosts_host}`,
          `Expected: ${p.expected_fingerprint_sha256}`,
          `Received: ${p.fingerprint_sha256} (${p.key_type})`,
          "Refusing to connect. If the change is expected, remove the old key from",
          `${ours.path} or ~/.ssh/known_hosts (ssh-keygen -R '${p.known_hosts_host}') and try again.`,
        ].join("\n"),
      );
      return 1;
    }
    if (e instanceof HostKeyError) {
      say(
        `runicorn: ${e.message}.\n` +
          (io.interactive
            ? "Not trusted; not connecting."
            : "Run in a terminal to confirm it, or add it to ~/.ssh/known_hosts (e.g. connect once with ssh)."),
      );
      return 1;
    }
    if (e instanceof SshConnectError) {
      say(`runicorn: cannot connect to ${username}@${host}:${port}: ${e.message}`);
      return 1;
    }
    throw e;
  }

  let launched;
  try {
    launched = await launchViewer(conn, {
      root: flags.root as string | undefined,
      remotePort,
      localPort,
      python: flags.python as string | undefined,
      selfPath: deps.selfPath || undefined,
      version: VERSION,
      releases: releaseSources(deps.config, deps.selfPath || undefined),
      onProgress: progressBar(io),
      // Progress for the user, written plainly: Bun's console.error (the logger) paints a terminal red.
      onStatus: (m) => say(m),
    });
  } catch (e) {
    await conn.close();
    if (e instanceof LaunchError || e instanceof ViewerStartError) {
      say(`runicorn: ${e.message}`);
      return 1;
    }
    say(`runicorn: cannot start the viewer on ${host}: ${(e as Error).message}`);
    return 1;
  }
  const viewer = launched.viewer;
  if (!viewer.tokenProtected) {
    say(
      `warning: the Python runicorn viewer on ${host} takes no token: other users of that server can reach it on ` +
        `127.0.0.1:${viewer.remotePort} while it runs (our own binary requires a per-session token)`,
    );
  }
  io.stdout.write(
    `Runicorn on ${username}@${host}${flags.root ? `:${flags.root}` : ""} is at ${viewer.url}  (Ctrl-C to stop)\n`,
  );
  if (io.interactive && !flags["no-browser"]) openBrowser(facts, viewer.url);

  let onSignal = () => {};
  const outcome = await new Promise<{ code: number; message?: string }>((resolve) => {
    onSignal = () => resolve({ code: 0 });
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    deps.signal?.addEventListener("abort", onSignal, { once: true });
    if (deps.signal?.aborted) onSignal(); // stopped while connecting or deploying: stop the viewer just started
    conn.onClose(() => resolve({ code: 1, message: `connection to ${host} lost; the remote viewer stops with it` }));
    viewer.onExit((reason) => {
      if (reason === "SSH connection lost") return;
      const tail = viewer.logTail;
      resolve({ code: 1, message: `the remote viewer stopped (${reason})${tail ? `:\n${tail}` : ""}` });
    });
  });
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  if (outcome.message) say(`runicorn: ${outcome.message}`);
  else say("stopping the remote viewer…");
  await viewer.stop();
  await conn.close();
  return outcome.code;
}
