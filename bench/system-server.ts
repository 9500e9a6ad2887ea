// A standalone server with only the system routes, for bench/system.ts (measured as its own process).
import { Elysia } from "elysia";
import { systemRoutes } from "../src/api/system.ts";
import { createLogger } from "../src/util/log.ts";

const [root, pathEnv] = process.argv.slice(2);
const closers: (() => void | Promise<void>)[] = [];
const ctx = {
  log: createLogger("warn"),
  root: () => root,
  onClose: (fn: () => void | Promise<void>) => {
    closers.push(fn);
  },
};
// PATH for nvidia-smi: the bench passes the fake's directory on machines without a GPU
process.env.PATH = pathEnv || process.env.PATH;
const app = new Elysia().use(systemRoutes(ctx)).listen({ port: 0, hostname: "127.0.0.1" });
console.log(`listening on http://127.0.0.1:${app.server!.port}`);
process.on("SIGTERM", async () => {
  for (const fn of closers) await fn();
  process.exit(0);
});
