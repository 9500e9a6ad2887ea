// Per-run system metrics of the TS SDK: samples process, host and GPU figures into the run's system.jsonl (like the Python SDK).
import { execFile } from "node:child_process";
import { appendFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { cpus, freemem, totalmem } from "node:os";

type Env = Record<string, string | undefined>;

/** Seconds between samples unless told otherwise. */
export const DEFAULT_SYSTEM_INTERVAL = 10;
/** The first sample comes this soon after init (or after one interval, if shorter). */
const FIRST_SAMPLE_AFTER = 1;
const GPU_FIELDS = "index,uuid,utilization.gpu,memory.used,memory.total,power.draw,temperature.gpu";
const PAGE_MB = 4096 / (1024 * 1024);
const CLK_TCK = 100;

/** Seconds between samples (0 = off) from init's options, then RUNICORN_SYSTEM_METRICS / RUNICORN_SYSTEM_INTERVAL. */
export function resolveSystemInterval(enabled: boolean | undefined, interval: number | undefined, env: Env): number {
  const on = enabled ?? !["0", "false", "no", "off"].includes((env.RUNICORN_SYSTEM_METRICS ?? "").trim().toLowerCase());
  if (!on) return 0;
  let v = interval;
  if (v === undefined) {
    const raw = (env.RUNICORN_SYSTEM_INTERVAL ?? "").trim();
    v = raw === "" || !Number.isFinite(Number(raw)) ? DEFAULT_SYSTEM_INTERVAL : Number(raw);
  }
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
    throw new RangeError(`systemInterval must be >= 0 seconds (0 turns sampling off), got ${String(interval)}`);
  }
  return v;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined; // gone or not readable: that figure is left out
  }
}

/** utime+stime (ticks) and rss (pages) of a process, from /proc/PID/stat. */
function procStat(pid: number): [number, number] | undefined {
  const s = read(`/proc/${pid}/stat`);
  if (!s) return undefined;
  const rest = s.slice(s.lastIndexOf(")") + 2).split(" ");
  const cpu = Number(rest[11]) + Number(rest[12]);
  const rss = Number(rest[21]);
  return Number.isFinite(cpu) && Number.isFinite(rss) ? [cpu, rss] : undefined;
}

/** The process and its descendants (through /proc/PID/task/TID/children). */
function descendants(pid: number): number[] {
  const out = [pid];
  const seen = new Set(out);
  for (let i = 0; i < out.length; i++) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      for (const c of (read(`/proc/${out[i]}/task/${tid}/children`) ?? "").split(" ")) {
        const n = Number(c);
        if (c && Number.isInteger(n) && !seen.has(n)) {
          seen.add(n);
          out.push(n);
        }
      }
    }
  }
  return out;
}

function num(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const v = Number(s.trim());
  return s.trim() !== "" && Number.isFinite(v) ? v : undefined; // "[N/A]", "[Not Supported]"
}

function smi(args: string[]): Promise<string[][] | undefined> {
  return new Promise((resolve) => {
    execFile("nvidia-smi", args, { timeout: 10_000, windowsHide: true }, (err, stdout) => {
      if (err) return resolve(undefined);
      resolve(
        String(stdout)
          .split("\n")
          .filter((l) => l.trim())
          .map((l) => l.split(",").map((c) => c.trim())),
      );
    });
  });
}

/** Samples on an unref'd timer; GPU figures come from nvidia-smi asynchronously (log() never waits on it). */
export class SystemSampler {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private readonly linux = process.platform === "linux" && existsSync(`/proc/${process.pid}/stat`);
  private prevProc: [number, number] | undefined; // wall s, cpu s
  private prevHost: [number, number] | undefined; // busy, total ms
  private smiOk = true;
  private gpuUuids: Set<string> | undefined;
  private inFlight = false;
  samples = 0;

  constructor(
    readonly path: string,
    readonly intervalSec: number,
    private readonly env: Env = process.env,
  ) {}

