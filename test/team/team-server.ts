// Test helpers for team mode: `runicorn serve --db` replicas as real subprocesses, tokens by the CLI, plain HTTP
// ingest requests that follow src/ingest/contract.ts, and a whole throwaway deployment per test file (startTeamCluster).
import { join, resolve } from "node:path";
import { startPostgres, type TestPostgres } from "../helpers/postgres.ts";
import { startTestServer, tempDir, type TestServer } from "../helpers/server.ts";

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

/**
 * One test file's team deployment: a throwaway PostgreSQL cluster, a database `name` with a token of that name
 * (and one per extra name in `tokens`), `replicas` replicas sharing one media root, and, with `file`, a file-mode
 * server to compare answers with. `close()` stops whatever started, also after a failed start.
 */
export interface TeamCluster {
  pg: TestPostgres;
  db: string;
  /** The token named `name`. */
  token: string;
  /** Tokens by name (`name` and every extra name). */
  tokens: Record<string, string>;
  /** A temp dir of the test's own (removed by close()). */
  dir: string;
  /** The replicas' shared media root (`<dir>/team-root`). */
  root: string;
  replicas: Replica[];
  /** The first replica. */
  team: Replica;
  /** The file-mode server, when asked for. */
  file: TestServer;
  /** `Authorization: Bearer <token>`. */
  auth: Record<string, string>;
  /** fetch() on a replica (the first by default) with the token. */
  fetch(path: string, init?: RequestInit, replica?: Replica): Promise<Response>;
  /** POSTs the same JSON body to the file-mode server and to the first replica (the one ingest contract, both modes). */
  postBoth(path: string, body: unknown): Promise<void>;
  close(): Promise<void>;
}

export async function startTeamCluster(
  name: string,
  opts: { replicas?: number; file?: boolean | Parameters<typeof startTestServer>[0]; tokens?: string[] } = {},
): Promise<TeamCluster> {
  const t = tempDir(`rn-team-${name}-`);
  let pg: TestPostgres | undefined;
  let file: TestServer | undefined;
  const replicas: Replica[] = [];
  const close = async () => {
    for (const r of replicas) await r.stop();
    await file?.close();
    await pg?.stop();
    t.cleanup();
  };
  try {
    pg = await startPostgres();
    const db = await pg.createDatabase(name);
    const tokens: Record<string, string> = {};
    for (const who of [name, ...(opts.tokens ?? [])]) tokens[who] = createTokenCli(db, who);
    for (let i = 0; i < (opts.replicas ?? 1); i++) replicas.push(await startReplica(db, join(t.dir, "team-root")));
    if (opts.file) file = await startTestServer(opts.file === true ? {} : opts.file);
    const token = tokens[name];
    const auth = { authorization: `Bearer ${token}` };
    const post = async (base: string, headers: Record<string, string>, path: string, body: unknown) => {
      const res = await fetch(base + path, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify(body) });
      if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    };
    return {
      pg,
      db,
      token,
      tokens,
      dir: t.dir,
      root: join(t.dir, "team-root"),
      replicas,
      team: replicas[0],
      get file(): TestServer {
        if (!file) throw new Error("this cluster was started without a file-mode server");
        return file;
      },
      auth,
      fetch: (path, init = {}, replica = replicas[0]) => fetch(replica.url + path, { ...init, headers: { ...(init.headers as Record<string, string>), ...auth } }),
      async postBoth(path, body) {
        if (!file) throw new Error("postBoth needs the file-mode server");
        await post(file.url, {}, path, body);
        await post(replicas[0].url, auth, path, body);
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
