// Starts the real server (`startServer`, as `runicorn serve` does) on a root, for bench/metrics.ts restarts: `bun bench/metrics-server.ts ROOT`.
import { join } from "node:path";
import type { AppContext } from "../src/api/context.ts";
import { startServer } from "../src/cli/serve.ts";
import { loadConfig } from "../src/config/config.ts";

/** A started server and how to stop it. */
export async function startBenchServer(root: string): Promise<{ url: string; ctx: AppContext; stop(): Promise<void> }> {
  const env = { HOME: join(root, "..", "home"), XDG_CACHE_HOME: join(root, "..", "cache"), PATH: process.env.PATH };
  const config = loadConfig({ root, host: "127.0.0.1", port: 0, logLevel: "error", sweepSeconds: 60 }, env);
  const s = await startServer(config);
  return { url: s.url, ctx: s.ctx, stop: s.stop };
}

if (import.meta.main) {
  const root = process.argv[2];
  if (!root) {
    console.error("usage: bun bench/metrics-server.ts ROOT");
    process.exit(2);
  }
  const s = await startBenchServer(root);
  console.log(`listening on ${s.url}`);
  process.on("SIGTERM", () => void s.stop().then(() => process.exit(0)));
}
