// Starts a viewer on the server under a guard shell that stops it and removes its files when we stop or the connection drops.
import { randomBytes, randomUUID } from "node:crypto";
import type { ClientChannel } from "ssh2";
import type { SshConnection } from "./connection.ts";
import { LocalForward } from "./forward.ts";

/**
 * The token file as the viewer command names it: a shell word expanding to `<guard dir>/token`
 * (the guard's `mktemp -d` dir is 0700, the file 0600, both removed when the guard ends).
 */
export const TOKEN_FILE_WORD = `"$d/token"`;

/** The line `runicorn serve` prints once it has bound its port (src/cli/serve.ts); the guard waits for it. */
export const LISTENING_PREFIX = "listening on ";

/**
 * How to launch the remote viewer process; `command(port, localPort)` is an already shell-quoted command line
 * (`localPort`: this machine's end of the forward, so the viewer can name the URL its users open).
 */
export interface ViewerLaunch {
  command: (port: number, localPort: number) => string;
  /**
   * True when the viewer reads its API token from TOKEN_FILE_WORD (our binary's `--token-file`): a
   * fresh token is generated, handed over on the guard's stdin (never in any argv) and added by the
   * local forward to every request. False for a viewer that cannot take a token (the Python one).
   */
  withToken: boolean;
  /** Fixed remote port, else one from `pickPort` (retried on a port clash). */
  remotePort?: number;
  pickPort: (avoid: Set<number>) => number;
  localPort?: number;
  /** How long to wait for `/api/health` through the tunnel. */
  healthTimeoutMs?: number;
}

/**
 * The guard: start the viewer detached, report its pid, kill it and clean up when stdin closes.
 * With `withToken`, the first line of stdin is the token: the shell builtins `read` and `printf`
 * write it to the 0600 token file, so it never appears in a process's argv.
 */
export function guardScript(viewerCommand: string, withToken = false): string {
  return [
    `cd "$HOME" 2>/dev/null || true`,
    `d=$(mktemp -d "\${TMPDIR:-/tmp}/runicorn-viewer.XXXXXX") || exit 97`,
    ...(withToken
      ? [
          `chmod 700 "$d" || exit 97`,
          `IFS= read -r tok || { rm -rf "$d"; exit 96; }`,
          `( umask 077 && printf '%s\\n' "$tok" >${TOKEN_FILE_WORD} ) || { rm -rf "$d"; exit 96; }`,
          `tok=`,
        ]
      : []),
    `S=; command -v setsid >/dev/null 2>&1 && S=setsid`,
    // TMPDIR="$d": what the viewer unpacks there (a compiled Bun binary writes its native addons as
    // .bun-*.node files into the temp dir and never removes them) goes with the guard's dir.
    `TMPDIR="$d" $S ${viewerCommand} >"$d/viewer.log" 2>&1 </dev/null &`,
    `pid=$!`,
    `echo "$pid" >"$d/viewer.pid"`,
    // Writes after a lost connection must fail quietly, not kill the guard before it cleans up.
    `trap '' PIPE HUP`,
    `exec 3<&0`,
    `printf 'RUNICORN_STARTED %s %s\\n' "$pid" "$d"`,
    // stdin closes when we stop the session or when sshd tears the connection down.
    `{ cat <&3; kill -TERM "$pid"; sleep 5; kill -KILL "$pid"; } >/dev/null 2>&1 &`,
    `w=$!`,
    `exec 3<&-`,
    ...(withToken
      ? [
          // Announce the viewer only once it has bound its port itself: a neighbour squatting on that
          // port would otherwise answer the health check and receive the token. Only `sleep` forks in
          // the loop; it ends when the viewer exits (also when we give up: stop() closes stdin).
          `up=; while [ -z "$up" ] && kill -0 "$pid" 2>/dev/null; do`,
          `  while IFS= read -r l; do case $l in "${LISTENING_PREFIX}"*) up=1; break;; esac; done <"$d/viewer.log"`,
          `  [ -n "$up" ] && printf 'RUNICORN_LISTENING\\n' && break`,
          `  sleep 0.05 2>/dev/null || sleep 1`,
          `done`,
        ]
      : []),
    `wait "$pid"; code=$?`,
    `kill "$w" 2>/dev/null`,
    `printf 'RUNICORN_EXITED %s\\n' "$code"`,
    `tail -n 20 "$d/viewer.log" 2>/dev/null`,
    `rm -rf "$d"`,
  ].join("\n");
}

