// End-to-end tests of the web UI: the compiled binary on a copy of the 0.6 fixtures plus SDK-written runs, driven in Chromium.
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { cpSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Page } from "playwright-core";
import { init } from "../../src/sdk/runicorn.ts";
import type { Run } from "../../src/sdk/run.ts";
import { installFakeSmi } from "../system/helpers.ts";
import { type BinaryServer, PROJECT, launchBrowser, shot, startBinary, tempDir } from "./browser.ts";

// Browser steps wait for the page; give each test room on a shared 2-core machine.
setDefaultTimeout(30_000);

const FIXTURE = resolve(PROJECT, "../shared/fixtures/runicorn-0.6/rn-probe");
const BASELINE = "20261129_032935_bfa7ab"; // fixture run cv/yolo, alias "baseline"
const DELETED = "20261129_032935_21171f"; // fixture run already in the recycle bin

// One temp root for the whole file: the fixture plus runs written by the real SDKs.
const tmp = tempDir();
const root = join(tmp.dir, "root");
cpSync(FIXTURE, root, { recursive: true });
mkdirSync(join(tmp.dir, "home"), { recursive: true });
const sdkEnv = { HOME: join(tmp.dir, "home"), RUNICORN_ON: "1" };

function writeChartRun(alias: string, scale: number): Run {
  const run = init({ path: "e2e/charts", storage: root, alias, env: sdkEnv, cwd: tmp.dir, heartbeatSeconds: 0, handleSignals: false }) as Run;
  for (let step = 1; step <= 300; step++) {
    const stage = step <= 150 ? "train" : "val";
    run.log({ "train/loss": scale / step, "train/acc": 1 - scale / (step + 1), lr: 0.001 }, { step, stage });
  }
  run.summary({ final_loss: scale / 300 });
  run.finish();
  return run;
}
const chartA = writeChartRun("chart-a", 1);
const chartB = writeChartRun("chart-b", 2);
// A run that stays "running" (this test process is its pid) and gets log lines during a test.
const live = init({ path: "e2e/live", storage: root, alias: "live-run", env: sdkEnv, cwd: tmp.dir, heartbeatSeconds: 0, handleSignals: false }) as Run;
live.logText("first line from the SDK");
live.log({ loss: 1 }, { step: 1 });
live.flushNow();

// An image logged by the Python SDK (standard library only) — a 2×2 PNG.
const PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==";
const py = Bun.spawnSync(
  [
    "python3",
    "-c",
    `import base64, runicorn as rn\nr = rn.init(path="e2e/images", storage=${JSON.stringify(root)}, alias="image-run")\nr.log_image("samples/pred", base64.b64decode(${JSON.stringify(PNG_B64)}), step=5, caption="two by two")\nr.log({"loss": 0.5}, step=5)\nr.finish()\nprint(r.id)`,
  ],
  { env: { ...process.env, ...sdkEnv, PYTHONPATH: join(PROJECT, "sdk/python") }, cwd: tmp.dir },
);
const imageRunId = py.stdout.toString().trim().split("\n").pop() ?? "";

const server: BinaryServer = await startBinary(root, tmp.dir);
const browser = await launchBrowser();

afterAll(async () => {
  live.finish();
  await browser.close();
  await server.stop();
  tmp.cleanup();
});

type TestPage = Page & { jsErrors: string[]; sockets: string[] };

/** Opens `path` in a new tab that records script errors and the WebSockets it opens. */
async function open(path: string, viewport?: { width: number; height: number }, base = server.url): Promise<TestPage> {
  const page = (await browser.newPage(viewport)) as TestPage;
  page.jsErrors = [];
  page.sockets = [];
  page.on("pageerror", (e) => page.jsErrors.push(e.message));
  page.on("websocket", (ws) => page.sockets.push(new URL(ws.url()).pathname));
  await page.goto(base + path);
  return page;
}

/** Number of coloured pixels on a canvas (a drawn chart has many). */
function paintedPixels(c: HTMLCanvasElement): number {
  const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
  return n;
}

