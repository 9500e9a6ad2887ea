// Chromium tests of the assets page, archive import in Settings, both languages on every page, the per-core view, notices and the tqdm view.
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { cpSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import type { Page } from "playwright-core";
import { writeSdkAssets } from "../helpers/sdk-assets.ts";
import { init } from "../../src/sdk/runicorn.ts";
import type { Run } from "../../src/sdk/run.ts";
import { BINARY, type BinaryServer, PROJECT, launchBrowser, shot, startBinary, tempDir } from "./browser.ts";
import { en } from "../../ui/src/i18n/en.ts";
import { zhCN } from "../../ui/src/i18n/zh-CN.ts";

setDefaultTimeout(60_000);

const FIXTURES = resolve(PROJECT, "../shared/fixtures/runicorn-0.6");
const tmp = tempDir();
const root = join(tmp.dir, "root");
cpSync(join(FIXTURES, "rn-probe"), root, { recursive: true });
mkdirSync(join(tmp.dir, "home"), { recursive: true });
const sdkIds = writeSdkAssets(root, tmp.dir);

// A running run whose log has a tqdm loop in progress and a finished one.
const sdkEnv = { HOME: join(tmp.dir, "home"), RUNICORN_ON: "1" };
const live = init({ path: "ui/tqdm", storage: root, alias: "tqdm-run", env: sdkEnv, cwd: tmp.dir, heartbeatSeconds: 0, handleSignals: false }) as Run;
live.logText("epoch 1 starts");
for (let i = 0; i <= 10; i++) live.logText(`train: ${i * 10}%|${"█".repeat(i)}${" ".repeat(10 - i)}| ${i * 10}/100 [00:0${i}<00:10, 9.9it/s]`);
live.logText("epoch 1 done");
for (let i = 0; i <= 4; i++) live.logText(`val: ${i * 10}%|${"█".repeat(i)}${" ".repeat(10 - i)}| ${i}/10 [00:0${i}<00:05, 2.0it/s]`);
live.flushNow();
// A finished run with more log lines than the page loads at first, so the tail notice shows.
const chatty = init({ path: "ui/logs", storage: root, alias: "chatty", env: sdkEnv, cwd: tmp.dir, heartbeatSeconds: 0, handleSignals: false }) as Run;
for (let i = 0; i < 10_050; i++) chatty.logText(`line ${i}`);
chatty.finish();

// Two finished runs with a dense train series, a sparse validation series and stages; one more run ends interrupted.
function stagedRun(alias: string, scale: number): Run {
  const r = init({ path: "ui/charts", storage: root, alias, env: sdkEnv, cwd: tmp.dir, heartbeatSeconds: 0, handleSignals: false }) as Run;
  for (let step = 1; step <= 400; step++) {
    r.log({ "train/loss": scale / step + (step % 7) * 0.01 }, { step, stage: step <= 200 ? "train" : "val" });
    if (step % 50 === 0) r.log({ "val/loss": scale / step }, { step, stage: step <= 200 ? "train" : "val" });
  }
  r.finish();
  return r;
}
const staged = [stagedRun("staged-a", 1), stagedRun("staged-b", 2)];
const stopped = init({ path: "ui/charts", storage: root, alias: "stopped", env: sdkEnv, cwd: tmp.dir, heartbeatSeconds: 0, handleSignals: false }) as Run;
stopped.log({ loss: 1 }, { step: 1 });
stopped.finish("interrupted");

// A run whose process (this test) lives but whose heartbeat is five minutes old: "stalled".
const STALLED = "20250101_000000_57a11e";
const stalledDir = join(root, "runs", "ui", "stalled", STALLED);
mkdirSync(stalledDir, { recursive: true });
const nowS = Date.now() / 1000;
writeFileSync(join(stalledDir, "meta.json"), JSON.stringify({ id: STALLED, path: "ui/stalled", alias: "stalled-run", created_at: nowS - 900, hostname: hostname(), pid: process.pid }));
writeFileSync(join(stalledDir, "status.json"), JSON.stringify({ status: "running", started_at: nowS - 900, heartbeat_at: nowS - 300 }));

// An export of another root's runs, made by the binary itself, for the import test.
const exportRoot = join(tmp.dir, "export-root");
cpSync(join(FIXTURES, "rn-data"), exportRoot, { recursive: true });
const archive = join(tmp.dir, "exported.zip");
const exp = Bun.spawnSync([BINARY, "export", "--root", exportRoot, "--out", archive, "--json"], { env: { ...process.env, HOME: join(tmp.dir, "home") } });
if (!existsSync(archive)) throw new Error(`export failed: ${exp.stderr.toString()}`);
const exported = JSON.parse(exp.stdout.toString()) as { run_ids?: string[] };
const junk = join(tmp.dir, "broken.zip");
writeFileSync(junk, "this is not a zip archive");

const server: BinaryServer = await startBinary(root, tmp.dir);
const browser = await launchBrowser();

afterAll(async () => {
  live.finish();
  await browser.close();
  await server.stop();
  tmp.cleanup();
});

type TestPage = Page & { jsErrors: string[] };

/** Opens `path` in a new tab; the language is pinned to `locale` on every load unless it is null (the profile is shared). */
async function open(path: string, locale: string | null = "en"): Promise<TestPage> {
  const page = (await browser.newPage()) as TestPage;
  page.jsErrors = [];
  page.on("pageerror", (e) => page.jsErrors.push(e.message));
  if (locale) await page.addInitScript((l) => localStorage.setItem("runicorn_locale", l), locale);
  await page.goto(server.url + path);
  return page;
}

describe("the assets page", () => {
  it("lists the SDK's code snapshot, config, dataset, pretrained model and outputs with sizes, fingerprints and runs", async () => {
    const page = await open("/assets");
    await page.waitForSelector("[data-testid=assets-library]");
    await page.waitForSelector('tr[data-asset-name="digits"]');
    const digits = page.locator('tr[data-asset-name="digits"]');
    expect(await digits.getAttribute("data-asset-kind")).toBe("dataset");
    expect(await digits.innerText()).toContain("9 B");
    expect(await digits.locator(".run-link").allInnerTexts()).toEqual(expect.arrayContaining(["assets-a", "assets-b"]));
    for (const kind of ["code", "config", "dataset", "pretrained", "output"]) expect(await page.locator(`tr[data-asset-kind="${kind}"]`).count()).toBeGreaterThan(0);
    const backbone = page.locator('tr[data-asset-name="backbone"]');
    expect(await backbone.innerText()).toContain("4.00 KB");
    expect(await backbone.locator("code").getAttribute("title")).toMatch(/^[0-9a-f]{64}$/);
    expect(await page.getByTestId("dedupe-saved").innerText()).toMatch(/KB/);
    await shot(page, "assets-page");
    expect(page.jsErrors).toEqual([]);
    await page.close();
  });

  it("downloads a dataset as the zip of its manifest and filters by kind and search through the URL", async () => {
    const page = await open("/assets");
    await page.waitForSelector('tr[data-asset-name="digits"]');
    const [dl] = await Promise.all([page.waitForEvent("download"), page.locator('tr[data-asset-name="digits"] [data-testid=asset-download]').click()]);
    expect(dl.suggestedFilename()).toBe("digits.zip");
    const bytes = await Bun.file((await dl.path())!).bytes();
    expect([...bytes.slice(0, 2)]).toEqual([0x50, 0x4b]);
    await page.locator('button[data-kind="pretrained"]').click();
    await page.waitForURL(/kind=pretrained/);
    expect(await page.locator("tr[data-asset-kind]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-asset-kind")))).toEqual(["pretrained", "pretrained"]);
    await page.close();
  });

  it("opens an asset's details with every run that uses it at /assets/:id", async () => {
    const page = await open("/assets");
    await page.waitForSelector('tr[data-asset-name="digits"]');
    await page.locator('tr[data-asset-name="digits"]').click();
    await page.waitForURL(/\/assets\/[A-Za-z0-9_-]+/);
    const detail = page.locator("tr.asset-detail");
    for (const id of sdkIds) expect(await detail.locator(`a[href="/runs/${id}"]`).count()).toBe(1);
    const again = await open(new URL(page.url()).pathname);
    await again.waitForSelector("tr.asset-detail");
    expect(await again.locator("tr.asset-detail").innerText()).toContain("sha256_manifest");
    await page.close();
    await again.close();
  });
});

