// Chromium tests of issue 16's views: the runs table of chosen fields, the filter box, parallel-coordinates brushing, scatter, grouped charts and run notes.
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { type BinaryServer, launchBrowser, shot, startBinary, tempDir } from "./browser.ts";

setDefaultTimeout(120_000);

const tmp = tempDir("rn-analysis-");
const root = join(tmp.dir, "root");

interface SweepRun {
  id: string;
  lr: number;
  seed: number;
  optimizer: string;
  acc: number;
}

/** Writes a run directory the way the original SDK lays it out (meta, status, summary, assets with config, events). */
function writeRun(path: string, n: number, cfg: { lr: number; seed: number; optimizer: string }, acc: number, steps: number): string {
  const id = `20260101_${String(Math.floor(n / 10000)).padStart(6, "0")}_${n.toString(16).padStart(6, "0")}`;
  const dir = join(root, "runs", path, id);
  mkdirSync(dir, { recursive: true });
  const created = 1_767_225_600 + n;
  writeFileSync(join(dir, "meta.json"), JSON.stringify({ id, path, alias: `run-${n}`, created_at: created, hostname: "sweep-host", pid: 1 }));
  writeFileSync(join(dir, "status.json"), JSON.stringify({ status: "finished", started_at: created, ended_at: created + 60 }));
  writeFileSync(join(dir, "summary.json"), JSON.stringify({ final_acc: acc }));
  writeFileSync(join(dir, "assets.json"), JSON.stringify({ code: {}, config: { args: { lr: cfg.lr, seed: cfg.seed }, extra: { optimizer: cfg.optimizer } }, datasets: [], pretrained: [], outputs: [] }));
  const lines: string[] = [];
  for (let s = 1; s <= steps; s++) lines.push(JSON.stringify({ ts: created + s, type: "metrics", data: { loss: (1 / s) * (1 + cfg.lr * 10) + cfg.seed * 0.01, global_step: s, time: created + s } }));
  writeFileSync(join(dir, "events.jsonl"), lines.length ? `${lines.join("\n")}\n` : "");
  return id;
}

const LRS = [0.0001, 0.001, 0.01, 0.1];
const OPTS = ["adam", "sgd"];
const BIG = 10_000;
const sweep: SweepRun[] = [];
for (let n = 0; n < BIG; n++) {
  const lr = LRS[n % 4];
  const seed = Math.floor(n / 4) % 5;
  const optimizer = OPTS[Math.floor(n / 20) % 2];
  const acc = Math.round((0.5 + 0.4 * (n % 4) / 3 - seed * 0.01 + (n % 97) / 10_000) * 10_000) / 10_000;
  sweep.push({ id: writeRun("sweep", n, { lr, seed, optimizer }, acc, 0), lr, seed, optimizer, acc });
}
// a small sweep with metrics for the grouped chart: 3 learning rates × 4 seeds
const small: { id: string; lr: number }[] = [];
for (let n = 0; n < 12; n++) {
  const lr = [0.001, 0.01, 0.1][n % 3];
  small.push({ id: writeRun("small", BIG + n, { lr, seed: Math.floor(n / 3), optimizer: "adam" }, 0.8, 40), lr });
}

const server: BinaryServer = await startBinary(root, tmp.dir);
const browser = await launchBrowser();

/** Waits for the first index build to take in every run. */
async function indexed(): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const r = await fetch(`${server.url}/api/runs?limit=1`);
    if (r.headers.get("x-index-state") === "ready" && Number(r.headers.get("x-total-count")) === BIG + small.length) return;
    await Bun.sleep(250);
  }
  throw new Error("the index did not take in the sweep");
}
await indexed();

// The grouped endpoint (analysis-api's half of issue 16) may not be in this branch yet: probe it once.
const probe = await fetch(`${server.url}/api/compare/series?run_ids=${small.map((r) => r.id).join(",")}&key=loss&group_by=config.lr&agg=mean,min,max`);
const probeBody = (await probe.json().catch(() => null)) as { group_by?: unknown; series?: unknown } | null;
const groupedMissing = probe.status === 404 || !probeBody || !Array.isArray(probeBody.group_by) || !Array.isArray(probeBody.series);
if (groupedMissing) console.warn(`SKIP grouped chart: GET /api/compare/series?group_by answered ${probe.status} without the grouped shape (the analysis-api branch adds it)`);

afterAll(async () => {
  await browser.close();
  await server.stop();
  tmp.cleanup();
});

type TestPage = Page & { jsErrors: string[] };

async function open(path: string, keepStorage = false): Promise<TestPage> {
  const page = (await browser.newPage({ width: 1400, height: 900 })) as TestPage;
  page.jsErrors = [];
  page.on("pageerror", (e) => page.jsErrors.push(e.message));
  await page.addInitScript((keep) => {
    localStorage.setItem("runicorn_locale", "en");
    if (!keep && !sessionStorage.getItem("kept")) {
      for (const k of Object.keys(localStorage)) if (k.startsWith("runs_table_cols:")) localStorage.removeItem(k);
      sessionStorage.setItem("kept", "1");
    }
  }, keepStorage);
  await page.goto(server.url + path);
  return page;
}

