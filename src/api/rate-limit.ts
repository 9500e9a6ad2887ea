// Rate limiting compatible with the original's CFG/rate_limits.json (spec §6.3), with its prefix bug fixed.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { readUserFile, updateUserFile } from "../config/user-files.ts";
import { isObject, type JsonObject } from "../store/json.ts";
import type { Logger } from "../util/log.ts";

/** One limit: at most `max_requests` per `window_seconds`, optionally `burst_size` per second. */
export interface Limit {
  max_requests: number;
  window_seconds: number;
  burst_size: number | null;
}

/** The parsed rate_limits.json. */
export interface RateLimitConfig {
  default: Limit;
  endpoints: Record<string, Limit>;
  enabled: boolean;
  logViolations: boolean;
  whitelistLocalhost: boolean;
  headers: { limit: string; remaining: string; reset: string };
}

const limit = (max: number, description: string) => ({ max_requests: max, window_seconds: 60, burst_size: null, description });

/** The original's packaged defaults (spec §6.3); written to CFG on first start as the original does. */
export const DEFAULT_RATE_LIMITS = {
  default: limit(6000, "Default rate limit for all endpoints"),
  endpoints: {
    "/api/remote/connect": limit(10, "SSH connection operations"),
    "/api/remote/status": limit(20000, "Remote status polling"),
    "/api/remote/download": limit(3000, "File downloads"),
    "/api/remote/sync": limit(2000, "Sync operations"),
    "/api/runs": limit(10000, "Experiment runs listing and queries"),
  },
  settings: {
    enable_rate_limiting: false,
    log_violations: true,
    whitelist_localhost: false,
    custom_headers: {
      rate_limit_header: "X-RateLimit-Limit",
      rate_limit_remaining_header: "X-RateLimit-Remaining",
      rate_limit_reset_header: "X-RateLimit-Reset",
    },
  },
};

export const RATE_LIMITS_FILE = "rate_limits.json";

function toLimit(v: unknown, fallback: Limit): Limit {
  if (!isObject(v)) return fallback;
  const max = Number(v.max_requests);
  const win = Number(v.window_seconds);
  const burst = v.burst_size === null || v.burst_size === undefined ? null : Number(v.burst_size);
  return {
    max_requests: Number.isFinite(max) && max > 0 ? Math.floor(max) : fallback.max_requests,
    window_seconds: Number.isFinite(win) && win > 0 ? win : fallback.window_seconds,
    burst_size: burst !== null && Number.isFinite(burst) && burst > 0 ? Math.floor(burst) : null,
  };
}

/** Parses a rate_limits.json object; anything malformed falls back to the defaults, field by field. */
export function parseRateLimits(raw: JsonObject): RateLimitConfig {
  const base: Limit = { max_requests: 6000, window_seconds: 60, burst_size: null };
  const settings = isObject(raw.settings) ? raw.settings : {};
  const headers = isObject(settings.custom_headers) ? settings.custom_headers : {};
  const endpoints: Record<string, Limit> = {};
  if (isObject(raw.endpoints)) {
    for (const [k, v] of Object.entries(raw.endpoints)) if (k.startsWith("/")) endpoints[k] = toLimit(v, base);
  }
  const h = (k: string, d: string) => (typeof headers[k] === "string" && /^[A-Za-z0-9-]+$/.test(headers[k] as string) ? (headers[k] as string) : d);
  return {
    default: toLimit(raw.default, base),
    endpoints,
    enabled: settings.enable_rate_limiting === true,
    logViolations: settings.log_violations !== false,
    whitelistLocalhost: settings.whitelist_localhost === true,
    headers: {
      limit: h("rate_limit_header", "X-RateLimit-Limit"),
      remaining: h("rate_limit_remaining_header", "X-RateLimit-Remaining"),
      reset: h("rate_limit_reset_header", "X-RateLimit-Reset"),
    },
  };
}

/** Loads CFG/rate_limits.json, seeding it with the defaults when absent (as the original does). */
export function loadRateLimits(configDir: string, log: Logger): RateLimitConfig {
  if (!existsSync(join(configDir, RATE_LIMITS_FILE))) {
    try {
      updateUserFile(configDir, RATE_LIMITS_FILE, () => structuredClone(DEFAULT_RATE_LIMITS));
    } catch (e) {
      log.debug(`cannot seed ${RATE_LIMITS_FILE}: ${(e as Error).message}`);
    }
  }
  return parseRateLimits(readUserFile(configDir, RATE_LIMITS_FILE));
}

/**
 * The rule for a path: an exact entry, else the longest entry that is a whole-segment prefix
 * (`/api/runs` covers `/api/runs/x`, but `/api/remote/connect` no longer covers
 * `/api/remote/connections/saved` — fix of spec §10.11), else the default.
 */
export function ruleFor(cfg: RateLimitConfig, path: string): { key: string; limit: Limit } {
  const exact = cfg.endpoints[path];
  if (exact) return { key: path, limit: exact };
  let best: string | undefined;
  for (const prefix of Object.keys(cfg.endpoints)) {
    if (path.startsWith(prefix.endsWith("/") ? prefix : prefix + "/") && (!best || prefix.length > best.length)) best = prefix;
  }
  return best ? { key: best, limit: cfg.endpoints[best] } : { key: "default", limit: cfg.default };
}

/** Outcome of one request against the limiter. */
export interface Decision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the window frees a slot (retry_after when refused). */
  reset: number;
}

/** Sliding-window counters per client and rule, in memory. */
export class RateLimiter {
  private readonly hits = new Map<string, number[]>();
  private checks = 0;

  constructor(readonly cfg: RateLimitConfig) {}

  /** Records one request by `client` on `path` at `now` (ms) and says whether it may proceed. */
  check(client: string, path: string, now = Date.now()): Decision {
    const { key, limit } = ruleFor(this.cfg, path);
    const windowMs = limit.window_seconds * 1000;
    const id = `${client}\u0000${key}`;
    let list = this.hits.get(id);
    if (!list) this.hits.set(id, (list = []));
    while (list.length && list[0] <= now - windowMs) list.shift();
    if (++this.checks % 10000 === 0) this.prune(now);
    let refused = list.length >= limit.max_requests;
    let retry = refused ? Math.max(1, Math.ceil((list[0] + windowMs - now) / 1000)) : 0;
    if (!refused && limit.burst_size !== null) {
      let inLastSecond = 0;
      for (let i = list.length - 1; i >= 0 && list[i] > now - 1000; i--) inLastSecond++;
      if (inLastSecond >= limit.burst_size) {
        refused = true;
        retry = 1;
      }
    }
    if (refused) return { allowed: false, limit: limit.max_requests, remaining: 0, reset: retry };
    list.push(now);
    const reset = Math.max(1, Math.ceil((list[0] + windowMs - now) / 1000));
    return { allowed: true, limit: limit.max_requests, remaining: limit.max_requests - list.length, reset };
  }

  /** Drops counters whose window has passed, so idle clients cost no memory. */
  private prune(now: number): void {
    for (const [id, list] of this.hits) {
      if (!list.length || list[list.length - 1] < now - 3600_000) this.hits.delete(id);
    }
  }
}