describe("archive import in Settings", () => {
  it("uploads an export with progress, then lists the imported runs as links", async () => {
    const page = await open("/settings");
    await page.waitForSelector("[data-testid=archive-import]");
    await page.locator("[data-testid=import-file]").setInputFiles(archive);
    await page.waitForSelector("[data-testid=import-result]", { timeout: 30_000 });
    const links = await page.locator("[data-testid=import-result] a").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
    expect(links.length).toBeGreaterThan(0);
    if (exported.run_ids) expect(links.sort()).toEqual(exported.run_ids.map((id) => `/runs/${id}`).sort());
    await shot(page, "settings-import");
    await page.locator("[data-testid=import-result] a").first().click();
    await page.waitForSelector("[data-testid=run-title]");
    await page.close();
  });

  it("shows the API's own words when an archive is refused", async () => {
    const page = await open("/settings");
    await page.locator("[data-testid=import-file]").setInputFiles(junk);
    const err = await page.waitForSelector("[data-testid=import-error]");
    const text = await err.innerText();
    expect(text).toContain("broken.zip");
    const api = await fetch(`${server.url}/api/import/archive`, { method: "POST", body: (() => {
      const f = new FormData();
      f.append("file", new Blob(["this is not a zip archive"]), "broken.zip");
      return f;
    })() });
    expect(api.status).toBeGreaterThanOrEqual(400);
    const detail = ((await api.json()) as { detail: string }).detail;
    expect(text).toContain(detail);
    await page.close();
  });
});

