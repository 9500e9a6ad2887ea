// Measures issue 16's parallel coordinates in Chromium against the compiled binary: 2,000 runs, brush redraw while dragging and the brush applied to table + scatter.
// Usage: bun bench/ui-analysis.ts [--runs 2000] [--drags 30]
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { launchBrowser, startBinary, tempDir } from "../test/ui/browser.ts";
import { finish, miss, report } from "./lib.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg("runs", 2000);
const DRAGS = arg("drags", 30);
const TARGET_MS = 50;

const tmp = tempDir("rn-bench-analysis-");
const root = join(tmp.dir, "root");
const t0 = performance.now();
for (let i = 0; i < RUNS; i++) {
  const id = `20250101_${String(i).padStart(6, "0")}_${i.toString(16).padStart(6, "0")}`;
  const dir = join(root, "runs", "sweep", id);
  mkdirSync(dir, { recursive: true });
  const t = 1735689600 + i;
  const cfg = { lr: 10 ** -(1 + (i % 5)), batch_size: [16, 32, 64, 128][i % 4], dropout: (i % 7) / 10, layers: 2 + (i % 6), optimizer: ["adam", "sgd", "adamw"][i % 3] };
  writeFileSync(join(dir, "meta.json"), JSON.stringify({ id, path: "sweep", alias: null, created_at: t, hostname: "bench", pid: 1 }));
  writeFileSync(join(dir, "status.json"), JSON.stringify({ status: "finished", started_at: t, ended_at: t + 60 }));
  writeFileSync(join(dir, "summary.json"), JSON.stringify({ final_acc: 0.5 + ((i * 7919) % 1000) / 2000 }));
  writeFileSync(join(dir, "assets.json"), JSON.stringify({ config: { args: cfg } }));
}
console.log(`generated ${RUNS} runs in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

const server = await startBinary(root, tmp.dir);
const browser = await launchBrowser();
try {
  for (let i = 0; i < 400; i++) {
    const r = await fetch(`${server.url}/api/runs?limit=1`);
    if (r.headers.get("x-index-state") === "ready" && Number(r.headers.get("x-total-count")) === RUNS) break;
    await Bun.sleep(250);
  }
  const page = await browser.newPage({ width: 1400, height: 900 });
  await page.addInitScript(() => localStorage.setItem("runicorn_locale", "en"));
  await page.goto(`${server.url}/?view=table&path=sweep`);
  await page.waitForFunction((n) => document.querySelector("[data-testid=analysis-count]")?.textContent?.startsWith(`${n} of ${n}`), RUNS, { timeout: 60_000 });
  const canvas = page.getByTestId("parallel-coords");
  await canvas.scrollIntoViewIfNeeded();
  const axes = await page.getByTestId("pc-axes").locator("input:checked").count();
  console.log(`parallel coordinates: ${RUNS} runs × ${axes + 1} axes`);
  // Each drag: mousedown on an axis, 6 moves (each a synchronous redraw, timed by the component), mouseup (timed to the next frame after the re-render).
  const result = (await page.evaluate(async (drags) => {
    const c = document.querySelector("[data-testid=parallel-coords]") as HTMLCanvasElement;
    const rect = c.getBoundingClientRect();
    const frame = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    const ev = (type: string, x: number, y: number) => c.dispatchEvent(new MouseEvent(type, { clientX: x, clientY: y, bubbles: true }));
    const move: number[] = [];
    const apply: number[] = [];
    const drawAtApply: number[] = [];
    for (let d = 0; d < drags; d++) {
      const x = rect.left + 40 + (d % 2) * ((rect.width - 80) / 5);
      const top = rect.top + 20;
      ev("mousedown", x, top);
      for (let k = 1; k <= 6; k++) {
        ev("mousemove", x, top + 20 + k * 25 + (d % 5) * 3);
        move.push(Number(c.dataset.drawMs));
      }
      const draws = c.dataset.draws;
      const t = performance.now();
      ev("mouseup", x, top + 180 + (d % 5) * 3);
      // the brush is applied when the table has re-rendered and the lines are redrawn from the new state
      while (c.dataset.draws === draws) await new Promise((r) => setTimeout(r, 1));
      apply.push(Number(c.dataset.drawnAt) - t);
      drawAtApply.push(Number(c.dataset.drawMs));
      // clear it again: a click on the axis without a drag
      ev("mousedown", x, top + 100);
      ev("mouseup", x, top + 100);
      await frame();
    }
    return { move, apply, drawAtApply, inside: Number(c.dataset.inside) };
  }, DRAGS)) as { move: number[]; apply: number[]; drawAtApply: number[]; inside: number };
  console.log(`(lines redrawn on apply: median ${[...result.drawAtApply].sort((a, b) => a - b)[result.drawAtApply.length >> 1]} ms)`);
  report(`brush redraw while dragging (${RUNS} runs)`, result.move, TARGET_MS);
  report(`brush applied: lines + table + scatter`, result.apply, TARGET_MS);
  if (result.inside !== RUNS) {
    console.log(`after clearing, ${result.inside} of ${RUNS} runs are inside: expected all`);
    miss("brush clearing");
  }
} finally {
  await browser.close();
  await server.stop();
  tmp.cleanup();
}
finish();