const countText = (page: Page) => page.getByTestId("analysis-count").innerText();
const headers = (page: Page) => page.locator(".vhead [role=columnheader][data-field]").evaluateAll((els) => els.map((e) => e.getAttribute("data-field")));

describe("the runs table of chosen fields", () => {
  it("keeps only the visible rows of 10,000 runs in the DOM and shows the last run after scrolling to the end", async () => {
    const page = await open("/?view=table&path=sweep");
    await page.waitForFunction(() => document.querySelector("[data-testid=analysis-count]")?.textContent?.startsWith("10000 of 10000"), null, { timeout: 60_000 });
    const rows = await page.locator(".vbody .vrow").count();
    expect(rows).toBeGreaterThan(10);
    expect(rows).toBeLessThan(80);
    expect(await page.locator("*").count()).toBeLessThan(3000);
    await page.locator(".vbody").evaluate((el) => el.scrollTo(0, el.scrollHeight));
    // default order is the list's (newest first): the oldest run is last
    await page.waitForSelector(`.vbody .vrow[data-run-id="${sweep[0].id}"]`);
    expect(await page.locator(".vbody .vrow").count()).toBeLessThan(80);
    await shot(page, "analysis-table");
    expect(page.jsErrors).toEqual([]);
    await page.close();
  });

  it("adds and removes columns from the discovered config and summary fields and remembers them for the path", async () => {
    const page = await open("/?view=table&path=sweep");
    await page.waitForSelector(".vbody .vrow");
    expect(await headers(page)).toEqual(expect.arrayContaining(["config.lr", "config.optimizer", "config.seed", "summary.final_acc"]));
    await page.getByTestId("table-columns").click();
    const menu = page.getByTestId("columns-menu");
    await menu.locator('input[data-field="created_at"]').uncheck();
    await menu.locator('input[data-field="run_id"]').check();
    expect(await headers(page)).toContain("run_id");
    expect(await headers(page)).not.toContain("created_at");
    // config.args.* / config.extra.* duplicates of the bare keys are not offered
    expect(await menu.locator('input[data-field^="config.args."]').count()).toBe(0);
    const chosen = await headers(page);
    await page.reload();
    await page.waitForSelector(".vbody .vrow");
    expect(await headers(page)).toEqual(chosen);
    // another path has its own (default) columns
    await page.goto(`${server.url}/?view=table&path=small`);
    await page.waitForSelector(".vbody .vrow");
    expect(await headers(page)).toContain("created_at");
    await page.close();
  });

  it("sorts on the server by a config field, descending then ascending", async () => {
    const page = await open("/?view=table&path=sweep");
    await page.waitForSelector(".vbody .vrow");
    await page.locator('.vhead [data-field="summary.final_acc"]').click();
    await page.waitForURL(/sort=summary.final_acc/);
    const best = Math.max(...sweep.map((r) => r.acc));
    await page.waitForFunction((v) => document.querySelector('.vbody .vrow [data-field="summary.final_acc"]')?.textContent === v, String(best));
    expect(await page.locator('.vhead [data-field="summary.final_acc"]').getAttribute("aria-sort")).toBe("descending");
    await page.locator('.vhead [data-field="summary.final_acc"]').click();
    await page.waitForURL(/order=asc/);
    const worst = Math.min(...sweep.map((r) => r.acc));
    await page.waitForFunction((v) => document.querySelector('.vbody .vrow [data-field="summary.final_acc"]')?.textContent === v, String(worst));
    expect(page.jsErrors).toEqual([]);
    await page.close();
  });
});

describe("the filter box", () => {
  it("completes field names at the caret and applies the expression, matching a direct count", async () => {
    const page = await open("/?view=table&path=sweep");
    await page.waitForSelector(".vbody .vrow");
    const input = page.getByLabel("Filter expression");
    await input.click();
    await input.pressSequentially("config.l");
    const options = page.getByTestId("filter-completions");
    expect(await options.innerText()).toContain("config.lr");
    await input.press("Tab");
    expect(await input.inputValue()).toBe("config.lr");
    await input.pressSequentially(' >= 0.01 and config.optimizer == "adam"');
    await input.press("Enter");
    await page.waitForURL(/filter=/);
    const expected = sweep.filter((r) => r.lr >= 0.01 && r.optimizer === "adam").length;
    await page.waitForFunction((n) => document.querySelector("[data-testid=analysis-count]")?.textContent?.startsWith(`${n} of ${n}`), expected);
    await page.close();
  });

  it("warns about fields no run has", async () => {
    const page = await open(`/?view=table&path=sweep&filter=${encodeURIComponent("config.nope == 1 or config.lr > 0.05")}`);
    const warn = page.getByTestId("filter-unknown");
    await warn.waitFor();
    expect(await warn.innerText()).toContain("config.nope");
    expect(await countText(page)).toStartWith(`${sweep.filter((r) => r.lr > 0.05).length} of`);
    await page.close();
  });

  it("shows a malformed expression's message with a caret under the failing column", async () => {
    const page = await open("/?view=table&path=sweep");
    await page.waitForSelector(".vbody .vrow");
    const input = page.getByLabel("Filter expression");
    await input.fill("config.lr >= and status");
    await input.press("Escape");
    await input.press("Enter");
    const err = page.getByTestId("filter-error");
    await err.waitFor();
    const message = await err.innerText();
    const col = Number(/column (\d+)/.exec(message)?.[1]);
    expect(col).toBeGreaterThan(1);
    const caret = (await page.getByTestId("filter-caret").innerText()).split("\n");
    expect(caret[0]).toBe("config.lr >= and status");
    expect(caret[1].indexOf("^")).toBe(col - 1);
    await shot(page, "analysis-filter-error");
    await page.close();
  });
});

