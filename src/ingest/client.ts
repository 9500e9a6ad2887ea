// The sending side of the ingest API: HTTP calls (token, timeouts), the SDK spool's location, and uploading a spool.
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, mkdirSync } from "node:fs";
import { join, resolve, sep } from "node:path";
import type { IngestRunCreated } from "./contract.ts";

type Env = Record<string, string | undefined>;

/** The user's cache dir as the Python SDK picks it (remote_sink.user_cache_dir). */
export function userCacheDir(env: Env, homeDir: string): string {
  if (process.platform === "win32" && env.LOCALAPPDATA) return env.LOCALAPPDATA;
  if (process.platform === "darwin") return join(homeDir, "Library", "Caches");
  return env.XDG_CACHE_HOME || join(homeDir, ".cache");
}

/** Where the SDKs spool batches not yet uploaded: `<cache>/runicorn/spool/<run_id>/`. */
export function spoolRoot(env: Env, homeDir: string): string {
  return join(userCacheDir(env, homeDir), "runicorn", "spool");
}

/** Where the Python SDK keeps the local copy of a run it sends to a server. */
export function stagingRoot(env: Env, homeDir: string): string {
  return join(userCacheDir(env, homeDir), "runicorn", "staging");
}

/** Why a call failed: the server's status and detail, or a network error (status 0). */
export class IngestCallError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Calls one server's ingest API. */
export class IngestClient {
  readonly server: string;
  constructor(
    server: string,
    private readonly token: string | undefined,
    private readonly timeoutMs = 30000,
  ) {
    this.server = server.replace(/\/+$/, "");
  }

  private async call(method: string, path: string, body: string | Uint8Array, type: string): Promise<{ status: number; body: any }> {
    const headers: Record<string, string> = { "content-type": type };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let res: Response;
    try {
      res = await fetch(this.server + path, { method, headers, body: body as BodyInit, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (e) {
      throw new IngestCallError(0, `cannot reach ${this.server}: ${(e as Error).message}`);
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text for the message
    }
    return { status: res.status, body: parsed };
  }

  private fail(what: string, r: { status: number; body: any }): never {
    const detail = typeof r.body === "object" && r.body && "detail" in r.body ? JSON.stringify(r.body.detail) : String(r.body).slice(0, 200);
    throw new IngestCallError(r.status, `${what}: HTTP ${r.status} ${detail}`);
  }

  async createRun(body: string): Promise<IngestRunCreated> {
    const r = await this.call("POST", "/api/ingest/runs", body, "application/json");
    if (r.status !== 200 && r.status !== 201) this.fail("creating the run", r);
    return r.body as IngestRunCreated;
  }

  /** Sends one batch body (JSON text, as spooled); returns whether the server had it already. */
  async postBatch(runId: string, body: string): Promise<{ duplicate: boolean }> {
    const r = await this.call("POST", `/api/ingest/runs/${encodeURIComponent(runId)}/batches`, body, "application/json");
    if (r.status !== 200) this.fail(`sending a batch of ${runId}`, r);
    return { duplicate: Boolean(r.body?.duplicate) };
  }

  async putMedia(runId: string, name: string, bytes: Uint8Array): Promise<void> {
    const r = await this.call("PUT", `/api/ingest/runs/${encodeURIComponent(runId)}/media/${encodeURIComponent(name)}`, bytes, "application/octet-stream");
    if (r.status !== 200) this.fail(`sending media ${name} of ${runId}`, r);
  }
}

/** What uploading one spooled run did. */
export interface SpoolResult {
  runId: string;
  sent: number;
  duplicates: number;
  /** Batches the server refused for good (4xx), moved to `rejected/`. */
  rejected: number;
  /** Set when the upload stopped early (server unreachable or failing); the rest stays spooled. */
  error?: string;
}

/**
 * Uploads one SDK spool directory (run.json + NNNNNN.json batches + NNNNNN.media lists) in seq order, deleting each
 * batch once the server acknowledged it, and the directory (and the SDK's staging copy) once it is empty. Batches
 * are idempotent by seq, so an interrupted sync is simply run again.
 */
export async function uploadSpoolDir(
  dir: string,
  serverOverride: string | undefined,
  token: string | undefined,
  stagingRoot: string,
  /** A live SDK keeps its spool and staging copy while the run goes on. */
  keep = false,
): Promise<SpoolResult> {
  const run = JSON.parse(readFileSync(join(dir, "run.json"), "utf8")) as { server: string; run_id: string; run_dir: string; create: unknown };
  const result: SpoolResult = { runId: run.run_id, sent: 0, duplicates: 0, rejected: 0 };
  const client = new IngestClient(serverOverride ?? run.server, token);
  try {
    await client.createRun(JSON.stringify(run.create));
    const batches = readdirSync(dir)
      .filter((n) => /^\d+\.json$/.test(n))
      .sort();
    for (const name of batches) {
      const stem = name.slice(0, -5);
      const side = join(dir, `${stem}.media`);
      if (existsSync(side)) {
        for (const m of readFileSync(side, "utf8").split("\n").filter(Boolean)) {
          const file = join(run.run_dir, "media", m);
          if (existsSync(file)) await client.putMedia(run.run_id, m, readFileSync(file));
        }
      }
      try {
        const ack = await client.postBatch(run.run_id, readFileSync(join(dir, name), "utf8"));
        if (ack.duplicate) result.duplicates++;
        else result.sent++;
      } catch (e) {
        if (!(e instanceof IngestCallError) || e.status < 400 || e.status >= 500 || e.status === 404) throw e;
        mkdirSync(join(dir, "rejected"), { recursive: true });
        renameSync(join(dir, name), join(dir, "rejected", name));
        result.rejected++;
        continue;
      }
      rmSync(join(dir, name));
      rmSync(side, { force: true });
    }
  } catch (e) {
    result.error = (e as Error).message;
    return result;
  }
  if (result.rejected === 0 && !keep) {
    rmSync(dir, { recursive: true, force: true });
    // the SDK's staging copy goes too, but only from the staging area (run.json is not trusted to name a directory)
    const staged = resolve(run.run_dir ?? "");
    if (staged.startsWith(resolve(stagingRoot) + sep)) rmSync(staged, { recursive: true, force: true });
  }
  return result;
}
