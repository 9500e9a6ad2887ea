// Chromium over a team server (the compiled binary with --db): the run page's Tables and Audio tabs, the report and
// the archive export work unchanged for a run logged by the Python SDK through RUNICORN_SERVER.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { startPostgres, type TestPostgres } from "../helpers/postgres.ts";
import { createTokenCli } from "../team/team-server.ts";
import { type BinaryServer, launchBrowser, PROJECT, startBinary, type TestBrowser, tempDir } from "./browser.ts";

setDefaultTimeout(90_000);

const RUN = "20260107_000000_7e7e7e";
const SCRIPT = `
import math, runicorn as rn
run = rn.init(path="ui/team", run_id="${RUN}")
px = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c63f8cfc0f01f0005000201a5f1d6e40000000049454e44ae426082")
rows = [[i, ["cat", "dog", "bird"][i % 3], round(1 - i / 120, 3), rn.Image(px) if i < 3 else None] for i in range(120)]
for s in range(10):
    run.log({"loss": 1.0 / (s + 1)}, step=s)
run.log({"preds": rn.Table(["id", "label", "score", "img"], rows)}, step=5)
run.log({"tone": rn.Audio([math.sin(2 * math.pi * 440 * t / 8000) * 0.5 for t in range(4000)], sample_rate=8000, caption="A4 on the team server")}, step=5)
run.finish()
`;

const tmp = tempDir("rn-ui-team-");
let pg: TestPostgres;
let server: BinaryServer;
let browser: TestBrowser;
let token: string;

beforeAll(async () => {
  pg = await startPostgres();
  const db = await pg.createDatabase("ui");
  token = createTokenCli(db, "ui");
  server = await startBinary(join(tmp.dir, "team-root"), tmp.dir, ["--db", db]);
  mkdirSync(join(tmp.dir, "py-home"), { recursive: true });
  const env = { PATH: "/usr/bin:/bin", HOME: join(tmp.dir, "py-home"), PYTHONPATH: join(PROJECT, "sdk", "python"), RUNICORN_SERVER: server.url, RUNICORN_TOKEN: token, RUNICORN_QUIET: "1" };
  const p = Bun.spawn(["python3", "-c", SCRIPT], { env, stdout: "pipe", stderr: "pipe" });
  if ((await p.exited) !== 0) throw new Error(await new Response(p.stderr).text());
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await pg?.stop();
  tmp.cleanup();
});

/** Opens a tab of the run page; the first page carries the token (the server answers it with a cookie). */
async function open(tab: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${server.url}/runs/${RUN}?tab=${tab}&token=${encodeURIComponent(token)}`);
  return page;
}

describe("the run page on a team server", () => {
  it("shows a logged table with its image cells, sorts and filters it", async () => {
    const page = await open("tables");
    const table = page.locator('[data-testid="media-table"]');
    await table.waitFor();
    expect(await page.locator('[data-testid="table-count"]').textContent()).toContain("120 / 120");
    await page.waitForFunction(() => [...document.querySelectorAll("img.table-thumb")].length === 3 && [...document.querySelectorAll("img.table-thumb")].every((i) => (i as HTMLImageElement).naturalWidth === 1));
    await table.locator("th button", { hasText: "score" }).click();
    expect(await table.locator("th").nth(2).getAttribute("aria-sort")).toBe("ascending");
    expect((await table.locator("tbody tr td:first-child").allTextContents())[0]).toBe("119");
    await page.getByLabel("Filter rows").fill("bird");
    await page.waitForFunction(() => document.querySelector('[data-testid="table-count"]')?.textContent?.includes("40 / 120"));
    await page.close();
  });

  it("plays logged audio from the blob store", async () => {
    const page = await open("audio");
    const audio = page.locator('[data-audio-key="tone"] audio');
    await audio.waitFor();
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
    expect(await page.locator('[data-audio-key="tone"]').textContent()).toContain("A4 on the team server");
    await page.close();
  });

  it("downloads the run report and an archive export with the page's cookie", async () => {
    const page = await open("overview");
    await page.waitForLoadState("networkidle");
    const got = await page.evaluate(async (id) => {
      const report = await fetch(`/api/export/${id}/report`);
      const zip = await fetch(`/api/export?format=zip&run_ids=${id}`);
      const bytes = new Uint8Array(await zip.arrayBuffer());
      return { report: report.status, md: (await report.text()).split("\n")[0], zip: zip.status, magic: String.fromCharCode(bytes[0], bytes[1]) };
    }, RUN);
    expect(got).toEqual({ report: 200, md: `# Run report: ${RUN}`, zip: 200, magic: "PK" });
    await page.close();
  });
});
