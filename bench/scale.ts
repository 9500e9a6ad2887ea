// Benchmark at scale (issue 13): 100,000 runs in the original's format plus one 2M-step run; start, index build,
// list, idle CPU, RSS, cold charts. `bun bench/scale.ts [--runs 100000] [--steps 2000000] [--source] [--idle-s 30] [--cold]`.
// --cold drops the page cache first (root only): a first start after a reboot, where reading 400,000 small files is
// the kernel's work (measured on this VM: 26.6 s cold, 9.3-9.7 s warm; `find | xargs cat` of the same files: 48 s cold).
// Data is generated once under bench/.data/ (git-ignored) and reused; each run starts from a fresh index.
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { finish, miss, report, reportValue, serverCommand, spawnServe, stats, time } from "./lib.ts";
import { generateBigRun, generateRoot } from "./scale-data.ts";

const args = process.argv.slice(2);
const flag = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const N = flag("runs", 100_000);
const STEPS = flag("steps", 2_000_000);
const IDLE_S = flag("idle-s", 30);
const FROM_SOURCE = args.includes("--source");
const COLD = args.includes("--cold");
const DATA = join(import.meta.dir, ".data", `scale-${N}`);
const ROOT = join(DATA, "root");
const BIG_ID = "20261129_050000_b16b16";
const MID_ID = "20261129_050001_100100";

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Bun.file(`/proc/${pid}/stat`).text();
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100 on Linux)
}

