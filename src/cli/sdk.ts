// `runicorn sdk --wheel DIR`: writes the Python SDK wheel embedded in this binary, for `pip install` on a machine without a checkout.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { RELEASE_INFO, type ReleaseInfo } from "../release/embedded.ts";
import { type FlagSpec, flagHelp, parseArgs, UsageError } from "./args.ts";

const SPECS: FlagSpec[] = [
  { name: "wheel", kind: "string", valueName: "DIR", help: "write runicorn-<version>-py3-none-any.whl into DIR (created if missing)" },
  { name: "help", short: "h", kind: "boolean", help: "show this help" },
];

/** Help text of `runicorn sdk`. */
export const SDK_HELP = `Usage: runicorn sdk --wheel DIR

Writes the Python SDK (standard library only) as a wheel; install it with
  python -m pip install DIR/runicorn-<version>-py3-none-any.whl

${flagHelp(SPECS)}`;

/** Runs `runicorn sdk …`; `info` is this binary's embedded release facts (tests pass their own). */
export function sdkCommand(argv: string[], out: (line: string) => void, info: ReleaseInfo = RELEASE_INFO): number {
  const { flags, positionals } = parseArgs(argv, SPECS, "sdk");
  if (flags.help) {
    out(SDK_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}' (see: runicorn sdk --help)`);
  if (typeof flags.wheel !== "string" || !flags.wheel) throw new UsageError("expected --wheel DIR (see: runicorn sdk --help)");
  if (!info.wheel || !existsSync(info.wheel.path)) {
    throw new UsageError("this runicorn was built without the SDK wheel (build it with `bun build.ts`)");
  }
  const dir = resolve(flags.wheel);
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UsageError(`--wheel ${flags.wheel} is not a directory`);
  mkdirSync(dir, { recursive: true });
  const dest = join(dir, info.wheel.name);
  writeFileSync(dest, readFileSync(info.wheel.path)); // the embedded file lives in the binary's virtual filesystem
  out(dest);
  return 0;
}
