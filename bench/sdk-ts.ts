// Measures TS SDK run.log() calls/s for a 2-metric dict, with and without a stage, against the 1,000,000/s target.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { init, type Run } from "../src/sdk/runicorn.ts";
import { finish, reportValue } from "./lib.ts";

const TARGET = 1_000_000;
const CALLS = Number(process.env.BENCH_CALLS ?? 1_000_000);
const REPS = Number(process.env.BENCH_REPS ?? 9);

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/**
 * One repetition: a fresh run, CALLS log() calls, then finish(); returns calls/s of the log loop
 * (wall clock, including the flushes it triggers). The values follow a training run: loss decays
 * from 1 to 0.001, acc rises from 0 to 1.
 */
function once(root: string, withStage: boolean): { wall: number; cpu: number } {
  const run = init({ path: "bench/sdk", storage: root, heartbeatSeconds: 5 }) as Run;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  if (withStage) {
    const opts = { stage: "train" };
    for (let i = 0; i < CALLS; i++) run.log({ loss: 1 / (1 + i / 1000), acc: i / CALLS }, opts);
  } else {
    for (let i = 0; i < CALLS; i++) run.log({ loss: 1 / (1 + i / 1000), acc: i / CALLS });
  }
  const t1 = performance.now();
  const c = process.cpuUsage(c0);
  run.finish();
  const size = statSync(join(run.runDir, "events.jsonl")).size;
  if (size < CALLS * 80) throw new Error(`events.jsonl too small: ${size} bytes`);
  rmSync(run.runDir, { recursive: true, force: true });
  return { wall: CALLS / ((t1 - t0) / 1000), cpu: CALLS / ((c.user + c.system) / 1e6) };
}

// BENCH_DIR picks the filesystem (e.g. /dev/shm to leave the disk out of the figure)
const root = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), "rn-bench-sdk-"));
try {
  const runtime = process.versions.bun ? `bun ${process.versions.bun}` : `node ${process.versions.node}`;
  console.log(
    `TS SDK log() bench: ${CALLS.toLocaleString("en")} calls x ${REPS} reps, 2-metric dict, ${runtime}, ` +
      `dir ${root}, load average ${loadavg()[0].toFixed(2)}`,
  );
  once(root, false); // warm-up (JIT)
  for (const withStage of [false, true]) {
    const runs = Array.from({ length: REPS }, () => once(root, withStage));
    const rates = runs.map((r) => r.wall).sort((a, b) => a - b);
    const cpuRates = runs.map((r) => r.cpu).sort((a, b) => a - b);
    const median = percentile(rates, 50);
    // p95 of the time per repetition = the 5th percentile of the rates
    const p95 = percentile(rates, 5);
    const fmt = (n: number) => Math.round(n).toLocaleString("en");
    reportValue(`log() ${withStage ? "with stage" : "without stage"}, median`, median, TARGET, "calls/s", "higher");
    console.log(`${"".padEnd(44)} (p95 ${fmt(p95)} calls/s, median per CPU-second ${fmt(percentile(cpuRates, 50))})`);
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
finish();
