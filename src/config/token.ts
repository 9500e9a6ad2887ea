// Where the API token comes from: --token, --token-file (private to its owner) or RUNICORN_TOKEN (issue 12.2).
import { readFileSync, statSync } from "node:fs";
import { platform } from "node:os";
import { isAbsolute, join, resolve } from "node:path";

/** The token and which source gave it. */
export interface ResolvedToken {
  token: string;
  source: "flag" | "file" | "env";
}

/**
 * `--token`, else `--token-file`, else `RUNICORN_TOKEN`; undefined when none is given. A token file that
 * group or others may read is refused (like ssh refuses such a key): the token is the whole protection.
 */
export function resolveToken(
  flags: { token?: string; tokenFile?: string },
  env: Record<string, string | undefined>,
  homeDir: string,
  cwd: string,
): ResolvedToken | undefined {
  if (flags.token !== undefined) return { token: checked(flags.token, "--token"), source: "flag" };
  if (flags.tokenFile !== undefined) return { token: readTokenFile(flags.tokenFile, homeDir, cwd), source: "file" };
  if (env.RUNICORN_TOKEN) return { token: checked(env.RUNICORN_TOKEN, "RUNICORN_TOKEN"), source: "env" };
  return undefined;
}

/** A token file's token; refused when missing, not a regular file, or readable by group/others. */
export function readTokenFile(p: string, homeDir: string, cwd: string): string {
  const path = p.startsWith("~/") ? join(homeDir, p.slice(2)) : isAbsolute(p) ? p : resolve(cwd, p);
  let mode: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new Error(`token file ${path} is not a regular file`);
    mode = st.mode;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(code ? `cannot read token file ${path}: ${code}` : (e as Error).message);
  }
  if (platform() !== "win32" && (mode & 0o077) !== 0) {
    const octal = (mode & 0o777).toString(8).padStart(3, "0");
    throw new Error(`token file ${path} is readable by other users (mode ${octal}); run: chmod 600 ${path}`);
  }
  return checked(readFileSync(path, "utf8"), `token file ${path}`);
}

/** Trims the surrounding white space (a trailing newline from `echo`); refuses an empty or multi-line token. */
export function checked(raw: string, what: string): string {
  const token = raw.trim();
  if (!token) throw new Error(`${what} is empty`);
  if (/[\s\x00-\x1f\x7f]/.test(token)) throw new Error(`${what} contains white space or control characters`);
  return token;
}
