// A small, strict argument parser: known flags only, clear one-line errors.

/** One accepted flag. */
export interface FlagSpec {
  name: string;
  short?: string;
  /** "string" takes a value; "boolean" does not; "list" may repeat. */
  kind: "string" | "boolean" | "list";
  help: string;
  valueName?: string;
}

/** `--root DIR` and the original's `--storage` alias, shared by every command that opens a storage root. */
export const ROOT_FLAGS: FlagSpec[] = [
  { name: "root", kind: "string", valueName: "DIR", help: "storage root (default: $RUNICORN_DIR, user_root_dir, ./.runicorn)" },
  { name: "storage", kind: "string", valueName: "DIR", help: "alias of --root (the original's flag name)" },
];

/** A usage error the CLI prints on one line (exit code 2). */
export class UsageError extends Error {}

/** Parsed flags and positional arguments. */
export interface Parsed {
  flags: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** Parses `argv` against `specs`; throws UsageError on an unknown flag or a missing value. */
export function parseArgs(argv: string[], specs: FlagSpec[], command: string): Parsed {
  const flags: Parsed["flags"] = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const key = eq > 0 ? arg.slice(0, eq) : arg;
    const spec = specs.find((s) => `--${s.name}` === key || (s.short && `-${s.short}` === key));
    if (!spec) throw new UsageError(`unknown option ${key} for '${command}' (see: runicorn ${command} --help)`);
    if (spec.kind === "boolean") {
      if (eq > 0) throw new UsageError(`option --${spec.name} takes no value`);
      flags[spec.name] = true;
      continue;
    }
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    else if (i + 1 < argv.length) value = argv[++i];
    if (value === undefined) throw new UsageError(`option --${spec.name} needs a value`);
    if (spec.kind === "list") flags[spec.name] = [...((flags[spec.name] as string[]) ?? []), value];
    else flags[spec.name] = value;
  }
  return { flags, positionals };
}

/** Formats the flag list of a command's help text. */
export function flagHelp(specs: FlagSpec[]): string {
  return specs
    .map((s) => {
      const left = `${s.short ? `-${s.short}, ` : "    "}--${s.name}${s.kind === "boolean" ? "" : ` ${s.valueName ?? "VALUE"}`}`;
      return `  ${left.padEnd(28)} ${s.help}`;
    })
    .join("\n");
}

/** Parses a TCP port (0 = any free port). */
export function parsePort(v: string, flag: string): number {
  if (!/^\d{1,5}$/.test(v) || Number(v) > 65535) throw new UsageError(`--${flag} must be a port number 0-65535, got '${v}'`);
  return Number(v);
}
