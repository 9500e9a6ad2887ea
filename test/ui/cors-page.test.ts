// Chromium: a front end served from another origin calls the binary's API (alias PATCH, logs WebSocket): refused by default, allowed by --cors-origin or Settings.
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { cpSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Page } from "playwright-core";
import { type BinaryServer, PROJECT, launchBrowser, startBinary, tempDir } from "./browser.ts";

setDefaultTimeout(60_000);

const FIXTURE = resolve(PROJECT, "../shared/fixtures/runicorn-0.6/rn-probe");
const RUN = "20261129_032935_bfa7ab"; // fixture run with a logs.txt

// The other front end: a page on its own 127.0.0.1 port (a different origin from the API's).
const frontEnd = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: () => new Response("<!doctype html><title>another front end</title><p>other UI</p>", { headers: { "content-type": "text/html" } }),
});
const FRONT = `http://127.0.0.1:${frontEnd.port}`;
const browser = await launchBrowser();
const servers: BinaryServer[] = [];
const temps: { cleanup(): void }[] = [];

afterAll(async () => {
  await browser.close();
  for (const s of servers) await s.stop();
  for (const t of temps) t.cleanup();
  frontEnd.stop(true);
});

async function serve(args: string[] = []): Promise<BinaryServer> {
  const t = tempDir("rn-cors-");
  temps.push(t);
  const root = join(t.dir, "root");
  cpSync(FIXTURE, root, { recursive: true });
  mkdirSync(join(t.dir, "home"), { recursive: true });
  const s = await startBinary(root, t.dir, args);
  servers.push(s);
  return s;
}

interface CrossOriginResult {
  patch: { status: number; body: unknown } | { error: string };
  simplePost: { status: number; body: unknown } | { error: string };
  socket: { opened: boolean; first: string | null };
}

/** From the other front end's page: an alias PATCH, a simple (unpreflighted) POST, and the run's logs WebSocket. */
async function tryFromOtherOrigin(page: Page, api: string, alias: string): Promise<CrossOriginResult> {
  await page.goto(FRONT);
  return page.evaluate(
    async ({ api, run, alias }) => {
      const call = async (init: RequestInit, path: string) => {
        try {
          const r = await fetch(api + path, init);
          return { status: r.status, body: await r.json() };
        } catch (e) {
          return { error: String(e) };
        }
      };
      const patch = await call({ method: "PATCH", headers: { "content-type": "application/json" }, body: JSON.stringify({ alias }) }, `/api/runs/${run}`);
      const simplePost = await call({ method: "POST", headers: { "content-type": "text/plain" }, body: "{}" }, "/api/config/dismissed-alerts/dismiss");
      const socket = await new Promise<{ opened: boolean; first: string | null }>((resolve) => {
        const ws = new WebSocket(`${api.replace("http", "ws")}/api/runs/${run}/logs/ws`);
        let opened = false;
        const timer = setTimeout(() => resolve({ opened, first: null }), 8000);
        ws.onopen = () => (opened = true);
        ws.onmessage = (m) => {
          clearTimeout(timer);
          ws.close();
          resolve({ opened, first: String(m.data) });
        };
        ws.onclose = () => {
          clearTimeout(timer);
          resolve({ opened, first: null });
        };
      });
      return { patch, simplePost, socket };
    },
    { api, run: RUN, alias },
  );
}

const aliasOf = async (s: BinaryServer) => ((await (await fetch(`${s.url}/api/runs/${RUN}`)).json()) as { alias: string | null }).alias;

describe("another front end in Chromium", () => {
  it("is refused by default, and the refusal it can read says how to allow its origin", async () => {
    const s = await serve();
    const page = await browser.newPage();
    const before = await aliasOf(s);
    const r = await tryFromOtherOrigin(page, s.url, "renamed cross-origin");
    expect("error" in r.patch).toBe(true); // the preflight is refused: the browser never sends the PATCH
    expect(r.simplePost).toEqual({
      status: 403,
      body: { detail: `Cross-origin request from ${FRONT} refused: start the server with --cors-origin ${FRONT} or add it in Settings → Allowed origins` },
    });
    expect(r.socket).toEqual({ opened: false, first: null });
    expect(await aliasOf(s)).toBe(before);
    await page.close();
  });

  it("edits an alias and streams logs once started with --cors-origin", async () => {
    const s = await serve(["--cors-origin", FRONT]);
    const page = await browser.newPage();
    const r = await tryFromOtherOrigin(page, s.url, "renamed by the other UI");
    expect(r.patch).toMatchObject({ status: 200, body: { ok: true, alias: "renamed by the other UI" } });
    expect(r.socket.opened).toBe(true);
    expect(typeof r.socket.first).toBe("string");
    expect(await aliasOf(s)).toBe("renamed by the other UI");
    await page.close();
  });

  it("allows an origin added in Settings → Allowed origins at once, without a restart", async () => {
    const s = await serve();
    const page = await browser.newPage();
    const violations: string[] = [];
    page.on("console", (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    await page.goto(`${s.url}/settings`);
    const card = page.getByTestId("allowed-origins");
    await card.getByLabel("Origin to allow").fill(FRONT);
    await card.getByRole("button", { name: "Allow origin" }).click();
    await card.getByTestId("allowed-origins-list").getByText(FRONT).waitFor();
    const r = await tryFromOtherOrigin(page, s.url, "allowed from settings");
    expect(r.patch).toMatchObject({ status: 200, body: { alias: "allowed from settings" } });
    expect(r.socket.opened).toBe(true);
    // removing it refuses the origin again
    await page.goto(`${s.url}/settings`);
    await page.getByRole("button", { name: `Remove ${FRONT}` }).click();
    await page.getByText("None: only this page's own origin.").waitFor();
    // (Chromium may reuse the cached preflight; the PATCH itself is then refused by the server)
    const again = await tryFromOtherOrigin(page, s.url, "again");
    expect("error" in again.patch || again.patch.status === 403).toBe(true);
    expect(again.socket.opened).toBe(false);
    expect(await aliasOf(s)).toBe("allowed from settings");
    expect(violations).toEqual([]);
    await page.close();
  });

  it("runs the UI and the /docs Swagger UI under the Content-Security-Policy without a violation", async () => {
    const s = await serve();
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error" || /Content Security Policy/i.test(m.text())) problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(String(e)));
    await page.goto(`${s.url}/runs/${RUN}`);
    await page.getByText("baseline").first().waitFor();
    await page.goto(`${s.url}/docs`);
    await page.locator(".opblock").first().waitFor();
    expect(await page.locator(".opblock").count()).toBeGreaterThan(10);
    const framed = await fetch(`${s.url}/`);
    expect(framed.headers.get("x-frame-options")).toBe("DENY");
    expect(problems).toEqual([]);
    await page.close();
  });
});
