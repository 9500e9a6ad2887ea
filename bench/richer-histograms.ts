// Histogram query benchmark (issue 17): one run with 10,000 steps × 64 bins in histograms.jsonl, queried through a
// real `serve` over HTTP: the default query (200 steps spread over all 10,000) against the ≤ 20 ms target, then
// the same query while the file grows (each request follows an appended step), and the first (cold) query; then a
// run with 1,000 steps: the first histogram query after a restart, as the run page makes it (after the run's keys),
// answered from the offset index stored in the index db (≤ 20 ms).
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { finish, report, spawnServe, stats, time } from "./lib.ts";

const STEPS = 10_000;
const BINS = 64;
const COLD_STEPS = 1_000;
const RESTARTS = 7;

function line(step: number): string {
  const edges = Array.from({ length: BINS + 1 }, (_, i) => -3 + (6 * i) / BINS + step * 1e-4);
  const counts = Array.from({ length: BINS }, (_, i) => Math.round(1000 * Math.exp(-(((i - BINS / 2) / 10) ** 2))));
  return JSON.stringify({ ts: 1700000000 + step, step, key: "fc1/weight", edges, counts, count: counts.reduce((a, b) => a + b, 0), sum: 0, min: edges[0], max: edges[BINS] }) + "\n";
}

/** Runs the histogram benchmarks; true when the target is met. */
export async function benchHistograms(): Promise<boolean> {
  const base = join(tmpdir(), `rn-bench-hist-${process.pid}`);
  const runDir = join(base, "root", "runs", "bench", "hist", "20250101_000000_b1b1b1");
  mkdirSync(runDir, { recursive: true });
  const now = Date.now() / 1000;
  writeFileSync(join(runDir, "meta.json"), JSON.stringify({ id: "20250101_000000_b1b1b1", path: "bench/hist", created_at: now }));
  writeFileSync(join(runDir, "status.json"), JSON.stringify({ status: "finished", started_at: now, ended_at: now }));
  let body = "";
  for (let s = 0; s < STEPS; s++) body += line(s);
  writeFileSync(join(runDir, "histograms.jsonl"), body);
  console.log(`generated ${STEPS.toLocaleString("en-US")} steps × ${BINS} bins (${(body.length / 1e6).toFixed(1)} MB histograms.jsonl)`);
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: base, XDG_CONFIG_HOME: join(base, "cfg"), XDG_CACHE_HOME: join(base, "cache") };
  const { proc, url } = await spawnServe(join(base, "root"), env);
  try {
    const q = `${url}/api/runs/20250101_000000_b1b1b1/histograms?key=fc1%2Fweight`;
    let ok = false;
    for (let i = 0; i < 200 && !ok; i++) {
      const r = await fetch(`${url}/api/runs/20250101_000000_b1b1b1`);
      ok = r.status === 200;
      await r.arrayBuffer();
      if (!ok) await Bun.sleep(50);
    }
    if (!ok) throw new Error("the run never appeared in the index");
    const t0 = performance.now();
    const first = await (await fetch(q)).json();
    console.log(`first (cold) query, the whole file indexed and the index stored: ${(performance.now() - t0).toFixed(1)} ms, ${first.steps.length} of ${first.total} steps`);
    if (first.total !== STEPS || first.steps[0].counts.length !== BINS) throw new Error(`wrong answer: ${first.total} steps`);
    const warm = await time(async () => (await fetch(q)).arrayBuffer(), 50);
    const met = report(`histogram query, ${STEPS} steps × ${BINS} bins (200 steps returned)`, warm, 20);
    let step = STEPS;
    const growing = await time(async () => {
      appendFileSync(join(runDir, "histograms.jsonl"), line(step++));
      const j = await (await fetch(q)).json();
      if (j.total !== step) throw new Error(`appended step not seen: ${j.total} vs ${step}`);
    }, 30);
    const g = report("histogram query, one step appended before each request", growing, 20);
    const all = await time(async () => (await fetch(`${q}&points=10000`)).arrayBuffer(), 10, 1);
    const a = stats(all);
    console.log(`(info) all 10,000 steps in one answer (points=10000): median ${a.median.toFixed(1)} ms, p95 ${a.p95.toFixed(1)} ms`);
    return met && g;
  } finally {
    proc.kill();
    await proc.exited;
    rmSync(base, { recursive: true, force: true });
  }
}

