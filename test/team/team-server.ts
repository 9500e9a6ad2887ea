// Test helpers for team mode: `runicorn serve --db` replicas as real subprocesses, tokens by the CLI, and
// plain HTTP ingest requests that follow src/ingest/contract.ts.
import { join, resolve } from "node:path";

const MAIN = resolve(import.meta.dir, "../../src/cli/main.ts");

/** Runs `runicorn <args>` to completion. */
export function runCli(args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const p = Bun.spawnSync([process.execPath, MAIN, ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode ?? -1, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

/** Creates a token with the CLI and returns it. */
export function createTokenCli(db: string, name: string): string {
  const r = runCli(["token", "create", "--db", db, "--name", name]);
  if (r.code !== 0) throw new Error(`token create failed: ${r.stderr}`);
  return r.stdout.trim();
}

export interface Replica {
  url: string;
  port: number;
  proc: ReturnType<typeof Bun.spawn>;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts `runicorn serve --db URL --root ROOT` on `port` (0 = any); resolves when it listens. */
export async function startReplica(db: string, root: string, port = 0): Promise<Replica> {
  const proc = Bun.spawn([process.execPath, MAIN, "serve", "--db", db, "--root", root, "--port", String(port), "--log-level", "warn"], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: join(root, "home") },
    stdout: "pipe",
    stderr: "pipe",
  });
  const reader = proc.stdout.getReader();
  let out = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`replica exited (${await proc.exited}): ${out} ${await new Response(proc.stderr).text()}`);
    out += new TextDecoder().decode(value);
    const m = /listening on (http:\/\/\S+)/.exec(out);
    if (m) {
      reader.releaseLock();
      void proc.stdout.pipeTo(new WritableStream()).catch(() => undefined);
      void proc.stderr.pipeTo(new WritableStream()).catch(() => undefined);
      const url = m[1];
      return {
        url,
        port: Number(new URL(url).port),
        proc,
        async kill9() {
          proc.kill(9);
          await proc.exited;
        },
        async stop() {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
          await proc.exited;
        },
      };
    }
  }
}

/** A JSON call with a bearer token; returns status and parsed body. */
export async function call(base: string, token: string | null, method: string, path: string, body?: unknown): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** A metrics event as the Python SDK writes it to events.jsonl. */
export function sdkEvent(step: number, extra: Record<string, unknown> = {}) {
  const ts = 1767225600 + step * 0.01;
  return { ts, type: "metrics", data: { global_step: step, time: ts, loss: 2 / (step + 1), acc: Math.min(1, step / 3000), ...extra } };
}
