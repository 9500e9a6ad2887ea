// Test helper: speaks HTTP/1.x over a raw TCP socket, for requests fetch() will not send (bad Host, HTTP/1.0, chunked floods).
import { connect, type Socket } from "node:net";

/** A parsed raw answer: status line code, lower-case headers, body text. */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  raw: string;
}

/** Parses the first response on a connection's bytes. */
export function parseRaw(raw: string): RawResponse {
  const end = raw.indexOf("\r\n\r\n");
  const head = end >= 0 ? raw.slice(0, end) : raw;
  const [statusLine, ...lines] = head.split("\r\n");
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(":");
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body: end >= 0 ? raw.slice(end + 4) : "", raw };
}

/** Sends `request` verbatim to 127.0.0.1:`port` and resolves with everything read until the server closes (or `ms`). */
export function rawRequest(port: number, request: string, ms = 5000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, "127.0.0.1");
    let out = "";
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(parseRaw(out));
    }, ms);
    sock.on("data", (d) => {
      out += d.toString("latin1");
      // a WebSocket upgrade stays open: its answer is complete with the head
      if (out.startsWith("HTTP/1.1 101") && out.includes("\r\n\r\n")) sock.destroy();
    });
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(parseRaw(out));
    });
    sock.on("error", (e) => {
      clearTimeout(timer);
      if (out) resolve(parseRaw(out));
      else reject(e);
    });
    sock.write(request);
  });
}

/** One chunk of a chunked body. */
export const chunk = (data: string | Buffer) => Buffer.concat([Buffer.from(`${Buffer.byteLength(data).toString(16)}\r\n`), Buffer.from(data), Buffer.from("\r\n")]);

/**
 * Streams a chunked body of up to `totalBytes` (in `chunkBytes` pieces, waiting for the socket to drain)
 * after `head`; stops writing as soon as the server answers or closes. Resolves with the answer (status 0
 * when the server cut the connection before one arrived) and the bytes sent.
 */
export function streamChunked(
  port: number,
  head: string,
  totalBytes: number,
  opts: { chunkBytes?: number; ms?: number; /** leave the body unfinished (no last chunk) and wait for the answer */ open?: boolean } = {},
): Promise<{ res: RawResponse; sent: number }> {
  const { chunkBytes = 64 * 1024, ms = 30_000, open = false } = opts;
  return new Promise((resolve, reject) => {
    const sock: Socket = connect(port, "127.0.0.1");
    let out = "";
    let sent = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ res: parseRaw(out), sent });
    };
    const timer = setTimeout(finish, ms);
    sock.on("data", (d) => {
      out += d.toString("latin1");
      if (out.includes("\r\n\r\n")) setTimeout(finish, 50);
    });
    sock.on("close", finish);
    // a server that stops reading may reset the connection under our writes (EPIPE/ECONNRESET): that is
    // an answer too; whatever arrived before it is kept, and `sent` tells how far the body got
    sock.on("error", (e) => ((e as NodeJS.ErrnoException).code === "EPIPE" || (e as NodeJS.ErrnoException).code === "ECONNRESET" || out ? finish() : reject(e)));
    const piece = chunk(Buffer.alloc(chunkBytes, 0x61));
    const pump = () => {
      while (!done && sent < totalBytes) {
        sent += chunkBytes;
        if (!sock.write(piece)) return void sock.once("drain", pump);
      }
      if (!done && sent >= totalBytes && !open) sock.write("0\r\n\r\n");
    };
    sock.write(head, pump);
  });
}
