// Shared pieces of the reliability tests: a server child process, runs in the SDK's on-disk format, expected rows of an events file.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { parseTolerant } from "../../src/store/json.ts";
import { PROJECT } from "../helpers/server.ts";

/** The command the reliability tests start: the real CLI from the sources. */
export const SERVE_CMD = [process.execPath, join(PROJECT, "src/cli/main.ts")];

/** The Python SDK's import path, for `python3 -c` children. */
export const PY_SDK = join(PROJECT, "sdk/python");

/** A server running as a child process. */
export interface ServerProc {
  proc: ReturnType<typeof Bun.spawn>;
  url: string;
  /** Everything the server wrote to stderr so far (its log). */
  log(): string;
  /** GET (or another method) returning status and parsed JSON (text when not JSON). */
  call(path: string, init?: RequestInit): Promise<{ status: number; body: any; headers: Headers }>;
  /** SIGKILL, then wait for the exit. */
  kill9(): Promise<void>;
  /** SIGTERM, then wait for the exit. */
  stop(): Promise<void>;
}

/** Starts `serve --root ROOT --port 0` as a child process and resolves once it prints its URL. */
export async function spawnServe(root: string, env: Record<string, string>, extra: string[] = []): Promise<ServerProc> {
  const proc = Bun.spawn([...SERVE_CMD, "serve", "--root", root, "--port", "0", "--log-level", "info", ...extra], {
    env,
    stdout: "pipe",
    stderr: "pipe",
  });
  let err = "";
  (async () => {
    const dec = new TextDecoder();
    for await (const chunk of proc.stderr as unknown as AsyncIterable<Uint8Array>) err += dec.decode(chunk, { stream: true });
  })();
  const reader = proc.stdout.getReader();
  const dec = new TextDecoder();
  let out = "";
  const deadline = Date.now() + 30000;
  let url: string | undefined;
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    out += dec.decode(value);
    const m = /listening on (http:\/\/\S+)/.exec(out);
    if (m) {
      url = m[1];
      break;
    }
  }
  if (!url) {
    proc.kill(9);
    await proc.exited;
    throw new Error(`server did not start: ${out}\n${err}`);
  }
  // keep draining stdout so that the child never blocks on a full pipe
  (async () => {
    for (;;) {
      const { done } = await reader.read();
      if (done) break;
    }
  })();
  const base = url;
  return {
    proc,
    url,
    log: () => err,
    async call(path, init) {
      const res = await fetch(base + path, init);
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON
      }
      return { status: res.status, body, headers: res.headers };
    },
    async kill9() {
      proc.kill(9);
      await proc.exited;
    },
    async stop() {
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill(9), 5000);
      await proc.exited;
      clearTimeout(timer);
    },
  };
}

/** Options of a hand-written run. */
export interface RunFilesOptions {
  status?: string;
  pid?: number;
  hostname?: string;
  heartbeatAt?: number;
  createdAt?: number;
}

/** Writes meta.json and status.json of a run as the SDK does, and returns its directory. */
export function writeRun(root: string, path: string, id: string, o: RunFilesOptions = {}): string {
  const dir = join(root, "runs", path, id);
  mkdirSync(join(dir, "media"), { recursive: true });
  const created = o.createdAt ?? Date.now() / 1000;
  writeJsonAtomic(join(dir, "meta.json"), {
    id,
    path,
    alias: null,
    created_at: created,
    python: "3.11.7",
    platform: "Linux",
    hostname: o.hostname ?? hostname(),
    pid: o.pid ?? 999999,
    storage_dir: root,
    workspace_root: root,
  });
  const status: Record<string, unknown> = { status: o.status ?? "running", started_at: created };
  if (o.heartbeatAt !== undefined) status.heartbeat_at = o.heartbeatAt;
  if ((o.status ?? "running") !== "running") status.ended_at = created + 1;
  writeJsonAtomic(join(dir, "status.json"), status);
  return dir;
}

/** Replaces a JSON file through a temp file and rename, indent 2 like the SDK. */
export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 2));
  renameSync(tmp, path);
}

/** One metrics event line exactly as the Python SDK writes it (spec §2.3). */
export function metricsLine(step: number, ts: number, data: Record<string, number | string | null>): string {
  const body = Object.entries(data)
    .map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`)
    .join(", ");
  const sep = body ? `${body}, ` : "";
  return `{"ts": ${ts}, "type": "metrics", "data": {${sep}"global_step": ${step}, "time": ${ts}}}\n`;
}

/** A deterministic metric value for a step, so that every point can be checked. */
export function lossAt(step: number, salt = 0): number {
  return Math.round(((Math.sin(step * 0.001 + salt) + 1.5) / (1 + step * 1e-5)) * 1e9) / 1e9;
}

/** Rows keyed by step, built from complete lines by the spec §3.3 rule (later events merge into the row). */
export function rowsFromFile(path: string): Map<number, Record<string, unknown>> {
  const text = readFileSync(path, "utf8");
  const end = text.lastIndexOf("\n");
  const rows = new Map<number, Record<string, unknown>>();
  if (end < 0) return rows;
  for (const line of text.slice(0, end).split("\n")) {
    if (!line.trim()) continue;
    let ev: any;
    try {
      ev = parseTolerant(line); // NaN/Infinity tokens read as null, as the API serves them
    } catch {
      continue;
    }
    if (ev?.type !== "metrics" || typeof ev.data !== "object" || ev.data === null) continue;
    const step = Math.trunc(Number(ev.data.global_step ?? ev.data.step));
    if (!Number.isFinite(step)) continue;
    const row = rows.get(step) ?? {};
    for (const [k, v] of Object.entries(ev.data)) if (k !== "global_step" && k !== "step" && k !== "epoch") row[k] = v;
    rows.set(step, row);
  }
  return rows;
}

/** A checksum of rows over the given keys, in step order (the same for file rows and API rows). */
export function rowsChecksum(rows: Iterable<[number, Record<string, unknown>]>, keys: string[]): string {
  const h = createHash("sha256");
  for (const [step, row] of [...rows].sort((a, b) => a[0] - b[0])) {
    h.update(`${step}`);
    for (const k of keys) h.update(`|${k}=${JSON.stringify(row[k] ?? null)}`);
    h.update("\n");
  }
  return h.digest("hex");
}

/** The rows of a `metrics_step` answer as [step, row] pairs. */
export function apiRows(body: { rows: Record<string, unknown>[] }): [number, Record<string, unknown>][] {
  return body.rows.map((r) => [r.global_step as number, r]);
}
