// A standalone server with only the system routes, for bench/system.ts (measured as its own process).
import { Elysia } from "elysia";
import { systemRoutes } from "../src/api/system.ts";
import { startSystemSamplers, type SystemSamplers } from "../src/system/samplers.ts";
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
// samplers start with the first request (so the bench can measure the server without them first), on the
// PATH the bench chose: the fake nvidia-smi's directory on machines without a GPU
let samplers: SystemSamplers | undefined;
const app = new Elysia()
  .use(
    systemRoutes({
      root: ctx.root,
      get system() {
        return (samplers ??= startSystemSamplers(ctx, { pathEnv }));
      },
    }),
  )
  .listen({ port: 0, hostname: "127.0.0.1" });
console.log(`listening on http://127.0.0.1:${app.server!.port}`);
process.on("SIGTERM", async () => {
  for (const fn of closers) await fn();
  process.exit(0);
});
