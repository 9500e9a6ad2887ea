// `runicorn sync`: uploads every run the SDKs left in the spool (server unreachable at finish), in seq order.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../config/config.ts";
import { resolveToken } from "../config/token.ts";
import { spoolRoot, stagingRoot, uploadSpoolDir } from "../ingest/client.ts";
import { flagHelp, parseArgs, type FlagSpec, UsageError } from "./args.ts";

type Env = Record<string, string | undefined>;

const FLAGS: FlagSpec[] = [
  { name: "server", kind: "string", valueName: "URL", help: "send to this server instead of the one each run was logged to" },
  { name: "token-file", kind: "string", valueName: "FILE", help: "the server's API token (default: $RUNICORN_TOKEN)" },
  { name: "help", short: "h", kind: "boolean", help: "show this help" },
];

/** Runs `runicorn sync`; 0 when the spool is empty afterwards, 1 when something is left. */
export async function syncCommand(argv: string[], env: Env, out = (l: string) => console.log(l), err = (l: string) => console.error(l)): Promise<number> {
  const { flags, positionals } = parseArgs(argv, FLAGS, "sync");
  if (flags.help) {
    out(`Usage: runicorn sync [--server URL] [--token-file FILE]\n\nUploads the runs the SDKs spooled while their server was unreachable.\n\nOptions:\n${flagHelp(FLAGS)}`);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}' for 'sync'`);
  const config = loadConfig({}, env);
  const token = resolveToken({ tokenFile: flags["token-file"] as string | undefined }, env, config.homeDir, process.cwd())?.token;
  const root = spoolRoot(env, config.homeDir);
  const dirs = existsSync(root) ? readdirSync(root).filter((n) => existsSync(join(root, n, "run.json"))).sort() : [];
  if (dirs.length === 0) {
    out(`Nothing to upload (the spool ${root} is empty).`);
    return 0;
  }
  let failed = 0;
  for (const [i, name] of dirs.entries()) {
    const r = await uploadSpoolDir(join(root, name), flags.server as string | undefined, token, stagingRoot(env, config.homeDir));
    const what = `[${i + 1}/${dirs.length}] ${r.runId}: ${r.sent} batch(es) sent${r.duplicates ? `, ${r.duplicates} already there` : ""}`;
    if (r.error) {
      failed++;
      err(`${what}; stopped: ${r.error} (run \`runicorn sync\` again later)`);
    } else if (r.rejected) {
      failed++;
      err(`${what}; ${r.rejected} refused by the server, kept in ${join(root, name, "rejected")}`);
    } else out(what);
  }
  return failed ? 1 : 0;
}
