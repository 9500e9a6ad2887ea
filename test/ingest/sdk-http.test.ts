// The Python SDK over HTTP: same answers as a file-mode run, survives a server outage through its spool, `runicorn sync`.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isolatedEnv, PROJECT, tempDir, waitFor } from "../helpers/server.ts";
import { PY_SDK, SERVE_CMD, type ServerProc, spawnServe } from "../reliability/helpers.ts";

/** How long the server stays down in the outage test (issue 19 asks for 30 s; RUNICORN_TEST_OUTAGE_S=30 runs that). */
const OUTAGE_S = Number(process.env.RUNICORN_TEST_OUTAGE_S ?? "6");

const t = tempDir("rn-ingest-sdk-");
const servers: ServerProc[] = [];
afterAll(async () => {
  for (const s of servers) await s.kill9().catch(() => {});
  t.cleanup();
});

async function serve(root: string, env: Record<string, string>, port = 0): Promise<ServerProc> {
  const s = await spawnServe(root, env, port ? ["--port", String(port)] : []);
  servers.push(s);
  return s;
}

/** A port nothing listens on right now. */
function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
}

/** The script both runs log: metrics with a NaN, text, a summary, an image, then finish. */
const SCRIPT = (runId: string, extra = "") => `
import math, time, runicorn as rn
run = rn.init(path="cmp/runs", run_id="${runId}", alias="same", tags=["t1"])
for i in range(40):
    run.log({"loss": 1.0 / (i + 1), "acc": i / 40.0, "odd": float("nan") if i == 7 else i}, step=i)
run.log_text("line one")
run.log_image("sample", b"\\x89PNG\\r\\n\\x1a\\n" + b"0" * 32, step=3)
run.summary({"best_acc": 0.975})
${extra}
run.finish()
`;

function python(code: string, env: Record<string, string>) {
  return Bun.spawn(["python3", "-c", code], { env: { ...env, PYTHONPATH: PY_SDK }, stdout: "pipe", stderr: "pipe" });
}

async function runPython(code: string, env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  const p = python(code, env);
  const stderr = await new Response(p.stderr).text();
  return { code: await p.exited, stderr };
}

/** An API answer with the per-run differences (id, time stamps, staging/storage paths) taken out. */
function comparable(v: unknown): unknown {
  if (typeof v === "string") return v.replace(/(file|http)-run/g, "RUN");
  if (Array.isArray(v)) return v.map(comparable);
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (/^(id|run_id|ts|time|timestamp|created_at|created_time|started_at|ended_at|heartbeat_at|start_time|end_time|run_dir|storage_dir|pid|duration|updated_at|path_on_disk|last_seen)$/.test(k)) continue;
      out[k] = comparable(x);
    }
    return out;
  }
  return v;
}

