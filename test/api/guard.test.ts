import { afterEach, describe, expect, it } from "bun:test";
import { ruleFor, parseRateLimits, DEFAULT_RATE_LIMITS, RateLimiter } from "../../src/api/rate-limit.ts";
import { clientAddress, isLoopbackHost, parseHostHeader, SECURITY_HEADERS } from "../../src/api/guard.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { rawRequest, type RawResponse } from "../helpers/raw-http.ts";

/** A GET over a raw socket with exactly these header lines (HTTP/1.1 unless the request line says otherwise). */
const rawGet = (port: number, headerLines: string[], target = "/api/health", version = "HTTP/1.1") =>
  rawRequest(port, `GET ${target} ${version}\r\n${[...headerLines, "Connection: close"].join("\r\n")}\r\n\r\n`, 5000);

/** A 4xx with a JSON `{"detail": "..."}` body: never a 5xx, never an HTML page. */
function expectJson4xx(r: RawResponse, status?: number): void {
  if (status) expect(r.status).toBe(status);
  expect(r.status).toBeGreaterThanOrEqual(400);
  expect(r.status).toBeLessThan(500);
  expect(r.headers["content-type"]).toContain("application/json");
  expect(typeof JSON.parse(r.body).detail).toBe("string");
}

describe("request guard", () => {
  let s: TestServer | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  it("requires the token when one is set, by header, query or the cookie it sets", async () => {
    s = await startTestServer({ fixture: "rn-data", flags: { token: "s3cret-token" } });
    expect((await s.api("/api/runs")).status).toBe(401);
    expect((await s.api("/api/runs")).body).toEqual({ detail: "Missing or invalid token" });
    expect((await s.api("/api/runs", { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    expect((await s.api("/api/runs", { headers: { authorization: "Bearer s3cret-token" } })).status).toBe(200);
    const page = await fetch(`${s.url}/?token=s3cret-token`);
    expect(page.status).toBe(200);
    const cookie = page.headers.get("set-cookie")!;
    expect(cookie).toContain("HttpOnly");
    expect((await s.api("/api/runs", { headers: { cookie: cookie.split(";")[0] } })).status).toBe(200);
    expect((await fetch(`${s.url}/`)).status).toBe(401);
  });

  it("refuses state changes and sockets from another origin, allows same origin and the allow-list", async () => {
    s = await startTestServer({ fixture: "rn-data", flags: { corsOrigins: ["http://allowed.test"] } });
    const body = { alert_id: "x" };
    const evil = await s.api("/api/config/dismissed-alerts/dismiss", { method: "POST", json: body, headers: { origin: "http://evil.test" } });
    expect(evil.status).toBe(403);
    expect(evil.body).toEqual({
      detail: "Cross-origin request from http://evil.test refused: start the server with --cors-origin http://evil.test or add it in Settings → Allowed origins",
    });
    const same = await s.api("/api/config/dismissed-alerts/dismiss", { method: "POST", json: body, headers: { origin: s.url } });
    expect(same.status).toBe(200);
    const listed = await s.api("/api/config/dismissed-alerts/dismiss", { method: "POST", json: body, headers: { origin: "http://allowed.test" } });
    expect(listed.status).toBe(200);
    expect(listed.headers.get("access-control-allow-origin")).toBe("http://allowed.test");
    const pre = await fetch(`${s.url}/api/runs/soft-delete`, { method: "OPTIONS", headers: { origin: "http://allowed.test", "access-control-request-method": "POST" } });
    expect(pre.status).toBe(204);
    const read = await s.api("/api/runs", { headers: { origin: "http://evil.test" } });
    expect(read.status).toBe(200);
    expect(read.headers.get("access-control-allow-origin")).toBeNull();
    const ws = await fetch(`${s.url}/api/runs`, { headers: { origin: "http://evil.test", upgrade: "websocket", connection: "upgrade" } });
    expect(ws.status).toBe(403);
    // a browser request that carries no Origin but says it is cross-site
    for (const site of ["cross-site", "same-site"]) {
      const noOrigin = await s.api("/api/config/dismissed-alerts/dismiss", { method: "POST", json: body, headers: { "sec-fetch-site": site } });
      expect(noOrigin.status).toBe(403);
    }
    expect((await s.api("/api/config/dismissed-alerts/dismiss", { method: "POST", json: body, headers: { "sec-fetch-site": "same-origin" } })).status).toBe(200);
  });

  it("refuses a foreign Host header on a loopback server (DNS rebinding)", async () => {
    s = await startTestServer({ fixture: "rn-data" });
    const r = await s.api("/api/runs", { headers: { host: "attacker.example:23300" } });
    expect(r.status).toBe(403);
    expect((await s.api("/api/runs", { headers: { host: "localhost:1" } })).status).toBe(200);
  });

  it("answers only to real loopback names on a loopback server, whatever the port (DNS rebinding)", async () => {
    s = await startTestServer({ fixture: "rn-data" });
    for (const host of ["127.0.0.1", `127.0.0.1:${s.port}`, "127.0.0.1:1", "127.1.2.3:8080", "localhost", `LOCALHOST:${s.port}`, "[::1]", `[::1]:${s.port}`]) {
      const r = await rawGet(s.port, [`Host: ${host}`]);
      expect([host, r.status]).toEqual([host, 200]);
    }
    for (const host of ["127.evil.com", `127.evil.com:${s.port}`, "127.0.0.1.evil.com", "localhost.evil.com", "evil.localhost", "attacker.example", "[::2]", "0.0.0.0"]) {
      const r = await rawGet(s.port, [`Host: ${host}`]);
      expectJson4xx(r, 403);
      expect(JSON.parse(r.body).detail).toContain("--allowed-host");
    }
    // other spellings of 127.0.0.1 that a prefix check or a lenient parser would accept
    for (const host of ["127.1", "0x7f.0.0.1", "2130706433", "127.0.0.01", "0177.0.0.1", "127.256.0.1"]) expectJson4xx(await rawGet(s.port, [`Host: ${host}`]));
  });

  it("answers a missing or malformed Host with a 4xx JSON detail, never a 5xx or an error page", async () => {
    s = await startTestServer({ fixture: "rn-data" });
    expectJson4xx(await rawGet(s.port, [], "/api/health", "HTTP/1.0"), 400);
    expect(JSON.parse((await rawGet(s.port, [], "/api/health", "HTTP/1.0")).body)).toEqual({ detail: "Missing Host header" });
    // HTTP/1.1 without Host is refused by Bun's parser itself (400, no body)
    expect((await rawGet(s.port, [])).status).toBe(400);
    for (const host of ["", "a b", "user@127.0.0.1", "127.0.0.1:99999", "127.0.0.1:0", "127.0.0.1:", "[::1", "%zz", "127.0.0.1/x", "127.0.0.1:80:80", "-", "[zz::1]"]) {
      const r = await rawGet(s.port, [`Host: ${host}`]);
      expectJson4xx(r, 400);
    }
    expectJson4xx(await rawGet(s.port, ["Host: 127.0.0.1", "Host: evil.com"]));
    // absolute-form targets: the Host header decides, and a target naming another host is refused
    expect((await rawGet(s.port, ["Host: 127.0.0.1"], `http://127.0.0.1:${s.port}/api/health`)).status).toBe(200);
    expectJson4xx(await rawGet(s.port, ["Host: evil.com"], "http://127.0.0.1/api/health"), 403);
    expect((await s.api("/api/health")).status).toBe(200);
  });

  it("checks the Host of WebSocket upgrades too", async () => {
    s = await startTestServer({ fixture: "rn-data" });
    const upgrade = (host: string, path = "/api/live") =>
      rawGet(s!.port, [`Host: ${host}`, "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="], path);
    expect((await upgrade(`127.0.0.1:${s.port}`)).status).toBe(101);
    expectJson4xx(await upgrade("127.evil.com"), 403);
    expectJson4xx(await upgrade("rebind.attacker.example", "/api/runs/x/logs/ws"), 403);
  });

  it("answers extra names given with --allowed-host, and says how to allow a refused one", async () => {
    s = await startTestServer({ fixture: "rn-data", flags: { allowedHosts: ["runicorn.lan"] } });
    expect((await rawGet(s.port, ["Host: runicorn.lan:8080"])).status).toBe(200);
    expect((await rawGet(s.port, ["Host: RUNICORN.LAN"])).status).toBe(200);
    const other = await rawGet(s.port, ["Host: other.lan"]);
    expectJson4xx(other, 403);
    expect(JSON.parse(other.body).detail).toContain("start it with --allowed-host other.lan");
  });

  it("answers any well-formed Host when bound to all interfaces, where the token protects it", async () => {
    s = await startTestServer({ fixture: "rn-data", flags: { host: "0.0.0.0", token: "t0k" } });
    expect((await rawGet(s.port, ["Host: gpu-box.example:23300", "Authorization: Bearer t0k"])).status).toBe(200);
    expect((await rawGet(s.port, ["Host: gpu-box.example:23300"])).status).toBe(401);
    expectJson4xx(await rawGet(s.port, ["Host: user@gpu-box"]), 400);
  });

  it("authenticates every route and WebSocket with a Bearer header alone, token required on loopback", async () => {
    s = await startTestServer({ fixture: "rn-data", flags: { token: "only-the-tunnel-knows" } });
    const bearer = { authorization: "Bearer only-the-tunnel-knows" };
    for (const path of ["/api/runs", "/api/health", "/openapi.json", "/"]) {
      expect((await fetch(s.url + path)).status).toBe(401);
      expect((await fetch(s.url + path, { headers: bearer })).status).toBe(200);
    }
    const patched = await s.api("/api/runs/missing-run/meta", { method: "PATCH", json: { alias: "x" }, headers: bearer });
    expect(patched.status).toBe(404);
    for (const path of ["/api/live", "/api/runs/x/logs/ws"]) {
      expect(await wsOpens(s.url.replace("http", "ws") + path, bearer)).toBe(true);
      expect(await wsOpens(s.url.replace("http", "ws") + path, {})).toBe(false);
      expect(await wsOpens(s.url.replace("http", "ws") + path, { authorization: "Bearer wrong" })).toBe(false);
    }
  });

  it("asks every documented route for the token, and lets the Bearer header alone through each", async () => {
    s = await startTestServer({ fixture: "rn-data", flags: { token: "tok-sweep" } });
    const doc = (await s.api("/openapi.json", { headers: { authorization: "Bearer tok-sweep" } })).body as { paths: Record<string, Record<string, unknown>> };
    const routes = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).filter((m) => m !== "ws").map((m) => [m.toUpperCase(), path.replace(/\{[^}]+\}/g, "x")] as const));
    expect(routes.length).toBeGreaterThan(50); // WebSocket routes: the Bearer test above
    for (const [method, path] of routes) {
      const init = method === "GET" || method === "HEAD" ? { method } : { method, json: {} };
      const without = await s.api(path, init);
      expect([method, path, without.status]).toEqual([method, path, 401]);
      if (method !== "GET") continue; // state changes with a dummy body are not worth making; their 401 is the point
      const withBearer = await s.api(path, { ...init, headers: { authorization: "Bearer tok-sweep" } });
      expect([method, path, withBearer.status === 401]).toEqual([method, path, false]);
    }
  });

  it("treats a malformed token cookie as no token (401), never a 5xx", async () => {
    s = await startTestServer({ fixture: "rn-data", flags: { token: "tok" } });
    for (const cookie of ["runicorn_token=%zz", "runicorn_token=%", "runicorn_token=", "runicorn_token", "=;;;", "runicorn_token=%E0%A4%A"]) {
      const r = await rawGet(s.port, ["Host: 127.0.0.1", `Cookie: ${cookie}`], "/api/runs");
      expectJson4xx(r, 401);
    }
    expect((await rawGet(s.port, ["Host: 127.0.0.1", "Cookie: a=%zz; runicorn_token=tok"], "/api/runs")).status).toBe(200);
  });

  it("sends CSP, X-Frame-Options, nosniff and no-referrer with pages, API answers and refusals", async () => {
    s = await startTestServer({ fixture: "rn-data" });
    const answers = [await fetch(`${s.url}/`), await fetch(`${s.url}/docs`), await fetch(`${s.url}/api/runs`), await fetch(`${s.url}/api/nope`)];
    answers.push(await fetch(`${s.url}/api/runs/soft-delete`, { method: "POST", headers: { origin: "http://evil.test" } }));
    for (const r of answers) {
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) {
        if (k !== "content-security-policy") expect([r.url, k, r.headers.get(k)]).toEqual([r.url, k, v]);
      }
      // HTML pages add the hashes of their own inline scripts; nothing else differs
      const policy = r.headers.get("content-security-policy")!;
      expect(policy.replace(/ 'sha256-[A-Za-z0-9+/=]+'/g, "")).toBe(SECURITY_HEADERS["content-security-policy"]);
      expect(policy).not.toMatch(/script-src[^;]*unsafe/);
    }
    expect((await fetch(`${s.url}/docs`)).headers.get("content-security-policy")).toMatch(/script-src 'self' 'sha256-/);
    expect(SECURITY_HEADERS["content-security-policy"]).toContain("frame-ancestors 'none'");
    expect(SECURITY_HEADERS["content-security-policy"]).toContain("script-src 'self';");
    expect(SECURITY_HEADERS["x-frame-options"]).toBe("DENY");
  });

  it("keys rate limits by the socket address, believing X-Forwarded-For only from a configured proxy", async () => {
    const limits = {
      ...DEFAULT_RATE_LIMITS,
      endpoints: { "/api/runs": { max_requests: 2, window_seconds: 60, burst_size: null } },
      settings: { ...DEFAULT_RATE_LIMITS.settings, enable_rate_limiting: true, whitelist_localhost: false },
    };
    s = await startTestServer({ fixture: "rn-data", userFiles: { "rate_limits.json": limits } });
    const spoofed: number[] = [];
    for (let i = 0; i < 3; i++) spoofed.push((await s.api("/api/runs", { headers: { "x-forwarded-for": `10.0.0.${i}` } })).status);
    expect(spoofed).toEqual([200, 200, 429]);
    await s.close();
    s = await startTestServer({ fixture: "rn-data", userFiles: { "rate_limits.json": limits }, flags: { trustedProxies: ["127.0.0.1"] } });
    const proxied: number[] = [];
    for (let i = 0; i < 3; i++) proxied.push((await s.api("/api/runs", { headers: { "x-forwarded-for": `10.0.0.${i}` } })).status);
    expect(proxied).toEqual([200, 200, 200]);
    for (let i = 0; i < 2; i++) await s.api("/api/runs", { headers: { "x-forwarded-for": "10.9.9.9" } });
    expect((await s.api("/api/runs", { headers: { "x-forwarded-for": "10.9.9.9" } })).status).toBe(429);
  });

  it("refuses oversized JSON bodies with 413", async () => {
    s = await startTestServer({ fixture: "rn-data" });
    const r = await s.api("/api/runs/soft-delete", { method: "POST", body: JSON.stringify({ run_ids: ["x".repeat(2 << 20)] }), headers: { "content-type": "application/json" } });
    expect(r.status).toBe(413);
  });

  it("rate-limits as configured in rate_limits.json, with the original's headers and 429 body", async () => {
    s = await startTestServer({
      fixture: "rn-data",
      userFiles: {
        "rate_limits.json": {
          ...DEFAULT_RATE_LIMITS,
          endpoints: { "/api/runs": { max_requests: 3, window_seconds: 60, burst_size: null } },
          settings: { ...DEFAULT_RATE_LIMITS.settings, enable_rate_limiting: true },
        },
      },
    });
    const statuses: number[] = [];
    let last: Awaited<ReturnType<TestServer["api"]>> | undefined;
    for (let i = 0; i < 4; i++) {
      last = await s.api("/api/runs");
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(last!.body.detail).toBe("Rate limit exceeded");
    expect(last!.body.retry_after).toBeGreaterThan(0);
    expect(last!.headers.get("retry-after")).toBe(String(last!.body.retry_after));
    expect(last!.headers.get("x-ratelimit-remaining")).toBe("0");
    const other = await s.api("/api/health");
    expect(other.status).toBe(200);
    expect(other.headers.get("x-ratelimit-limit")).toBe("6000");
  });

  it("sends no rate-limit headers while limiting is disabled (fix of §10.11)", async () => {
    s = await startTestServer({ fixture: "rn-data" });
    expect((await s.api("/api/health")).headers.get("x-ratelimit-limit")).toBeNull();
  });
});

/** Whether a WebSocket to `url` with these headers opens (true) or is refused (false). */
function wsOpens(url: string, headers: Record<string, string>): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers } as unknown as string[]);
    const timer = setTimeout(() => resolve(false), 5000);
    ws.onopen = () => {
      clearTimeout(timer);
      ws.close();
      resolve(true);
    };
    ws.onerror = () => {
      clearTimeout(timer);
      resolve(false);
    };
  });
}

