import { afterEach, describe, expect, it } from "bun:test";
import { MAX_JSON_BODY } from "../../src/api/guard.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { chunk, rawRequest, streamChunked } from "../helpers/raw-http.ts";

const MiB = 1 << 20;

describe("request body limits counted while the body streams", () => {
  let s: TestServer | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  const head = (path: string, type = "application/json") =>
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`;

  it("answers 413 as soon as a chunked JSON body passes 1 MiB", async () => {
    s = await startTestServer({ fixture: "rn-data" });
    // the body stays open: the answer must come from counting, not from reaching the end
    const { res } = await streamChunked(s.port, head("/api/runs/soft-delete"), MAX_JSON_BODY + 128 * 1024, { open: true });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body)).toEqual({ detail: `Request body too large (limit ${MAX_JSON_BODY} bytes)` });
    expect((await s.api("/api/health")).status).toBe(200);
  });

  it("stops reading a 200 MB chunked flood at the limit and keeps none of it in memory", async () => {
    s = await startTestServer({ fixture: "rn-data" });
    Bun.gc(true);
    const before = process.memoryUsage().rss;
    const { res, sent } = await streamChunked(s.port, head("/api/runs/soft-delete"), 200 * MiB);
    Bun.gc(true);
    const grown = process.memoryUsage().rss - before;
    // 413, or the connection cut under the client's writes after the server stopped reading
    expect([0, 413]).toContain(res.status);
    expect(sent).toBeLessThan(200 * MiB);
    expect(grown).toBeLessThan(64 * MiB);
    expect((await s.api("/api/health")).status).toBe(200);
  });

  it("counts text and form bodies the same way as JSON", async () => {
    s = await startTestServer({ fixture: "rn-data" });
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "application/octet-stream", "application/vnd.api+json"]) {
      const { res } = await streamChunked(s.port, head("/api/runs/soft-delete", type), MAX_JSON_BODY + 128 * 1024, { open: true });
      expect([type, res.status]).toEqual([type, 413]);
    }
  });

  it("accepts a small chunked JSON body and parses it as a normal one", async () => {
    s = await startTestServer({ fixture: "rn-data" });
    const body = JSON.stringify({ alert_id: "chunked-alert" });
    const req = Buffer.concat([Buffer.from(head("/api/config/dismissed-alerts/dismiss")), chunk(body.slice(0, 10)), chunk(body.slice(10)), Buffer.from("0\r\n\r\nGET")]);
    const res = await rawRequest(s.port, req.toString("latin1").replace(/GET$/, ""), 3000);
    expect(res.status).toBe(200);
    expect((await s.api("/api/config/dismissed-alerts")).body.dismissed_alerts).toContain("chunked-alert");
  });

  it("answers a chunked body that is not JSON with the usual 422 json_invalid", async () => {
    s = await startTestServer({ fixture: "rn-data" });
    const req = head("/api/config/dismissed-alerts/dismiss") + chunk("{not json").toString() + "0\r\n\r\n";
    const res = await rawRequest(s.port, req, 3000);
    expect(res.status).toBe(422);
    expect(res.body).toContain("json_invalid");
  });

  it("treats an empty body that names a JSON type as no body", async () => {
    s = await startTestServer({ fixture: "rn-data" });
    const bodiless = await fetch(`${s.url}/api/config/dismissed-alerts/clear`, { method: "POST", headers: { "content-type": "application/json" } });
    expect(bodiless.status).toBe(200);
    const needsBody = await s.api("/api/runs/soft-delete", { method: "POST", headers: { "content-type": "application/json" } });
    expect(needsBody.status).toBe(422);
    expect(needsBody.body.detail[0]).toMatchObject({ type: "missing", loc: ["body"] });
  });

  it("refuses a declared Content-Length over the limit before reading anything", async () => {
    s = await startTestServer({ fixture: "rn-data" });
    const res = await rawRequest(s.port, `POST /api/runs/soft-delete HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${MAX_JSON_BODY + 1}\r\nConnection: close\r\n\r\n{`, 3000);
    expect(res.status).toBe(413);
    expect(res.body).toContain("Request body too large");
  });
});
