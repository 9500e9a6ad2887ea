// Shared test setup for system telemetry: temp dirs, a server context, a fake nvidia-smi on a private PATH.
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Elysia } from "elysia";
import { systemRoutes } from "../../src/api/system.ts";
import { type SamplerContext, startSystemSamplers, type SystemSamplerOptions } from "../../src/system/samplers.ts";
import { createLogger } from "../../src/util/log.ts";

/** The committed nvidia-smi fixtures and the fake binary that replays them. */
export const SMI_FIXTURES = join(import.meta.dir, "../fixtures/nvidia-smi");

/** The storage roots written by the real SDK 0.6 (read-only: copy before writing). */
export const SDK_FIXTURES = "/work/shared/fixtures/runicorn-0.6";

/** Creates a temp dir that `cleanup` removes. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `rn-sys-${prefix}-`));
}

/** A fake nvidia-smi installed in `<dir>/bin`, with the scenario switchable at run time. */
export interface FakeSmi {
  binDir: string;
  /** Selects the fixture set the next call replays. */
  use(scenario: string): void;
  /** Arguments of every call so far, one string per call. */
  calls(): string[];
  /** Writes a fixture file of a made-up scenario. */
  write(name: string, text: string): void;
}

/** Installs the fake nvidia-smi under `dir/bin`, replaying `scenario`. */
export function installFakeSmi(dir: string, scenario: string): FakeSmi {
  const binDir = join(dir, "bin");
  mkdirSync(binDir, { recursive: true });
  copyFileSync(join(SMI_FIXTURES, "fake-nvidia-smi.sh"), join(binDir, "nvidia-smi"));
  chmodSync(join(binDir, "nvidia-smi"), 0o755);
  cpSync(SMI_FIXTURES, join(binDir, "fixtures"), { recursive: true });
  const fake: FakeSmi = {
    binDir,
    use: (s) => writeFileSync(join(binDir, "scenario"), s),
    calls: () => {
      const log = join(binDir, "calls.log");
      return existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : [];
    },
    write: (name, text) => writeFileSync(join(binDir, "fixtures", name), text),
  };
  fake.use(scenario);
  return fake;
}

/** The part of a server context the system feature uses, on `root`; `close()` runs the onClose callbacks. */
export function makeContext(root: string): SamplerContext & { close(): Promise<void> } {
  const closers: (() => void | Promise<void>)[] = [];
  return {
    log: createLogger("error"),
    root: () => root,
    onClose: (fn) => {
      closers.push(fn);
    },
    async close() {
      for (const fn of closers.splice(0)) await fn();
    },
  };
}

/** Starts samplers with `opts` and a real HTTP server with the system routes on port 0. */
export function startServer(root: string, opts: SystemSamplerOptions) {
  const ctx = makeContext(root);
  const samplers = startSystemSamplers(ctx, opts);
  const app = new Elysia().use(systemRoutes({ system: samplers, root: ctx.root })).listen({ port: 0, hostname: "127.0.0.1" });
  const base = `http://127.0.0.1:${app.server!.port}`;
  return {
    ctx,
    samplers,
    base,
    get: async (path: string) => {
      const r = await fetch(base + path);
      return { status: r.status, body: (await r.json()) as any };
    },
    async close() {
      await app.stop(true);
      await ctx.close();
    },
  };
}

/** Polls `fn` until it returns a truthy value (samplers answer on their own schedule). */
export async function until<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 5000): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

/** Removes a temp dir. */
export function cleanup(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
