// The HTTP boundary, run before routing: Host check (DNS rebinding), origin check and CORS, token auth, body
// limits counted while streaming, security headers, and rate limiting (spec §6.2, §6.3; issues 8, 12, 15).
import { createHash, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";
import { Elysia, ParseError } from "elysia";
import type { AllowedOrigins } from "../config/allowed-origins.ts";
import type { Config } from "../config/config.ts";
import type { AppContext } from "./context.ts";
import { HttpError } from "./errors.ts";
import { loadRateLimits, RateLimiter } from "./rate-limit.ts";
import { MAX_INGEST_BATCH_BYTES, MAX_INGEST_MEDIA_BYTES } from "../ingest/contract.ts";
import { parseTolerant } from "../store/json.ts";
import type { Logger } from "../util/log.ts";

/** Largest JSON (or other non-multipart) body accepted, counted as it streams. */
export const MAX_JSON_BODY = 1 << 20;
/** Largest upload (multipart import archives); Bun counts it while streaming (`maxRequestBodySize`). */
export const MAX_UPLOAD_BODY = 4 * 1024 ** 3;

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

const INGEST_BATCH_PATH = /^\/api\/ingest\/runs\/[^/]+\/batches$/;
const INGEST_MEDIA_PATH = /^\/api\/ingest\/runs\/[^/]+\/media\/[^/]+$/;

/** The body limit of a request: the ingest routes take bigger batches and media files (src/ingest/contract.ts). */
export function bodyLimitFor(path: string, isUpload: boolean): number {
  if (isUpload) return MAX_UPLOAD_BODY;
  if (INGEST_BATCH_PATH.test(path)) return MAX_INGEST_BATCH_BYTES;
  if (INGEST_MEDIA_PATH.test(path)) return MAX_INGEST_MEDIA_BYTES;
  return MAX_JSON_BODY;
}

/**
 * Sent with every answer. The UI and /docs load only their own scripts; nothing may frame them
 * (clickjacking); no response is sniffed into another type; no URL (which may carry ?token=) leaks
 * through Referer.
 */
const csp = (scriptSrc: string) =>
  `default-src 'self'; script-src ${scriptSrc}; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; ` +
  "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/**
 * The Content-Security-Policy for an HTML page of ours: the strict default plus the hash of each inline
 * script the page itself carries (the UI's theme snippet, the Swagger UI start-up), so nothing else inline runs.
 */
export function contentSecurityPolicyFor(html: string): string {
  const hashes = [...html.matchAll(/<script\b(?![^>]*\bsrc\s*=)[^>]*>([\s\S]*?)<\/script>/gi)].map(
    (m) => `'sha256-${createHash("sha256").update(m[1], "utf8").digest("base64")}'`,
  );
  return csp(["'self'", ...new Set(hashes)].join(" "));
}

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": csp("'self'"),
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/**
 * True for a strict dotted-decimal IPv4 address in 127.0.0.0/8 ("127.0.0.1", not "127.1", "0x7f.0.0.1",
 * "2130706433" or "127.0.0.01": browsers always send the canonical form, so the others only come from tools
 * that try to slip past a prefix check).
 */
export function isLoopbackIPv4(s: string): boolean {
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  return !!m && m.slice(1).every((x) => Number(x) <= 255 && (x === "0" || !x.startsWith("0")));
}

/** True for an address only this machine can reach: a bind address or a peer address. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === "localhost" || h === "::1" || h === "[::1]") return true;
  return isLoopbackIPv4(h.startsWith("::ffff:") ? h.slice(7) : h);
}

/** A Host header split into its lower-case name and optional port; undefined when it is not `host[:port]`. */
export interface HostHeader {
  hostname: string;
  port?: number;
}

/**
 * Parses a Host header: a DNS name or IPv4 literal, or a bracketed IPv6 literal, then an optional port
 * 1–65535. User info, paths, spaces, empty names and out-of-range ports are refused.
 */
export function parseHostHeader(value: string): HostHeader | undefined {
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9_](?:[a-z0-9_.-]{0,251}[a-z0-9_])?)(?::(\d{1,5}))?$/i.exec(value);
  if (!m) return undefined;
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  const hostname = m[1].toLowerCase();
  if (hostname.startsWith("[") && isIP(hostname.slice(1, -1)) !== 6) return undefined;
  return { hostname, port };
}

