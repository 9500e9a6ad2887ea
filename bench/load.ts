// Load benchmark (issue 8): 100 concurrent loopback clients for 30 s mixing list, series, logs and health while 5 runs each log 1,000 steps/s.
//
//   bun bench/load.ts                      the full run (LOAD_SECONDS, LOAD_CLIENTS, LOAD_RUNS, LOAD_RATE override the figures)
//   bun bench/load.ts --writer ROOT SECS   (internal) the writer child: appends in the Python SDK's format
//
// Prints count, median, p95 and p99 per kind of request, then whether there were zero errors and no lost points;
// exits 1 when either fails.
import { appendFileSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { finish, reportValue, serverCommand, spawnServe } from "./lib.ts";

const SECONDS = Number(process.env.LOAD_SECONDS ?? 30);
const CLIENTS = Number(process.env.LOAD_CLIENTS ?? 100);
const RUNS = Number(process.env.LOAD_RUNS ?? 5);
const RATE = Number(process.env.LOAD_RATE ?? 1000); // steps per second per run
/** The writer appends every TICK_MS (the Python SDK flushes every 500 ms; smaller ticks are the harder case). */
const TICK_MS = 100;

/** The deterministic value logged at a step, so that every served point can be checked. */
function lossAt(step: number, run: number): number {
  return Math.round(((Math.sin(step * 0.001 + run) + 1.5) / (1 + step * 1e-5)) * 1e9) / 1e9;
}

function runId(i: number): string {
  return `20260101_000000_${(0xa0a0a0 + i).toString(16)}`;
}

function writeJson(path: string, value: unknown): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(value, null, 2));
  renameSync(`${path}.tmp`, path);
}

/** Writer child: RUNS runs at RATE steps/s for `secs`, as the SDK writes them; prints the steps written per run. */
async function writer(root: string, secs: number): Promise<void> {
  const dirs: string[] = [];
  const started = Date.now() / 1000;
  for (let r = 0; r < RUNS; r++) {
    const id = runId(r);
    const dir = join(root, "runs", "load", `run${r}`, id);
    mkdirSync(join(dir, "media"), { recursive: true });
    const now = started;
    writeJson(join(dir, "meta.json"), { id, path: `load/run${r}`, alias: null, created_at: now, python: "3.11.7", platform: "Linux", hostname: hostname(), pid: process.pid, storage_dir: root, workspace_root: root });
    writeJson(join(dir, "status.json"), { status: "running", started_at: now, heartbeat_at: now });
    writeFileSync(join(dir, "events.jsonl"), "");
    writeFileSync(join(dir, "logs.txt"), "");
    dirs.push(dir);
  }
  const written = new Array<number>(RUNS).fill(0);
  const t0 = performance.now();
  let lastBeat = Date.now();
  for (;;) {
    const elapsed = (performance.now() - t0) / 1000;
    const target = Math.min(Math.floor(Math.min(elapsed, secs) * RATE), Math.floor(secs * RATE));
    for (let r = 0; r < RUNS; r++) {
      let events = "";
      let logs = "";
      for (let s = written[r] + 1; s <= target; s++) {
        const ts = Date.now() / 1000;
        events += `{"ts": ${ts}, "type": "metrics", "data": {"loss": ${lossAt(s, r)}, "acc": ${s / 1e6}, "global_step": ${s}, "time": ${ts}}}\n`;
        if (s % 100 === 0) logs += `${new Date().toTimeString().slice(0, 8)} | step ${s} loss ${lossAt(s, r)}\n`;
      }
      if (events) appendFileSync(join(dirs[r], "events.jsonl"), events);
      if (logs) appendFileSync(join(dirs[r], "logs.txt"), logs);
      written[r] = Math.max(written[r], target);
    }
    if (Date.now() - lastBeat >= 5000) {
      lastBeat = Date.now();
      for (const d of dirs) writeJson(join(d, "status.json"), { status: "running", started_at: started, heartbeat_at: Date.now() / 1000 });
    }
    if (elapsed >= secs) break;
    await Bun.sleep(TICK_MS);
  }
  for (const d of dirs) writeJson(join(d, "status.json"), { status: "finished", started_at: started, ended_at: Date.now() / 1000 });
  console.log(JSON.stringify(written));
}

type Kind = "list" | "series" | "logs" | "health";
const KINDS: Kind[] = ["list", "series", "logs", "health"];

function percentile(sorted: number[], q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1) + 0.5))] : NaN;
}

/** Opens the logs WebSocket, resolves with the time to its first frame, then closes it. */
function logsOnce(wsUrl: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl);
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error("no log frame within 10 s"));
    }, 10000);
    ws.onmessage = (ev) => {
      clearTimeout(timer);
      const text = String(ev.data);
      ws.close();
      if (text.startsWith("[error]")) reject(new Error(text));
      else resolve();
    };
    ws.onerror = () => {
      clearTimeout(timer);
      reject(new Error("websocket error"));
    };
  });
}

