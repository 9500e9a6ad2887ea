// A training script for the SDK process tests: `child-writer.ts <mode> <storage> [runId]`; prints the run dir first.
import { init, Run } from "../../src/sdk/runicorn.ts";

const [mode, storage, runId] = process.argv.slice(2);
// modes that test the exit hooks keep everything buffered until the end (no timed flush)
const holdAll = ["natural", "exit", "throw", "sigterm", "sigterm-own"].includes(mode);
const run = init({
  storage,
  path: "proc/" + mode,
  runId,
  env: {},
  flushIntervalMs: holdAll ? 600_000 : 500,
  heartbeatSeconds: holdAll ? 0 : 5,
});
const dir = run instanceof Run ? run.runDir : "";
process.stdout.write(dir + "\n");

function burst(n: number, tag = "main"): void {
  for (let i = 0; i < n; i++) run.log({ loss: 1 / (i + 1), i, tag });
}

switch (mode) {
  case "natural": // ends without finish(); the exit hook must flush
    burst(5000);
    run.logText("last words");
    break;
  case "exit":
    burst(5000);
    process.exit(3);
    break;
  case "throw":
    burst(5000);
    throw new Error("crash in training");
  case "sigterm": // waits for the parent's SIGTERM with lines still buffered
    burst(5000);
    setInterval(() => {}, 1000);
    process.stdout.write("ready\n");
    break;
  case "sigterm-own": // the program handles SIGTERM itself: the SDK flushes and leaves the exit to it
    burst(5000);
    process.on("SIGTERM", () => {
      run.log({ loss: 0, i: -1, tag: "handler" });
      run.finish("interrupted");
      process.exit(0);
    });
    setInterval(() => {}, 1000);
    process.stdout.write("ready\n");
    break;
  case "steady-async": // logs forever, yielding to the event loop every 100 lines, until kill -9
    process.stdout.write("ready\n");
    for (let i = 0; ; i++) {
      run.log({ loss: 1 / (i + 1), i });
      if (i % 100 === 0) await new Promise((r) => setTimeout(r, 1));
    }
  case "steady-sync": // logs forever without ever yielding, until kill -9
    process.stdout.write("ready\n");
    for (let i = 0; ; i++) {
      run.log({ loss: 1 / (i + 1), i });
      if (i % 1000 === 0) {
        const until = performance.now() + 1;
        while (performance.now() < until) {
          // simulated compute
        }
      }
    }
  case "writer": // one of several processes logging into the same run id
    for (let i = 0; i < 20000; i++) run.log({ i, w: runId }, { step: i });
    run.finish();
    break;
  case "ioerror": // storage is not a directory: every write fails, nothing throws
    burst(100);
    run.logText("text");
    run.summary({ a: 1 });
    run.flushNow();
    run.finish();
    process.stdout.write("survived\n");
    break;
  default:
    throw new Error(`unknown mode ${mode}`);
}
