// Test harness for the metrics feature: the real server (startServer) on port 0 over a temp root, restartable.
import { join } from "node:path";
import type { AppContext } from "../../src/api/context.ts";
import { startServer } from "../../src/cli/serve.ts";
import { loadConfig } from "../../src/config/config.ts";
import { copyFixture, isolatedEnv, tempDir } from "../helpers/server.ts";

/** A running server over a temp root. */
export interface MetricsServer {
  url: string;
  wsUrl: string;
  root: string;
  dir: string;
  ctx: AppContext;
  get(path: string): Promise<{ status: number; headers: Headers; body: any; text: string }>;
  /** Stops the server; `keepDir` leaves the temp dir for a restart on the same root. */
  stop(keepDir?: boolean): Promise<void>;
}

/**
 * Starts the real server on a temp copy of `fixture` (or an empty root, or `root` when restarting).
 */
export async function startMetricsServer(opts: { fixture?: string; root?: string; dir?: string } = {}): Promise<MetricsServer> {
  const tmp = opts.dir ? { dir: opts.dir, cleanup: () => {} } : tempDir("rn-metrics-");
  const root = opts.root ?? join(tmp.dir, "root");
  if (opts.fixture && !opts.root) copyFixture(opts.fixture, root);
  const config = loadConfig({ root, host: "127.0.0.1", port: 0, logLevel: "error", sweepSeconds: 60 }, isolatedEnv(tmp.dir));
  const server = await startServer(config);
  const url = server.url;
  return {
    url,
    wsUrl: url.replace("http", "ws"),
    root,
    dir: tmp.dir,
    ctx: server.ctx,
    async get(path) {
      const res = await fetch(url + path);
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON (media files)
      }
      return { status: res.status, headers: res.headers, body, text };
    },
    async stop(keepDir = false) {
      await server.stop();
      if (!keepDir) tmp.cleanup();
    },
  };
}

/** A WebSocket client collecting what it receives. */
export interface WsClient {
  ws: WebSocket;
  messages: string[];
  /** JSON-parsed messages (for /api/live). */
  json(): any[];
  send(obj: unknown): void;
  closed: Promise<void>;
  close(): void;
}

/** Opens a WebSocket and resolves once it is open. */
export async function openWs(url: string): Promise<WsClient> {
  const ws = new WebSocket(url);
  const messages: string[] = [];
  ws.onmessage = (e) => messages.push(String(e.data));
  const closed = new Promise<void>((res) => ws.addEventListener("close", () => res()));
  await new Promise<void>((res, rej) => {
    ws.onopen = () => res();
    ws.onerror = () => rej(new Error(`cannot open ${url}`));
  });
  return {
    ws,
    messages,
    json: () => messages.map((m) => JSON.parse(m)),
    send: (obj) => ws.send(typeof obj === "string" ? obj : JSON.stringify(obj)),
    closed,
    close: () => ws.close(),
  };
}

/** A line of events.jsonl exactly as SDK 0.6 writes it (Python json.dumps: ", " and ": " separators). */
export function sdkLine(step: number, data: Record<string, number | string | boolean | null>, ts = 1795922975 + step / 1000): string {
  const parts = Object.entries(data).map(([k, v]) => `${JSON.stringify(k)}: ${pyValue(v)}`);
  parts.push(`"global_step": ${step}`, `"time": ${pyValue(ts)}`);
  return `{"ts": ${pyValue(ts)}, "type": "metrics", "data": {${parts.join(", ")}}}\n`;
}

function pyValue(v: number | string | boolean | null): string {
  if (typeof v === "number") {
    if (Number.isNaN(v)) return "NaN";
    if (v === Infinity) return "Infinity";
    if (v === -Infinity) return "-Infinity";
    return Number.isInteger(v) ? v.toFixed(1) : String(v);
  }
  return JSON.stringify(v);
}