async function main(): Promise<void> {
  const base = join(tmpdir(), `rn-bench-load-${process.pid}`);
  const root = join(base, "root");
  rmSync(base, { recursive: true, force: true });
  mkdirSync(join(root, "runs"), { recursive: true });
  const env = { PATH: process.env.PATH ?? "", HOME: join(base, "home"), XDG_CONFIG_HOME: join(base, "home/.config"), XDG_CACHE_HOME: join(base, "home/.cache") };
  const server = await spawnServe(root, env);
  console.log(`server command: ${serverCommand().join(" ")}`);
  const url = server.url;
  const wsBase = url.replace(/^http/, "ws");
  console.log(`server ${url}; ${CLIENTS} clients for ${SECONDS} s; ${RUNS} runs × ${RATE} steps/s appended every ${TICK_MS} ms`);

  const writerProc = Bun.spawn([process.execPath, import.meta.path, "--writer", root, String(SECONDS)], {
    env: { ...process.env, LOAD_RUNS: String(RUNS), LOAD_RATE: String(RATE) },
    stdout: "pipe",
    stderr: "inherit",
  });
  const ids = Array.from({ length: RUNS }, (_, i) => runId(i));
  // the clients start once every run is listed
  for (const deadline = Date.now() + 15000; ; ) {
    const r = await fetch(`${url}/api/runs`).then((x) => x.json()).catch(() => []);
    if (Array.isArray(r) && ids.every((id) => r.some((x: { id: string }) => x.id === id))) break;
    if (Date.now() > deadline) throw new Error("the writer's runs were not listed within 15 s");
    await Bun.sleep(50);
  }

  const lat: Record<Kind, number[]> = { list: [], series: [], logs: [], health: [] };
  const errors: string[] = [];
  let errorCount = 0;
  const end = performance.now() + SECONDS * 1000;
  const one = async (kind: Kind, n: number): Promise<void> => {
    const id = ids[n % ids.length];
    if (kind === "logs") return logsOnce(`${wsBase}/api/runs/${id}/logs/ws`);
    const path =
      kind === "list" ? "/api/runs" : kind === "health" ? "/api/health" : `/api/runs/${id}/series?keys=loss&points=2000`;
    const res = await fetch(url + path);
    const body = await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${path} -> ${res.status} ${new TextDecoder().decode(body).slice(0, 200)}`);
  };
  const client = async (c: number): Promise<void> => {
    for (let i = 0, n = c; performance.now() < end; i++, n += CLIENTS) {
      const kind = KINDS[(c + i) % KINDS.length]; // every client cycles through the four kinds
      const t = performance.now();
      try {
        await one(kind, n);
        lat[kind].push(performance.now() - t);
      } catch (e) {
        errorCount++;
        if (errors.length < 10) errors.push(`${kind}: ${(e as Error).message}`);
      }
    }
  };
  const tStart = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
  const wall = (performance.now() - tStart) / 1000;

  const writerOut = await new Response(writerProc.stdout).text();
  if ((await writerProc.exited) !== 0) throw new Error(`writer failed: ${writerOut}`);
  const written = JSON.parse(writerOut.trim().split("\n").pop()!) as number[];

  // no lost points: every step written is served once, with its value
  const lost: string[] = [];
  for (let r = 0; r < RUNS; r++) {
    let body: { rows: { global_step: number; loss: number }[]; total: number } | undefined;
    for (const deadline = Date.now() + 15000; Date.now() < deadline; await Bun.sleep(100)) {
      body = await fetch(`${url}/api/runs/${ids[r]}/metrics_step`).then((x) => x.json());
      if (body!.total >= written[r]) break;
    }
    const rows = body?.rows ?? [];
    const bad = rows.findIndex((row, i) => row.global_step !== i + 1 || row.loss !== lossAt(i + 1, r));
    if (rows.length !== written[r] || body?.total !== written[r] || bad >= 0) {
      lost.push(`${ids[r]}: wrote ${written[r]}, served ${body?.total} rows${bad >= 0 ? `, first wrong row at index ${bad}` : ""}`);
    }
  }
  server.proc.kill();
  await server.proc.exited;
  rmSync(base, { recursive: true, force: true });

  const all: number[] = [];
  console.log(`${"request".padEnd(44)} ${"count".padStart(7)} ${"median".padStart(10)} ${"p95".padStart(10)} ${"p99".padStart(10)}`);
  const line = (name: string, ms: number[]) => {
    const s = [...ms].sort((a, b) => a - b);
    const f = (q: number) => `${percentile(s, q).toFixed(2)} ms`.padStart(10);
    console.log(`${name.padEnd(44)} ${String(s.length).padStart(7)} ${f(0.5)} ${f(0.95)} ${f(0.99)}`);
  };
  const names: Record<Kind, string> = {
    list: "GET /api/runs",
    series: "GET /api/runs/{id}/series?keys=loss",
    logs: "WS /api/runs/{id}/logs/ws (first frame)",
    health: "GET /api/health",
  };
  for (const k of KINDS) {
    line(names[k], lat[k]);
    all.push(...lat[k]);
  }
  line("all requests", all);
  const points = written.reduce((a, b) => a + b, 0);
  console.log(`throughput ${(all.length / wall).toFixed(0)} requests/s over ${wall.toFixed(1)} s; ${points} points written (${(points / SECONDS).toFixed(0)}/s)`);
  reportValue("errors", errorCount, 0, "requests", "lower");
  for (const e of errors) console.log(`  ${e}`);
  // every step of every run must be served once with its value
  reportValue("lost points", lost.length, 0, "steps", "lower");
  for (const l of lost) console.log(`  ${l}`);
  finish();
}

if (process.argv[2] === "--writer") await writer(process.argv[3], Number(process.argv[4]));
else await main();