describe("Python SDK over HTTP", () => {
  test("a run logged over HTTP reads back through the API like the same run written to files", async () => {
    const root = join(t.dir, "cmp-root");
    const env = isolatedEnv(join(t.dir, "cmp"));
    const s = await serve(root, env);
    const file = await runPython(SCRIPT("file-run"), { ...env, RUNICORN_DIR: root, RUNICORN_QUIET: "1" });
    expect(file.code).toBe(0);
    const http = await runPython(SCRIPT("http-run"), { ...env, RUNICORN_SERVER: s.url, RUNICORN_QUIET: "1" });
    expect(http.stderr).not.toContain("not yet uploaded");
    expect(http.code).toBe(0);
    for (const id of ["file-run", "http-run"]) {
      await waitFor(async () => (await s.call(`/api/runs/${id}`)).body?.status === "finished", 15000, `${id} finished`);
    }
    for (const q of ["", "/metrics_step", "/metrics", "/logs"]) {
      const [a, b] = await Promise.all([s.call(`/api/runs/file-run${q}`), s.call(`/api/runs/http-run${q}`)]);
      expect(b.status).toBe(a.status);
      expect(comparable(b.body)).toEqual(comparable(a.body));
    }
    const dir = join(root, "runs", "cmp", "runs", "http-run");
    const media = readdirSync(join(dir, "media"));
    expect(media.length).toBe(1);
    expect(readFileSync(join(dir, "media", media[0])).subarray(0, 4).toString("latin1")).toBe("\x89PNG");
    expect(JSON.parse(readFileSync(join(dir, "summary.json"), "utf8")).best_acc).toBe(0.975);
    // everything reached the server: the local staging copy and the spool are gone
    expect(existsSync(join(env.XDG_CACHE_HOME, "runicorn", "spool", "http-run"))).toBe(false);
    expect(existsSync(join(env.XDG_CACHE_HOME, "runicorn", "staging", "runs", "cmp", "runs", "http-run"))).toBe(false);
  }, 120000);

  test(`a server down for ${OUTAGE_S} s mid-run: the SDK keeps logging, spools, and replays every row in order once it is back`, async () => {
    const root = join(t.dir, "outage-root");
    const env = isolatedEnv(join(t.dir, "outage"));
    const port = freePort();
    let s = await serve(root, env, port);
    const rows = Math.ceil((OUTAGE_S + 4) / 0.02);
    const code = `
import time, runicorn as rn
run = rn.init(path="outage", run_id="outage-run")
t0 = time.time()
slowest = 0.0
for i in range(${rows}):
    a = time.time(); run.log({"v": i}, step=i); slowest = max(slowest, time.time() - a)
    time.sleep(0.02)
run.finish()
print("slowest_log_ms=%.3f" % (slowest * 1000))
`;
    const p = python(code, { ...env, RUNICORN_SERVER: s.url, RUNICORN_QUIET: "1", RUNICORN_FINISH_TIMEOUT: "30" });
    const spool = join(env.XDG_CACHE_HOME, "runicorn", "spool", "outage-run");
    await waitFor(() => existsSync(join(root, "runs", "outage", "outage-run", "events.jsonl")), 15000, "first rows arrived");
    await s.kill9();
    const downAt = Date.now();
    // while the server is away the batches pile up in the spool
    await waitFor(() => existsSync(spool) && readdirSync(spool).filter((n) => /^\d+\.json$/.test(n)).length >= 3, 15000, "batches spooled");
    await Bun.sleep(Math.max(0, OUTAGE_S * 1000 - (Date.now() - downAt)));
    s = await serve(root, env, port);
    const out = await new Response(p.stdout).text();
    const stderr = await new Response(p.stderr).text();
    expect(await p.exited).toBe(0);
    expect(stderr).not.toContain("not yet uploaded");
    const slowest = Number(/slowest_log_ms=([\d.]+)/.exec(out)?.[1]);
    expect(slowest).toBeLessThan(1000); // log() never waited for the network (a ceiling, not a speed figure)
    const steps = readFileSync(join(root, "runs", "outage", "outage-run", "events.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).data.global_step);
    expect(steps).toEqual(Array.from({ length: rows }, (_, i) => i));
    expect(existsSync(spool)).toBe(false);
    const st = await waitFor(async () => {
      const r = await s.call("/api/runs/outage-run");
      return r.body?.status === "finished" ? r.body : undefined;
    }, 15000, "finished run served");
    expect(st.status).toBe("finished");
  }, 60000 + OUTAGE_S * 3000);

  test("a job that ends while the server is unreachable leaves its spool, says so in one line, and `runicorn sync` uploads it", async () => {
    const root = join(t.dir, "sync-root");
    const env = isolatedEnv(join(t.dir, "sync"));
    const port = freePort();
    const r = await runPython(SCRIPT("sync-run"), { ...env, RUNICORN_SERVER: `http://127.0.0.1:${port}`, RUNICORN_QUIET: "1", RUNICORN_FINISH_TIMEOUT: "1" });
    expect(r.code).toBe(0);
    const lines = r.stderr.split("\n").filter((l) => l.includes("runicorn sync"));
    expect(lines.length).toBe(1);
    const spool = join(env.XDG_CACHE_HOME, "runicorn", "spool", "sync-run");
    expect(readdirSync(spool).filter((n) => /^\d+\.json$/.test(n)).length).toBeGreaterThan(0);
    const s = await serve(root, env, port);
    const sync = Bun.spawn([...SERVE_CMD, "sync"], { env, stdout: "pipe", stderr: "pipe", cwd: PROJECT });
    const syncOut = await new Response(sync.stdout).text();
    expect(await sync.exited).toBe(0);
    expect(syncOut).toContain("sync-run");
    expect(existsSync(spool)).toBe(false);
    const got = await waitFor(async () => {
      const a = await s.call("/api/runs/sync-run/metrics_step");
      return a.status === 200 && a.body.rows?.length === 40 ? a.body : undefined;
    }, 15000, "synced metrics");
    expect(got.rows.map((row: any) => row.global_step ?? row.step)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect((await s.call("/api/runs/sync-run")).body.status).toBe("finished");
    // a second sync finds nothing to do
    const again = Bun.spawn([...SERVE_CMD, "sync"], { env, stdout: "pipe", stderr: "pipe", cwd: PROJECT });
    expect(await new Response(again.stdout).text()).toContain("Nothing to upload");
    expect(await again.exited).toBe(0);
  }, 120000);
});
