// Request guard run before routing: token auth off loopback, same-origin checks, body size limits,
// CORS for an allow-list, and rate limiting (spec §6.2, §6.3; issue 8).
import { createHash, timingSafeEqual } from "node:crypto";
import { Elysia } from "elysia";
import type { AppContext } from "./context.ts";
import { loadRateLimits, RateLimiter } from "./rate-limit.ts";

/** Largest JSON body accepted (uploads use multipart and are limited separately). */
export const MAX_JSON_BODY = 1 << 20;
/** Largest upload (import archives). */
export const MAX_UPLOAD_BODY = 4 * 1024 ** 3;

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
const LOOPBACK = new Set(["127.0.0.1", "::1", "::ffff:127.0.0.1", "localhost"]);

/** True for an address only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith("127.");
}

/** Constant-time comparison of a presented token with the expected one. */
export function tokenMatches(presented: string | null | undefined, expected: string): boolean {
  if (!presented) return false;
  const a = createHash("sha256").update(presented).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

function presentedToken(request: Request, url: URL): string | null {
  const auth = request.headers.get("authorization");
  if (auth?.toLowerCase().startsWith("bearer ")) return auth.slice(7).trim();
  const q = url.searchParams.get("token");
  if (q) return q;
  const cookie = request.headers.get("cookie");
  const m = cookie ? /(?:^|;\s*)runicorn_token=([^;]+)/.exec(cookie) : null;
  return m ? decodeURIComponent(m[1]) : null;
}

/** The guard plugin; mounted first so it sees every request. */
export function guard(ctx: AppContext) {
  const { token, corsOrigins } = ctx.config;
  const limiter = new RateLimiter(loadRateLimits(ctx.config.configDir, ctx.log));
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

  return new Elysia({ name: "guard" }).onRequest(({ request, set, server }) => {
    const url = new URL(request.url);
    const path = url.pathname;
    const origin = request.headers.get("origin");
    const sameOrigin = origin !== null && origin === `${url.protocol}//${request.headers.get("host") ?? url.host}`;
    const allowed = origin !== null && (sameOrigin || corsOrigins.includes(origin) || corsOrigins.includes("*"));

    if (origin !== null && allowed && !sameOrigin) {
      set.headers["access-control-allow-origin"] = origin;
      set.headers["vary"] = "Origin";
      if (request.method === "OPTIONS") {
        return new Response(null, {
          status: 204,
          headers: {
            "access-control-allow-origin": origin,
            "access-control-allow-methods": "GET, POST, PATCH, PUT, DELETE, OPTIONS",
            "access-control-allow-headers": request.headers.get("access-control-request-headers") ?? "content-type, authorization",
            "access-control-max-age": "600",
            vary: "Origin",
          },
        });
      }
    }
    // DNS rebinding: a loopback server answers only to loopback host names unless a token protects it
    if (!token && isLoopbackHost(ctx.config.host)) {
      const hostname = (request.headers.get("host") ?? "").replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
      if (hostname && !isLoopbackHost(hostname)) return json(403, { detail: `Host not allowed: ${hostname}` });
    }
    const upgrade = request.headers.get("upgrade")?.toLowerCase() === "websocket";
    // a web page on another origin may neither change state nor open a socket (no CORS preflight protects those)
    if (origin !== null && !allowed && (!SAFE_METHODS.has(request.method) || upgrade)) {
      return json(403, { detail: "Cross-origin request refused" });
    }

    if (token && !path.startsWith("/assets/")) {
      const presented = presentedToken(request, url);
      if (!tokenMatches(presented, token)) {
        if (path.startsWith("/api/") || path === "/openapi.json" || upgrade) return json(401, { detail: "Missing or invalid token" });
        return new Response("Unauthorized: open the URL with ?token=… that `runicorn serve` printed.", {
          status: 401,
          headers: { "content-type": "text/plain; charset=utf-8" },
        });
      }
      if (url.searchParams.get("token")) {
        // keep the page working after the first visit without leaving the token in every URL
        set.headers["set-cookie"] = `runicorn_token=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict`;
      }
    }

    if (!SAFE_METHODS.has(request.method)) {
      const length = Number(request.headers.get("content-length") ?? "0");
      const isUpload = (request.headers.get("content-type") ?? "").startsWith("multipart/");
      if (length > (isUpload ? MAX_UPLOAD_BODY : MAX_JSON_BODY)) {
        return json(413, { detail: `Request body too large (limit ${isUpload ? MAX_UPLOAD_BODY : MAX_JSON_BODY} bytes)` });
      }
    }

    if (!path.startsWith("/api/") || request.method === "OPTIONS" || !limiter.cfg.enabled) return;
    const peer = server?.requestIP(request)?.address ?? "unknown";
    const forwarded = isLoopbackHost(peer) ? request.headers.get("x-forwarded-for")?.split(",")[0]?.trim() : undefined;
    const client = forwarded || peer;
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
  });
}
