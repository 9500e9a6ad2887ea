// Idle cost of a server (issue 13): CPU seconds per minute and RSS with no requests, at 10k and 100k runs.
// `bun bench/idle.ts [--runs 10000,100000] [--minutes 1] [--source]` — roots are generated once under bench/.data/.
import { join } from "node:path";
import { finish, reportValue } from "./lib.ts";
import { generateRoot } from "./scale-data.ts";
import { cpuSeconds, rssMb, startServe } from "./scale.ts";

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const SIZES = opt("runs", "10000,100000").split(",").map(Number);
const MINUTES = Number(opt("minutes", "1"));
const FROM_SOURCE = args.includes("--source");

for (const n of SIZES) {
  const root = join(import.meta.dir, ".data", `scale-${n}`, "root");
  const g = generateRoot(root, n);
  if (g.generated) console.log(`generated ${n.toLocaleString()} runs under ${root}`);
  // an index already built (no first build to wait for): what a viewer left open all day costs
  const s = await startServe(root, join(root, "..", "home-idle"), [], FROM_SOURCE);
  for (;;) {
    const h = (await (await fetch(`${s.url}/api/health`)).json()) as { index?: { state: string; reconciling: boolean } };
    // built, and the reconcile after start (every run re-stated once) is over
    if (h.index?.state === "ready" && !h.index.reconciling) break;
    await Bun.sleep(200);
  }
  // one full list (what the UI's first page load may do), then nothing
  await (await fetch(`${s.url}/api/runs`)).arrayBuffer();
  await Bun.sleep(10_000); // the first light sweep and liveness pass settle
  const cpu0 = await cpuSeconds(s.proc.pid);
  const t0 = performance.now();
  await Bun.sleep(MINUTES * 60_000);
  const perMinute = ((await cpuSeconds(s.proc.pid)) - cpu0) / ((performance.now() - t0) / 60_000);
  const label = `${n.toLocaleString()} runs`;
  // 2 % of one core = 1.2 CPU seconds per minute
  reportValue(`idle CPU, ${label} (CPU s per minute)`, perMinute, 1.2, "s/min", "lower");
  reportValue(`idle RSS after one full list, ${label}`, await rssMb(s.proc.pid), 400, "MB", "lower");
  await s.stop();
}
finish();
