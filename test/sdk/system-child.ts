// A training script for the TS SDK system-metrics test: `system-child.ts <storage> <path>`; prints the run id.
import { init, Run } from "../../src/sdk/runicorn.ts";

const [storage, path] = process.argv.slice(2);
const run = init({ storage, path, systemInterval: 0.2, env: process.env });
for (let i = 0; i < 12; i++) {
  run.log({ loss: 1 / (i + 1) }, { step: i });
  await new Promise((r) => setTimeout(r, 100));
}
run.finish();
process.stdout.write((run instanceof Run ? run.id : "") + "\n");
