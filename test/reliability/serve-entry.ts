// Child-process entry for reliability tests: the real `runicorn serve` command, with the metric routes mounted until features.ts lists them.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { extraFeatures } from "../../src/api/features.ts";
import { metricsRoutes } from "../../src/api/metrics.ts";
import { serveCommand } from "../../src/cli/serve.ts";

// once the lead mounts metricsRoutes in features.ts this entry is the same as `src/cli/main.ts serve`
const featuresSource = readFileSync(join(import.meta.dir, "../../src/api/features.ts"), "utf8");
if (!featuresSource.includes("metricsRoutes")) extraFeatures.push((ctx) => metricsRoutes(ctx));

const [cmd, ...argv] = process.argv.slice(2);
if (cmd !== "serve") throw new Error("usage: serve-entry.ts serve [options]");
serveCommand(argv, { ...process.env })
  .then((code) => process.exit(code))
  .catch((e) => {
    console.error(`runicorn: ${(e as Error).message}`);
    process.exit(1);
  });