/** A running remote viewer with its local forward. */
export class RemoteViewer {
  readonly sessionId = randomUUID().slice(0, 8);
  readonly startedAt = Date.now();
  private exitHandlers: Array<(reason: string) => void> = [];
  private listeningHandlers: Array<() => void> = [];
  private exitedWith: string | undefined;

  constructor(
    readonly conn: SshConnection,
    private readonly guard: ClientChannel,
    readonly remotePid: number,
    readonly remotePort: number,
    /** The server-side temp dir holding viewer.log and viewer.pid (removed by the guard). */
    readonly remoteDir: string,
    readonly forward: LocalForward,
    /** Everything the guard printed so far (appended by openGuard's listener). */
    private readonly out: { text: string },
    /** True when the viewer requires the tunnel's token (the local forward adds it to every request). */
    readonly tokenProtected: boolean,
  ) {
    guard.on("close", () => this.markExited(this.exitReason()));
    guard.on("data", () => {
      if (this.listening) for (const fn of this.listeningHandlers.splice(0)) fn();
    });
    conn.onClose(() => this.markExited("SSH connection lost"));
  }

  /** `http://localhost:<localPort>`. */
  get url(): string {
    return `http://localhost:${this.forward.port}`;
  }

  get localPort(): number {
    return this.forward.port;
  }

  /** False once the viewer exited, was stopped, or the connection dropped. */
  get alive(): boolean {
    return this.exitedWith === undefined;
  }

  /** Calls `fn` once when the viewer ends, with a human-readable reason. */
  onExit(fn: (reason: string) => void): void {
    if (this.exitedWith !== undefined) fn(this.exitedWith);
    else this.exitHandlers.push(fn);
  }

  /** Stops the viewer: closes the forward, closes the guard's stdin and waits for its cleanup. */
  async stop(timeoutMs = 8000): Promise<void> {
    await this.forward.close();
    if (this.exitedWith !== undefined) return;
    const done = new Promise<void>((resolve) => this.onExit(() => resolve()));
    this.guard.end();
    const timer = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), timeoutMs).unref?.());
    if ((await Promise.race([done, timer])) === "timeout") {
      // The guard did not finish: kill the viewer directly and drop the channel.
      await this.conn
        .exec(`kill -TERM ${this.remotePid} 2>/dev/null; rm -rf '${this.remoteDir.replace(/'/g, "")}'`)
        .catch(() => undefined);
      this.guard.close();
      this.markExited("stopped");
    }
  }

  /** True once the guard saw the viewer announce its listening port (token-protected viewers). */
  get listening(): boolean {
    return this.out.text.includes("RUNICORN_LISTENING\n");
  }

  /** Resolves when `listening` becomes true (never, if the viewer exits first). */
  whenListening(): Promise<void> {
    if (this.listening) return Promise.resolve();
    return new Promise((resolve) => this.listeningHandlers.push(resolve));
  }

  /** The viewer's log tail as reported by the guard (after it exited). */
  get logTail(): string {
    const i = this.out.text.indexOf("RUNICORN_EXITED");
    return i < 0 ? "" : this.out.text.slice(i).split("\n").slice(1).join("\n").trim();
  }

  private exitReason(): string {
    const m = /RUNICORN_EXITED (\d+)/.exec(this.out.text);
    return m ? `viewer exited with status ${m[1]}` : "stopped";
  }

  private markExited(reason: string): void {
    if (this.exitedWith !== undefined) return;
    this.exitedWith = reason;
    void this.forward.close();
    for (const fn of this.exitHandlers.splice(0)) fn(reason);
  }
}

/** Error raised when the viewer could not be started; `log` is the tail of its output. */
export class ViewerStartError extends Error {
  constructor(
    message: string,
    readonly log = "",
  ) {
    super(log ? `${message}\n${log}` : message);
  }
}