/** Drags across the middle third of a chart's plot area (scrolled into view first: the mouse only reaches the viewport). */
async function dragAcross(page: Page, card: string): Promise<void> {
  const over = page.locator(`${card} .u-over`);
  await over.waitFor();
  await over.scrollIntoViewIfNeeded();
  const box = (await over.boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
}

/** The `data` of the events.jsonl line of `run` at `step`. */
function eventAt(run: Run, step: number): { ts: number; data: Record<string, unknown> } {
  for (const line of readFileSync(join(run.runDir, "events.jsonl"), "utf8").split("\n")) {
    if (!line.trim()) continue;
    const ev = JSON.parse(line) as { ts: number; type: string; data: Record<string, unknown> };
    if (ev.type === "metrics" && ev.data.global_step === step) return ev;
  }
  throw new Error(`no metrics event at step ${step}`);
}

async function api(path: string, init?: RequestInit): Promise<any> {
  const res = await fetch(server.url + path, init);
  return res.json();
}

/** Waits until `read()` deep-equals `expected` (the page updates asynchronously), then asserts it. */
async function until<T>(read: () => Promise<T> | T, expected: T, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last: T = await read();
  while (!Bun.deepEquals(last, expected) && Date.now() < end) {
    await Bun.sleep(100);
    last = await read();
  }
  expect(last).toEqual(expected);
}

const rows = (page: Page) => page.locator('[data-testid="runs-table"] tbody tr');

describe("runs page", () => {
  it("lists the fixture's runs and the SDK's runs with header counts", async () => {
    const page = await open("/");
    await page.locator(`tr[data-run-id="${BASELINE}"]`).waitFor();
    const stats = await api("/api/stats/runs");
    expect(await page.locator('[data-stat="total"] .stat-value').textContent()).toBe(String(stats.total));
    expect(await rows(page).count()).toBe(stats.total);
    expect(await page.locator(`tr[data-run-id="${BASELINE}"] .alias`).textContent()).toBe("baseline");
    await expect(page.locator(`tr[data-run-id="${DELETED}"]`).count()).resolves.toBe(0);
    await shot(page, "runs");
    await page.close();
  });

  it("filters by search and status, keeps the filters in the URL, and survives a reload", async () => {
    const page = await open("/");
    await rows(page).first().waitFor();
    await page.getByLabel("Search runs").fill("chart-");
    await page.waitForURL(/q=chart-/);
    await until(() => rows(page).count(), 2);
    await page.reload();
    await until(() => rows(page).count(), 2);
    expect(await page.getByLabel("Search runs").inputValue()).toBe("chart-");
    await page.goto(`${server.url}/?status=running`);
    await until(() => rows(page).count(), 1);
    expect(await rows(page).first().getAttribute("data-run-id")).toBe(live.id);
    await page.close();
  });

  it("filters by a path chosen in the tree", async () => {
    const page = await open("/");
    await page.locator('.tree-row[data-path="e2e"]').click();
    await page.waitForURL(/path=e2e/);
    const expected = (await api("/api/runs?path=e2e")).length;
    await until(() => rows(page).count(), expected);
    expect(expected).toBe(4);
    await shot(page, "runs-path-filter");
    await page.close();
  });

  it("sorts on the server when a column header is clicked, in both directions", async () => {
    const page = await open("/");
    await rows(page).first().waitFor();
    await page.locator('th[data-sort="id"]').click();
    await page.waitForURL(/sort=id/);
    const desc = (await api("/api/runs?sort=id&order=desc")).map((r: { id: string }) => r.id);
    await until(async () => rows(page).evaluateAll((trs) => trs.map((t) => t.getAttribute("data-run-id"))), desc);
    await page.locator('th[data-sort="id"]').click();
    await page.waitForURL(/order=asc/);
    await until(async () => rows(page).evaluateAll((trs) => trs.map((t) => t.getAttribute("data-run-id"))), [...desc].reverse());
    await page.close();
  });

  it("saves an inline alias edit and a new tag so that both persist", async () => {
    const page = await open("/");
    const row = page.locator(`tr[data-run-id="${chartA.id}"]`);
    await row.locator(".col-alias").dblclick();
    await row.getByLabel("Alias").fill("renamed in browser");
    await row.getByLabel("Alias").press("Enter");
    await until(async () => (await api(`/api/runs/${chartA.id}`)).alias, "renamed in browser");
    await row.getByLabel("Add tag").click();
    await row.getByLabel("New tag").fill("best");
    await row.getByLabel("New tag").press("Enter");
    await until(async () => (await api(`/api/runs/${chartA.id}`)).tags, ["best"]);
    await page.reload();
    await until(() => page.locator(`tr[data-run-id="${chartA.id}"] .alias`).textContent(), "renamed in browser");
    expect(await page.locator(`tr[data-run-id="${chartA.id}"] .tag`).first().textContent()).toContain("best");
    await page.close();
  });

  it("moves a run to the recycle bin and restores it", async () => {
    const page = await open("/");
    const row = page.locator(`tr[data-run-id="${chartB.id}"]`);
    await row.getByLabel(`Select ${chartB.id}`).check();
    await page.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("button", { name: "Move to recycle bin" }).click();
    await until(() => row.count(), 0);
    expect((await api("/api/recycle-bin")).deleted_runs.map((r: { id: string }) => r.id)).toContain(chartB.id);
    await page.getByRole("button", { name: "Recycle bin" }).click();
    const binRow = page.locator(`[data-testid="recycle-table"] tr[data-run-id="${chartB.id}"]`);
    await binRow.click();
    await page.locator('[data-testid="asset-refs"]').waitFor();
    await shot(page, "recycle-bin");
    await binRow.getByRole("button", { name: "Restore" }).click();
    await until(() => binRow.count(), 0);
    await page.keyboard.press("Escape");
    await until(() => page.locator(`tr[data-run-id="${chartB.id}"]`).count(), 1);
    expect((await api("/api/recycle-bin")).deleted_runs.map((r: { id: string }) => r.id)).not.toContain(chartB.id);
    await page.close();
  });

  it("fits a narrow window without horizontal page scrolling", async () => {
    const page = await open("/", { width: 390, height: 800 });
    await rows(page).first().waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await shot(page, "runs-narrow");
    await page.close();
  });
});

describe("run page", () => {
  it("opens directly at /runs/<id> (a refresh works) and shows the header facts", async () => {
    const page = await open(`/runs/${BASELINE}`);
    await until(() => page.locator('[data-testid="run-title"]').textContent(), "baseline");
    expect(await page.locator(".facts").textContent()).toContain("cv/yolo");
    expect(await page.locator('[data-testid="run-summary"]').textContent()).toContain("val_acc");
    await page.reload();
    await until(() => page.locator('[data-testid="run-title"]').textContent(), "baseline");
    await shot(page, "run");
    await page.goto(`${server.url}/runs/${BASELINE}?tab=assets`);
    await page.locator('[data-testid="assets-table"]').waitFor();
    await shot(page, "run-assets");
    await page.close();
  });

  it("says clearly when a run does not exist", async () => {
    const page = await open("/runs/20990101_000000_ffffff");
    await page.getByText("Run not found").waitFor();
    await page.close();
  });

  it("streams a log line appended while the page is open, over the page's one live socket", async () => {
    const page = await open(`/runs/${live.id}?tab=logs`);
    const box = page.locator('[data-testid="log-box"]');
    await box.getByText("first line from the SDK").waitFor();
    await page.locator('[data-testid="logs-conn"]', { hasText: "live" }).waitFor();
    live.logText("appended during the test \u001b[32mgreen\u001b[0m");
    live.flushNow();
    await box.getByText("appended during the test").waitFor({ timeout: 10_000 });
    expect(await box.locator("span", { hasText: /^green$/ }).evaluate((el) => getComputedStyle(el).color)).toBe("rgb(13, 188, 121)");
    // the tail came once: switching tabs and back shows each line once, still on the same socket
    await page.getByRole("tab", { name: "Charts" }).click();
    await page.getByRole("tab", { name: "Logs" }).click();
    await box.getByText("appended during the test").waitFor();
    expect(await box.getByText("first line from the SDK").count()).toBe(1);
    expect(page.sockets).toEqual(["/api/live"]);
    await shot(page, "run-logs");
    await page.close();
  });

  it("adds a point logged by the SDK to the open chart without a reload", async () => {
    const page = await open(`/runs/${live.id}`);
    const chart = page.locator('.chart-card[data-metric="loss"] .chart');
    await until(() => chart.getAttribute("data-points"), "1");
    live.log({ loss: 0.25 }, { step: 2 });
    live.flushNow();
    await until(() => chart.getAttribute("data-points"), "2");
    await until(() => page.locator('.chart-card[data-metric="loss"] .legend-value').first().textContent(), "0.25");
    // the card's best value and the header's step count follow live rows too
    const steps = page.locator(".fact", { hasText: "Steps" }).locator("dd");
    const before = Number(await steps.textContent());
    live.log({ loss: 0.0001 }, { step: 3 });
    live.flushNow();
    await until(() => chart.getAttribute("data-points"), "3");
    await until(async () => /best 0\.0001\b/.test((await page.locator('.chart-card[data-metric="loss"] [data-testid="chart-stats"]').textContent()) ?? ""), true);
    await until(async () => Number(await steps.textContent()), before + 1);
    expect(page.sockets).toEqual(["/api/live"]);
    await page.close();
  });

  it("draws a chart per numeric metric with its last value in the legend and a stage separator", async () => {
    const page = await open(`/runs/${chartB.id}`);
    const card = page.locator('.chart-card[data-metric="train/loss"]');
    await card.locator("canvas").waitFor();
    await until(() => card.locator(".chart").getAttribute("data-points"), "300");
    expect(await card.locator("canvas").evaluate(paintedPixels)).toBeGreaterThan(500);
    await until(() => card.locator(".legend-value").first().textContent(), String(Number((2 / 300).toPrecision(5))));
    expect(await card.locator(".chart").getAttribute("data-markers")).toBe("151");
    expect(await page.locator(".chart-card[data-metric]").count()).toBe(3);
    // y ticks of a constant 0.001 are told apart (not "0.002, 0.002, 0.001, …")
    const lrTicks = await page.locator('.chart-card[data-metric="lr"] .u-axis').nth(1).locator(".u-value").allTextContents();
    expect(new Set(lrTicks).size).toBe(lrTicks.length);
    expect(page.jsErrors).toEqual([]);
    await shot(page, "run-charts");
    await page.close();
  });

  it("puts the stage separator at the stage's first time on a time axis", async () => {
    const page = await open(`/runs/${chartB.id}?x=time`);
    const chart = page.locator('.chart-card[data-metric="train/loss"] .chart');
    await until(() => chart.getAttribute("data-points"), "300");
    const ev = eventAt(chartB, 151);
    await until(async () => Number(await chart.getAttribute("data-markers")), (ev.data.time as number) ?? ev.ts);
    expect(await chart.locator("canvas").evaluate(paintedPixels)).toBeGreaterThan(500);
    await shot(page, "run-charts-time");
    await page.close();
  });

  it("refetches the zoomed window at full resolution after a drag, and keeps the run's best and last", async () => {
    const page = await open(`/runs/${chartB.id}`);
    const card = '.chart-card[data-metric="train/loss"]';
    const chart = page.locator(`${card} .chart`);
    await until(() => chart.getAttribute("data-points"), "300");
    const zoomed = page.waitForRequest((r) => r.url().includes("/series?") && r.url().includes("from=") && r.url().includes("to="));
    await dragAcross(page, card);
    const u = new URL((await zoomed).url());
    const from = Number(u.searchParams.get("from"));
    const to = Number(u.searchParams.get("to"));
    expect(from).toBeGreaterThan(1);
    expect(to).toBeLessThan(300);
    expect(from).toBeLessThan(to);
    await page.getByTestId("reset-zoom").waitFor();
    // every step of the window, not a sample of the whole run
    const inWindow = Math.floor(to) - Math.ceil(from) + 1;
    await until(() => chart.getAttribute("data-points"), String(inWindow));
    expect(Number(await chart.getAttribute("data-first-x"))).toBe(Math.ceil(from));
    expect(await page.locator(`${card} .chart-stats`).textContent()).toContain(`last ${Number((2 / 300).toPrecision(5))}`);
    await shot(page, "run-charts-zoomed");
    await page.getByTestId("reset-zoom").click();
    await until(() => chart.getAttribute("data-points"), "300");
    await page.close();
  });

  it("shows an image logged with the Python SDK", async () => {
    expect(imageRunId).toMatch(/^\d{8}_\d{6}_[0-9a-f]{6}$/);
    const page = await open(`/runs/${imageRunId}?tab=images`);
    const img = page.locator('.image-card[data-image-key="samples/pred"] img');
    await img.waitFor();
    await until(() => img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth), 2);
    expect(await page.locator(".image-caption").textContent()).toContain("two by two");
    await shot(page, "run-images");
    await page.close();
  });
});

