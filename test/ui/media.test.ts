// Chromium tests of the run page's Histograms, Tables and Audio tabs, over runs logged by real Python SDK processes.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { type BinaryServer, PROJECT, launchBrowser, shot, startBinary, type TestBrowser, tempDir } from "./browser.ts";

setDefaultTimeout(90_000);

const tmp = tempDir("rn-ui-media-");
const root = join(tmp.dir, "root");
mkdirSync(join(tmp.dir, "home"), { recursive: true });
const pyEnv = { PATH: "/usr/bin:/bin", HOME: join(tmp.dir, "home"), PYTHONPATH: join(PROJECT, "sdk", "python"), RUNICORN_DIR: root };

const FINISHED = `
import math, random, runicorn as rn
random.seed(1)
run = rn.init(path="ui/media", run_id="media-done")
for s in range(20):
    vals = [random.gauss(s * 0.1, 1.0) for _ in range(500)]
    run.log({"layer/w": rn.Histogram(vals, bins=32)}, step=s)
px = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c63f8cfc0f01f0005000201a5f1d6e40000000049454e44ae426082")
rows = [[i, ["cat", "dog", "bird"][i % 3], round(1 - i / 250, 3), rn.Image(px) if i < 3 else None] for i in range(250)]
run.log({"preds": rn.Table(["id", "label", "score", "img"], rows)}, step=5)
run.log({"tone": rn.Audio([math.sin(2 * math.pi * 440 * t / 8000) * 0.5 for t in range(4000)], sample_rate=8000, caption="A4 half second")}, step=5)
run.finish()
`;

const LIVE = `
import sys, runicorn as rn
run = rn.init(path="ui/media", run_id="media-live")
for s in range(3):
    run.log({"live/h": rn.Histogram([s + i / 10 for i in range(10)], bins=5)}, step=s)
print("ready", flush=True)
sys.stdin.readline()
run.log({"live/h": rn.Histogram([9, 9.5, 10], bins=5)}, step=3)
print("logged", flush=True)
sys.stdin.readline()
run.finish()
`;

let server: BinaryServer;
let browser: TestBrowser;
let live: ReturnType<typeof Bun.spawn>;
let liveOut: ReadableStreamDefaultReader<Uint8Array>;

async function readLine(): Promise<string> {
  const { value } = await liveOut.read();
  return new TextDecoder().decode(value);
}

