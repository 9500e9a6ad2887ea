// The System tab of a running run (compiled binary, Chromium): new samples arrive over /api/live and are drawn without a reload or a poll.
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { init, type Run } from "../../src/sdk/runicorn.ts";
import { launchBrowser, startBinary, tempDir } from "./browser.ts";

setDefaultTimeout(180_000);

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const sampleCount = (run: Run) => {
  try {
    return readFileSync(join(run.runDir, "system.jsonl"), "utf8").split("\n").filter(Boolean).length;
  } catch {
    return 0; // not written yet
  }
};

describe("the System tab of a running run", () => {
  it("gains points as the SDK samples, without reloading the series", async () => {
    const root = join(tmp.dir, "root");
    // a real TS SDK run in this process: it stays running (live pid, heartbeat) and samples every 0.3 s
    const run = init({ storage: root, path: "sys/live", systemInterval: 0.3, handleSignals: false, env: { HOME: tmp.dir } }) as Run;
    const server = await startBinary(root, tmp.dir);
    const b = await launchBrowser();
    try {
      run.log({ loss: 1 }, { step: 1 });
      const t0 = Date.now();
      while (sampleCount(run) < 2 && Date.now() - t0 < 20_000) await Bun.sleep(100);
      expect(sampleCount(run)).toBeGreaterThanOrEqual(2);

      const page = await b.newPage();
      const seriesRequests: string[] = [];
      page.on("request", (r) => {
        if (r.url().includes(`/api/runs/${run.id}/series`) && r.url().includes("sys%2F")) seriesRequests.push(r.url());
      });
      await page.goto(`${server.url}/runs/${run.id}?tab=system`);
      const cpu = page.locator('[data-system-chart="cpu"] .chart');
      await cpu.waitFor({ state: "visible", timeout: 30_000 });
      await page.waitForFunction(() => Number(document.querySelector('[data-system-chart="cpu"] .chart')?.getAttribute("data-points")) >= 2, null, { timeout: 30_000 });
      const before = Number(await cpu.getAttribute("data-points"));
      // samples keep coming: the chart grows while the page neither reloads nor polls the series
      await page.waitForFunction(
        (n) => Number(document.querySelector('[data-system-chart="cpu"] .chart')?.getAttribute("data-points")) >= n + 3,
        before,
        { timeout: 30_000 },
      );
      const after = Number(await cpu.getAttribute("data-points"));
      expect(after).toBeGreaterThanOrEqual(before + 3);
      expect(seriesRequests.length).toBe(1);
      // what is drawn matches what the server serves for the same samples
      const served = await (await fetch(`${server.url}/api/runs/${run.id}/series?x=time&keys=sys%2Fcpu_percent`)).json();
      expect(served.x.length).toBeGreaterThanOrEqual(after);
    } finally {
      run.finish();
      await b.close();
      await server.stop();
    }
  });
});
