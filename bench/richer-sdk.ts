// SDK overhead of per-run system metrics (issue 17): log() throughput with sampling every 0.1 s vs off, Python and TS SDKs.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { init, Run } from "../src/sdk/runicorn.ts";
import { finish, reportValue, stats } from "./lib.ts";

const TRIALS = Number(process.env.BENCH_SDK_TRIALS ?? 5);
const PY_LOGS = Number(process.env.BENCH_SDK_PY_LOGS ?? 100_000);
const TS_LOGS = Number(process.env.BENCH_SDK_TS_LOGS ?? 300_000);
const INTERVAL = 0.1;
const SDK = join(import.meta.dir, "..", "sdk", "python");

/** Median of per-pair ratios (on/off, trials interleaved so that machine noise hits both alike). */
function summarise(name: string, off: number[], on: number[]): void {
  const ratios = on.map((v, i) => v / off[i]);
  const med = (xs: number[]) => -stats(xs.map((x) => -x)).median;
  const overhead = (1 - stats(ratios).median) * 100;
  console.log(
    `${name}: log() ${med(off).toFixed(0)}/s sampling off, ${med(on).toFixed(0)}/s sampling every ${INTERVAL} s; ` +
      `on/off ratio median ${stats(ratios).median.toFixed(4)} (pairs: ${ratios.map((r) => r.toFixed(3)).join(" ")})`,
  );
  reportValue(`${name} SDK overhead, system metrics on`, overhead, 1, "%", "lower");
}

/** Python: one process, trials alternating off/on, each a fresh run logging PY_LOGS events. */
async function python(root: string): Promise<void> {
  const code = `import runicorn as rn, time, json, sys
root, n, trials, iv = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
off, on = [], []
for t in range(trials):
    for mode in ((0, off), (iv, on)) if t % 2 == 0 else ((iv, on), (0, off)):
        r = rn.init(path="bench/py", storage=root, system_interval=mode[0])
        t0 = time.perf_counter()
        for i in range(n):
            r.log({"loss": 1.0 / (i + 1), "acc": i * 1e-6})
        mode[1].append(n / (time.perf_counter() - t0))
        r.finish()
print(json.dumps({"off": off, "on": on}))`;
  const p = Bun.spawn(["python3", "-c", code, root, String(PY_LOGS), String(TRIALS), String(INTERVAL)], {
    env: { ...process.env, PYTHONPATH: SDK, RUNICORN_QUIET: "1" },
    stdout: "pipe",
    stderr: "inherit",
  });
  const out = await new Response(p.stdout).text();
  if ((await p.exited) !== 0) throw new Error("python bench failed");
  const r = JSON.parse(out) as { off: number[]; on: number[] };
  summarise("Python", r.off, r.on);
}

/** TS: in this process; the loop yields every 1,000 logs (as a training loop awaiting data does) so timers run. */
async function typescript(root: string): Promise<void> {
  const off: number[] = [];
  const on: number[] = [];
  // one unmeasured run first: the first trial would otherwise pay for compiling log()
  const warm = init({ storage: root, path: "bench/warm", systemInterval: 0, env: {}, handleSignals: false });
  for (let i = 0; i < TS_LOGS; i++) warm.log({ loss: 1 / (i + 1), acc: i * 1e-6 });
  if (warm instanceof Run) warm.finish();
  for (let t = 0; t < TRIALS; t++) {
    const modes: [number, number[]][] = t % 2 === 0 ? [[0, off], [INTERVAL, on]] : [[INTERVAL, on], [0, off]];
    for (const [iv, out] of modes) {
      const run = init({ storage: root, path: "bench/ts", systemInterval: iv, env: {}, handleSignals: false });
      const t0 = performance.now();
      for (let i = 0; i < TS_LOGS; i++) {
        run.log({ loss: 1 / (i + 1), acc: i * 1e-6 });
        if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
      }
      out.push(TS_LOGS / ((performance.now() - t0) / 1000));
      if (run instanceof Run) run.finish();
    }
  }
  summarise("TS", off, on);
}

/** Both SDKs' overhead lines (called by bench/richer.ts, or alone: `bun bench/richer-sdk.ts`). */
export async function sdkSystemOverhead(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "rn-bench-sdk-"));
  try {
    await python(root);
    await typescript(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  await sdkSystemOverhead();
  finish();
}