const PAGES = ["/", `/runs/${sdkIds[0]}`, `/compare?runs=${sdkIds.join(",")}`, "/assets", "/system", "/remote", "/settings", "/no-such-page"];
const KEYS = Object.keys(en);

describe("both languages", () => {
  for (const [locale, messages] of [["en", en], ["zh-CN", zhCN]] as const) {
    it(`renders every page in ${locale} without a raw message key`, async () => {
      for (const path of PAGES) {
        const page = await open(path, locale);
        await page.waitForSelector("nav.nav a");
        await page.waitForTimeout(400);
        const text = await page.locator("body").innerText();
        const raw = KEYS.filter((k) => text.includes(k));
        expect({ path, raw }).toEqual({ path, raw: [] });
        expect(await page.locator("nav.nav").innerText()).toContain(messages["nav.assets"]);
        expect(await page.evaluate(() => document.documentElement.lang)).toBe(locale);
        expect({ path, errors: page.jsErrors }).toEqual({ path, errors: [] });
        await page.close();
      }
    });
  }

  it("switches language from the header and remembers the choice", async () => {
    const page = await open("/assets", null);
    await page.evaluate(() => localStorage.setItem("runicorn_locale", "en"));
    await page.reload();
    await page.waitForSelector("[data-testid=assets-library]");
    expect(await page.locator(".page-title").innerText()).toBe("Assets");
    await page.locator("select.lang-select").selectOption("zh-CN");
    await page.waitForFunction(() => document.querySelector(".page-title")?.textContent === "资产");
    expect(await page.locator("nav.nav").innerText()).toContain("设置");
    await page.reload();
    await page.waitForSelector("[data-testid=assets-library]");
    expect(await page.locator(".page-title").innerText()).toBe("资产");
    await page.evaluate(() => localStorage.setItem("runicorn_locale", "en"));
    await page.close();
  });

  it("picks Chinese from the browser's languages when nothing is stored", async () => {
    const ctx = await browser.browser.newContext({ locale: "zh-CN" });
    const page = await ctx.newPage();
    await page.goto(server.url + "/settings");
    await page.waitForSelector(".page-title");
    expect(await page.locator(".page-title").innerText()).toBe(zhCN["settings.title"]);
    await ctx.close();
  });
});

