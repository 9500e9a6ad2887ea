// Test helpers for the UI: headless Debian Chromium through playwright-core, and the compiled binary on a temp root.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

/** The project root. */
export const PROJECT = resolve(import.meta.dir, "../..");
/** Where every run saves its screenshots (git-ignored). */
export const SHOTS = join(PROJECT, "test", "screenshots");
/** The compiled binary the end-to-end tests drive. */
export const BINARY = join(PROJECT, "dist", "runicorn");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** A headless Chromium with its own profile directory, removed by `close()`. */
export interface TestBrowser {
  browser: Browser;
  newPage(viewport?: { width: number; height: number }): Promise<Page>;
  close(): Promise<void>;
}

/** Launches Chromium headless with the flags the project uses everywhere. */
export async function launchBrowser(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install -y chromium`);
  const profile = mkdtempSync(join(tmpdir(), "rn-chromium-"));
  const context: BrowserContext = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    // playwright passes the fresh profile as --user-data-dir itself.
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    viewport: { width: 1280, height: 800 },
    acceptDownloads: true,
  });
  const browser = context.browser() as Browser;
  return {
    browser,
    async newPage(viewport = { width: 1280, height: 800 }) {
      const page = await context.newPage();
      await page.setViewportSize(viewport);
      return page;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a full-page screenshot as test/screenshots/<name>.png. */
export async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });
}

/** The running binary. */
export interface BinaryServer {
  url: string;
  root: string;
  dir: string;
  proc: ReturnType<typeof Bun.spawn>;
  stop(): Promise<void>;
}

/**
 * Starts `dist/runicorn serve --port 0` on `root` and waits for its "listening on" line; `pathPrefix`
 * goes in front of PATH (a fake `nvidia-smi`); `binary` runs another copy of the executable.
 */
export async function startBinary(root: string, dir: string, extraArgs: string[] = [], pathPrefix?: string, binary = BINARY): Promise<BinaryServer> {
  if (!existsSync(binary)) throw new Error(`${binary} is missing: run \`bun run build\` first`);
  const home = join(dir, "home");
  mkdirSync(home, { recursive: true });
  const proc = Bun.spawn([binary, "serve", "--root", root, "--host", "127.0.0.1", "--port", "0", ...extraArgs], {
    env: { PATH: [pathPrefix, process.env.PATH ?? "/usr/bin:/bin"].filter(Boolean).join(":"), HOME: home, XDG_CONFIG_HOME: join(home, ".config"), XDG_CACHE_HOME: join(home, ".cache") },
    stdout: "pipe",
    stderr: "pipe",
  });
  let errText = "";
  void (async () => {
    const reader = (proc.stderr as ReadableStream<Uint8Array>).getReader();
    const dec = new TextDecoder();
    for (let r = await reader.read(); !r.done; r = await reader.read()) errText = (errText + dec.decode(r.value, { stream: true })).slice(-4000);
  })();
  const url = await new Promise<string>((res, rej) => {
    let seen = "";
    const timer = setTimeout(() => rej(new Error(`binary did not start: ${seen} ${errText}`)), 20_000);
    (async () => {
      const dec = new TextDecoder();
      const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        seen += dec.decode(r.value, { stream: true });
        const m = /listening on (http:\/\/\S+)/.exec(seen);
        if (m) {
          clearTimeout(timer);
          res(m[1].replace(/\/$/, ""));
          // Keep draining stdout so the server never blocks on a full pipe.
          void (async () => {
            for (let r = await reader.read(); !r.done; r = await reader.read());
          })();
          return;
        }
      }
      clearTimeout(timer);
      rej(new Error(`binary exited before listening: ${seen} ${errText}`));
    })();
  });
  return {
    url,
    root,
    dir,
    proc,
    async stop() {
      proc.kill();
      await proc.exited;
    },
  };
}

/** A temp directory removed by `cleanup()`. */
export function tempDir(prefix = "rn-ui-"): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