/** Writes a run with `steps` histogram steps into `root`; returns its id. */
function writeRun(root: string, id: string, steps: number): void {
  const runDir = join(root, "runs", "bench", "cold", id);
  mkdirSync(runDir, { recursive: true });
  const now = Date.now() / 1000;
  writeFileSync(join(runDir, "meta.json"), JSON.stringify({ id, path: "bench/cold", created_at: now }));
  writeFileSync(join(runDir, "status.json"), JSON.stringify({ status: "finished", started_at: now, ended_at: now }));
  let body = "";
  for (let s = 0; s < steps; s++) body += line(s);
  writeFileSync(join(runDir, "histograms.jsonl"), body);
}

/**
 * The first histogram query of a fresh server process, `RESTARTS` times: the offset index is read from the index
 * db, not rebuilt from the file. The first start (which builds and stores the index) is reported apart.
 */
export async function benchColdHistograms(): Promise<boolean> {
  const base = join(tmpdir(), `rn-bench-hist-cold-${process.pid}`);
  const root = join(base, "root");
  const id = "20250101_000000_c0c0c0";
  writeRun(root, id, COLD_STEPS);
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: base, XDG_CONFIG_HOME: join(base, "cfg"), XDG_CACHE_HOME: join(base, "cache") };
  const ms: number[] = [];
  const first: number[] = [];
  console.log(`(info) load average of this machine: ${loadavg().map((l) => l.toFixed(2)).join(" ")} on ${availableParallelism()} cores`);
  try {
    for (let i = 0; i <= 2 * RESTARTS; i++) {
      const { proc, url } = await spawnServe(root, env);
      try {
        for (let k = 0; k < 200; k++) {
          const r = await fetch(`${url}/api/runs/${id}`);
          await r.arrayBuffer();
          if (r.status === 200) break;
          await Bun.sleep(50);
        }
        // as the run page does before its Histograms tab: the run's keys (the metric-code warm-up of a fresh server
        // steps aside once a metric query has come); every other restart asks for the histograms first of all
        if (i % 2 === 1) await (await fetch(`${url}/api/runs/${id}/keys`)).arrayBuffer();
        const t0 = performance.now();
        const j = await (await fetch(`${url}/api/runs/${id}/histograms?key=fc1%2Fweight`)).json();
        const took = performance.now() - t0;
        if (j.total !== COLD_STEPS || j.steps.length !== 200) throw new Error(`wrong answer: ${j.total} steps`);
        if (i === 0) console.log(`(info) first query ever (index built and stored): ${took.toFixed(1)} ms`);
        else (i % 2 === 1 ? ms : first).push(took);
      } finally {
        proc.kill();
        await proc.exited;
      }
    }
    const f = stats(first);
    console.log(
      `(info) the histograms asked for before anything else (the server's metric-code warm-up still running): median ${f.median.toFixed(1)} ms, p95 ${f.p95.toFixed(1)} ms`,
    );
    // our own goal beyond the (its ≤ 20 ms is the query above): printed, not judged
    const c = stats(ms);
    console.log(
      `(info) cold histogram query after a restart, as the run page asks, ${COLD_STEPS} steps × ${BINS} bins (${RESTARTS} restarts): median ${c.median.toFixed(1)} ms, p95 ${c.p95.toFixed(1)} ms (our own goal: ≤ 20 ms)`,
    );
    return true;
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  await benchHistograms();
  await benchColdHistograms();
  finish();
}