describe("the system page", () => {
  it("shows each core's utilisation as a value, a bar and a filling history strip", async () => {
    const page = await open("/system");
    await page.waitForSelector("[data-testid=per-core] .core-cell");
    const cores = await page.locator("[data-testid=per-core] .core-cell").count();
    const monitor = (await (await fetch(`${server.url}/api/system/monitor`)).json()) as { cpu: { per_core: number[] } };
    expect(cores).toBe(monitor.cpu.per_core.length);
    expect(await page.locator(".core-cell .core-value").first().innerText()).toMatch(/^\d+%$/);
    await page.waitForFunction(() => [...document.querySelectorAll(".core-cell:first-child .core-strip i")].filter((i) => (i as HTMLElement).style.background !== "transparent").length >= 2, undefined, { timeout: 15_000 });
    await shot(page, "system-per-core");
    await page.close();
  });
});

describe("the run page's logs", () => {
  it("shows the latest state of each tqdm bar by default, finished bars included, and every update on demand", async () => {
    const page = await open(`/runs/${live.id}?tab=logs`);
    const box = page.getByTestId("log-box");
    await page.waitForFunction(() => document.querySelector("[data-testid=log-box]")?.textContent?.includes("val: 40%"));
    const text = await box.innerText();
    expect(text).toContain("train: 100%");
    expect(text).not.toContain("train: 50%");
    expect(text).toContain("epoch 1 done");
    await page.getByTestId("tqdm-mode").selectOption("all");
    await page.waitForFunction(() => document.querySelector("[data-testid=log-box]")?.textContent?.includes("train: 50%"));
    await page.getByTestId("tqdm-mode").selectOption("hide");
    await page.waitForFunction(() => !document.querySelector("[data-testid=log-box]")?.textContent?.includes("train:"));
    await page.close();
  });
});

describe("notices", () => {
  it("stay dismissed after a reload, and come back from Settings", async () => {
    const page = await open(`/runs/${chatty.id}?tab=logs`);
    const notice = page.locator('[data-notice="logs-tail"]');
    await notice.waitFor();
    expect(await notice.innerText()).toContain("10,000");
    await notice.getByRole("button").click();
    await notice.waitFor({ state: "detached" });
    await page.reload();
    await page.waitForFunction(() => document.querySelector("[data-testid=log-box]")?.textContent?.includes("line 10049"));
    expect(await notice.count()).toBe(0);
    await page.goto(`${server.url}/settings`);
    await page.getByText(en["settings.notices.restore"]).click();
    await page.goto(`${server.url}/runs/${chatty.id}?tab=logs`);
    await notice.waitFor();
    await page.close();
  });
});

