// Parses `--upstream LABEL=URL` (fleet mode from the command line): a label and a viewer's http(s) base URL.
import { checked, readTokenFile } from "../config/token.ts";
import type { UpstreamSpec } from "./upstream.ts";

/** The spec of one `--upstream` value, or a one-line reason it is not one. */
export function parseUpstreamFlag(value: string): UpstreamSpec | { error: string } {
  const at = value.indexOf("=");
  if (at <= 0) return { error: `--upstream needs LABEL=URL, got '${value}'` };
  const label = value.slice(0, at).trim();
  const raw = value.slice(at + 1).trim();
  if (!label || label.length > 200) return { error: `--upstream needs a label of 1 to 200 characters, got '${label}'` };
  if (!URL.canParse(raw)) return { error: `--upstream ${label}: '${raw}' is not a URL` };
  const url = new URL(raw);
  if (url.protocol !== "http:" && url.protocol !== "https:") return { error: `--upstream ${label}: the URL must be http:// or https://` };
  if (url.username || url.password || url.search || url.hash || (url.pathname !== "/" && url.pathname !== "")) {
    return { error: `--upstream ${label}: give the viewer's base URL only (scheme, host and port), got '${raw}'` };
  }
  return { label, baseUrl: `${url.protocol}//${url.host}` };
}

/** The specs of every `--upstream`; labels must differ. Throws the first problem as an Error. */
export function parseUpstreamFlags(values: string[]): UpstreamSpec[] {
  const specs: UpstreamSpec[] = [];
  for (const v of values) {
    const s = parseUpstreamFlag(v);
    if ("error" in s) throw new Error(s.error);
    if (specs.some((x) => x.label === s.label)) throw new Error(`--upstream label '${s.label}' is given twice`);
    specs.push(s);
  }
  return specs;
}

/**
 * Gives each spec its token: `--upstream-token LABEL=@FILE` (a token file private to its owner, as
 * --token-file) or `RUNICORN_UPSTREAM_TOKEN_<LABEL>` (the label upper-cased, every run of characters
 * outside [A-Za-z0-9] as one `_`). A token itself is never taken from the command line (it would show in
 * ps). Throws the first problem as an Error.
 */
export function applyUpstreamTokens(
  specs: UpstreamSpec[],
  values: string[],
  env: Record<string, string | undefined>,
  homeDir: string,
  cwd: string,
): UpstreamSpec[] {
  const fromFlag = new Map<string, string>();
  for (const v of values) {
    const at = v.indexOf("=");
    const label = at > 0 ? v.slice(0, at).trim() : "";
    const rest = at > 0 ? v.slice(at + 1).trim() : "";
    if (!label || !rest.startsWith("@") || rest.length < 2) {
      throw new Error(`--upstream-token needs LABEL=@FILE (a file holding the token, mode 600), got '${v.includes("@") ? v : v.replace(/=.*/, "=…")}'`);
    }
    if (!specs.some((s) => s.label === label)) throw new Error(`--upstream-token ${label}: no --upstream has that label`);
    if (fromFlag.has(label)) throw new Error(`--upstream-token label '${label}' is given twice`);
    fromFlag.set(label, readTokenFile(rest.slice(1), homeDir, cwd));
  }
  return specs.map((s) => {
    const name = upstreamTokenEnvName(s.label);
    const token = fromFlag.get(s.label) ?? (env[name] ? checked(env[name], name) : undefined);
    return token ? { ...s, token } : s;
  });
}

/** The environment variable holding a host's token: `RUNICORN_UPSTREAM_TOKEN_GPU1` for label `gpu1`. */
export function upstreamTokenEnvName(label: string): string {
  return "RUNICORN_UPSTREAM_TOKEN_" + label.toUpperCase().replace(/[^A-Z0-9]+/g, "_").replace(/^_+|_+$/g, "");
}
