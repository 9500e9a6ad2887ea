// The forward's request rewriter on byte streams: framing across chunk boundaries, token injection, refusals.
import { describe, expect, it } from "bun:test";
import { RequestRefused, RequestRewriter } from "../../src/remote/request-rewriter.ts";

const TOKEN = "T0k3n_abc-123";

/** Feeds `text` to a fresh rewriter in pieces of `step` bytes and returns what it sends upstream. */
function rewrite(text: string, step = text.length, token: string | null = TOKEN): string {
  const rw = new RequestRewriter(token ?? undefined);
  const data = Buffer.from(text, "latin1");
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += step) out.push(...rw.push(data.subarray(i, i + step)));
  return Buffer.concat(out).toString("latin1");
}

function refusal(text: string): RequestRefused {
  try {
    rewrite(text);
  } catch (e) {
    if (e instanceof RequestRefused) return e;
    throw e;
  }
  throw new Error("expected the request to be refused");
}

describe("the forward's request rewriter", () => {
  it("adds the tunnel's token to every request of a keep-alive pipeline, whatever the chunk boundaries", () => {
    const one = "GET /api/runs HTTP/1.1\r\nHost: localhost:8080\r\n\r\n";
    const two = "POST /api/x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: 11\r\n\r\nhello world";
    const three = "GET /api/health HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n";
    const expected =
      `GET /api/runs HTTP/1.1\r\nHost: localhost:8080\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n` +
      `POST /api/x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: 11\r\nAuthorization: Bearer ${TOKEN}\r\n\r\nhello world` +
      `GET /api/health HTTP/1.1\r\nHost: [::1]:8080\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`;
    for (const step of [1, 2, 3, 7, 64, 10_000]) expect(rewrite(one + two + three, step)).toBe(expected);
  });

  it("passes chunked bodies unchanged and finds the request after them", () => {
    const body = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n";
    const text = `POST /a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n${body}GET /b HTTP/1.1\r\nHost: localhost\r\n\r\n`;
    const out = rewrite(text, 3);
    expect(out).toBe(
      `POST /a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n${body}` +
        `GET /b HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`,
    );
  });

  it("does not look inside a body for request heads", () => {
    const inner = "GET /evil HTTP/1.1\r\nHost: localhost\r\n\r\n";
    const text = `POST /a HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${inner.length}\r\n\r\n${inner}`;
    const out = rewrite(text, 5);
    expect(out.endsWith(inner)).toBe(true);
    expect(out.split("Authorization").length).toBe(2);
  });

  it("replaces the client's Authorization, drops its runicorn_token cookie and token query parameter", () => {
    const text =
      "GET /api/runs?token=stolen&x=1&%74oken=again#frag HTTP/1.1\r\nHost: localhost:1\r\nAuthorization: Bearer wrong\r\n" +
      "Cookie: a=1; runicorn_token=local; b=2\r\nProxy-Authorization: Basic x\r\n\r\n";
    expect(rewrite(text)).toBe(
      `GET /api/runs?x=1#frag HTTP/1.1\r\nHost: localhost:1\r\nCookie: a=1; b=2\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`,
    );
    expect(rewrite("GET /?token=a HTTP/1.1\r\nHost: localhost\r\nCookie: runicorn_token=x\r\n\r\n")).toBe(
      `GET / HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`,
    );
  });

  it("passes everything through unchanged after an upgrade request (WebSocket frames)", () => {
    const head = "GET /api/live HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    const frames = "\x81\x05hello GET / HTTP/1.1\r\nHost: evil\r\n\r\n";
    const out = rewrite(head + frames, 4);
    expect(out).toBe(
      `GET /api/live HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n${frames}`,
    );
  });

  it("adds no Authorization when the viewer takes no token, but still checks the Host", () => {
    expect(rewrite("GET / HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer x\r\n\r\n", 100, null)).toBe(
      "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
  });

  it("refuses foreign Host names (DNS rebinding) and requests without a Host", () => {
    for (const host of ["evil.com", "127.0.0.1.evil.com", "localhost.evil.com:80", "127.evil.com", "0x7f000001"]) {
      const e = refusal(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      expect(e.status).toBe(403);
    }
    expect(refusal("GET / HTTP/1.1\r\n\r\n").status).toBe(400);
    expect(refusal("GET / HTTP/1.1\r\nHost: localhost\r\nHost: evil.com\r\n\r\n").status).toBe(400);
  });

  it("refuses framing the server could read differently (request smuggling)", () => {
    const cases = [
      "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1e3\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: localhost\r\nX-A: 1\r\n folded\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: localhost\r\nBad Header: 1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: localhost\r\nX-A: 1\nAuthorization: Bearer mine\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: localhost\r\nX-A: 1\rX\r\n\r\n",
      "GET http://evil.com/ HTTP/1.1\r\nHost: localhost\r\n\r\n",
      "CONNECT localhost:22 HTTP/1.1\r\nHost: localhost\r\n\r\n",
      "GET / HTTP/2.0\r\nHost: localhost\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY",
    ];
    for (const c of cases) expect(refusal(c).status).toBeGreaterThanOrEqual(400);
  });

  it("refuses a request head larger than 64 KiB with 431", () => {
    const big = `GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ${"a".repeat(70_000)}`;
    expect(refusal(big).status).toBe(431);
    expect(refusal(`${big}\r\n\r\n`).status).toBe(431);
  });
});