beforeAll(async () => {
  const p = Bun.spawn(["python3", "-c", FINISHED], { env: pyEnv, cwd: tmp.dir, stdout: "pipe", stderr: "pipe" });
  if ((await p.exited) !== 0) throw new Error(await new Response(p.stderr).text());
  live = Bun.spawn(["python3", "-c", LIVE], { env: pyEnv, cwd: tmp.dir, stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  liveOut = (live.stdout as ReadableStream<Uint8Array>).getReader();
  expect(await readLine()).toContain("ready");
  server = await startBinary(root, tmp.dir);
  browser = await launchBrowser();
});

afterAll(async () => {
  if (live && live.exitCode === null) {
    (live.stdin as import("bun").FileSink).end();
    live.kill();
    await live.exited;
  }
  await browser?.close();
  await server?.stop();
  tmp.cleanup();
});

async function open(runId: string, tab: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${server.url}/runs/${runId}?tab=${tab}`);
  return page;
}

describe("histograms tab", () => {
  it("draws percentile bands over the steps and the histogram at the step chosen with the slider", async () => {
    const page = await open("media-done", "histograms");
    const card = page.locator('[data-hist-key="layer/w"]');
    await card.locator('[data-testid="hist-distribution"]').waitFor();
    expect(await card.locator(".hist-band").count()).toBe(4);
    expect(await card.locator(".hist-band").first().getAttribute("data-band")).toBe("0-100");
    // the median line climbs with the mean (0.1 per step): its last point is above its first (smaller y)
    const pts = (await card.locator(".hist-median").getAttribute("points"))!.split(" ").map((p) => p.split(",").map(Number));
    expect(pts.length).toBe(20);
    expect(pts[19][1]).toBeLessThan(pts[0][1]);
    expect(await card.locator('[data-testid="hist-step"]').textContent()).toBe("19");
    expect(await card.locator(".hist-bar").count()).toBe(32);
    const slider = card.locator('input[type="range"]');
    await slider.fill("4");
    expect(await card.locator('[data-testid="hist-step"]').textContent()).toBe("4");
    expect(await card.locator(".hist-current").getAttribute("data-step")).toBe("4");
    const counts = await card.locator(".hist-bar").evaluateAll((els) => els.reduce((a, e) => a + Number(e.getAttribute("data-count")), 0));
    expect(counts).toBe(500);
    await shot(page, "media-histograms");
    await page.close();
  });

  it("shows a step a running run logs after the page opened", async () => {
    const page = await open("media-live", "histograms");
    const card = page.locator('[data-hist-key="live/h"]');
    await card.locator('[data-testid="hist-step"]').waitFor();
    expect(await card.locator('[data-testid="hist-step"]').textContent()).toBe("2");
    (live.stdin as import("bun").FileSink).write("go\n");
    (live.stdin as import("bun").FileSink).flush();
    expect(await readLine()).toContain("logged");
    await page.waitForFunction(() => document.querySelector('[data-hist-key="live/h"] [data-testid="hist-step"]')?.textContent === "3", undefined, { timeout: 20_000 });
    expect(await card.locator(".hist-median").getAttribute("points")).toContain(" ");
    await page.close();
  });
});

describe("tables tab", () => {
  it("sorts by a column and filters rows, with image cells as thumbnails", async () => {
    const page = await open("media-done", "tables");
    const table = page.locator('[data-testid="media-table"]');
    await table.waitFor();
    expect(await page.locator('[data-testid="table-count"]').textContent()).toContain("250 / 250");
    expect(await table.locator("tbody tr").count()).toBe(100); // first page
    const firstIds = async () => table.locator("tbody tr td:first-child").allTextContents();
    expect((await firstIds()).slice(0, 3)).toEqual(["0", "1", "2"]);
    const thumbs = table.locator("img.table-thumb");
    expect(await thumbs.count()).toBe(3);
    await page.waitForFunction(() => [...document.querySelectorAll("img.table-thumb")].every((i) => (i as HTMLImageElement).naturalWidth === 1));
    // score descends with id: sorting by score ascending puts the last id first
    await table.locator("th button", { hasText: "score" }).click();
    expect((await firstIds())[0]).toBe("249");
    expect(await table.locator("th").nth(2).getAttribute("aria-sort")).toBe("ascending");
    await table.locator("th button", { hasText: "score" }).click();
    expect((await firstIds())[0]).toBe("0");
    await page.getByLabel("Filter rows").fill("bird");
    await page.waitForFunction(() => document.querySelector('[data-testid="table-count"]')?.textContent?.includes("83 / 250"));
    const labels = await table.locator("tbody tr td:nth-child(2)").allTextContents();
    expect(labels.length).toBe(83);
    expect(new Set(labels)).toEqual(new Set(["bird"]));
    await shot(page, "media-table");
    await page.close();
  });
});

describe("audio tab", () => {
  it("has a player whose source is a valid WAV the browser can load", async () => {
    const page = await open("media-done", "audio");
    const audio = page.locator('[data-audio-key="tone"] audio');
    await audio.waitFor();
    const src = (await audio.getAttribute("src"))!;
    expect(src).toMatch(/\/audio\/.*_tone\.wav$/);
    const head = await page.evaluate(async (u) => {
      const r = await fetch(u);
      const b = new Uint8Array(await r.arrayBuffer());
      return { type: r.headers.get("content-type"), riff: String.fromCharCode(...b.slice(0, 4)), wave: String.fromCharCode(...b.slice(8, 12)), size: b.length };
    }, src);
    expect(head).toEqual({ type: "audio/wav", riff: "RIFF", wave: "WAVE", size: 44 + 8000 });
    const duration = await audio.evaluate(
      (el: HTMLAudioElement) =>
        new Promise<number>((res, rej) => {
          if (el.readyState >= 1) return res(el.duration);
          el.addEventListener("loadedmetadata", () => res(el.duration));
          el.addEventListener("error", () => rej(new Error(`media error ${el.error?.code}`)));
          el.load();
        }),
    );
    expect(duration).toBeCloseTo(0.5, 2);
    expect(await page.locator('[data-audio-key="tone"]').textContent()).toContain("A4 half second");
    await shot(page, "media-audio");
    await page.close();
  });
});
