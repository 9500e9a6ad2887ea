// End-to-end tests of the web UI: the compiled binary on a copy of the 0.6 fixtures plus SDK-written runs, driven in Chromium.
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { cpSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Page } from "playwright-core";
import { init } from "../../src/sdk/runicorn.ts";
import type { Run } from "../../src/sdk/run.ts";
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
// The metrics endpoints come from another part of the project; chart tests need them.
const hasMetrics = (await fetch(`${server.url}/api/runs/${chartA.id}/keys`)).status === 200;
const hasLogsSocket = await new Promise<boolean>((res) => {
  const ws = new WebSocket(`${server.url.replace("http", "ws")}/api/runs/${live.id}/logs/ws`);
  const timer = setTimeout(() => (ws.close(), res(false)), 3000);
  ws.onmessage = () => (clearTimeout(timer), ws.close(), res(true));
  ws.onerror = () => (clearTimeout(timer), res(false));
});

afterAll(async () => {
  live.finish();
  await browser.close();
  await server.stop();
  tmp.cleanup();
});

async function open(path: string, viewport?: { width: number; height: number }): Promise<Page> {
  const page = await browser.newPage(viewport);
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  (page as Page & { jsErrors?: string[] }).jsErrors = errors;
  await page.goto(server.url + path);
  return page;
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

  it.skipIf(!hasLogsSocket)("streams a log line appended while the page is open", async () => {
    const page = await open(`/runs/${live.id}?tab=logs`);
    const box = page.locator('[data-testid="log-box"]');
    await box.getByText("first line from the SDK").waitFor();
    live.logText("appended during the test \u001b[32mgreen\u001b[0m");
    live.flushNow();
    await box.getByText("appended during the test").waitFor({ timeout: 10_000 });
    expect(await box.locator("span", { hasText: /^green$/ }).evaluate((el) => getComputedStyle(el).color)).toBe("rgb(13, 188, 121)");
    await shot(page, "run-logs");
    await page.close();
  });

  it.skipIf(!hasMetrics)("draws a chart per numeric metric with its last value in the legend and a stage separator", async () => {
    const page = await open(`/runs/${chartB.id}`);
    const card = page.locator('.chart-card[data-metric="train/loss"]');
    await card.locator("canvas").waitFor();
    const painted = await card.locator("canvas").evaluate((c: HTMLCanvasElement) => {
      const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
      return n;
    });
    expect(painted).toBeGreaterThan(500);
    await until(() => card.locator(".legend-value").first().textContent(), String(Number((2 / 300).toPrecision(5))));
    expect(await card.locator(".chart").getAttribute("data-markers")).toBe("151");
    expect(await page.locator(".chart-card[data-metric]").count()).toBe(3);
    await shot(page, "run-charts");
    await page.close();
  });

  it.skipIf(!hasMetrics)("refetches the zoomed window at full resolution after a drag", async () => {
    const page = await open(`/runs/${chartB.id}`);
    const over = page.locator('.chart-card[data-metric="train/loss"] .u-over');
    await over.waitFor();
    const box = (await over.boundingBox())!;
    const zoomed = page.waitForRequest((r) => r.url().includes("/series?") && r.url().includes("from=") && r.url().includes("to="));
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    const req = await zoomed;
    const u = new URL(req.url());
    expect(Number(u.searchParams.get("from"))).toBeLessThan(Number(u.searchParams.get("to")));
    await page.getByTestId("reset-zoom").waitFor();
    await shot(page, "run-charts-zoomed");
    await page.close();
  });

  it.skipIf(!hasMetrics)("shows an image logged with the Python SDK", async () => {
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
  it.skipIf(!hasMetrics)("overlays two runs on their common metrics with one colour each", async () => {
    const page = await open(`/compare?runs=${chartA.id},${chartB.id}`);
    const card = page.locator('.chart-card[data-metric="train/loss"]');
    await card.locator("canvas").waitFor();
    expect(await card.locator(".legend-item").count()).toBe(2);
    const colours = await card.locator(".legend-item .swatch").evaluateAll((els) => els.map((e) => getComputedStyle(e).backgroundColor));
    expect(new Set(colours).size).toBe(2);
    await shot(page, "compare");
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
      expect((page as Page & { jsErrors?: string[] }).jsErrors).toEqual([]);
      await shot(page, name);
      await page.close();
    });
  }

  it("shows an empty root's runs page, then a clear message once the server is gone", async () => {
    const dir = tempDir();
    const emptyRoot = join(dir.dir, "root");
    mkdirSync(emptyRoot);
    const other = await startBinary(emptyRoot, dir.dir);
    const page = await browser.newPage();
    try {
      await page.goto(other.url + "/");
      await page.getByText("No runs yet").waitFor();
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
