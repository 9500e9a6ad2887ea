// Background host sampler: CPU deltas, memory, disk and temperatures read every few seconds, served from memory.
import type { Logger } from "../util/log.ts";
import {
  type CpuFrequency,
  cpuPercent,
  type CpuStat,
  type DiskIo,
  type MemoryInfo,
  readCpuFrequency,
  readCpuStat,
  readDiskIo,
  readDiskUsage,
  readLoadAvg,
  readMemory,
  readPhysicalCores,
  readPlatform,
  hostSource,
  type HostSource,
  osSourceGaps,
} from "./host-readers.ts";
import { readTemperatures, type Temperatures } from "./temperatures.ts";

/** `GET /api/system/monitor` (spec §3.9 shape; `io` gains per-second rates). */
export type HostMonitor =
  | {
      available: true;
      ts: number;
      cpu: {
        percent: number;
        count: number;
        logical_count: number;
        per_core: number[] | null;
        frequency: CpuFrequency | null;
        load_avg: [number, number, number] | null;
      } | null;
      memory: MemoryInfo | Record<string, never>;
      disk:
        | {
            path: string;
            total: number;
            used: number;
            free: number;
            percent: number;
            io: (DiskIo & { read_bytes_per_s: number | null; write_bytes_per_s: number | null }) | null;
          }
        | Record<string, never>;
      platform: { system: string; release: string; machine: string };
      /** `proc` (Linux) or `os` (macOS, Windows: node:os figures only). */
      source: HostSource;
      /** Blocks that `os` cannot fill (`swap`, `disk_io`, `load_avg`); empty with `proc`. */
      unavailable: string[];
    }
  | { available: false; reason: string };

/** Options of the host sampler; tests point `procRoot`/`sysRoot` at prepared trees. */
export interface HostSamplerOptions {
  log: Logger;
  /** The path whose filesystem `disk` describes: the storage root (it may change at run time). */
  diskPath: () => string;
  procRoot?: string;
  sysRoot?: string;
  intervalMs?: number;
  /** Temperatures and CPU frequency change slowly and some drivers are slow to read: sampled less often. */
  slowIntervalMs?: number;
  /** `process.platform` (tests pass `darwin`/`win32` with an empty procRoot). */
  platform?: string;
}

/** Samples the host in the background; `monitor()` and `temperatures()` answer from memory. */
export class HostSampler {
  private readonly procRoot: string;
  private readonly sysRoot: string;
  private readonly intervalMs: number;
  private readonly slowIntervalMs: number;
  private readonly platform: string;
  private timer: ReturnType<typeof setInterval> | undefined;
  private prevCpu: CpuStat | undefined;
  private prevIo: { at: number; io: DiskIo } | undefined;
  private physicalCores: number | undefined;
  private frequency: CpuFrequency | null = null;
  private temps: Temperatures | undefined;
  private lastSlow = 0;
  private current: HostMonitor | undefined;
  private failing = false;

  constructor(private readonly opts: HostSamplerOptions) {
    this.procRoot = opts.procRoot ?? "/proc";
    this.sysRoot = opts.sysRoot ?? "/sys";
    this.intervalMs = opts.intervalMs ?? 2000;
    this.slowIntervalMs = opts.slowIntervalMs ?? 10_000;
    this.platform = opts.platform ?? process.platform;
  }

  /** Takes a first sample at once (CPU since boot) and then one every interval. */
  start(): void {
    if (this.timer) return;
    this.physicalCores = readPhysicalCores(this.sysRoot, this.procRoot);
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref(); // sampling alone never keeps the process alive
  }

  /** Stops sampling. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The latest host sample. */
  monitor(): HostMonitor {
    if (!this.current) this.sample();
    return this.current as HostMonitor;
  }

  /** The latest temperature reading. */
  temperatures(): Temperatures {
    if (!this.temps) this.temps = readTemperatures(this.sysRoot);
    return this.temps;
  }

  /** Reads every counter once and publishes the result; never throws. */
  sample(): void {
    try {
      this.current = this.read();
      if (this.failing) this.opts.log.info("host monitor recovered");
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.opts.log.warn("host monitor sample failed", err);
      this.failing = true;
      this.current = { available: false, reason: String((err as Error).message ?? err) };
    }
  }

  private read(): HostMonitor {
    const now = Date.now();
    if (now - this.lastSlow >= this.slowIntervalMs) {
      this.lastSlow = now;
      this.frequency = this.guard(() => readCpuFrequency(this.sysRoot, this.procRoot), null);
      this.temps = this.guard(() => readTemperatures(this.sysRoot), undefined);
    }
    const source = hostSource(this.procRoot);
    const stat = this.guard(() => readCpuStat(this.procRoot), undefined);
    const prev = this.prevCpu;
    this.prevCpu = stat;
    const cpu = stat
      ? {
          percent: cpuPercent(stat.all, prev?.all),
          count: this.physicalCores ?? stat.perCore.length,
          logical_count: stat.perCore.length,
          per_core: stat.perCore.map((c, i) => cpuPercent(c, prev?.perCore[i])),
          frequency: this.frequency,
          load_avg: this.guard(() => readLoadAvg(this.procRoot, this.platform), null),
        }
      : null;
    const path = this.opts.diskPath();
    const usage = this.guard(() => readDiskUsage(path), undefined);
    const io = this.guard(() => readDiskIo(this.procRoot, this.sysRoot), null);
    const dt = this.prevIo ? (now - this.prevIo.at) / 1000 : 0;
    const rate = (k: "read_bytes" | "write_bytes") =>
      io && this.prevIo && dt > 0 ? Math.max(0, (io[k] - this.prevIo.io[k]) / dt) : null;
    const ioOut = io ? { ...io, read_bytes_per_s: rate("read_bytes"), write_bytes_per_s: rate("write_bytes") } : null;
    if (io) this.prevIo = { at: now, io };
    return {
      available: true,
      ts: now / 1000,
      cpu,
      memory: this.guard(() => readMemory(this.procRoot), undefined) ?? {},
      disk: usage ? { path, ...usage, io: ioOut } : {},
      platform: readPlatform(this.platform),
      source,
      unavailable: source === "proc" ? [] : osSourceGaps(this.platform),
    };
  }

  /** Runs one optional reader; a failing reader yields `fallback` (the original reports such parts as null or {}). */
  private guard<T, F>(fn: () => T, fallback: F): T | F {
    try {
      return fn();
    } catch (err) {
      this.opts.log.debug("host reader failed", err); // e.g. statfs on a vanished root: that block is absent
      return fallback;
    }
  }
}
