// Reads the parts of ~/.ssh/config we honour: Host blocks with HostName, User, Port, IdentityFile (and Include).
import { readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";

/** What ~/.ssh/config says about one host alias. */
export interface SshHostConfig {
  hostName?: string;
  user?: string;
  port?: number;
  identityFiles: string[];
  identitiesOnly?: boolean;
  /** Options present that we do not support (e.g. ProxyJump), to warn about. */
  unsupported: string[];
}

const UNSUPPORTED = new Set(["proxyjump", "proxycommand"]);

/** OpenSSH host pattern list: globs, `!negation`, space- or comma-separated. */
function hostMatches(patterns: string[], alias: string): boolean {
  let matched = false;
  for (const raw of patterns) {
    const neg = raw.startsWith("!");
    const pat = neg ? raw.slice(1) : raw;
    const re = new RegExp(
      "^" + pat.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$",
      "i",
    );
    if (re.test(alias)) {
      if (neg) return false;
      matched = true;
    }
  }
  return matched;
}

/** Splits a config line into keyword and arguments (`Key value`, `Key=value`, quoted args). */
function splitLine(line: string): [string, string[]] | undefined {
  const s = line.trim();
  if (!s || s.startsWith("#")) return undefined;
  const m = /^(\S+?)(?:\s*=\s*|\s+)(.*)$/.exec(s);
  if (!m) return [s.toLowerCase(), []];
  const args: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  for (let a = re.exec(m[2]!); a; a = re.exec(m[2]!)) args.push(a[1] ?? a[2]!);
  return [m[1]!.toLowerCase(), args];
}

/** Expands `~` and the `%d %h %u %r %%` tokens of IdentityFile. */
function expandIdentity(p: string, homeDir: string, host: string, user: string, localUser: string): string {
  let out = p.replace(/%([%dhru])/g, (_, t: string) =>
    t === "%" ? "%" : t === "d" ? homeDir : t === "h" ? host : t === "r" ? user : localUser,
  );
  if (out === "~") out = homeDir;
  else if (out.startsWith("~/")) out = join(homeDir, out.slice(2));
  return isAbsolute(out) ? out : join(homeDir, ".ssh", out);
}

/**
 * Resolves an alias against `<homeDir>/.ssh/config`; first value wins, as in OpenSSH
 * (IdentityFile accumulates). A missing file yields an empty result.
 */
export function resolveSshHost(alias: string, homeDir: string, localUser: string): SshHostConfig {
  const out: SshHostConfig = { identityFiles: [], unsupported: [] };
  const rawIdentities: string[] = [];
  const seen = new Set<string>();
  const visit = (file: string, depth: number) => {
    if (depth > 8 || seen.has(file)) return;
    seen.add(file);
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      return; // no config file: nothing to apply
    }
    let active = true; // lines before the first Host apply to every host
    for (const line of text.split(/\r?\n/)) {
      const parsed = splitLine(line);
      if (!parsed) continue;
      const [key, args] = parsed;
      if (key === "host") {
        active = hostMatches(args.flatMap((a) => a.split(",")), alias);
        continue;
      }
      if (key === "match") {
        active = false; // Match blocks are not supported; skip them rather than guess
        continue;
      }
      if (!active) continue;
      const v = args[0];
      if (key === "include") {
        for (const inc of args) visit(expandIdentity(inc, homeDir, alias, "", localUser), depth + 1);
      } else if (key === "hostname" && v && out.hostName === undefined) out.hostName = v;
      else if (key === "user" && v && out.user === undefined) out.user = v;
      else if (key === "port" && v && out.port === undefined && /^\d+$/.test(v)) out.port = Number(v);
      else if (key === "identityfile" && v && v.toLowerCase() !== "none") rawIdentities.push(v);
      else if (key === "identitiesonly" && v && out.identitiesOnly === undefined) out.identitiesOnly = v.toLowerCase() === "yes";
      else if (UNSUPPORTED.has(key) && v && v.toLowerCase() !== "none") out.unsupported.push(key);
    }
  };
  visit(join(homeDir, ".ssh", "config"), 0);
  if (out.hostName) out.hostName = out.hostName.replace(/%h/g, alias);
  const host = out.hostName ?? alias;
  const user = out.user ?? localUser;
  out.identityFiles = rawIdentities.map((p) => expandIdentity(p, homeDir, host, user, localUser));
  return out;
}
