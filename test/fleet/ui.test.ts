// The runs list, compare, System and Remote pages of the embedded UI in Chromium against a fleet-mode server over three viewers.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { copyFixture, PROJECT, tempDir, waitFor } from "../helpers/server.ts";
import { launchBrowser, shot, type TestBrowser } from "../ui/browser.ts";
import { startFleetServer, Viewer, writeRun } from "./helpers.ts";

const ON_A = "20250102_000001_bbbbb1";
const ON_C = "20250103_000001_ccccc1";
const PROBE_ID = "20261129_032935_5321f2";

let tmp: ReturnType<typeof tempDir>;
let viewers: Viewer[] = [];
let fleet: Awaited<ReturnType<typeof startFleetServer>>;
let browser: TestBrowser;

beforeAll(async () => {
  // the in-process server serves the embedded UI: build it when this checkout has not yet
  if (!existsSync(join(PROJECT, "ui", "dist", "index.html"))) {
    const b = Bun.spawnSync([process.execPath, "build.ts", "--ui-only"], { cwd: PROJECT, stdout: "ignore", stderr: "inherit" });
    if (b.exitCode !== 0) throw new Error("UI build failed");
  }
  tmp = tempDir("rn-fleet-ui-");
  const a = copyFixture("rn-probe", join(tmp.dir, "a"));
  writeRun(a, "cmp", ON_A, { steps: 20 });
  const b = copyFixture("rn-probe", join(tmp.dir, "b"));
  const c = join(tmp.dir, "c");
  writeRun(c, "cmp", ON_C, { steps: 20 });
  viewers = await Promise.all([a, b, c].map((root, i) => new Viewer(root, join(tmp.dir, `env${i}`)).start()));
  fleet = await startFleetServer([
    { label: "gpu-a", baseUrl: viewers[0].url },
    { label: "gpu-b", baseUrl: viewers[1].url },
    { label: "gpu-c", baseUrl: viewers[2].url },
  ]);
  await waitFor(() => fleet.fleet.hosts.every((h) => h.online), 15000, "every host online");
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await fleet?.server.stop();
  await Promise.all(viewers.map((v) => v.stop()));
  tmp?.cleanup();
});

async function open(path: string): Promise<Page & { jsErrors: string[] }> {
  const page = (await browser.newPage()) as Page & { jsErrors: string[] };
  page.jsErrors = [];
  page.on("pageerror", (e) => page.jsErrors.push(e.message));
  await page.goto(fleet.url + path);
  return page;
}

describe("fleet UI", () => {
  it("shows a Host column and filters the runs list by host", async () => {
    const page = await open("/");
    await page.locator(`tr[data-run-id="gpu-b--${PROBE_ID}"]`).waitFor();
    expect(await page.locator('th[data-sort="host"]').count()).toBe(1);
    expect(await page.locator(`tr[data-run-id="${ON_C}"] td.col-host`).textContent()).toBe("gpu-c");
    await page.locator('[data-testid="host-filter"]').selectOption("gpu-c");
    await page.waitForURL(/host=gpu-c/);
    await waitFor(async () => (await page.locator('[data-testid="runs-table"] tbody tr').count()) === 1, 5000, "one gpu-c row");
    expect(await page.locator('[data-testid="runs-table"] tbody td.col-host').allTextContents()).toEqual(["gpu-c"]);
    await shot(page, "fleet-runs");
    expect(page.jsErrors).toEqual([]);
    await page.close();
  });

  it("draws runs of two hosts on one compare chart", async () => {
    const page = await open(`/compare?runs=${ON_A},${ON_C}`);
    const answer = await page.waitForResponse((r) => r.url().includes("/api/compare/series?"));
    const body = (await answer.json()) as { runs: Record<string, unknown>; missing: string[] };
    expect(Object.keys(body.runs).sort()).toEqual([ON_A, ON_C]);
    await page.locator(".u-over").first().waitFor();
    await shot(page, "fleet-compare");
    expect(page.jsErrors).toEqual([]);
    await page.close();
  });

  it("draws a System section for every host and greys an offline host with its reason", async () => {
    const page = await open("/system");
    await waitFor(async () => (await page.locator("section.host-section").count()) === 3, 10000, "three host sections");
    expect(await page.locator("section.host-section").evaluateAll((els) => els.map((e) => e.getAttribute("data-host")))).toEqual(["gpu-a", "gpu-b", "gpu-c"]);
    for (const h of ["gpu-a", "gpu-b", "gpu-c"]) {
      const section = page.locator(`section[data-host="${h}"]`);
      expect(await section.locator("h2").first().textContent()).toContain(h);
      // each online host has its own tiles and host chart
      expect(await section.locator(".tile").count()).toBe(5);
    }
    await viewers[1].stop();
    try {
      const off = page.locator('section[data-host="gpu-b"].host-offline');
      await off.waitFor({ timeout: 10000 });
      expect(await off.getAttribute("data-state")).not.toBe("online");
      expect(await off.locator("h2").textContent()).toContain("connection refused");
      expect(await page.locator('section[data-host="gpu-a"].host-offline').count()).toBe(0);
      await shot(page, "fleet-system");
    } finally {
      await viewers[1].start();
    }
    await page.locator('section[data-host="gpu-b"]:not(.host-offline)').waitFor({ timeout: 15000 });
    expect(page.jsErrors).toEqual([]);
    await page.close();
  });

  it("lists every fleet host on the Remote page with its state, latency, runs and GPUs", async () => {
    const page = await open("/remote");
    await waitFor(async () => (await page.locator('[data-testid="fleet-hosts"] tr[data-state="online"]').count()) === 3, 10000, "three online hosts");
    const api = (await fleet.api("/api/fleet")).body as { hosts: { host: string; runs: number }[] };
    for (const h of api.hosts) {
      const row = page.locator(`[data-testid="fleet-hosts"] tr[data-host="${h.host}"]`);
      expect(await row.locator("td.col-runs").textContent()).toStartWith(String(h.runs));
      expect(await row.locator("td.col-latency").textContent()).toMatch(/ms$/);
      expect(await row.locator("td.col-gpu").textContent()).not.toBe("");
    }
    await shot(page, "fleet-remote");
    expect(page.jsErrors).toEqual([]);
    await page.close();
  });
});
