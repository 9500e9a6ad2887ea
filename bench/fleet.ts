// Benchmark of fleet mode (issue 18): 3 viewers × 10,000 runs in the original format under one fleet-mode server.
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config/config.ts";
import { startServer } from "../src/cli/serve.ts";
import { Fleet } from "../src/fleet/fleet.ts";
import { createLogger } from "../src/util/log.ts";
import { finish, report, reportValue, spawnServe, time } from "./lib.ts";

const N = Number(process.env.BENCH_RUNS ?? 10000);
const HOSTS = 3;
const base = join(tmpdir(), `rn-bench-fleet-${process.pid}`);
const envFor = (name: string) => ({ PATH: process.env.PATH ?? "", HOME: join(base, name, "home"), XDG_CONFIG_HOME: join(base, name, "home/.config"), XDG_CACHE_HOME: join(base, name, "home/.cache") });

/** Writes N runs as SDK 0.6 would (meta, status, summary, assets, events); ids differ per host except every 100th (copied data). */
function generate(root: string, host: number): void {
  const statuses = ["finished", "finished", "finished", "failed", "running"];
  for (let i = 0; i < N; i++) {
    const path = `team${i % 5}/project${Math.floor(i / 5) % 10}`;
    const day = i % 100 === 0 ? "20250100" : `2025010${host + 1}`;
    const id = `${day}_${String(100000 + (i % 900000)).slice(-6)}_${((i * 2654435761) % 0xffffff).toString(16).padStart(6, "0")}`;
    const dir = join(root, "runs", path, id);
    mkdirSync(dir, { recursive: true });
    const created = 1735689600 + i * HOSTS + host;
    writeFileSync(join(dir, "meta.json"), JSON.stringify({ id, path, alias: null, created_at: created, python: "3.11.2", platform: "Linux", hostname: `host${host}`, pid: 100 + i }));
    const status = statuses[i % statuses.length];
    writeFileSync(join(dir, "status.json"), JSON.stringify(status === "running" ? { status, started_at: created } : { status, started_at: created, ended_at: created + 60 }));
    writeFileSync(join(dir, "summary.json"), JSON.stringify({ best_metric_value: (i % 1000) / 1000, best_metric_name: "acc" }));
    writeFileSync(join(dir, "events.jsonl"), `{"ts": ${created}, "type": "metrics", "data": {"loss": 0.5, "global_step": 1, "time": ${created}}}\n`);
  }
}

rmSync(base, { recursive: true, force: true });
const g0 = performance.now();
const roots = Array.from({ length: HOSTS }, (_, h) => join(base, `host${h}`, "root"));
for (const [h, r] of roots.entries()) generate(r, h);
console.log(`generated ${HOSTS} × ${N} runs in ${((performance.now() - g0) / 1000).toFixed(1)} s under ${base}`);

const viewers = await Promise.all(roots.map((r, h) => spawnServe(r, envFor(`host${h}`))));
const ports = viewers.map((v) => Number(new URL(v.url).port));
const fleet = new Fleet(viewers.map((v, h) => ({ label: `host${h}`, baseUrl: v.url })), createLogger("warn"));
mkdirSync(join(base, "fleet-root"), { recursive: true });
const server = await startServer(loadConfig({ root: join(base, "fleet-root"), host: "127.0.0.1", port: 0, logLevel: "warn" }, envFor("fleet")), { fleet });
const url = server.url;

async function listIds(): Promise<{ id: string; host: string }[]> {
  const r = await fetch(`${url}/api/runs`);
  return (await r.json()) as { id: string; host: string }[];
}
const t0 = performance.now();
for (;;) {
  if (fleet.hosts.every((h) => h.online)) break;
  await Bun.sleep(20);
}
console.log(`every host online after ${(performance.now() - t0).toFixed(0)} ms`);
// a host answers while its first index still builds (after 2 s): its list is partial until the fleet reads it again.
// Measured before this wait, a loaded machine printed 5,024 of 6,000 runs; the merged list says so in X-Index-State.
for (;;) {
  const r = await fetch(`${url}/api/runs?limit=1`);
  await r.arrayBuffer();
  if (r.headers.get("x-index-state") === "ready") break;
  await Bun.sleep(50);
}
console.log(`every host's index ready after ${(performance.now() - t0).toFixed(0)} ms`);
const all = await listIds();
reportValue("merged list size (3 × N runs)", all.length, HOSTS * N, "runs", "higher");

const get = (p: string) => async () => {
  const r = await fetch(url + p);
  if (!r.ok) throw new Error(`${p}: ${r.status}`);
  await r.arrayBuffer();
};
report(`GET /api/runs (merged, ${HOSTS * N} runs) warm`, await time(get("/api/runs"), 20), 100);
report("GET /api/runs?limit=50&sort=created_time", await time(get("/api/runs?limit=50&sort=created_time&order=desc&include=summary"), 20), 100);
report("GET /api/runs/{qualified id}", await time(get(`/api/runs/${encodeURIComponent(all.find((r) => r.id.includes("--"))!.id)}`), 50), 20);

// a change on a host (a new run) visible through the fleet's live socket
const ws = new WebSocket(url.replace("http", "ws") + "/api/live");
await new Promise((r) => (ws.onopen = r));
ws.send(JSON.stringify({ op: "subscribe_runs" }));
const seen = new Map<string, number>();
ws.onmessage = (ev) => {
  const m = JSON.parse(String(ev.data));
  if (m.type === "run_changed" && !seen.has(m.run_id)) seen.set(m.run_id, performance.now());
};
await Bun.sleep(300);
const changeMs: number[] = [];
for (let k = 0; k < 5; k++) {
  const h = k % HOSTS;
  const id = `20260101_00000${k}_bbbbb${k}`;
  const dir = join(roots[h], "runs", "live", id);
  const t = performance.now();
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "meta.json"), JSON.stringify({ id, path: "live", created_at: Date.now() / 1000 }));
  writeFileSync(join(dir, "status.json"), JSON.stringify({ status: "running", started_at: Date.now() / 1000 }));
  appendFileSync(join(dir, "events.jsonl"), "");
  for (;;) {
    if (seen.has(id)) break;
    if (performance.now() - t > 5000) break;
    await Bun.sleep(5);
  }
  changeMs.push((seen.get(id) ?? performance.now()) - t);
}
report("new run on a host → run_changed on the fleet socket", changeMs, 1000);
ws.close();

// a killed host leaves the list, and comes back after a restart on the same port
viewers[1].proc.kill();
await viewers[1].proc.exited;
const k0 = performance.now();
while ((await listIds()).some((r) => r.host === "host1") && performance.now() - k0 < 10000) await Bun.sleep(20);
report("killed host out of the merged list", [performance.now() - k0], 5000);
const restarted = await spawnServe(roots[1], envFor("host1"), ["--port", String(ports[1])]);
const b0 = performance.now();
while (!(await listIds()).some((r) => r.host === "host1") && performance.now() - b0 < 30000) await Bun.sleep(50);
report("restarted host back in the merged list", [performance.now() - b0], 15000);

await server.stop();
for (const v of [viewers[0], restarted, viewers[2]]) {
  v.proc.kill();
  await v.proc.exited;
}
rmSync(base, { recursive: true, force: true });
finish();
