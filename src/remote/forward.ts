// Local port forwarding: a 127.0.0.1 listener whose every accepted socket becomes an ssh2 direct-tcpip channel, requests rewritten to carry the tunnel's token.
import { createServer, type Server, type Socket } from "node:net";
import type { ClientChannel } from "ssh2";
import type { SshConnection } from "./connection.ts";
import { refusalResponse, RequestRefused, RequestRewriter } from "./request-rewriter.ts";

/** A listening local forward to `127.0.0.1:<remotePort>` on the server. */
export class LocalForward {
  private readonly sockets = new Set<Socket>();
  private closed = false;

  private constructor(
    private readonly server: Server,
    /** The local port actually bound. */
    readonly port: number,
    readonly remotePort: number,
  ) {}

  /**
   * Binds `127.0.0.1:<localPort>` (0 = any free port) and forwards to the server's `127.0.0.1:<remotePort>`.
   * Every request is framed and rewritten by a RequestRewriter: `token` (when given) is added as
   * `Authorization: Bearer`, so the browser never holds it, and a foreign `Host` is refused.
   */
  static async listen(conn: SshConnection, remotePort: number, localPort = 0, token?: string): Promise<LocalForward> {
    let fwd: LocalForward | undefined;
    const server = createServer((sock) => {
      if (!fwd || fwd.closed) {
        sock.destroy();
        return;
      }
      fwd.sockets.add(sock);
      sock.on("close", () => fwd?.sockets.delete(sock));
      sock.on("error", () => sock.destroy());
      sock.pause();
      conn.forwardOut("127.0.0.1", remotePort, sock.remotePort ?? 0).then(
        (ch) => {
          if (sock.destroyed) {
            ch.close();
            return;
          }
          pipeRewritten(sock, ch, new RequestRewriter(token));
        },
        () => sock.destroy(), // nothing listens there (yet): the client sees a closed connection
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(localPort, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    const addr = server.address();
    fwd = new LocalForward(server, typeof addr === "object" && addr ? addr.port : localPort, remotePort);
    return fwd;
  }

  /** Stops listening and drops every forwarded connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Client → rewriter → channel (with backpressure); channel → client unchanged. */
function pipeRewritten(sock: Socket, ch: ClientChannel, rewriter: RequestRewriter): void {
  let refused = false;
  ch.on("error", () => sock.destroy());
  ch.on("close", () => {
    if (!refused) sock.destroy();
  });
  sock.on("close", () => ch.close());
  ch.pipe(sock);
  sock.on("data", (d: Buffer) => {
    if (refused) return;
    let parts: Buffer[];
    try {
      parts = rewriter.push(d);
    } catch (err) {
      if (!(err instanceof RequestRefused)) throw err;
      // Answer the refused request ourselves; nothing of it reaches the server.
      refused = true;
      ch.unpipe(sock);
      ch.close();
      sock.end(refusalResponse(err));
      return;
    }
    let ok = true;
    for (const p of parts) ok = ch.write(p) && ok;
    if (!ok) {
      sock.pause();
      ch.once("drain", () => sock.resume());
    }
  });
  sock.on("end", () => ch.end());
  sock.resume();
}
