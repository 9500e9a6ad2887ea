// Test helpers: temp copies of the fixtures, and real servers on port 0 (in-process or as a child process).
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type ConfigFlags, loadConfig } from "../../src/config/config.ts";
import { type RunningServer, startServer } from "../../src/cli/serve.ts";

/** The project root and the read-only shared fixtures. */
export const PROJECT = resolve(import.meta.dir, "../..");
export const FIXTURES = resolve(PROJECT, "../shared/fixtures/runicorn-0.6");

/** A temp directory removed by `cleanup()`. */
export function tempDir(prefix = "rn-test-"): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Copies a fixture root (`rn-data`, `rn-data2`, `rn-probe`) into `dest`. */
export function copyFixture(name: string, dest: string): string {
  cpSync(join(FIXTURES, name), dest, { recursive: true });
  makeWritable(dest); // the shared fixtures are read-only; a copy must behave like a user's root
  return dest;
}

function makeWritable(path: string): void {
  const st = statSync(path);
  chmodSync(path, st.mode | 0o200);
  if (st.isDirectory()) for (const name of readdirSync(path)) makeWritable(join(path, name));
}

/** An isolated environment: HOME and config/cache dirs inside `dir`, nothing from the real user. */
export function isolatedEnv(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: join(dir, "home"),
    XDG_CONFIG_HOME: join(dir, "home", ".config"),
    XDG_CACHE_HOME: join(dir, "home", ".cache"),
    ...extra,
  };
}

/** A server started in this process on a temp copy of a fixture (or an empty root). */
export interface TestServer extends RunningServer {
  root: string;
  dir: string;
  /** GET/POST helper returning status, headers and parsed JSON. */
  api(path: string, init?: RequestInit & { json?: unknown }): Promise<{ status: number; headers: Headers; body: any }>;
  close(): Promise<void>;
}

/** Starts a real server on 127.0.0.1:0 over a temp copy of `fixture` (or an empty root). */
export async function startTestServer(
  opts: {
    fixture?: string;
    sweepSeconds?: number;
    env?: Record<string, string>;
    /** Extra config flags (token, corsOrigins, host…). */
    flags?: Partial<ConfigFlags>;
    /** Files to write into the per-user config dir before start (name → JSON value). */
    userFiles?: Record<string, unknown>;
    /** What `startServer` takes besides the config (a fleet for fleet mode). */
    start?: Parameters<typeof startServer>[1];
    /** Fills the root before the server starts (after the fixture is copied). */
    prepare?: (root: string) => void;
  } = {},
): Promise<TestServer> {
  const tmp = tempDir();
  const root = join(tmp.dir, "root");
  if (opts.fixture) copyFixture(opts.fixture, root);
  opts.prepare?.(root);
  const env = isolatedEnv(tmp.dir, opts.env);
  const config = loadConfig({ root, host: "127.0.0.1", port: 0, logLevel: "error", sweepSeconds: opts.sweepSeconds ?? 60, ...opts.flags }, env);
  for (const [name, value] of Object.entries(opts.userFiles ?? {})) {
    mkdirSync(config.configDir, { recursive: true });
    writeFileSync(join(config.configDir, name), JSON.stringify(value));
  }
  const server = await startServer(config, opts.start);
  const api: TestServer["api"] = async (path, init = {}) => {
    const headers = new Headers(init.headers);
    let body = init.body;
    if (init.json !== undefined) {
      headers.set("content-type", "application/json");
      body = JSON.stringify(init.json);
    }
    const res = await fetch(server.url + path, { ...init, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, headers: res.headers, body: parsed };
  };
  return {
    ...server,
    root,
    dir: tmp.dir,
    api,
    close: async () => {
      await server.stop();
      tmp.cleanup();
    },
  };
}

/** Waits until `fn` returns a truthy value (polling), or throws after `ms`. */
export async function waitFor<T>(fn: () => T | Promise<T>, ms = 5000, what = "condition"): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(25);
  }
}
