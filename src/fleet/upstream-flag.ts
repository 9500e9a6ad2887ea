// Parses `--upstream LABEL=URL` (fleet mode from the command line): a label and a viewer's http(s) base URL.
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
