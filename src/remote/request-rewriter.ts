// The forward's HTTP/1.1 request-stream rewriter: frames each request (keep-alive, Content-Length, chunked), puts the tunnel's token in it, then passes upgraded streams through.

/** Largest request head accepted (request line + headers). */
export const MAX_HEAD_BYTES = 64 * 1024;
/** Longest chunk-size or trailer line accepted in a chunked body. */
const MAX_LINE_BYTES = 4096;

/** A request the rewriter refuses; the forward answers it with `status` and closes the connection. */
export class RequestRefused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Host names a browser on this machine uses for the forward; anything else is DNS rebinding. */
const LOCAL_NAMES = new Set(["localhost", "127.0.0.1", "[::1]"]);
const TOKEN_CHARS = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

type State =
  | { kind: "head" }
  | { kind: "body"; left: number }
  | { kind: "chunk-size" }
  | { kind: "chunk-data"; left: number }
  | { kind: "chunk-crlf"; left: number }
  | { kind: "trailer" }
  | { kind: "tunnel" };

/**
 * Rewrites the bytes a client sends to the remote viewer. For every request head it: refuses a `Host`
 * that is not this machine (DNS rebinding would otherwise borrow the token), drops the client's own
 * `Authorization` and `runicorn_token` cookie, drops a `token` query parameter (the server would
 * answer it with a cookie holding the token), and adds `Authorization: Bearer <token>`. Bodies pass
 * unchanged; after a request asking for an upgrade everything passes unchanged (WebSocket frames).
 * Ambiguous framing (both Content-Length and Transfer-Encoding, conflicting lengths, folded headers)
 * is refused, so the rewriter and the server always agree on where the next request starts.
 */
