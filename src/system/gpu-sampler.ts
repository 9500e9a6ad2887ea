// Background GPU sampler: NVML or nvidia-smi every few seconds, the latest telemetry, a 10-minute history and per-pid GPU memory.
import { readFileSync } from "node:fs";
import type { Logger } from "../util/log.ts";
import {
  APPS_QUERY_ARGS,
  failureReason,
  findNvidiaSmi,
  GPU_QUERY_ARGS,
  type GpuInfo,
  type GpuProcess,
  parseComputeApps,
  parseGpuCsv,
} from "./nvidia-smi.ts";
import type { Nvml } from "./nvml.ts";
import { runWithTimeout } from "./spawn-timeout.ts";

/** `GET /api/gpu/telemetry`: spec §3.9 shape plus `processes` and `source`. */
export type GpuTelemetry =
  | { available: true; ts: number; gpus: GpuInfo[]; processes: GpuProcess[]; source: "nvml" | "nvidia-smi" }
  | { available: false; reason: string };

/** `GET /api/gpu/history`: columnar series (uPlot order: `ts` then one array per field), oldest first. */
export interface GpuHistory {
  available: boolean;
  interval_s: number;
  window_s: number;
  ts: number[];
  gpus: GpuHistorySeries[];
}

/** The per-GPU columns of the history; `null` where the GPU had no value (or was absent) at that time. */
export interface GpuHistorySeries {
  index: number;
  name: string;
  uuid: string | null;
  util_gpu: (number | null)[];
  util_mem: (number | null)[];
  mem_used_mib: (number | null)[];
  mem_used_pct: (number | null)[];
  temp_c: (number | null)[];
  power_w: (number | null)[];
  clock_sm_mhz: (number | null)[];
  fan_speed_pct: (number | null)[];
}

const SERIES_FIELDS = [
  "util_gpu",
  "util_mem",
  "mem_used_mib",
  "mem_used_pct",
  "temp_c",
  "power_w",
  "clock_sm_mhz",
  "fan_speed_pct",
] as const;

/** GPU memory held by a process and its descendants (e.g. DataLoader workers, torchrun ranks). */
export interface PidGpuUsage {
  pid: number;
  used_memory_mib: number;
  processes: GpuProcess[];
}

/** Options of the GPU sampler; tests shorten the intervals and point `pathEnv` at a fake nvidia-smi. */
export interface GpuSamplerOptions {
  log: Logger;
  /** PATH to search for nvidia-smi; the process's own PATH when omitted. */
  pathEnv?: string;
  /** NVML reader; when given, nvidia-smi is only used if NVML stops answering. */
  nvml?: Nvml;
  intervalMs?: number;
  /**
   * Interval while nobody has asked for GPU data for `idleAfterMs` and NVML is not loaded: each
   * nvidia-smi call costs tens of milliseconds of CPU on a GPU server, so an unwatched viewer slows down.
   */
  idleIntervalMs?: number;
  idleAfterMs?: number;
  /** Deadline of one nvidia-smi call; a binary that takes longer is killed. */
  timeoutMs?: number;
  historyWindowMs?: number;
  /** Where /proc is (for process ancestry); "/proc" by default. */
  procRoot?: string;
}

const NOT_FOUND = "nvidia-smi not found in PATH"; // spec §3.9, exact [verified]