describe("compare page", () => {
  it("overlays two runs on their common metrics with one colour each", async () => {
    const page = await open(`/compare?runs=${chartA.id},${chartB.id}`);
    const card = page.locator('.chart-card[data-metric="train/loss"]');
    await card.locator("canvas").waitFor();
    expect(await card.locator(".legend-item").count()).toBe(2);
    const colours = await card.locator(".legend-item .swatch").evaluateAll((els) => els.map((e) => getComputedStyle(e).backgroundColor));
    expect(new Set(colours).size).toBe(2);
    // both runs log steps 1..300: one shared x column, the last values of each run in the legend
    await until(() => card.locator(".chart").getAttribute("data-points"), "300");
    await until(() => card.locator(".legend-value").allTextContents(), [String(Number((1 / 300).toPrecision(5))), String(Number((2 / 300).toPrecision(5)))]);
    expect(await card.locator("canvas").evaluate(paintedPixels)).toBeGreaterThan(500);
    await shot(page, "compare");
    await page.close();
  });

  it("refetches both runs' zoomed window after a drag", async () => {
    const page = await open(`/compare?runs=${chartA.id},${chartB.id}`);
    const card = '.chart-card[data-metric="train/loss"]';
    await until(() => page.locator(`${card} .chart`).getAttribute("data-points"), "300");
    const zoomed = page.waitForRequest((r) => r.url().includes("/api/compare/series?") && r.url().includes("from=") && r.url().includes("to="));
    await dragAcross(page, card);
    const u = new URL((await zoomed).url());
    expect(u.searchParams.get("runs")).toBe(`${chartA.id},${chartB.id}`);
    const from = Number(u.searchParams.get("from"));
    const to = Number(u.searchParams.get("to"));
    expect(from).toBeLessThan(to);
    await until(() => page.locator(`${card} .chart`).getAttribute("data-points"), String(Math.floor(to) - Math.ceil(from) + 1));
    await page.getByTestId("reset-zoom").waitFor();
    await page.close();
  });

  it("asks for at least two runs when fewer are given", async () => {
    const page = await open(`/compare?runs=${chartA.id}`);
    await page.getByText("Pick at least two runs").waitFor();
    await page.close();
  });
});

