// Benchmark of system telemetry (issue 6): request latency of the system endpoints and the samplers' CPU cost per minute.
import { chmodSync, copyFileSync, cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { computeStorageStats } from "../src/system/storage-stats.ts";
import { finish, report, reportValue, stats, time } from "./lib.ts";

const WINDOW_S = Number(process.env.BENCH_WINDOW_S ?? 20);
const RUNS = Number(process.env.BENCH_RUNS ?? 2000);
const N = 300;
const base = join(tmpdir(), `rn-bench-system-${process.pid}`);
const root = join(base, "root");
const fixtures = join(import.meta.dir, "../test/fixtures/nvidia-smi");
const TICK = 100; // USER_HZ of /proc/<pid>/stat on Linux

/** A root like a lab's: the SDK probe plus RUNS generated runs of four files each in nested paths. */
function generateRoot(): void {
  cpSync("/work/shared/fixtures/runicorn-0.6/rn-probe", root, { recursive: true });
  Bun.spawnSync(["chmod", "-R", "u+w", root]);
  for (let i = 0; i < RUNS; i++) {
    const dir = join(root, "runs", `team${i % 5}`, `exp${i % 40}`, `20250101_${String(100000 + i)}_${i.toString(16).padStart(6, "0")}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "meta.json"), `{"id": "${i}", "path": "team${i % 5}/exp${i % 40}"}`);
    writeFileSync(join(dir, "status.json"), '{"status": "finished"}');
    writeFileSync(join(dir, "events.jsonl"), '{"type": "metrics", "data": {"step": 1, "loss": 0.5}}\n'.repeat(50));
    writeFileSync(join(dir, "logs.txt"), "epoch 1 done\n".repeat(20));
  }
}

/** The fake nvidia-smi replaying 8× H100, unless a real one is on PATH. */
function nvidiaSmiPath(): { pathEnv: string; what: string } {
  if (Bun.which("nvidia-smi")) return { pathEnv: process.env.PATH ?? "", what: "real nvidia-smi" };
  const bin = join(base, "bin");
  mkdirSync(bin, { recursive: true });
  copyFileSync(join(fixtures, "fake-nvidia-smi.sh"), join(bin, "nvidia-smi"));
  chmodSync(join(bin, "nvidia-smi"), 0o755);
  cpSync(fixtures, join(bin, "fixtures"), { recursive: true });
  writeFileSync(join(bin, "scenario"), "h100x8-550");
  return { pathEnv: `${bin}:${process.env.PATH ?? ""}`, what: "fake nvidia-smi (shell script replaying 8× H100; a real one costs more per call)" };
}

/** CPU seconds of a process and of its reaped children (nvidia-smi calls), from /proc/<pid>/stat. */
function cpuOf(pid: number): { self: number; children: number } {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ").map(Number);
  // fields 14–17 of stat(5): utime stime cutime cstime; f[0] is field 3
  return { self: (f[11] + f[12]) / TICK, children: (f[13] + f[14]) / TICK };
}

/** CPU milliseconds per minute of `pid` (and its children) over WINDOW_S seconds while `during` runs. */
async function cpuPerMinute(pid: number, during?: () => Promise<void>): Promise<{ self: number; children: number }> {
  const a = cpuOf(pid);
  const end = Date.now() + WINDOW_S * 1000;
  if (during) while (Date.now() < end) await during();
  else await Bun.sleep(WINDOW_S * 1000);
  const b = cpuOf(pid);
  const scale = (60 / WINDOW_S) * 1000;
  return { self: (b.self - a.self) * scale, children: (b.children - a.children) * scale };
}

function line(name: string, c: { self: number; children: number }, baseline?: { self: number; children: number }): void {
  const total = c.self + c.children - (baseline ? baseline.self + baseline.children : 0);
  console.log(
    `${name.padEnd(44)} server ${c.self.toFixed(0).padStart(6)} ms/min   nvidia-smi ${c.children.toFixed(0).padStart(6)} ms/min   ` +
      `sampling cost ${total.toFixed(0).padStart(6)} ms/min = ${(total / 600).toFixed(2)} % of a core${baseline ? " (baseline subtracted)" : ""}`,
  );
}

mkdirSync(base, { recursive: true });
try {
  console.log(`generating a root of ${RUNS} runs …`);
  generateRoot();

  // cold storage walk, in-process: time to the figures and the longest event-loop stall meanwhile, next to
  // the stall of an idle loop over the same time (on a shared machine the OS alone delays timers)
  const stallProbe = () => {
    let last = performance.now();
    let worst = 0;
    const t = setInterval(() => {
      const now = performance.now();
      worst = Math.max(worst, now - last);
      last = now;
    }, 1);
    return () => (clearInterval(t), worst);
  };
  const walks: number[] = [];
  let stop = stallProbe();
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const s = await computeStorageStats(root);
    walks.push(performance.now() - t0);
    if (i === 0) console.log(`storage walk: ${s.runs.runs_count} runs, ${s.total.size_human}`);
  }
  const walkStall = stop();
  stop = stallProbe();
  await Bun.sleep(walks.reduce((a, b) => a + b, 0));
  const idleStall = stop();
  console.log(`${"storage stats walk (cold cache, in-process)".padEnd(44)} median ${stats(walks).median.toFixed(1).padStart(8)} ms`);
  // the stall the walk adds beyond an idle loop's own (on a shared machine the OS alone delays timers)
  reportValue("storage walk: event-loop stall beyond idle", Math.max(0, walkStall - idleStall), 5, "ms", "lower");
  console.log(`${"".padEnd(44)} (longest stall ${walkStall.toFixed(1)} ms, idle loop ${idleStall.toFixed(1)} ms)`);

  const { pathEnv, what } = nvidiaSmiPath();
  console.log(`GPU source: ${what}`);
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "system-server.ts"), root, pathEnv], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = proc.stdout.getReader();
  let out = "";
  while (!/listening on (\S+)/.test(out)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited: ${out}`);
    out += new TextDecoder().decode(value);
  }
  const url = /listening on (\S+)/.exec(out)![1];
  const get = async (p: string) => {
    const r = await fetch(url + p);
    if (r.status !== 200) throw new Error(`${p}: ${r.status}`);
    return r.json();
  };

  console.log(`\nCPU over ${WINDOW_S} s windows, scaled to a minute (BENCH_WINDOW_S=60 for a full minute):`);
  await Bun.sleep(1000);
  const baseline = await cpuPerMinute(proc.pid);
  line("server idle, samplers not started", baseline);
  await get("/api/storage/stats"); // starts the samplers
  await Bun.sleep(2000);
  const idle = await cpuPerMinute(proc.pid);
  line("samplers running, nobody watching", idle, baseline);
  const watched = await cpuPerMinute(proc.pid, async () => {
    await get("/api/gpu/telemetry");
    await get("/api/system/monitor");
    await Bun.sleep(2000);
  });
  line("performance page open (polls every 2 s)", watched, baseline);

  console.log(`\nRequest latency, ${N} sequential requests each, samplers warm (original: /api/system/monitor 1510 ms, spec §8.3):`);
  for (const p of ["/api/gpu/telemetry", "/api/gpu/history", "/api/system/monitor", "/api/system/temperatures", "/api/storage/stats"]) {
    report(`GET ${p}`, await time(() => get(p), N, 10), 5);
  }
  const h = (await get("/api/gpu/history")) as { ts: number[]; gpus: unknown[] };
  console.log(`(history held ${h.ts.length} samples of ${h.gpus.length} GPUs)`);
  proc.kill("SIGTERM");
  await proc.exited;
} finally {
  rmSync(base, { recursive: true, force: true });
}
finish();