  start(): void {
    this.procCpu(this.linux ? descendants(process.pid).map(procStat).filter((s): s is [number, number] => s !== undefined) : []);
    this.hostCpu();
    this.schedule(Math.min(FIRST_SAMPLE_AFTER, this.intervalSec));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(sec: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.once().finally(() => this.schedule(this.intervalSec));
    }, sec * 1000);
    if (typeof this.timer === "object" && typeof this.timer.unref === "function") this.timer.unref();
  }

  private async once(): Promise<void> {
    if (this.inFlight) return;
    this.inFlight = true;
    try {
      const data = await this.sample();
      if (this.stopped) return;
      const t = Date.now() / 1000;
      data.step = Math.round(t * 1000); // the row key: the sample's time in ms (unique and rising, across resumes too)
      data.time = t;
      appendFileSync(this.path, JSON.stringify({ ts: t, type: "system", data }) + "\n");
      this.samples++;
    } catch {
      // a sampler never disturbs training: a failed sample (disk full, run dir gone) is skipped
    } finally {
      this.inFlight = false;
    }
  }

  /** One sample: `sys/…` keys (what this platform can tell). */
  async sample(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    const pids = this.linux ? descendants(process.pid) : [process.pid];
    // one read of each /proc/PID/stat serves both CPU and RSS
    const stats = this.linux ? pids.map(procStat).filter((s): s is [number, number] => s !== undefined) : [];
    const cpu = this.procCpu(stats);
    if (cpu !== undefined) out["sys/cpu_percent"] = round(cpu);
    out["sys/proc_rss_mb"] = round(this.procRss(stats));
    const host = this.hostCpu();
    if (host !== undefined) out["sys/host_cpu_percent"] = round(host);
    const total = totalmem();
    const avail = this.memAvailable() ?? freemem();
    if (total > 0) {
      out["sys/host_mem_used_mb"] = round((total - avail) / (1024 * 1024));
      out["sys/host_mem_percent"] = round(((total - avail) / total) * 100);
    }
    Object.assign(out, await this.gpus(pids));
    return out;
  }

  private procCpu(stats: [number, number][]): number | undefined {
    const now = performance.now() / 1000;
    let total = 0;
    if (this.linux) {
      for (const s of stats) total += s[0] / CLK_TCK;
    } else {
      const u = process.cpuUsage();
      total = (u.user + u.system) / 1e6;
    }
    const prev = this.prevProc;
    this.prevProc = [now, total];
    if (!prev || now <= prev[0]) return undefined;
    return Math.max(0, ((total - prev[1]) / (now - prev[0])) * 100);
  }

  private procRss(stats: [number, number][]): number {
    if (!this.linux) return process.memoryUsage.rss() / (1024 * 1024);
    let pages = 0;
    for (const s of stats) pages += s[1];
    return pages * PAGE_MB;
  }

  private hostCpu(): number | undefined {
    let busy = 0;
    let total = 0;
    for (const c of cpus()) {
      const t = c.times;
      busy += t.user + t.nice + t.sys + t.irq;
      total += t.user + t.nice + t.sys + t.irq + t.idle;
    }
    const prev = this.prevHost;
    this.prevHost = [busy, total];
    if (!prev || total <= prev[1]) return undefined;
    return Math.min(100, Math.max(0, ((busy - prev[0]) / (total - prev[1])) * 100));
  }

  private memAvailable(): number | undefined {
    const m = /^MemAvailable:\s+(\d+)/m.exec(read("/proc/meminfo") ?? "");
    return m ? Number(m[1]) * 1024 : undefined;
  }

  private async gpus(pids: number[]): Promise<Record<string, number>> {
    if (!this.smiOk) return {};
    const rows = await smi([`--query-gpu=${GPU_FIELDS}`, "--format=csv,noheader,nounits"]);
    if (!rows) {
      this.smiOk = false; // no nvidia-smi (or no driver): silently no GPU keys from now on
      return {};
    }
    const apps = (await smi(["--query-compute-apps=pid,gpu_uuid", "--format=csv,noheader,nounits"])) ?? [];
    const mine = new Set(pids);
    for (const a of apps) {
      if (a.length >= 2 && mine.has(Number(a[0]))) (this.gpuUuids ??= new Set()).add(a[1]);
    }
    const cvd = this.env.CUDA_VISIBLE_DEVICES?.trim();
    const visible = !this.gpuUuids && cvd ? new Set(cvd.split(",").map((v) => v.trim())) : undefined;
    const out: Record<string, number> = {};
    for (const r of rows) {
      if (r.length < 7) continue;
      const [idx, uuid] = r;
      if (this.gpuUuids && !this.gpuUuids.has(uuid)) continue;
      if (visible && !visible.has(idx) && !visible.has(uuid)) continue;
      const pre = `sys/gpu${idx}/`;
      const [util, used, total, power, temp] = r.slice(2, 7).map(num);
      if (util !== undefined) out[pre + "util"] = util;
      if (used !== undefined) {
        out[pre + "mem_used_mb"] = used;
        if (total) out[pre + "mem_percent"] = round((used / total) * 100);
      }
      if (power !== undefined) out[pre + "power_w"] = power;
      if (temp !== undefined) out[pre + "temp_c"] = temp;
    }
    return out;
  }
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}