describe("host names, addresses and clients", () => {
  it("parses Host headers strictly", () => {
    expect(parseHostHeader("LocalHost:8080")).toEqual({ hostname: "localhost", port: 8080 });
    expect(parseHostHeader("[::1]")).toEqual({ hostname: "[::1]", port: undefined });
    for (const bad of ["", " ", "a b", "u@h", "h:0", "h:65536", "h:", "[::1", "[x]", "h/p", "h?q", "h#f", "h\tx"]) expect(parseHostHeader(bad)).toBeUndefined();
  });

  it("counts only canonical loopback addresses as loopback", () => {
    for (const a of ["127.0.0.1", "127.255.255.254", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"]) expect([a, isLoopbackHost(a)]).toEqual([a, true]);
    for (const a of ["127.evil.com", "127.1", "127.0.0.01", "0x7f000001", "2130706433", "128.0.0.1", "127.0.0.256", "0.0.0.0", "::", "::ffff:10.0.0.1", "localhost.evil"]) {
      expect([a, isLoopbackHost(a)]).toEqual([a, false]);
    }
  });

  it("takes the client from X-Forwarded-For only behind a trusted proxy, skipping trusted hops", () => {
    const none = new Set<string>();
    const proxy = new Set(["10.0.0.1", "10.0.0.2"]);
    expect(clientAddress("::ffff:127.0.0.1", "1.2.3.4", none)).toBe("127.0.0.1");
    expect(clientAddress("10.0.0.1", "1.2.3.4", proxy)).toBe("1.2.3.4");
    expect(clientAddress("10.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.2", proxy)).toBe("1.2.3.4");
    expect(clientAddress("10.0.0.1", "not-an-ip", proxy)).toBe("10.0.0.1");
    expect(clientAddress("10.0.0.1", null, proxy)).toBe("10.0.0.1");
  });
});

describe("rate-limit rules", () => {
  const cfg = parseRateLimits(DEFAULT_RATE_LIMITS as any);
  it("matches whole path segments only (fix of the prefix quirk)", () => {
    expect(ruleFor(cfg, "/api/remote/connect").limit.max_requests).toBe(10);
    expect(ruleFor(cfg, "/api/remote/connections/saved").limit.max_requests).toBe(6000);
    expect(ruleFor(cfg, "/api/runs/x/metrics").limit.max_requests).toBe(10000);
    expect(ruleFor(cfg, "/api/runsx").limit.max_requests).toBe(6000);
  });

  it("limits bursts per second when burst_size is set", () => {
    const limiter = new RateLimiter(parseRateLimits({ default: { max_requests: 100, window_seconds: 60, burst_size: 2 } }));
    const t = 1_000_000;
    expect(limiter.check("c", "/api/x", t).allowed).toBe(true);
    expect(limiter.check("c", "/api/x", t + 1).allowed).toBe(true);
    expect(limiter.check("c", "/api/x", t + 2)).toMatchObject({ allowed: false, reset: 1 });
    expect(limiter.check("c", "/api/x", t + 1500).allowed).toBe(true);
    expect(limiter.check("other", "/api/x", t + 2).allowed).toBe(true);
  });

  it("falls back to defaults for malformed settings", () => {
    const c = parseRateLimits({ default: { max_requests: "lots" }, settings: { custom_headers: { rate_limit_header: "bad header\n" } } } as any);
    expect(c.default.max_requests).toBe(6000);
    expect(c.headers.limit).toBe("X-RateLimit-Limit");
    expect(c.enabled).toBe(false);
  });
});