/** Samples GPUs in the background; every getter answers from memory. */
export class GpuSampler {
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly idleIntervalMs: number;
  private readonly idleAfterMs: number;
  private lastAsked = 0;
  private timerDue = 0;
  private readonly timeoutMs: number;
  private readonly windowMs: number;
  private readonly procRoot: string;
  private nvml: Nvml | undefined;
  private current: GpuTelemetry | undefined;
  private history: { ts: number; gpus: GpuInfo[] }[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private inFlight: Promise<void> | undefined;
  private abort = new AbortController();
  private stopped = false;
  private lastReason: string | undefined;

  constructor(private readonly opts: GpuSamplerOptions) {
    this.log = opts.log;
    this.intervalMs = opts.intervalMs ?? 2000;
    this.idleIntervalMs = opts.idleIntervalMs ?? 10_000;
    this.idleAfterMs = opts.idleAfterMs ?? 60_000;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.windowMs = opts.historyWindowMs ?? 10 * 60 * 1000;
    this.procRoot = opts.procRoot ?? "/proc";
    this.nvml = opts.nvml;
  }

  /** Takes the first sample now and then one every interval, until `stop`. */
  start(): void {
    if (this.timer || this.inFlight || this.stopped) return;
    this.tick();
  }

  /** Stops sampling, kills a running nvidia-smi and releases NVML. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.abort.abort();
    await this.inFlight;
    this.nvml?.close();
    this.nvml = undefined;
  }

  /** The latest telemetry; waits only for the very first sample (bounded by the nvidia-smi deadline). */
  async telemetry(): Promise<GpuTelemetry> {
    this.touch();
    if (!this.current && this.inFlight) await this.inFlight;
    return this.current ?? { available: false, reason: "GPU sampler is not running" };
  }

  /** The latest telemetry if there is one, without waiting. */
  latest(): GpuTelemetry | undefined {
    return this.current;
  }

  /** Samples newer than `since` (epoch seconds), as columns per GPU. */
  historySince(since = 0): GpuHistory {
    this.touch();
    const rows = this.history.filter((r) => r.ts > since);
    const byIndex = new Map<number, GpuHistorySeries>();
    rows.forEach((row, i) => {
      for (const g of row.gpus) {
        let s = byIndex.get(g.index);
        if (!s) {
          s = { index: g.index, name: g.name, uuid: g.uuid } as GpuHistorySeries;
          for (const f of SERIES_FIELDS) s[f] = new Array(rows.length).fill(null);
          byIndex.set(g.index, s);
        }
        for (const f of SERIES_FIELDS) s[f][i] = g[f] ?? null;
      }
    });
    return {
      available: this.current?.available ?? false,
      interval_s: this.intervalMs / 1000,
      window_s: this.windowMs / 1000,
      ts: rows.map((r) => r.ts),
      gpus: [...byIndex.values()].sort((a, b) => a.index - b.index),
    };
  }

  /**
   * GPU memory of `pid` and of its descendants in the latest sample, or undefined when none of them
   * holds GPU memory. PIDs are those of this host's PID namespace (inside a container nvidia-smi
   * may report host PIDs, which then match nothing).
   */
  findPidUsage(pid: number): PidGpuUsage | undefined {
    this.touch();
    const t = this.current;
    if (!t?.available) return undefined;
    const mine = t.processes.filter((p) => p.pid === pid || this.descendsFrom(p.pid, pid));
    if (mine.length === 0) return undefined;
    return { pid, used_memory_mib: mine.reduce((a, p) => a + (p.used_memory_mib ?? 0), 0), processes: mine };
  }

  private descendsFrom(child: number, ancestor: number): boolean {
    let pid = child;
    for (let hops = 0; hops < 64 && pid > 1; hops++) {
      const ppid = readPpid(this.procRoot, pid);
      if (ppid === undefined) return false;
      if (ppid === ancestor) return true;
      pid = ppid;
    }
    return false;
  }

  /** Notes a reader; an idle sampler due later than one normal interval from now is brought forward. */
  private touch(): void {
    this.lastAsked = Date.now();
    if (this.timer && this.timerDue - this.lastAsked > this.intervalMs) this.schedule(0);
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timerDue = Date.now() + delayMs;
    this.timer = setTimeout(() => this.tick(), delayMs);
    this.timer.unref(); // sampling alone never keeps the process alive
  }

  private tick(): void {
    this.timer = undefined;
    this.inFlight = this.sample()
      .catch((err) => this.log.error("GPU sample failed", err))
      .finally(() => {
        this.inFlight = undefined;
        if (this.stopped) return;
        const idle = !this.nvml && Date.now() - this.lastAsked > this.idleAfterMs;
        this.schedule(idle ? this.idleIntervalMs : this.intervalMs);
      });
  }

  /** Takes one sample and publishes it. */
  private async sample(): Promise<void> {
    const next = await this.read();
    if (this.stopped) return;
    this.publish(next);
  }

  private async read(): Promise<GpuTelemetry> {
    const ts = Date.now() / 1000;
    if (this.nvml) {
      const r = this.nvml.read();
      if (r.ok) return { available: true, ts, gpus: r.gpus, processes: r.processes, source: "nvml" };
      this.log.debug(`NVML read failed (${r.reason}); trying nvidia-smi`);
    }
    const bin = this.opts.pathEnv !== undefined ? findNvidiaSmi(this.opts.pathEnv) : findOnProcessPath();
    if (!bin) return { available: false, reason: NOT_FOUND };
    const opts = { timeoutMs: this.timeoutMs, signal: this.abort.signal };
    const [g, a] = await Promise.all([
      runWithTimeout([bin, ...GPU_QUERY_ARGS], opts),
      runWithTimeout([bin, ...APPS_QUERY_ARGS], opts),
    ]);
    if (g.timedOut) return { available: false, reason: `nvidia-smi did not answer within ${this.timeoutMs / 1000} s` };
    const gpus = parseGpuCsv(g.stdout);
    if (gpus.length === 0) return { available: false, reason: failureReason(g.stdout, g.stderr, g.code) };
    // processes are extra: a slow or failing compute-apps query leaves the list short, not the GPUs unavailable;
    // rows printed before a non-zero exit (a lost GPU) are still real
    const processes = a.timedOut ? [] : parseComputeApps(a.stdout, gpus);
    return { available: true, ts: Date.now() / 1000, gpus, processes, source: "nvidia-smi" };
  }

  private publish(next: GpuTelemetry): void {
    this.current = next;
    if (next.available) {
      if (this.lastReason !== undefined) this.log.info(`GPU telemetry available again (${next.gpus.length} GPU(s))`);
      this.lastReason = undefined;
      this.history.push({ ts: next.ts, gpus: next.gpus });
      const cutoff = next.ts - this.windowMs / 1000;
      let drop = 0;
      while (drop < this.history.length && this.history[drop].ts < cutoff) drop++;
      if (drop) this.history.splice(0, drop);
    } else if (next.reason !== this.lastReason) {
      // log each new reason once, not every tick
      if (next.reason === NOT_FOUND) this.log.debug(next.reason);
      else this.log.warn(`GPU telemetry unavailable: ${next.reason}`);
      this.lastReason = next.reason;
    }
  }
}

function findOnProcessPath(): string | undefined {
  return Bun.which("nvidia-smi") ?? (process.platform === "win32" ? findNvidiaSmi("", "win32") : undefined);
}

/** Parent pid from /proc/<pid>/stat (the field after the parenthesised command name). */
function readPpid(procRoot: string, pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`${procRoot}/${pid}/stat`, "utf8");
  } catch {
    return undefined; // the process is gone or /proc is not there
  }
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const ppid = Number(rest[1]);
  return Number.isInteger(ppid) ? ppid : undefined;
}
