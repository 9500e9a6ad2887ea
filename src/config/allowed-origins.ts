// Browser origins allowed to call the API: `--cors-origin` flags plus the list saved in CFG/cors_origins.json (issue 15.1).
import { readUserFile, updateUserFile } from "./user-files.ts";

/** The file in the per-user config dir that holds the origins added in Settings. */
export const CORS_ORIGINS_FILE = "cors_origins.json";

/**
 * The canonical form of an origin (`scheme://host[:port]`, lower case, default port dropped), or undefined
 * when `value` is not one: no path, query, user info or wildcard; http(s) only. `*` is kept as given
 * (allow every origin: the original's default, only ever on explicit request).
 */
export function normalizeOrigin(value: string): string | undefined {
  const v = value.trim();
  if (v === "*") return "*";
  if (!/^https?:\/\/[^/?#@\s]+\/?$/i.test(v)) return undefined;
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return undefined; // not a URL at all: the caller reports it as invalid
  }
  if (url.username || url.password || !url.hostname) return undefined;
  return url.origin;
}

/** The origins from flags (fixed for the server's life) and from the saved file (changed live from Settings). */
export class AllowedOrigins {
  private saved: string[];
  /** The `--cors-origin` values, normalised. */
  readonly fromFlags: readonly string[];

  constructor(
    private readonly configDir: string,
    flags: readonly string[],
  ) {
    this.fromFlags = flags.map((f) => normalizeOrigin(f) ?? f);
    const cur = readUserFile(configDir, CORS_ORIGINS_FILE).cors_origins;
    this.saved = Array.isArray(cur) ? cur.flatMap((o) => (typeof o === "string" && normalizeOrigin(o) ? [normalizeOrigin(o)!] : [])) : [];
  }

  /** True when a page on `origin` may call the API. */
  allows(origin: string): boolean {
    const o = normalizeOrigin(origin);
    if (!o) return false;
    return this.fromFlags.includes("*") || this.fromFlags.includes(o) || this.saved.includes(o);
  }

  /** The origins saved in the config file. */
  listSaved(): string[] {
    return [...this.saved];
  }

  /** Replaces the saved list (already normalised by the caller) and writes it to the config file. */
  save(origins: string[]): void {
    const unique = [...new Set(origins)];
    updateUserFile(this.configDir, CORS_ORIGINS_FILE, (cur) => ({ ...cur, cors_origins: unique }));
    this.saved = unique;
  }
}
