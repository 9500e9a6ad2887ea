// Measures TS SDK run.log() calls/s for a 2-metric dict, with and without a stage, against the 1,000,000/s target.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { init, type Run } from "../src/sdk/runicorn.ts";

const TARGET = 1_000_000;
const CALLS = Number(process.env.BENCH_CALLS ?? 1_000_000);
const REPS = Number(process.env.BENCH_REPS ?? 9);

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/** One repetition: a fresh run, CALLS log() calls, then finish(); returns calls/s of the log loop. */
function once(root: string, withStage: boolean): number {
  const run = init({ path: "bench/sdk", storage: root, heartbeatSeconds: 5 }) as Run;
  const t0 = performance.now();
  if (withStage) {
    const opts = { stage: "train" };
    for (let i = 0; i < CALLS; i++) run.log({ loss: 1 / (i + 1), acc: i * 1e-6 }, opts);
  } else {
    for (let i = 0; i < CALLS; i++) run.log({ loss: 1 / (i + 1), acc: i * 1e-6 });
  }
  const t1 = performance.now();
  run.finish();
  const size = statSync(join(run.runDir, "events.jsonl")).size;
  if (size < CALLS * 80) throw new Error(`events.jsonl too small: ${size} bytes`);
  rmSync(run.runDir, { recursive: true, force: true });
  return CALLS / ((t1 - t0) / 1000);
}

// BENCH_DIR picks the filesystem (e.g. /dev/shm to leave the disk out of the figure)
const root = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), "rn-bench-sdk-"));
try {
  const runtime = process.versions.bun ? `bun ${process.versions.bun}` : `node ${process.versions.node}`;
  console.log(`TS SDK log() bench: ${CALLS.toLocaleString("en")} calls x ${REPS} reps, 2-metric dict, ${runtime}`);
  once(root, false); // warm-up (JIT)
  for (const withStage of [false, true]) {
    const rates = Array.from({ length: REPS }, () => once(root, withStage)).sort((a, b) => a - b);
    const median = percentile(rates, 50);
    // p95 of per-call latency = the 5th percentile of the rates
    const p95 = percentile(rates, 5);
    const fmt = (n: number) => Math.round(n).toLocaleString("en").padStart(11);
    const verdict = median >= TARGET ? "meets" : "MISSES";
    console.log(
      `${withStage ? "with stage   " : "without stage"}  median ${fmt(median)} calls/s   p95 (slowest 5%) ${fmt(p95)} calls/s   target ${fmt(TARGET)}  → ${verdict}`,
    );
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