describe("run page and compare views (issue 20)", () => {
  it("restores smoothing, log scale, metric filter and zoom from a shared URL, and writes changes back", async () => {
    const id = staged[0].id;
    const zoomed = (p: Page) => p.waitForRequest((r) => r.url().includes("/series?") && r.url().includes("from=20") && r.url().includes("to=300"));
    const page = await open("/");
    const req = zoomed(page);
    await page.goto(`${server.url}/runs/${id}?smooth=0.5&log=train%2Floss&filter=train&zoom=20,300`);
    await req;
    await page.locator('[data-metric="train/loss"] .chart').waitFor();
    expect(await page.getByLabel("Smoothing").inputValue()).toBe("0.5");
    expect(await page.getByLabel("Filter metrics").inputValue()).toBe("train");
    expect(await page.locator('[data-metric="val/loss"]').count()).toBe(0);
    expect(await page.locator('[data-metric="train/loss"] button[aria-pressed="true"]').count()).toBe(1);
    await page.getByTestId("reset-zoom").waitFor();
    // the smoothed chart shows the raw last value beside the smoothed one
    expect(await page.locator('[data-metric="train/loss"] .legend-label').allInnerTexts()).toEqual(["train/loss (raw)", "train/loss (smoothed)"]);
    await page.getByLabel("Filter metrics").fill("val");
    await page.waitForURL(/filter=val/);
    await page.getByTestId("reset-zoom").click();
    await page.waitForURL((u) => !u.search.includes("zoom="));
    expect(page.url()).toContain("smooth=0.5");
    await page.close();
  });

  it("exports a PNG with room for the title, legend and axis labels around the plot", async () => {
    const page = await open(`/runs/${staged[0].id}`);
    const card = page.locator('[data-metric="train/loss"]');
    await card.locator(".chart canvas").waitFor();
    const canvas = await card.locator(".chart canvas").evaluate((c: HTMLCanvasElement) => ({ w: c.width, h: c.height }));
    const [dl] = await Promise.all([page.waitForEvent("download"), card.getByRole("button", { name: "PNG" }).click()]);
    const png = await Bun.file((await dl.path())!).bytes();
    const view = new DataView(png.buffer, png.byteOffset);
    expect(view.getUint32(16)).toBeGreaterThan(canvas.w);
    expect(view.getUint32(20)).toBeGreaterThan(canvas.h + 40);
    await page.close();
  });

  it("draws both stage labels apart and keeps the separators", async () => {
    const page = await open(`/runs/${staged[0].id}`);
    const chart = page.locator('[data-metric="train/loss"] .chart');
    await chart.locator("canvas").waitFor();
    expect(await chart.getAttribute("data-markers")).toBe("201");
    await shot(page, "run-stage-labels");
    await page.close();
  });

  it("smooths and log-scales Compare from its URL", async () => {
    const page = await open(`/compare?runs=${staged.map((r) => r.id).join(",")}&smooth=0.6&log=1`);
    await page.locator('[data-metric="train/loss"] .chart canvas').waitFor();
    expect(await page.getByLabel("Log scale").isChecked()).toBe(true);
    expect(await page.getByLabel("Smoothing").inputValue()).toBe("0.6");
    await page.getByLabel("Log scale").uncheck();
    await page.waitForURL((u) => !u.search.includes("log=1"));
    expect(page.url()).toContain("smooth=0.6");
    await page.close();
  });

  it("shows a running run with a live process but an old heartbeat as stalled", async () => {
    const page = await open(`/runs/${STALLED}`);
    await page.locator('[data-status="stalled"]').waitFor();
    expect((await (await fetch(`${server.url}/api/runs/${STALLED}`)).json()).status).toBe("running");
    // the list and the stats cards use the same rule as the run page
    await page.goto(`${server.url}/?path=ui/stalled`);
    await page.locator(`tr:has-text("stalled-run") [data-status="stalled"]`).waitFor();
    await page.locator('[data-stat="stalled"] .stat-value').waitFor();
    expect(Number(await page.locator('[data-stat="stalled"] .stat-value').innerText())).toBeGreaterThanOrEqual(1);
    await page.close();
  });

  it("counts interrupted runs in the stats cards and says 'live' only on a running run", async () => {
    const stats = (await (await fetch(`${server.url}/api/stats/runs`)).json()) as { interrupted: number };
    expect(stats.interrupted).toBeGreaterThanOrEqual(1);
    const page = await open("/");
    await page.locator('[data-stat="interrupted"] .stat-value').waitFor();
    await until(async () => await page.locator('[data-stat="interrupted"] .stat-value').innerText(), String(stats.interrupted));
    await page.goto(`${server.url}/runs/${stopped.id}?tab=logs`);
    await page.locator('[data-testid="logs-conn"]', { hasText: en["logs.ended"] }).waitFor();
    await page.goto(`${server.url}/runs/${live.id}?tab=logs`);
    await page.locator('[data-testid="logs-conn"]', { hasText: en["logs.live"] }).waitFor();
    await page.close();
  });
});

/** Polls `read` until it returns `want` (10 s). */
async function until(read: () => Promise<string>, want: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await read()) === want) return;
    await Bun.sleep(100);
  }
  expect(await read()).toBe(want);
}
