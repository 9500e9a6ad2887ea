// The runs page while the first index builds: a progress bar that counts up, then the full list (compiled binary, Chromium).
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { launchBrowser, startBinary, tempDir } from "./browser.ts";

setDefaultTimeout(180_000);

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe("the runs page during the first index build", () => {
  it("shows 'indexing N / M runs' with a progress bar, then hides it and counts every run", async () => {
    const root = join(tmp.dir, "root");
    const N = 15000;
    for (let i = 0; i < N; i++) {
      const path = `lab${i % 3}/exp${i % 30}`;
      const id = `20250101_000000_${i.toString(16).padStart(6, "0")}`;
      const dir = join(root, "runs", path, id);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "meta.json"), JSON.stringify({ id, path, created_at: 1700000000 + i }));
      writeFileSync(join(dir, "status.json"), JSON.stringify({ status: "finished", started_at: 1700000000 + i, ended_at: 1700000060 + i }));
    }
    // the browser first: the page must load while the build is still running
    const b = await launchBrowser();
    const page = await b.newPage();
    const server = await startBinary(root, tmp.dir);
    try {
      await page.goto(server.url + "/");
      const bar = page.getByTestId("index-progress");
      await bar.waitFor({ state: "visible", timeout: 60_000 });
      const text = (await bar.textContent()) ?? "";
      expect(text).toMatch(/^indexing [\d,]+ \/ [\d,]+\+? runs$/);
      expect(await bar.locator("progress").count()).toBe(1);
      await bar.waitFor({ state: "detached", timeout: 150_000 });
      // the page reloaded its counts and list when the build finished
      await page.waitForFunction((n) => document.querySelector('[data-stat="total"] .stat-value')?.textContent === String(n), N, { timeout: 30_000 });
    } finally {
      await b.close();
      await server.stop();
    }
  });
});
