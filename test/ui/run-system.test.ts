// The run page's System tab (compiled binary, Chromium): charts of a Python SDK run's system metrics; no tab without them.
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { launchBrowser, PROJECT, shot, startBinary, tempDir } from "./browser.ts";

setDefaultTimeout(180_000);

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const FAKE_SMI = `#!/bin/sh
case "$1" in
  --query-gpu=*) printf '0, GPU-aaaa, 64, 3000, 8192, 150, 70\\n' ;;
  --query-compute-apps=*) printf '%s, GPU-aaaa\\n' "$PPID" ;;
  *) exit 2 ;;
esac
`;

/** A real Python SDK run (system metrics every 0.2 s, or off); returns its id. */
async function train(root: string, path: string, system: boolean): Promise<string> {
  const bin = join(tmp.dir, "fakebin");
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, "nvidia-smi"), FAKE_SMI);
  chmodSync(join(bin, "nvidia-smi"), 0o755);
  const code = `import runicorn as rn, time
r = rn.init(path=${JSON.stringify(path)}, storage=${JSON.stringify(root)}, system_metrics=${system ? "True" : "False"}, system_interval=0.2)
for i in range(10):
    r.log({"loss": 1.0 / (i + 1)}, step=i)
    time.sleep(0.12)
r.finish()
print(r.id)`;
  const p = Bun.spawn(["python3", "-c", code], {
    env: { HOME: tmp.dir, PATH: `${bin}:/usr/local/bin:/usr/bin:/bin`, PYTHONPATH: join(PROJECT, "sdk", "python"), RUNICORN_QUIET: "1" },
    stdout: "pipe",
    stderr: "inherit",
  });
  const out = await new Response(p.stdout).text();
  expect(await p.exited).toBe(0);
  return out.trim();
}

describe("the run page's System tab", () => {
  it("draws CPU, memory and GPU charts over the run's relative time, and is absent for a run without system data", async () => {
    const root = join(tmp.dir, "root");
    const withSys = await train(root, "sys/on", true);
    const without = await train(root, "sys/off", false);
    const server = await startBinary(root, tmp.dir);
    const b = await launchBrowser();
    try {
      const page = await b.newPage();
      await page.goto(`${server.url}/runs/${withSys}`);
      const tabBtn = page.getByRole("tab", { name: "System" });
      await tabBtn.waitFor({ state: "visible", timeout: 30_000 });
      await tabBtn.click();
      const panel = page.getByTestId("run-system");
      await panel.waitFor({ state: "visible", timeout: 30_000 });
      const charts = await page.locator("[data-system-chart]").evaluateAll((els) => els.map((e) => e.getAttribute("data-system-chart")));
      expect(charts).toEqual(["cpu", "mem", "gpu-util", "gpu-mem_used_mb", "gpu-power_w", "gpu-temp_c"]);
      // every chart has drawn its canvas, with a legend naming the lines
      await page.waitForFunction(() => document.querySelectorAll("[data-system-chart] canvas").length === 6, null, { timeout: 30_000 });
      const legend = (await page.locator('[data-system-chart="gpu-util"]').textContent()) ?? "";
      expect(legend).toContain("GPU 0");
      expect(page.url()).toContain("tab=system");
      await shot(page, "run-system-tab");

      // the charts tab keeps the run's own metrics only
      await page.getByRole("tab", { name: "Charts" }).click();
      await page.locator('[data-metric="loss"]').waitFor({ state: "visible", timeout: 30_000 });
      expect(await page.locator('[data-metric^="sys/"]').count()).toBe(0);

      await page.goto(`${server.url}/runs/${without}`);
      await page.getByRole("tab", { name: "Logs" }).waitFor({ state: "visible", timeout: 30_000 });
      expect(await page.getByRole("tab", { name: "System" }).count()).toBe(0);
    } finally {
      await b.close();
      await server.stop();
    }
  });
});