export class RequestRewriter {
  private state: State = { kind: "head" };
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly token: string | undefined) {}

  /** Feeds client bytes; returns the bytes to send upstream, or throws RequestRefused. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    while (buf.length > 0) {
      const s = this.state;
      if (s.kind === "tunnel") {
        out.push(buf);
        break;
      }
      if (s.kind === "body" || s.kind === "chunk-data") {
        const n = Math.min(s.left, buf.length);
        out.push(buf.subarray(0, n));
        buf = buf.subarray(n);
        s.left -= n;
        if (s.left === 0) this.state = s.kind === "body" ? { kind: "head" } : { kind: "chunk-crlf", left: 2 };
        continue;
      }
      if (s.kind === "chunk-crlf") {
        const n = Math.min(s.left, buf.length);
        const expect = "\r\n".slice(2 - s.left, 2 - s.left + n);
        if (buf.subarray(0, n).toString("latin1") !== expect) throw new RequestRefused(400, "Malformed chunked body");
        out.push(buf.subarray(0, n));
        buf = buf.subarray(n);
        s.left -= n;
        if (s.left === 0) this.state = { kind: "chunk-size" };
        continue;
      }
      if (s.kind === "chunk-size" || s.kind === "trailer") {
        const eol = buf.indexOf("\r\n");
        if (eol < 0) {
          if (buf.length > MAX_LINE_BYTES) throw new RequestRefused(400, "Malformed chunked body");
          this.pending = buf;
          break;
        }
        const line = buf.subarray(0, eol).toString("latin1");
        out.push(buf.subarray(0, eol + 2));
        buf = buf.subarray(eol + 2);
        if (s.kind === "trailer") {
          if (line === "") this.state = { kind: "head" };
          continue;
        }
        const m = /^([0-9A-Fa-f]{1,8})(?:;[^\r\n]*)?$/.exec(line);
        if (!m) throw new RequestRefused(400, "Malformed chunk size");
        const size = parseInt(m[1]!, 16);
        this.state = size === 0 ? { kind: "trailer" } : { kind: "chunk-data", left: size };
        continue;
      }
      // head
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) {
        if (buf.length > MAX_HEAD_BYTES) throw new RequestRefused(431, "Request header fields too large");
        this.pending = buf;
        break;
      }
      if (end + 4 > MAX_HEAD_BYTES) throw new RequestRefused(431, "Request header fields too large");
      const { head, next } = this.rewriteHead(buf.subarray(0, end).toString("latin1"));
      out.push(Buffer.from(head, "latin1"));
      buf = buf.subarray(end + 4);
      this.state = next;
    }
    return out;
  }

  private rewriteHead(text: string): { head: string; next: State } {
    const lines = text.split("\r\n");
    const requestLine = lines.shift()!;
    const rl = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) (HTTP\/1\.[01])$/.exec(requestLine);
    if (!rl) throw new RequestRefused(400, "Malformed request line");
    const [, method, target, version] = rl as unknown as [string, string, string, string];
    if (method === "CONNECT") throw new RequestRefused(405, "CONNECT is not supported");
    // origin-form only: an absolute-form target would name a host other than the checked Host header
    if (!target.startsWith("/") && !(target === "*" && method === "OPTIONS")) {
      throw new RequestRefused(400, "Only origin-form request targets are accepted");
    }
    const kept: string[] = [];
    let host: string | undefined;
    let contentLength: string | undefined;
    let transferEncoding: string | undefined;
    let upgrade = false;
    for (const line of lines) {
      if (line === "") continue;
      // a bare CR, LF or NUL could end a header line for the server but not for us
      if (/[\r\n\0]/.test(line)) throw new RequestRefused(400, "Malformed header line");
      if (line[0] === " " || line[0] === "\t") throw new RequestRefused(400, "Folded header lines are not supported");
      const colon = line.indexOf(":");
      const name = colon > 0 ? line.slice(0, colon) : "";
      if (!TOKEN_CHARS.test(name)) throw new RequestRefused(400, "Malformed header line");
      const value = line.slice(colon + 1).trim();
      const lower = name.toLowerCase();
      if (lower === "host") {
        if (host !== undefined) throw new RequestRefused(400, "More than one Host header");
        host = value;
      } else if (lower === "content-length") {
        if (!/^\d{1,15}$/.test(value) || (contentLength !== undefined && contentLength !== value)) {
          throw new RequestRefused(400, "Invalid Content-Length");
        }
        contentLength = value;
      } else if (lower === "transfer-encoding") {
        if (transferEncoding !== undefined) throw new RequestRefused(400, "More than one Transfer-Encoding header");
        transferEncoding = value.toLowerCase();
      } else if (lower === "upgrade") {
        upgrade = true;
      }
      if (lower === "authorization" || lower === "proxy-authorization") continue;
      if (lower === "cookie") {
        const rest = value
          .split(";")
          .map((c) => c.trim())
          .filter((c) => c !== "" && !/^runicorn_token=/i.test(c));
        if (rest.length) kept.push(`${name}: ${rest.join("; ")}`);
        continue;
      }
      kept.push(line);
    }
    if (host === undefined) throw new RequestRefused(400, "Missing Host header");
    const hostname = host.replace(/:\d+$/, "").toLowerCase();
    if (!LOCAL_NAMES.has(hostname)) throw new RequestRefused(403, `Host not allowed: ${hostname}`);
    if (transferEncoding !== undefined && contentLength !== undefined) {
      throw new RequestRefused(400, "Both Content-Length and Transfer-Encoding given");
    }
    if (transferEncoding !== undefined && transferEncoding !== "chunked") {
      throw new RequestRefused(501, `Transfer-Encoding ${transferEncoding} is not supported`);
    }
    if (this.token !== undefined) kept.push(`Authorization: Bearer ${this.token}`);
    const head = `${method} ${withoutTokenParam(target)} ${version}\r\n${kept.join("\r\n")}\r\n\r\n`;
    let next: State = { kind: "head" };
    if (transferEncoding === "chunked") next = { kind: "chunk-size" };
    else if (contentLength !== undefined && Number(contentLength) > 0) next = { kind: "body", left: Number(contentLength) };
    // After an upgrade request the connection belongs to the upgraded protocol (a refused upgrade is
    // then answered and closed by the client; its next request opens a new connection).
    if (upgrade && next.kind === "head") next = { kind: "tunnel" };
    return { head, next };
  }
}

/** The request target without `token=` query parameters (the tunnel's token replaces them). */
function withoutTokenParam(target: string): string {
  const q = target.indexOf("?");
  if (q < 0) return target;
  const hash = target.indexOf("#", q);
  const query = target.slice(q + 1, hash < 0 ? undefined : hash);
  const kept = query.split("&").filter((p) => p !== "" && paramName(p).toLowerCase() !== "token");
  return target.slice(0, q) + (kept.length ? `?${kept.join("&")}` : "") + (hash < 0 ? "" : target.slice(hash));
}

/** A query parameter's decoded name, as the server's URL parser will see it. */
function paramName(pair: string): string {
  const raw = pair.split("=")[0]!.replace(/\+/g, " ");
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
  }
}

/** A complete HTTP/1.1 error response with a JSON `{"detail": …}` body that closes the connection. */
export function refusalResponse(err: RequestRefused): Buffer {
  const body = JSON.stringify({ detail: err.message });
  const reason: Record<number, string> = {
    400: "Bad Request",
    403: "Forbidden",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
  };
  return Buffer.from(
    `HTTP/1.1 ${err.status} ${reason[err.status] ?? "Error"}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    "utf8",
  );
}
