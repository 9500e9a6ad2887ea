// `runicorn demo`: writes a small realistic set of runs into a temp root (or --root) and serves it, for a first look.
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadConfig } from "../config/config.ts";
import { writeDemoRoot } from "../demo/demo-runs.ts";
import { currentPlatform, openBrowser } from "../system/platform.ts";
import { VERSION } from "../version.ts";
import { type FlagSpec, flagHelp, parseArgs, parsePort, UsageError } from "./args.ts";
import { startServer } from "./serve.ts";

const SPECS: FlagSpec[] = [
  { name: "port", kind: "string", valueName: "PORT", help: "port to listen on (default 23300; 0 = any free port)" },
  { name: "root", kind: "string", valueName: "DIR", help: "write the demo runs into DIR (new or empty) and keep them" },
  { name: "live-seconds", kind: "string", valueName: "N", help: "how long the live run keeps logging (default 60)" },
  { name: "no-browser", kind: "boolean", help: "do not open a browser" },
  { name: "help", short: "h", kind: "boolean", help: "show this help" },
];

/** Help text of `runicorn demo`. */
export const DEMO_HELP = `Usage: runicorn demo [options]

Writes a few example runs (a learning-rate sweep with configs and images, a failed run, and a
live run that keeps logging) into a temporary storage root and serves it. Ctrl-C stops the
server and removes the temporary root.

${flagHelp(SPECS)}`;

/** Runs `runicorn demo`; resolves with the exit code after Ctrl-C (or `signal`). */
export async function demoCommand(
  argv: string[],
  env: Record<string, string | undefined>,
  opts: { signal?: AbortSignal; out?: (line: string) => void } = {},
): Promise<number> {
  const out = opts.out ?? ((l: string) => console.log(l));
  const { flags, positionals } = parseArgs(argv, SPECS, "demo");
  if (flags.help) {
    out(DEMO_HELP);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}' for 'demo'`);
  const liveText = (flags["live-seconds"] as string | undefined) ?? "60";
  if (!/^\d{1,5}$/.test(liveText)) throw new UsageError(`--live-seconds must be a whole number of seconds, got '${liveText}'`);
  const given = flags.root as string | undefined;
  if (given && existsSync(given) && readdirSync(given).length > 0) {
    throw new UsageError(`--root ${given} is not empty; give a new or empty folder for the demo runs`);
  }
  const root = given ? resolve(given) : mkdtempSync(join(tmpdir(), "runicorn-demo-"));
  const port = flags.port !== undefined ? parsePort(flags.port as string, "port") : undefined;
  const demo = writeDemoRoot(root, { liveMs: Number(liveText) * 1000 });
  const config = loadConfig({ root, port }, env);
  let server;
  try {
    server = await startServer(config);
  } catch (e) {
    demo.live.stop();
    if (!given) rmSync(root, { recursive: true, force: true });
    throw e;
  }
  out(`Runicorn ${VERSION} demo: ${demo.runIds.length} runs in ${root}${given ? "" : " (removed on exit)"}`);
  out(`listening on ${server.url}`);
  if (!flags["no-browser"] && process.stdout.isTTY) openBrowser(currentPlatform(env), server.url);
  let onSignal = () => {};
  await new Promise<void>((done) => {
    onSignal = () => done();
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    opts.signal?.addEventListener("abort", onSignal, { once: true });
  });
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  demo.live.stop();
  await server.stop();
  if (!given) rmSync(root, { recursive: true, force: true });
  return 0;
}