/** Resident set size of a process in MB, from /proc/<pid>/status. */
export async function rssMb(pid: number): Promise<number> {
  const m = /VmRSS:\s+(\d+) kB/.exec(await Bun.file(`/proc/${pid}/status`).text());
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Starts `serve` on a free port from a fresh index; resolves once it prints its URL. */
export async function startServe(root: string, home: string, extra: string[] = [], fromSource = false) {
  const cmd = fromSource ? [process.execPath, join(import.meta.dir, "..", "src", "cli", "main.ts")] : serverCommand();
  const env = { PATH: process.env.PATH ?? "", HOME: home, XDG_CONFIG_HOME: join(home, ".config"), XDG_CACHE_HOME: join(home, ".cache") };
  const s = await spawnServe(root, env, extra, cmd);
  return { ...s, stop: async () => { s.proc.kill(); await s.proc.exited; } };
}

if (import.meta.main) {
  const g0 = performance.now();
  const { ids, generated } = generateRoot(ROOT, N);
  generateBigRun(ROOT, BIG_ID, "big", STEPS);
  generateBigRun(ROOT, MID_ID, "mid", 100_000);
  console.log(`${generated ? "generated" : "reusing"} ${N.toLocaleString()} runs + a ${STEPS.toLocaleString()}-step run under ${ROOT} (${((performance.now() - g0) / 1000).toFixed(1)} s)`);
  const home = join(DATA, "home");
  // a fresh index every time: the index lives in ROOT/index
  rmSync(join(ROOT, "index"), { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
  // a build timed while the disk is busy writing back just-generated runs (16.8 s) or freeing the last run's
  // index (hundreds of MB after the 2M-step chart: 13.4-13.8 s) is no user's start (9.3-10.6 s after sync)
  Bun.spawnSync(["sync"]);
  if (COLD) {
    try {
      writeFileSync("/proc/sys/vm/drop_caches", "3\n");
      console.log("(page cache dropped: every file is read from disk, as on a first start after a reboot)");
    } catch (e) {
      console.log(`--cold: cannot drop the page cache (${(e as Error).message}); measuring with what is cached`);
    }
  }

  const s = await startServe(ROOT, home, [], FROM_SOURCE);
  const total = N + 2;
  let firstAnswer = 0;
  let progressSeen = "";
  for (;;) {
    try {
      const r = await fetch(`${s.url}/api/health`);
      if (r.ok) {
        const h = (await r.json()) as { index?: { state: string; runs_indexed: number } };
        if (!firstAnswer) firstAnswer = performance.now() - s.t0;
        if (h.index?.state === "building" && !progressSeen) progressSeen = `${h.index.runs_indexed}`;
        if (h.index?.state === "ready") break;
      }
    } catch {
      // not listening yet
    }
    await Bun.sleep(firstAnswer ? 50 : 5);
  }
  const built = performance.now() - s.t0;
  const buildCpu = await cpuSeconds(s.proc.pid);
  const load = (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ");
  // on a shared machine wall time stretches with the load; CPU seconds (all threads) do not
  console.log(`(server CPU until built: ${buildCpu.toFixed(1)} s, all threads; load average ${load} on ${navigator.hardwareConcurrency} cores)`);
  console.log(`(progress seen while building: ${progressSeen ? `${progressSeen} runs indexed at the first look` : "none — built before the first look"})`);
  reportValue("first answer of /api/health after start", firstAnswer, 1000, "ms", "lower");
  reportValue(`whole index built (${total.toLocaleString()} runs${COLD ? ", cold page cache" : ""})`, built, 12000, "ms", "lower");

  const l0 = performance.now();
  const head = await fetch(`${s.url}/api/runs`);
  const listed = ((await head.json()) as unknown[]).length;
  // the repeats below are served from the whole-list cache while the index is unchanged; this one is not
  console.log(`(first full list after the build, read from the index: ${(performance.now() - l0).toFixed(0)} ms)`);
  const live = ids.filter((_, i) => i % 97 !== 5).length + 2;
  if (listed !== live) {
    console.log(`list holds ${listed} runs, expected ${live}`);
    miss("full list complete");
  }
  report(`GET /api/runs (all ${listed.toLocaleString()})`, await time(async () => (await fetch(`${s.url}/api/runs`)).arrayBuffer(), 15, 2), 150);
  // a live run's row changes every few seconds: the list after each change re-reads only the stretch it is in
  const changing = ids[50_000 % ids.length];
  // judged on the time to the first byte: the server's work (on this VM the 32 MB body's loopback transfer
  // and the client's read alone take 100-250 ms, the same for a cached list); the whole answer is printed too
  const afterChange: number[] = [];
  const afterChangeWhole: number[] = [];
  for (let k = 0; k < 17; k++) {
    const patched = await fetch(`${s.url}/api/runs/${changing}`, { method: "PATCH", headers: { "content-type": "application/json" }, body: JSON.stringify({ alias: `bench-${k}` }) });
    if (!patched.ok) throw new Error(`PATCH ${changing}: ${patched.status} ${await patched.text()}`);
    const t0 = performance.now();
    const res = await fetch(`${s.url}/api/runs`);
    const ttfb = performance.now() - t0;
    const body = await res.text();
    if (k >= 2) {
      afterChange.push(ttfb);
      afterChangeWhole.push(performance.now() - t0);
    }
    if (!body.includes(`"alias":"bench-${k}"`)) {
      console.log(`the list after a change does not show it (alias bench-${k})`);
      miss("list after a change");
      break;
    }
  }
  report("GET /api/runs (all) after a change: first byte", afterChange, 150);
  const whole = stats(afterChangeWhole);
  console.log(`(the whole answer after a change: median ${whole.median.toFixed(0)} ms, p95 ${whole.p95.toFixed(0)} ms)`);

  // idle after the full list (the collection of a large burst's garbage runs 3 s after it)
  await Bun.sleep(6000);
  reportValue("RSS, idle after one full list", await rssMb(s.proc.pid), 400, "MB", "lower");

  // metric rows of the metrics engineer: same HTTP endpoints as the UI
  const c0 = performance.now();
  const chart = await fetch(`${s.url}/api/runs/${BIG_ID}/series?points=2000`);
  await chart.arrayBuffer();
  const cold = performance.now() - c0;
  if (!chart.ok) miss("cold chart answered");
  reportValue(`first downsampled chart, ${(STEPS / 1e6).toFixed(0)}M-step run (cold)`, cold, 800, "ms", "lower");
  const m0 = performance.now();
  await (await fetch(`${s.url}/api/runs/${MID_ID}/series?points=2000`)).arrayBuffer();
  console.log(`first downsampled chart, 100k-step run (fresh index): ${(performance.now() - m0).toFixed(0)} ms — side by side with the original: bench/original-chart.ts`);

  // idle: let the post-build work settle (the rest of the 2M-step run is read in the background after the
  // partial first chart), then count CPU seconds over IDLE_S with no requests
  const settle0 = performance.now();
  for (;;) {
    const h = (await (await fetch(`${s.url}/api/health`)).json()) as { index?: { metrics?: { reading: number; fields_pending: number } } };
    const m = h.index?.metrics;
    if (!m || (m.reading === 0 && m.fields_pending === 0)) break;
    await Bun.sleep(250);
  }
  console.log(`(background metric reads settled ${((performance.now() - settle0) / 1000).toFixed(1)} s after the charts)`);
  await Bun.sleep(5000);
  const cpu0 = await cpuSeconds(s.proc.pid);
  const w0 = performance.now();
  await Bun.sleep(IDLE_S * 1000);
  const cpu = (await cpuSeconds(s.proc.pid)) - cpu0;
  const share = (100 * cpu) / ((performance.now() - w0) / 1000);
  reportValue(`idle CPU after indexing (${IDLE_S} s)`, share, 2, "% core", "lower");
  console.log(`(RSS after the charts and the idle minute: ${(await rssMb(s.proc.pid)).toFixed(0)} MB — adds the metric store's caches of the 2M-step run)`);
  await s.stop();
  finish();
}