/** The names a server answers to, and whether it checks them at all (see docs/SECURITY.md "Web pages"). */
export interface HostPolicy {
  enforced: boolean;
  names: Set<string>;
}

/**
 * A server bound to loopback, or given `--allowed-host`, answers only to loopback literals (any port: SSH
 * tunnels and `runicorn remote` forward from another local port), its bind address and the allowed names.
 * A server bound to all interfaces with no `--allowed-host` answers to any name; its token protects it.
 */
export function hostPolicy(config: Pick<Config, "host" | "allowedHosts">): HostPolicy {
  const names = new Set(config.allowedHosts.map((h) => h.toLowerCase()));
  const bind = config.host.toLowerCase();
  if (bind !== "0.0.0.0" && bind !== "::" && bind !== "") names.add(bind.includes(":") && !bind.startsWith("[") ? `[${bind}]` : bind);
  return { enforced: isLoopbackHost(config.host) || config.allowedHosts.length > 0, names };
}

/** Constant-time comparison of a presented token with the expected one. */
export function tokenMatches(presented: string | null | undefined, expected: string): boolean {
  if (!presented) return false;
  const a = createHash("sha256").update(presented).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The token of a request: `Authorization: Bearer`, else `?token=`, else the cookie (a malformed one counts as none). */
export function presentedToken(request: Request, url: URL): string | null {
  const auth = request.headers.get("authorization");
  if (auth?.toLowerCase().startsWith("bearer ")) return auth.slice(7).trim();
  const q = url.searchParams.get("token");
  if (q) return q;
  const cookie = request.headers.get("cookie");
  const m = cookie ? /(?:^|;\s*)runicorn_token=([^;]*)/.exec(cookie) : null;
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return null; // "%zz" and the like: not our cookie, so no token (401, never a 5xx)
  }
}

/** Strips the IPv4-mapped prefix so that `::ffff:10.0.0.1` and `10.0.0.1` are one client. */
function plainAddress(addr: string): string {
  const a = addr.trim().toLowerCase();
  return a.startsWith("::ffff:") && isIP(a.slice(7)) === 4 ? a.slice(7) : a;
}

/**
 * The client of a request: the socket's peer, unless that peer is a configured proxy; then the last
 * X-Forwarded-For hop that is not itself a trusted proxy.
 */
export function clientAddress(peer: string, forwardedFor: string | null, trusted: ReadonlySet<string>): string {
  const p = plainAddress(peer);
  if (!forwardedFor || !trusted.has(p)) return p;
  const hops = forwardedFor.split(",").map(plainAddress).filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    if (trusted.has(hops[i])) continue;
    return isIP(hops[i]) ? hops[i] : p;
  }
  return p;
}

/** The refusal a browser page on another origin gets, saying how the user can allow it. */
export function crossOriginDetail(origin: string): string {
  if (origin === "null") return "Cross-origin request from a page without an origin (file:// or sandboxed) refused";
  return `Cross-origin request from ${origin} refused: start the server with --cors-origin ${origin} or add it in Settings → Allowed origins`;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...SECURITY_HEADERS, ...headers } });

/**
 * 403 for a page on an origin the user has not allowed. The refusal itself is readable by that page (ACAO on
 * the 403 only), so a front end can show the user how to allow it instead of a bare "network error".
 */
const refuseOrigin = (origin: string) =>
  json(403, { detail: crossOriginDetail(origin) }, origin === "null" ? { vary: "Origin" } : { vary: "Origin", "access-control-allow-origin": origin });

/** Shows a header value in an error message without echoing control characters or a whole novel. */
const shown = (v: string) => JSON.stringify(v.length > 100 ? `${v.slice(0, 100)}…` : v);

