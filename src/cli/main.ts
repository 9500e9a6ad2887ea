#!/usr/bin/env bun
// The `runicorn` command: dispatches to the sub-commands; the only place that exits the process.
import { VERSION } from "../version.ts";
import { UsageError } from "./args.ts";
import { serveCommand } from "./serve.ts";
import { tokenCommand } from "../team/serve.ts";
import { runRemoteCommand } from "./remote.ts";
import { sdkCommand } from "./sdk.ts";
import { demoCommand } from "./demo.ts";
import { pushCommand } from "./push.ts";
import { syncCommand } from "./sync.ts";
import { isFleetRemote, runRemoteFleet } from "./remote-fleet.ts";
import { DATA_COMMAND_HELP, DATA_COMMANDS, runDataCommand } from "./data.ts";
import { compiledSelfPath } from "../remote/launch.ts";
import { loadConfig } from "../config/config.ts";
import { createLogger } from "../util/log.ts";

const HELP = `Runicorn ${VERSION} — local experiment tracker (compatible with Runicorn 0.6)

Usage: runicorn <command> [options]

Commands:
  serve      serve the web UI and API for a storage root (alias: viewer)
  remote     view GPU servers' runs over SSH: runicorn remote [user@]host[:port] [host…]
  token      team server tokens: runicorn token create|list|revoke --db postgresql://…
  demo       serve a few example runs (a sweep, a failed run, a live run) from a temp folder
${Object.entries(DATA_COMMAND_HELP)
  .map(([name, text]) => `  ${name.padEnd(10)} ${text}`)
  .join("\n")}
  push       upload local runs to a server: runicorn push --server URL [--path P] [RUN_ID…]
  sync       upload the runs the SDKs spooled while their server was unreachable
  sdk        write the Python SDK wheel: runicorn sdk --wheel DIR
  version    print the version

Run 'runicorn <command> --help' for a command's options.`;

/** Runs the CLI and returns the exit code. */
export async function main(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === "--help" || cmd === "-h" || cmd === "help") {
    console.log(HELP);
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === "--version" || cmd === "-V" || cmd === "version") {
    console.log(`runicorn ${VERSION}`);
    return 0;
  }
  switch (cmd) {
    case "serve":
    case "viewer":
      return serveCommand(rest, env);
    case "remote": {
      const deps = { config: loadConfig({}, env), log: createLogger("info"), selfPath: compiledSelfPath() ?? "" };
      // several hosts: one session per host under a fleet-mode server (docs/FLEET.md)
      return isFleetRemote(rest) ? runRemoteFleet(rest, deps) : runRemoteCommand(rest, deps);
    }
    case "demo":
      return demoCommand(rest, env);
    case "push":
      return pushCommand(rest, env);
    case "sync":
      return syncCommand(rest, env);
    case "token":
      return tokenCommand(rest, env);
    case "sdk":
      return sdkCommand(rest, (line) => console.log(line));
    default:
      if ((DATA_COMMANDS as readonly string[]).includes(cmd)) {
        return runDataCommand(cmd, rest, { config: loadConfig({}, env), log: createLogger("warn") });
      }
      throw new UsageError(`unknown command '${cmd}' (see: runicorn --help)`);
  }
}

if (import.meta.main) {
  main(process.argv.slice(2), { ...process.env })
    .then((code) => process.exit(code))
    .catch((e) => {
      console.error(`runicorn: ${(e as Error).message}`);
      process.exit(e instanceof UsageError ? 2 : 1);
    });
}
