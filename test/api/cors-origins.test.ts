import { afterEach, describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const DEV = "http://localhost:5173";
const HOW_TO = `Cross-origin request from ${DEV} refused: start the server with --cors-origin ${DEV} or add it in Settings → Allowed origins`;

describe("other front ends (CORS)", () => {
  let s: TestServer | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  const firstRun = async (t: TestServer) => (await t.api("/api/runs")).body[0].id as string;
  const preflight = (t: TestServer, origin: string, method = "PATCH") =>
    fetch(`${t.url}/api/runs/x`, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": method, "access-control-request-headers": "content-type" },
    });

  it("answers a preflight from an allowed origin with the methods and headers it may use", async () => {
    s = await startTestServer({ fixture: "rn-data", flags: { corsOrigins: [DEV] } });
    const r = await preflight(s, DEV);
    expect(r.status).toBe(204);
    expect(r.headers.get("access-control-allow-origin")).toBe(DEV);
    expect(r.headers.get("vary")).toBe("Origin");
    expect(r.headers.get("access-control-allow-methods")).toContain("PATCH");
    expect(r.headers.get("access-control-allow-headers")).toContain("content-type");
    const patched = await s.api(`/api/runs/${await firstRun(s)}`, { method: "PATCH", json: { alias: "from the dev server" }, headers: { origin: DEV } });
    expect(patched.status).toBe(200);
    expect(patched.headers.get("access-control-allow-origin")).toBe(DEV);
  });

  it("refuses preflights, state changes and sockets from other origins with a detail that says how to allow them", async () => {
    s = await startTestServer({ fixture: "rn-data" });
    const pre = await preflight(s, DEV);
    expect(pre.status).toBe(403);
    expect(await pre.json()).toEqual({ detail: HOW_TO });
    const patched = await s.api(`/api/runs/${await firstRun(s)}`, { method: "PATCH", json: { alias: "x" }, headers: { origin: DEV } });
    expect(patched.status).toBe(403);
    expect(patched.body).toEqual({ detail: HOW_TO });
    const ws = await s.api("/api/live", { headers: { origin: DEV, upgrade: "websocket", connection: "upgrade" } });
    expect(ws.status).toBe(403);
    expect(ws.body).toEqual({ detail: HOW_TO });
    // reads stay possible, but the browser is given no ACAO to show them to the page
    const read = await s.api("/api/runs", { headers: { origin: DEV } });
    expect(read.status).toBe(200);
    expect(read.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("saves origins allowed from Settings, applies them at once and keeps them across restarts", async () => {
    s = await startTestServer({ fixture: "rn-data", flags: { corsOrigins: ["http://flag.test:8080"] } });
    expect((await s.api("/api/config/cors_origins")).body).toEqual({ cors_origins: [], from_flags: ["http://flag.test:8080"] });
    const put = await s.api("/api/config/cors_origins", { method: "PUT", json: { cors_origins: ["HTTP://LocalHost:5173/", DEV] }, headers: { origin: s.url } });
    expect(put.status).toBe(200);
    expect(put.body.cors_origins).toEqual([DEV]);
    expect(JSON.parse(readFileSync(join(s.dir, "home", ".config", "runicorn", "cors_origins.json"), "utf8"))).toEqual({ cors_origins: [DEV] });
    expect((await preflight(s, DEV)).status).toBe(204);
    await s.close();
    s = await startTestServer({ fixture: "rn-data", userFiles: { "cors_origins.json": { cors_origins: [DEV, "not an origin", 7] } } });
    expect((await s.api("/api/config/cors_origins")).body.cors_origins).toEqual([DEV]);
    expect((await preflight(s, DEV)).status).toBe(204);
    const removed = await s.api("/api/config/cors_origins", { method: "PUT", json: { cors_origins: [] } });
    expect(removed.status).toBe(200);
    expect((await preflight(s, DEV)).status).toBe(403);
  });

  it("lets only the UI's own origin read or change the allowed origins, never another page (even an allowed one)", async () => {
    s = await startTestServer({ fixture: "rn-data", flags: { corsOrigins: [DEV] } });
    for (const origin of [DEV, "http://evil.test"]) {
      const put = await s.api("/api/config/cors_origins", { method: "PUT", json: { cors_origins: ["http://evil.test"] }, headers: { origin } });
      expect(put.status).toBe(403);
      expect(typeof put.body.detail).toBe("string");
      expect((await s.api("/api/config/cors_origins", { headers: { origin } })).status).toBe(403);
    }
    expect((await s.api("/api/config/cors_origins")).body.cors_origins).toEqual([]);
  });

  it("refuses values that are not plain origins, saving nothing", async () => {
    s = await startTestServer({ fixture: "rn-data" });
    for (const bad of ["*", "http://x.test/path", "javascript:alert(1)", "localhost:5173", "http://user@x.test", "ftp://x.test", "", "http://x.test?q"]) {
      const r = await s.api("/api/config/cors_origins", { method: "PUT", json: { cors_origins: [DEV, bad] } });
      expect([bad, r.status]).toEqual([bad, 400]);
      expect(r.body.detail).toContain("Not an origin");
    }
    expect((await s.api("/api/config/cors_origins", { method: "PUT", json: { cors_origins: "x" } })).status).toBe(422);
    expect((await s.api("/api/config/cors_origins")).body.cors_origins).toEqual([]);
  });
});