/** The requested local port could not be bound (in use, or not allowed). */
export class LocalPortError extends ViewerStartError {}

/** Opens the guard channel and waits for its STARTED line. */
async function openGuard(
  conn: SshConnection,
  command: string,
  token: string | undefined,
): Promise<{ ch: ClientChannel; pid: number; dir: string; out: { text: string } }> {
  const ch = await conn.execChannel(guardScript(command, token !== undefined));
  if (token !== undefined) ch.write(`${token}\n`);
  const out = { text: "" };
  let err = "";
  return await new Promise((resolve, reject) => {
    let started = false;
    ch.on("data", (d: Buffer) => {
      out.text += d.toString("utf8");
      const m = started ? null : /RUNICORN_STARTED (\d+) (.+)\n/.exec(out.text);
      if (m) {
        started = true;
        resolve({ ch, pid: Number(m[1]), dir: m[2]!, out });
      }
    });
    ch.stderr.on("data", (d: Buffer) => (err += d.toString("utf8")));
    ch.on("close", () => {
      if (!started) reject(new ViewerStartError("the remote viewer could not be launched", (out.text + err).trim()));
    });
  });
}

/**
 * Polls `/api/health` through the forward until it answers 200; throws if the viewer exits first.
 * A token-protected viewer is asked only after the guard saw it listening (RUNICORN_LISTENING), so
 * the token is never sent to a port the viewer does not hold.
 */
async function waitHealthy(viewer: RemoteViewer, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: string | undefined;
  viewer.onExit((r) => (exited = r));
  let delay = 25;
  while (Date.now() < deadline) {
    if (exited) throw new ViewerStartError(`the remote viewer ${exited.replace(/^viewer /, "")}`, viewer.logTail);
    if (viewer.tokenProtected && !viewer.listening) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        viewer.whenListening(),
        new Promise<void>((resolve) => viewer.onExit(() => resolve())),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now())))),
      ]);
      clearTimeout(timer);
      continue;
    }
    try {
      const res = await fetch(`http://127.0.0.1:${viewer.localPort}/api/health`, {
        signal: AbortSignal.timeout(3000),
      });
      if (res.ok) {
        await res.arrayBuffer();
        return;
      }
    } catch {
      // not listening yet: try again shortly
    }
    await Bun.sleep(delay);
    delay = Math.min(200, delay * 1.5);
  }
  throw new ViewerStartError(`the remote viewer did not answer /api/health within ${Math.round(timeoutMs / 1000)} s`);
}

/**
 * Launches the viewer under its guard, forwards a local port to it and waits until it answers.
 * A port clash (the viewer exits before answering) is retried on another port when the port was ours to pick.
 */
export async function startRemoteViewer(conn: SshConnection, launch: ViewerLaunch): Promise<RemoteViewer> {
  const tried = new Set<number>();
  for (let attempt = 0; ; attempt++) {
    const remotePort = launch.remotePort ?? launch.pickPort(tried);
    tried.add(remotePort);
    // 32 random bytes per session, known only to this process, the guard's 0600 file and the viewer
    const token = launch.withToken ? randomBytes(32).toString("base64url") : undefined;
    // the local end first: its port goes into the viewer's command line (the URL the SDK's init line prints)
    let forward: LocalForward;
    try {
      forward = await LocalForward.listen(conn, remotePort, launch.localPort ?? 0, token);
    } catch (err) {
      throw new LocalPortError(`cannot listen on local port ${launch.localPort}: ${(err as Error).message}`);
    }
    let guard: Awaited<ReturnType<typeof openGuard>>;
    try {
      guard = await openGuard(conn, launch.command(remotePort, forward.port), token);
    } catch (err) {
      await forward.close();
      throw err;
    }
    const { ch, pid, dir, out } = guard;
    const viewer = new RemoteViewer(conn, ch, pid, remotePort, dir, forward, out, token !== undefined);
    try {
      await waitHealthy(viewer, launch.healthTimeoutMs ?? 20_000);
      return viewer;
    } catch (err) {
      await viewer.stop();
      const retry = launch.remotePort === undefined && attempt < 2 && /EADDRINUSE|in use/i.test(viewer.logTail);
      if (!retry) throw err;
    }
  }
}
