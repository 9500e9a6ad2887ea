import { afterEach, describe, expect, it } from "bun:test";
import { ruleFor, parseRateLimits, DEFAULT_RATE_LIMITS, RateLimiter } from "../../src/api/rate-limit.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

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
    expect(evil.body).toEqual({ detail: "Cross-origin request refused" });
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
  });

  it("refuses a foreign Host header on a loopback server (DNS rebinding)", async () => {
    s = await startTestServer({ fixture: "rn-data" });
    const r = await s.api("/api/runs", { headers: { host: "attacker.example:23300" } });
    expect(r.status).toBe(403);
    expect((await s.api("/api/runs", { headers: { host: "localhost:1" } })).status).toBe(200);
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
