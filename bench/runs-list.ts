// Benchmark of the run list (issue 2): a generated root of 10,000 runs in nested paths, in the original's format.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { finish, report, spawnServe, time } from "./lib.ts";

const N = Number(process.env.BENCH_RUNS ?? 10000);
const base = join(tmpdir(), `rn-bench-runs-${process.pid}`);
const root = join(base, "root");
const env = { PATH: process.env.PATH ?? "", HOME: join(base, "home"), XDG_CONFIG_HOME: join(base, "home/.config"), XDG_CACHE_HOME: join(base, "home/.cache") };

/** Writes N runs as SDK 0.6 would: meta, status, summary, assets, events; nested paths; some running/failed/deleted. */
function generate(): string[] {
  const ids: string[] = [];
  const statuses = ["finished", "finished", "finished", "failed", "running"];
  for (let i = 0; i < N; i++) {
    // ~25 runs per experiment path, 400 leaf paths in three levels, as a busy lab would have
    const path = `team${i % 5}/project${Math.floor(i / 5) % 10}/exp${Math.floor(i / 50) % 8}`;
    const id = `20250101_${String(100000 + (i % 900000)).slice(-6)}_${(i * 2654435761 % 0xffffff).toString(16).padStart(6, "0")}`;
    const dir = join(root, "runs", path, id);
    mkdirSync(join(dir, "media"), { recursive: true });
    const created = 1735689600 + i;
    writeFileSync(join(dir, "meta.json"), JSON.stringify({ id, path, alias: i % 3 ? null : `alias-${i}`, created_at: created, python: "3.11.2", platform: "Linux", hostname: "bench-host", pid: 100 + i, storage_dir: "/data/x", workspace_root: "/data/ws" }, null, 2));
    const status = statuses[i % statuses.length];
    writeFileSync(join(dir, "status.json"), JSON.stringify(status === "running" ? { status, started_at: created } : { status, started_at: created, ended_at: created + 60 }, null, 2));
    writeFileSync(join(dir, "summary.json"), JSON.stringify({ final_loss: 1 / (i + 1), best_metric_value: (i % 1000) / 1000, best_metric_name: "acc", best_metric_step: i, best_metric_mode: "max" }, null, 2));
    writeFileSync(join(dir, "assets.json"), JSON.stringify({ code: {}, config: { args: { lr: 0.1 } }, datasets: [], pretrained: [], outputs: [] }, null, 2));
    writeFileSync(join(dir, "events.jsonl"), `{"ts": ${created}, "type": "metrics", "data": {"loss": 0.5, "global_step": 1, "time": ${created}}}\n`);
    if (i % 97 === 0) writeFileSync(join(dir, ".deleted"), JSON.stringify({ deleted_at: created, reason: "user_deleted", original_status: status }));
    ids.push(id);
  }
  return ids;
}

async function firstAnswer(): Promise<{ ms: number; stop: () => Promise<void>; url: string }> {
  const s = await spawnServe(root, env);
  for (;;) {
    try {
      const r = await fetch(`${s.url}/api/runs?limit=1`);
      if (r.ok) {
        await r.text();
        break;
      }
    } catch {
      // not listening yet
    }
    await Bun.sleep(5);
  }
  const ms = performance.now() - s.t0;
  return { ms, url: s.url, stop: async () => { s.proc.kill(); await s.proc.exited; } };
}

rmSync(base, { recursive: true, force: true });
const g0 = performance.now();
const ids = generate();
console.log(`generated ${N} runs in ${((performance.now() - g0) / 1000).toFixed(1)} s under ${root}`);

const fresh = await firstAnswer();
console.log(`start on a fresh index: first answer after ${fresh.ms.toFixed(0)} ms (indexing ${N} runs)`);
const url = fresh.url;
const get = (p: string) => async () => { const r = await fetch(url + p); if (!r.ok) throw new Error(`${p}: ${r.status}`); await r.arrayBuffer(); };
const results = [
  report(`GET /api/runs (full list, ${N} runs)`, await time(get("/api/runs"), 30), 50),
  report("GET /api/runs?limit=50", await time(get("/api/runs?limit=50"), 200), 3),
  report("GET /api/runs?limit=50&sort=created_time", await time(get("/api/runs?limit=50&sort=created_time&order=desc"), 100), 3),
  report("GET /api/paths?include_stats=true", await time(get("/api/paths?include_stats=true"), 100), 20),
  report("GET /api/runs/{id}", await time(get(`/api/runs/${ids[N >> 1]}`), 200), 3),
];
await fresh.stop();

const starts: number[] = [];
for (let i = 0; i < 5; i++) {
  const again = await firstAnswer();
  starts.push(again.ms);
  await again.stop();
}
results.push(report("start on an existing index → first answer", starts, 1000));
rmSync(base, { recursive: true, force: true });
finish();
