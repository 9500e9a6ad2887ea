// Measures the UI in Chromium against the compiled binary: runs page with 10,000 runs, a 20 × 1M-step run page, and append-to-chart delay.
// Usage: bun bench/ui-pages.ts [--runs 10000] [--steps 1000000] [--metrics 20] [--keep]
import { appendFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { launchBrowser, startBinary } from "../test/ui/browser.ts";
import { finish, miss, report } from "./lib.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg("runs", 10_000);
const STEPS = arg("steps", 1_000_000);
const METRICS = arg("metrics", 20);
const LOADS = 7;
const DATA = join(import.meta.dir, ".data", "ui");
const root = join(DATA, `root-${RUNS}-${STEPS}-${METRICS}`);

function runId(i: number): string {
  return `20250101_${String(100000 + (i % 900000)).slice(-6)}_${i.toString(16).padStart(6, "0").slice(-6)}`;
}

/** Writes RUNS small runs under 50 paths, plus one big run, in the 0.6 layout (once; reused by later runs). */
function generate(): string {
  const bigId = "20250102_000000_b16b16";
  if (existsSync(join(root, ".complete"))) return bigId;
  rmSync(root, { recursive: true, force: true });
  const t0 = performance.now();
  for (let i = 0; i < RUNS; i++) {
    const path = `proj${i % 10}/exp${i % 50}`;
    const dir = join(root, "runs", path, runId(i));
    mkdirSync(dir, { recursive: true });
    const t = 1735689600 + i * 60;
    writeFileSync(join(dir, "meta.json"), JSON.stringify({ id: runId(i), path, alias: i % 7 === 0 ? `alias-${i}` : null, created_at: t, hostname: "bench", pid: 1 }, null, 2));
    writeFileSync(join(dir, "status.json"), JSON.stringify({ status: i % 13 === 0 ? "failed" : "finished", started_at: t, ended_at: t + 600 }));
    writeFileSync(join(dir, "summary.json"), JSON.stringify({ best_metric_name: "acc", best_metric_value: (i % 1000) / 1000, best_metric_mode: "max", final_loss: 1 / (i + 1) }));
  }
  const bigDir = join(root, "runs", "big", bigId);
  mkdirSync(bigDir, { recursive: true });
  writeFileSync(join(bigDir, "meta.json"), JSON.stringify({ id: bigId, path: "big", alias: "big-run", created_at: 1735776000, hostname: "bench", pid: 1 }));
  writeFileSync(join(bigDir, "status.json"), JSON.stringify({ status: "finished", started_at: 1735776000, ended_at: 1735790000 }));
  const events = join(bigDir, "events.jsonl");
  writeFileSync(events, "");
  const names = Array.from({ length: METRICS }, (_, k) => (k < METRICS / 2 ? `train/m${k}` : `val/m${k}`));
  let buf = "";
  for (let s = 1; s <= STEPS; s++) {
    const ts = 1735776000 + s * 0.01;
    let data = "";
    for (let k = 0; k < METRICS; k++) data += `"${names[k]}": ${(Math.sin(s / (500 + k * 37)) + k + Math.random() * 0.1).toFixed(5)}, `;
    buf += `{"ts": ${ts}, "type": "metrics", "data": {${data}"global_step": ${s}, "time": ${ts}, "stage": "${s <= STEPS / 2 ? "train" : "val"}"}}\n`;
    if (buf.length > 8_000_000) {
      appendFileSync(events, buf);
      buf = "";
    }
  }
  appendFileSync(events, buf);
  writeFileSync(join(root, ".complete"), "");
  console.log(`generated ${RUNS} runs + one ${METRICS} × ${STEPS} run in ${((performance.now() - t0) / 1000).toFixed(1)} s under ${root}`);
  return bigId;
}

const bigId = generate();
const server = await startBinary(root, DATA);
const browser = await launchBrowser();
try {
  // Let the index catch up before timing pages (first start indexes everything).
  for (let i = 0; i < 600; i++) {
    const r = await fetch(`${server.url}/api/stats/runs`).then((x) => x.json()).catch(() => null);
    if (r && r.total >= RUNS + 1) break;
    await Bun.sleep(500);
  }

  const runsPage: number[] = [];
  for (let i = 0; i < LOADS; i++) {
    const page = await browser.newPage();
    const t0 = performance.now();
    await page.goto(`${server.url}/`);
    await page.locator('[data-testid="runs-table"] tbody tr').first().waitFor({ timeout: 30_000 });
    await page.locator('[data-stat="total"] .stat-value', { hasText: /\d/ }).waitFor();
    runsPage.push(performance.now() - t0);
    await page.close();
  }
  report(`runs page interactive (${RUNS} runs)`, runsPage, 1000);

  const hasMetrics = (await fetch(`${server.url}/api/runs/${bigId}/keys`)).status === 200;
  if (!hasMetrics) {
    console.log("run page / live append: MISSED — this binary has no /api/runs/{id}/keys (metrics endpoints not built in)");
    miss("run page figures (no metrics endpoints in the binary)");
  } else {
    // Wait until the big run is fully ingested.
    for (let i = 0; i < 1200; i++) {
      const k = await fetch(`${server.url}/api/runs/${bigId}/keys`).then((x) => x.json());
      if (k.last_step >= STEPS) break;
      await Bun.sleep(500);
    }
    const first: number[] = [];
    const all: number[] = [];
    for (let i = 0; i < LOADS; i++) {
      const page = await browser.newPage();
      const t0 = performance.now();
      await page.goto(`${server.url}/runs/${bigId}`);
      await page.locator(".chart-card canvas").first().waitFor({ timeout: 30_000 });
      await page.waitForFunction(() => [...document.querySelectorAll(".chart[data-points]")].some((c) => Number((c as HTMLElement).dataset.points) > 0));
      first.push(performance.now() - t0);
      // Every chart card inside the viewport has drawn its points.
      await page.waitForFunction(() => {
        const cards = [...document.querySelectorAll(".chart-card")].filter((c) => c.getBoundingClientRect().top < innerHeight);
        return cards.length > 0 && cards.every((c) => Number((c.querySelector(".chart") as HTMLElement | null)?.dataset.points ?? 0) > 0);
      }, undefined, { timeout: 30_000 });
      all.push(performance.now() - t0);
      await page.close();
    }
    report(`run page first chart (${METRICS} × ${STEPS})`, first, 1000);
    report(`run page all visible charts (${METRICS} × ${STEPS})`, all, 2000);

    // Append-to-point delay on a running run's open chart.
    const liveDir = join(root, "runs", "live", "20250103_000000_11fe11");
    mkdirSync(liveDir, { recursive: true });
    writeFileSync(join(liveDir, "meta.json"), JSON.stringify({ id: "20250103_000000_11fe11", path: "live", created_at: Date.now() / 1000, hostname: "bench", pid: process.pid }));
    writeFileSync(join(liveDir, "status.json"), JSON.stringify({ status: "running", started_at: Date.now() / 1000 }));
    writeFileSync(join(liveDir, "events.jsonl"), `{"ts": ${Date.now() / 1000}, "type": "metrics", "data": {"loss": 1.0, "global_step": 1, "time": ${Date.now() / 1000}}}\n`);
    const page = await browser.newPage();
    await page.goto(`${server.url}/runs/20250103_000000_11fe11`);
    await page.locator('.chart-card[data-metric="loss"] .chart[data-points="1"]').waitFor({ timeout: 30_000 });
    const delays: number[] = [];
    for (let s = 2; s <= 12; s++) {
      const t0 = performance.now();
      appendFileSync(join(liveDir, "events.jsonl"), `{"ts": ${Date.now() / 1000}, "type": "metrics", "data": {"loss": ${1 / s}, "global_step": ${s}, "time": ${Date.now() / 1000}}}\n`);
      await page.locator(`.chart-card[data-metric="loss"] .chart[data-points="${s}"]`).waitFor({ timeout: 10_000 });
      delays.push(performance.now() - t0);
    }
    report("SDK append → point on open chart", delays, 1000);
    await page.close();
  }
} finally {
  await browser.close();
  await server.stop();
  if (process.argv.includes("--clean")) rmSync(root, { recursive: true, force: true });
}
finish();