describe("parallel coordinates and scatter", () => {
  it("brushing an axis narrows the table and the scatter to the runs inside the brush; clearing restores them", async () => {
    const page = await open(`/?view=table&path=sweep&filter=${encodeURIComponent("config.seed == 0")}`);
    const total = sweep.filter((r) => r.seed === 0).length;
    await page.waitForFunction((n) => document.querySelector("[data-testid=analysis-count]")?.textContent?.startsWith(`${n} of ${n}`), total);
    const canvas = page.getByTestId("parallel-coords");
    await canvas.scrollIntoViewIfNeeded();
    expect(await canvas.getAttribute("data-inside")).toBe(String(total));
    const box = (await canvas.boundingBox())!;
    // the first axis is config.lr (x = left padding, linear 0.0001…0.1); drag from above its top over its upper half: only lr 0.1
    const x = box.x + 40;
    await page.mouse.move(x, box.y + 20);
    await page.mouse.down();
    await page.mouse.move(x, box.y + 28 + 60, { steps: 4 });
    await page.mouse.move(x, box.y + 28 + 130, { steps: 4 });
    await page.mouse.up();
    const inside = sweep.filter((r) => r.seed === 0 && r.lr === 0.1).length;
    await page.waitForFunction((n) => document.querySelector("[data-testid=analysis-count]")?.textContent?.startsWith(`${n} of`), inside);
    expect(await canvas.getAttribute("data-inside")).toBe(String(inside));
    expect(await page.getByTestId("scatter").getAttribute("data-points")).toBe(String(inside));
    expect(Number(await canvas.getAttribute("data-draw-ms"))).toBeGreaterThan(0);
    await shot(page, "analysis-parallel");
    await page.getByTestId("clear-brushes").click();
    await page.waitForFunction((n) => document.querySelector("[data-testid=analysis-count]")?.textContent?.startsWith(`${n} of ${n}`), total);
    expect(page.jsErrors).toEqual([]);
    await page.close();
  });
});

describe("grouped charts on Compare", () => {
  it.skipIf(groupedMissing)("draws each learning rate's mean line with a min–max band, then a ±std band", async () => {
    const page = await open(`/compare?view=grouped&group=config.lr&runs=${small.map((r) => r.id).join(",")}`);
    const chart = page.locator('[data-testid=grouped-chart][data-metric="loss"]');
    await chart.waitFor();
    const plot = chart.locator(".grouped-plot[data-bands]");
    await plot.waitFor();
    expect(await plot.getAttribute("data-groups")).toBe("3");
    expect(await plot.getAttribute("data-bands")).toBe("3");
    expect(await chart.locator("canvas").count()).toBeGreaterThan(0);
    expect(await chart.innerText()).toContain("lr=0.1");
    await shot(page, "analysis-grouped");
    await page.getByTestId("band-select").selectOption("std");
    await page.waitForURL(/band=std/);
    await chart.locator(".grouped-plot[data-bands='3']").waitFor();
    await page.getByTestId("band-select").selectOption("none");
    await chart.locator(".grouped-plot[data-bands='0']").waitFor();
    expect(page.jsErrors).toEqual([]);
    await page.close();
  });
});

describe("run notes", () => {
  it("shows the Markdown notes on the run page without running any HTML or script link in them", async () => {
    const id = small[0].id;
    const notes = '# Sweep notes\n\nLR **0.001** is `best`.\n\n- one\n- two\n\n<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> [bad](javascript:window.__pwned=3) [ok](https://example.org/x)';
    const r = await fetch(`${server.url}/api/runs/${id}`, { method: "PATCH", headers: { "content-type": "application/json" }, body: JSON.stringify({ notes }) });
    expect(r.status).toBe(200);
    const page = await open(`/runs/${id}`);
    const box = page.getByTestId("run-notes");
    await box.waitFor();
    expect(await box.locator("h3").innerText()).toBe("Sweep notes");
    expect(await box.locator("b").innerText()).toBe("0.001");
    expect(await box.locator("li").count()).toBe(2);
    expect(await box.innerText()).toContain("<script>");
    expect(await box.locator("img, script").count()).toBe(0);
    expect(await box.locator('a[href^="javascript"]').count()).toBe(0);
    expect(await box.locator('a[href="https://example.org/x"]').count()).toBe(1);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned ?? null)).toBeNull();
    await page.close();
  });
});