describe("other pages", () => {
  for (const [path, name] of [
    ["/system", "system"],
    ["/remote", "remote"],
    ["/settings", "settings"],
  ] as const) {
    it(`renders ${path} without a script error`, async () => {
      const page = await open(path);
      await page.locator(".page").first().waitFor();
      await page.waitForLoadState("networkidle");
      expect(page.jsErrors).toEqual([]);
      await shot(page, name);
      await page.close();
    });
  }

  it("draws GPU charts that start with the sampler's history before the page opened", async () => {
    const dir = tempDir();
    const smi = installFakeSmi(dir.dir, "rtx4090-535");
    const emptyRoot = join(dir.dir, "root");
    mkdirSync(emptyRoot);
    const other = await startBinary(emptyRoot, dir.dir, [], smi.binDir);
    let page: TestPage | undefined;
    try {
      // wait for two samples in the server's history (the sampler runs every 2 s)
      let hist: { ts: number[] } = { ts: [] };
      const end = Date.now() + 20_000;
      while (hist.ts.length < 2 && Date.now() < end) {
        hist = await (await fetch(`${other.url}/api/gpu/history`)).json();
        if (hist.ts.length < 2) await Bun.sleep(250);
      }
      expect(hist.ts.length).toBeGreaterThanOrEqual(2);
      page = await open("/system", undefined, other.url);
      const gpuChart = page.locator('.chart-card[data-gpu="0"] .chart');
      await gpuChart.waitFor();
      await until(async () => Number(await gpuChart.getAttribute("data-first-x")) <= hist.ts[0], true);
      expect(Number(await gpuChart.getAttribute("data-points"))).toBeGreaterThanOrEqual(2);
      expect(await page.locator(".chart-card[data-gpu] canvas").first().evaluate(paintedPixels)).toBeGreaterThan(300);
      expect(await page.getByText("No NVIDIA GPU").count()).toBe(0);
      expect(page.jsErrors).toEqual([]);
      await shot(page, "system-gpu");
    } finally {
      await page?.close();
      await other.stop();
      dir.cleanup();
    }
  });

  it("shows an empty root's runs page, then a clear message once the server is gone", async () => {
    const dir = tempDir();
    const emptyRoot = join(dir.dir, "root");
    mkdirSync(emptyRoot);
    const other = await startBinary(emptyRoot, dir.dir);
    const page = await browser.newPage();
    try {
      await page.goto(other.url + "/");
      await page.getByText("No runs yet").waitFor();
      // the empty state names the root the server reads, the first thing to check when runs are missing
      await until(() => page.getByTestId("storage-root").locator("code").first().textContent(), emptyRoot);
      await shot(page, "runs-empty");
      await other.stop();
      await page.getByTitle("Reload").click();
      await page.getByText(/Cannot reach the Runicorn server/).first().waitFor({ timeout: 15_000 });
      await shot(page, "runs-unreachable");
    } finally {
      await page.close();
      await other.stop();
      dir.cleanup();
    }
  });
});
