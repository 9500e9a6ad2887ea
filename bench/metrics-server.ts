// Starts the app with the metric routes on a root (for bench/metrics.ts restarts): `bun bench/metrics-server.ts ROOT`.
import { join } from "node:path";
import { createApp } from "../src/api/app.ts";
import type { AppContext } from "../src/api/context.ts";
import { metricsRoutes } from "../src/api/metrics.ts";
import { loadConfig } from "../src/config/config.ts";
import { Storage } from "../src/index/storage.ts";
import { createLogger } from "../src/util/log.ts";

/** A started server and how to stop it. */
export async function startBenchServer(root: string): Promise<{ url: string; ctx: AppContext; stop(): Promise<void> }> {
  const env = { HOME: join(root, "..", "home"), PATH: process.env.PATH };
  const config = loadConfig({ root, host: "127.0.0.1", port: 0, logLevel: "error", sweepSeconds: 60 }, env);
  const log = createLogger("error");
  const storage = await Storage.open(root, join(root, "..", "cache"), log, { sweepSeconds: 60 });
  const closers: (() => void | Promise<void>)[] = [];
  const ctx: AppContext = {
    config,
    log,
    root: () => storage.root,
    index: () => storage.idx,
    runs: storage,
    storage,
    onClose: (fn) => closers.push(fn),
  };
  const app = createApp(ctx).use(metricsRoutes(ctx));
  app.listen({ hostname: "127.0.0.1", port: 0 });
  return {
    url: `http://127.0.0.1:${app.server!.port}`,
    ctx,
    async stop() {
      await app.stop(true);
      for (const fn of closers.reverse()) await fn();
      await storage.close();
    },
  };
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
