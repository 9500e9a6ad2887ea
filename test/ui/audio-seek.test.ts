// The Audio tab's player seeks in a long clip (compiled binary, Chromium): the browser asks for byte ranges and gets 206s.
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { Audio, init, type Run } from "../../src/sdk/runicorn.ts";
import { launchBrowser, startBinary, tempDir } from "./browser.ts";

setDefaultTimeout(180_000);

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe("the Audio tab's player", () => {
  it("seeks to the end of a two-minute clip with range requests answered 206", async () => {
    const root = join(tmp.dir, "root");
    const run = init({ storage: root, path: "audio/long", systemMetrics: false, handleSignals: false, env: { HOME: tmp.dir } }) as Run;
    const rate = 8000;
    const samples = new Int16Array(rate * 120); // 2 minutes, 1.9 MB: more than a browser fetches up front
    for (let i = 0; i < samples.length; i++) samples[i] = Math.round(Math.sin((2 * Math.PI * 440 * i) / rate) * 8000);
    run.log({ long: new Audio(samples, { sampleRate: rate }) }, { step: 1 });
    run.finish();
    const server = await startBinary(root, tmp.dir);
    const b = await launchBrowser();
    try {
      const page = await b.newPage();
      const answers: { range: string | undefined; status: number; contentRange: string | null }[] = [];
      page.on("response", (r) => {
        if (!r.url().includes("/audio/")) return;
        answers.push({ range: r.request().headers()["range"], status: r.status(), contentRange: r.headers()["content-range"] ?? null });
      });
      await page.goto(`${server.url}/runs/${run.id}?tab=audio`);
      const audio = page.locator('[data-audio-key="long"] audio');
      await audio.waitFor({ timeout: 30_000 });
      const duration = await audio.evaluate(
        (el: HTMLAudioElement) =>
          new Promise<number>((ok) => (el.readyState >= 1 ? ok(el.duration) : el.addEventListener("loadedmetadata", () => ok(el.duration), { once: true }))),
      );
      expect(duration).toBeCloseTo(120, 1);
      const at = await audio.evaluate(
        (el: HTMLAudioElement) =>
          new Promise<number>((ok, fail) => {
            el.addEventListener("seeked", () => ok(el.currentTime), { once: true });
            el.addEventListener("error", () => fail(new Error(`media error ${el.error?.code}`)), { once: true });
            el.currentTime = 115;
          }),
      );
      expect(at).toBeCloseTo(115, 0);
      // the player read the file by ranges: every ranged request was answered 206 with its Content-Range
      const ranged = answers.filter((a) => a.range !== undefined);
      expect(ranged.length).toBeGreaterThan(0);
      for (const a of ranged) {
        expect(a.status).toBe(206);
        expect(a.contentRange).toMatch(/^bytes \d+-\d+\/1920044$/);
      }
    } finally {
      await b.close();
      await server.stop();
    }
  });
});
