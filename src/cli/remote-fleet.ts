// `runicorn remote HOST HOST…`: one single-host remote session per host, in parallel and retried, merged by a local fleet-mode server (issue 18).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { startServer } from "./serve.ts";
import { Fleet } from "../fleet/fleet.ts";
import { type FlagSpec, parseArgs, parsePort, UsageError } from "./args.ts";
import { type RemoteDeps, type RemoteIo, runRemoteCommand } from "./remote.ts";

const SPECS: FlagSpec[] = [
  { name: "port", short: "p", kind: "string", valueName: "PORT", help: "" },
  { name: "identity", short: "i", kind: "list", valueName: "KEY", help: "" },
  { name: "root", kind: "list", valueName: "DIR", help: "" },
  { name: "local-port", kind: "string", valueName: "N", help: "" },
  { name: "remote-port", kind: "string", valueName: "N", help: "" },
  { name: "python", kind: "string", valueName: "ENV", help: "" },
  { name: "no-browser", kind: "boolean", help: "" },
  { name: "help", short: "h", kind: "boolean", help: "" },
];

/**
 * Retry delays after a host's session ends or fails: 2 s doubling to 10 s; a session that lasted a minute starts over.
 * The cap keeps a host that was down for long back within 15 s of its sshd answering again (issue 18).
 */
const MIN_RETRY_MS = 2000;
const MAX_RETRY_MS = 10_000;

/** True when the arguments name more than one host (the fleet form of `runicorn remote`). */
export function isFleetRemote(argv: string[]): boolean {
  try {
    return parseArgs(argv, SPECS, "remote").positionals.length > 1;
  } catch {
    return false; // the single-host command reports the usage error in its own words
  }
}

/** A host's session arguments: the shared flags, its own root, a pre-chosen local port, no browser. */
export function hostArgv(host: string, hosts: string[], flags: Record<string, unknown>, localPort: number): string[] {
  const argv = [host, "--no-browser", "--local-port", String(localPort)];
  if (flags.port !== undefined) argv.push("--port", String(flags.port));
  for (const key of (flags.identity as string[] | undefined) ?? []) argv.push("--identity", key);
  if (flags.python !== undefined) argv.push("--python", String(flags.python));
  const root = rootFor(host, (flags.root as string[] | undefined) ?? [], hosts);
  if (root !== undefined) argv.push("--root", root);
  return argv;
}

/** `--root DIR` applies to every host; `--root HOST=DIR` (HOST as written on the command line) to that host and wins. */
export function rootFor(host: string, roots: string[], hosts: string[]): string | undefined {
  let shared: string | undefined;
  for (const r of roots) {
    const at = r.indexOf("=");
    const alias = at > 0 ? r.slice(0, at) : undefined;
    if (alias !== undefined && hosts.includes(alias)) {
      if (alias === host) return r.slice(at + 1);
    } else shared = r;
  }
  return shared;
}

/** Runs the fleet form; returns the exit code once Ctrl-C (or `deps.signal`) stopped every host. */
export async function runRemoteFleet(argv: string[], deps: RemoteDeps): Promise<number> {
  const { flags, positionals: hosts } = parseArgs(argv, SPECS, "remote");
  if (flags["remote-port"] !== undefined) throw new UsageError("--remote-port applies to one host; leave it out with several hosts");
  if (new Set(hosts).size !== hosts.length) throw new UsageError("a host is given twice");
  if (flags.port !== undefined) parsePort(String(flags.port), "port");
  const say = (m: string) => (deps.io?.stderr ?? process.stderr).write(m + "\n");
  const out = (m: string) => (deps.io?.stdout ?? process.stdout).write(m + "\n");
  const uiPort = flags["local-port"] !== undefined ? parsePort(String(flags["local-port"]), "local-port") : 0;
  const ports = await Promise.all(hosts.map(() => freePort()));
  const fleet = new Fleet(
    hosts.map((h, i) => ({ label: h, baseUrl: `http://127.0.0.1:${ports[i]}` })),
    deps.log,
  );
  // the local server only merges: an empty private root instead of creating one in the user's default place
  const root = mkdtempSync(join(tmpdir(), "runicorn-fleet-"));
  const server = await startServer({ ...deps.config, root, host: "127.0.0.1", port: uiPort }, { fleet }).catch((e) => {
    rmSync(root, { recursive: true, force: true });
    throw e;
  });
  out(`Runicorn fleet of ${hosts.length} hosts is at ${server.url}  (Ctrl-C to stop)`);

  const stopping = new AbortController();
  const stop = () => stopping.abort();
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  deps.signal?.addEventListener("abort", stop, { once: true });
  const loops = hosts.map((host, i) => hostLoop(host, hostArgv(host, hosts, flags, ports[i]), deps, stopping.signal, say));
  await Promise.all(loops);
  process.off("SIGINT", stop);
  process.off("SIGTERM", stop);
  await server.stop();
  rmSync(root, { recursive: true, force: true });
  return 0;
}

/** Keeps one host's session up: runs the single-host command, and after it ends or fails waits and runs it again. */
async function hostLoop(host: string, argv: string[], deps: RemoteDeps, stopping: AbortSignal, say: (m: string) => void): Promise<void> {
  let delay = MIN_RETRY_MS;
  while (!stopping.aborted) {
    const started = Date.now();
    let code: number;
    try {
      code = await runRemoteCommand(argv, { ...deps, io: prefixedIo(host, deps.io), signal: stopping });
    } catch (e) {
      say(`[${host}] ${(e as Error).message}`);
      if (e instanceof UsageError) return; // the same arguments would fail the same way
      code = 1;
    }
    if (stopping.aborted) return;
    if (Date.now() - started > 60_000) delay = MIN_RETRY_MS;
    say(`[${host}] session ended (exit ${code}); reconnecting in ${Math.round(delay / 1000)} s`);
    await sleep(delay, stopping);
    delay = Math.min(MAX_RETRY_MS, delay * 2);
  }
}

/** Each host's messages, line by line with `[host] ` in front; no prompts (several hosts cannot share a terminal). */
function prefixedIo(host: string, io: RemoteIo | undefined): RemoteIo {
  const line = (target: NodeJS.WritableStream) => {
    let buf = "";
    return new Writable({
      write(chunk, _enc, done) {
        buf += String(chunk).replace(/\r/g, "\n");
        const lines = buf.split("\n");
        buf = lines.pop() ?? "";
        for (const l of lines) if (l.trim()) target.write(`[${host}] ${l}\n`);
        done();
      },
    });
  };
  return {
    input: io?.input ?? (process.stdin as RemoteIo["input"]),
    stdout: line(io?.stderr ?? process.stderr),
    stderr: line(io?.stderr ?? process.stderr),
    interactive: false,
  };
}

async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}
