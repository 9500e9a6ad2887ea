// Side by side with the original 0.6 viewer (issue 13): the first downsampled chart of a 100k-step run,
// each server started fresh (ours on a fresh index). `bun bench/original-chart.ts --original DIR [--trials 5]`
// [--pause-ms N] where DIR holds the original's `runicorn` package (its repository's src/; or RUNICORN_ORIGINAL_SRC).
// The original needs Debian's python3-fastapi, python3-uvicorn, python3-filelock, python3-multipart, python3-psutil, python3-aiofiles, python3-paramiko (/usr/bin/python3 is used when present).
// Without it the comparison is not measured and the benchmark says so (exit 1: a figure is missing).
import { existsSync, linkSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { finish, miss, reportValue, spawnServe, stats } from "./lib.ts";
import { generateBigRun } from "./scale-data.ts";

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const ORIGINAL = opt("original") ?? process.env.RUNICORN_ORIGINAL_SRC;
const TRIALS = Number(opt("trials") ?? 5);
/** Milliseconds between "ready" and the chart request, the same for both servers (0: at once, the figure judged). */
const PAUSE_MS = Number(opt("pause-ms") ?? 0);
const STEPS = 100_000;
const POINTS = 2000;
const ID = "20261129_050001_100100";
const DATA = join(import.meta.dir, ".data", "original-chart");
const ROOT = join(DATA, "root");

/** A free TCP port on 127.0.0.1. */
function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/** Starts the original viewer on ROOT and resolves once /api/health answers. */
async function startOriginal(home: string) {
  const port = freePort();
  const proc = Bun.spawn([existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3", "-m", "runicorn", "viewer", "--storage", ROOT, "--port", String(port), "--log-level", "WARNING"], {
    env: { PATH: process.env.PATH ?? "", HOME: home, PYTHONPATH: ORIGINAL! },
    stdout: "ignore",
    stderr: "pipe",
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    if (proc.exitCode !== null) {
      // a missing Python module ends it at once: say which, rather than waiting the whole minute
      const err = (await new Response(proc.stderr).text()).trim().split("\n").slice(-3).join("\n");
      throw new Error(`the original viewer exited (code ${proc.exitCode}) before answering /api/health:\n${err}`);
    }
    try {
      if ((await fetch(`${url}/api/health`)).ok) {
        void new Response(proc.stderr).text().catch(() => ""); // keep draining: a full pipe would block it
        return { url, stop: async () => { proc.kill(); await proc.exited; } };
      }
    } catch {
      // not listening yet
    }
    await Bun.sleep(100);
  }
  proc.kill();
  throw new Error("the original viewer did not answer /api/health within 60 s");
}

/** Ours from the compiled binary (or sources), on a fresh index of ROOT. */
async function startOurs(home: string) {
  rmSync(join(ROOT, "index"), { recursive: true, force: true });
  const s = await spawnServe(ROOT, { PATH: process.env.PATH ?? "", HOME: home });
  for (;;) {
    const r = await fetch(`${s.url}/api/health`);
    if (r.ok && ((await r.json()) as { index?: { state: string } }).index?.state === "ready") break;
    await Bun.sleep(20);
  }
  return { url: s.url, stop: async () => { s.proc.kill(); await s.proc.exited; } };
}

/** Times the first `metrics_step?downsample=POINTS` after a fresh start, TRIALS times. */
async function firstChart(start: (home: string) => Promise<{ url: string; stop: () => Promise<void> }>): Promise<{ ms: number[]; rows: number }> {
  const ms: number[] = [];
  let rows = 0;
  for (let t = 0; t < TRIALS; t++) {
    const home = join(DATA, "home");
    rmSync(home, { recursive: true, force: true });
    mkdirSync(home, { recursive: true });
    const s = await start(home);
    try {
      if (PAUSE_MS > 0) await Bun.sleep(PAUSE_MS);
      const t0 = performance.now();
      const r = await fetch(`${s.url}/api/runs/${ID}/metrics_step?downsample=${POINTS}`);
      const body = (await r.json()) as { rows: unknown[]; total: number };
      ms.push(performance.now() - t0);
      if (!r.ok || body.total !== STEPS) throw new Error(`unexpected answer: ${r.status} total ${body.total}`);
      rows = body.rows.length;
    } finally {
      await s.stop();
    }
  }
  return { ms, rows };
}

// the 100k-step run of bench/scale.ts alone in a root (hard links when that data exists)
const src = join(import.meta.dir, ".data", "scale-100000", "root", "runs", "bench", "mid", ID);
const dst = join(ROOT, "runs", "bench", "mid", ID);
if (!existsSync(join(dst, "events.jsonl"))) {
  if (existsSync(join(src, "events.jsonl"))) {
    mkdirSync(dst, { recursive: true });
    for (const f of ["meta.json", "status.json", "summary.json", "events.jsonl"]) linkSync(join(src, f), join(dst, f));
  } else generateBigRun(ROOT, ID, "mid", STEPS);
}

/** The load average (1, 5, 15 min) and cores: the figures below are only comparable on a quiet machine. */
async function load(): Promise<string> {
  const text = await Bun.file("/proc/loadavg").text().catch(() => "");
  return text ? `load average ${text.split(" ").slice(0, 3).join(" ")} on ${navigator.hardwareConcurrency} cores` : "load average unknown";
}

console.log(`(${await load()} before)`);
const ours = await firstChart(startOurs);
const o = stats(ours.ms);
const when = PAUSE_MS > 0 ? `${PAUSE_MS} ms after ready` : "at once after ready";
console.log(`ours: first metrics_step?downsample=${POINTS} of a ${STEPS.toLocaleString()}-step run, fresh index, ${when}: median ${o.median.toFixed(0)} ms, p95 ${o.p95.toFixed(0)} ms (${ours.rows} rows, ${TRIALS} fresh starts)`);
if (!ORIGINAL || !existsSync(join(ORIGINAL, "runicorn", "__init__.py"))) {
  console.log("the original: not measured (give --original DIR, the folder holding its runicorn package)");
  miss("side by side with the original");
} else {
  const orig = await firstChart(startOriginal);
  const g = stats(orig.ms);
  console.log(`original 0.6: median ${g.median.toFixed(0)} ms, p95 ${g.p95.toFixed(0)} ms (${orig.rows} rows, ${TRIALS} fresh starts)`);
  reportValue("first downsampled chart, 100k steps: speed-up", g.median / o.median, 10, "×", "higher");
}
console.log(`(${await load()} after)`);
finish();