/** Reads a request body, stopping with 413 as soon as more than `limit` bytes have arrived. */
export async function readBodyLimited(request: Request, limit: number, log?: Logger): Promise<Uint8Array> {
  if (!request.body) return new Uint8Array();
  const reader = request.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      // stop reading; what is still in flight is dropped with the connection
      reader.cancel().catch((e) => log?.debug(`cancelling an oversized body failed: ${(e as Error).message}`));
      throw new HttpError(413, `Request body too large (limit ${limit} bytes)`);
    }
    parts.push(value);
  }
  return Buffer.concat(parts);
}

/** The guard plugin; mounted first so it sees every request (WebSocket upgrades included). */
export function guard(ctx: AppContext, origins: AllowedOrigins) {
  const { token } = ctx.config;
  const hosts = hostPolicy(ctx.config);
  const trusted = new Set(ctx.config.trustedProxies.map(plainAddress));
  const limiter = new RateLimiter(loadRateLimits(ctx.config.configDir, ctx.log));

  return new Elysia({ name: "guard" })
    .onRequest(({ request, set, server }) => {
      Object.assign(set.headers, SECURITY_HEADERS);
      // 1. Host: present, well-formed, and (on loopback) a name an attacker's DNS cannot point at us
      const hostValue = request.headers.get("host");
      if (hostValue === null || hostValue === "") return json(400, { detail: "Missing Host header" });
      const host = parseHostHeader(hostValue);
      if (!host) return json(400, { detail: `Invalid Host header: ${shown(hostValue)}` });
      let url: URL;
      try {
        url = new URL(request.url);
      } catch {
        return json(400, { detail: "Invalid request target" });
      }
      // an absolute-form target ("GET http://other/ HTTP/1.1") must name the same host as the Host header
      if (url.hostname !== host.hostname) return json(400, { detail: "Request target does not match the Host header" });
      if (hosts.enforced && !isLoopbackHost(host.hostname) && !hosts.names.has(host.hostname)) {
        return json(403, {
          detail: `Host ${shown(host.hostname)} not allowed: this server answers to localhost, 127.0.0.1 and [::1]; to reach it under another name, start it with --allowed-host ${host.hostname}`,
        });
      }

      // 2. Origin: a page on another origin may read (the browser hides the answer unless allowed) but
      // may neither change state nor open a socket unless the user allowed that origin
      const path = url.pathname;
      const origin = request.headers.get("origin");
      const upgrade = request.headers.get("upgrade")?.toLowerCase() === "websocket";
      const sameOrigin = origin !== null && isSameOrigin(origin, hostValue);
      const allowed = origin !== null && (sameOrigin || origins.allows(origin));
      if (origin !== null && !sameOrigin) {
        set.headers["vary"] = "Origin";
        if (allowed) set.headers["access-control-allow-origin"] = origin;
        if (request.method === "OPTIONS" && request.headers.has("access-control-request-method")) {
          if (!allowed) return refuseOrigin(origin);
          return new Response(null, {
            status: 204,
            headers: {
              ...SECURITY_HEADERS,
              "access-control-allow-origin": origin,
              "access-control-allow-methods": "GET, POST, PATCH, PUT, DELETE, OPTIONS",
              "access-control-allow-headers": requestedHeaders(request),
              "access-control-max-age": "600",
              vary: "Origin",
            },
          });
        }
        if (!allowed && (!SAFE_METHODS.has(request.method) || upgrade)) return refuseOrigin(origin);
      } else if (origin === null && (!SAFE_METHODS.has(request.method) || upgrade)) {
        // a browser that left Origin out (privacy settings, old engines) still says where the request came from
        const site = request.headers.get("sec-fetch-site");
        if (site === "cross-site" || site === "same-site") {
          return json(403, { detail: "Cross-origin request without an Origin header refused" });
        }
      }

      // 3. Token: required whenever one is configured (loopback included), by header, ?token= or cookie
      if (token && !path.startsWith("/assets/")) {
        if (!tokenMatches(presentedToken(request, url), token)) {
          if (path.startsWith("/api/") || path === "/openapi.json" || upgrade) return json(401, { detail: "Missing or invalid token" });
          return new Response("Unauthorized: open the URL with ?token=… that `runicorn serve` printed.", {
            status: 401,
            headers: { "content-type": "text/plain; charset=utf-8", ...SECURITY_HEADERS },
          });
        }
        if (url.searchParams.get("token")) {
          // keep the page working after the first visit without leaving the token in every URL
          set.headers["set-cookie"] = `runicorn_token=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict`;
        }
      }

      // 4. Declared body size (a chunked body is counted as it streams, in onParse below)
      if (!SAFE_METHODS.has(request.method)) {
        const declared = request.headers.get("content-length");
        const isUpload = (request.headers.get("content-type") ?? "").toLowerCase().startsWith("multipart/");
        const limit = bodyLimitFor(path, isUpload);
        if (declared !== null && Number(declared) > limit) return json(413, { detail: `Request body too large (limit ${limit} bytes)` });
      }

      // 5. Rate limits, per client
      if (!path.startsWith("/api/") || request.method === "OPTIONS" || !limiter.cfg.enabled) return;
      const client = clientAddress(server?.requestIP(request)?.address ?? "unknown", request.headers.get("x-forwarded-for"), trusted);
      if (limiter.cfg.whitelistLocalhost && isLoopbackHost(client)) return;
      const d = limiter.check(client, path);
      const h = limiter.cfg.headers;
      if (!d.allowed) {
        if (limiter.cfg.logViolations) ctx.log.warn(`rate limit exceeded by ${client} on ${path}`);
        return json(
          429,
          { detail: "Rate limit exceeded", retry_after: d.reset },
          { "retry-after": String(d.reset), [h.limit]: String(d.limit), [h.remaining]: "0", [h.reset]: String(d.reset) },
        );
      }
      set.headers[h.limit] = String(d.limit);
      set.headers[h.remaining] = String(d.remaining);
      set.headers[h.reset] = String(d.reset);
    })
    .onParse({ as: "global" }, async ({ request, contentType }) => {
      // every non-multipart body is read here, counted as it arrives: Content-Length may be absent (chunked)
      const type = contentType.toLowerCase();
      const path = new URL(request.url).pathname;
      if (INGEST_MEDIA_PATH.test(path) && request.method === "PUT") {
        // a media file is raw bytes whatever type it names
        const raw = await readBodyLimited(request, MAX_INGEST_MEDIA_BYTES, ctx.log);
        return raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
      }
      if (type === "" || type.startsWith("multipart/")) return; // multipart: Bun's maxRequestBodySize counts it
      const isJson = type === "application/json" || type.endsWith("+json");
      const isText = type.startsWith("text/") || type === "application/x-www-form-urlencoded";
      if (!isJson && !isText && type !== "application/octet-stream") return; // no route reads other types
      const bytes = await readBodyLimited(request, bodyLimitFor(path, false), ctx.log);
      // no body at all (a bodiless POST/DELETE that still names a type): as if none was sent, so routes
      // without a body schema run as before and routes with one report the missing fields
      if (bytes.byteLength === 0) return;
      if (type === "application/octet-stream") return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
      const text = new TextDecoder().decode(bytes);
      if (type === "application/x-www-form-urlencoded") return Object.fromEntries(new URLSearchParams(text));
      if (!isJson) return text;
      try {
        // an SDK's batch carries Python's NaN/Infinity tokens as its files would
        return path.startsWith("/api/ingest/") ? parseTolerant(text, "infinity") : JSON.parse(text);
      } catch (e) {
        throw new ParseError(e as Error);
      }
    });
}

/** Same origin: the Origin's host:port is the Host the request was sent to (http or https, e.g. behind TLS). */
function isSameOrigin(origin: string, hostValue: string): boolean {
  const m = /^https?:\/\/([^/]+)$/i.exec(origin);
  return !!m && m[1].toLowerCase() === hostValue.toLowerCase();
}

/** The headers a preflight may ask for, as a clean comma list (the browser's own list, sanitised). */
function requestedHeaders(request: Request): string {
  const asked = (request.headers.get("access-control-request-headers") ?? "")
    .split(",")
    .map((h) => h.trim().toLowerCase())
    .filter((h) => /^[a-z0-9-]{1,64}$/.test(h));
  return [...new Set(["content-type", "authorization", ...asked])].join(", ");
}
