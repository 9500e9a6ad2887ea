// Readers of host counters from /proc and /sys (with node:os fallbacks off Linux), computed as psutil does for spec §3.9.
import { readdirSync, readFileSync, statfsSync, existsSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";

/** Cumulative CPU time of one CPU (or all), in clock ticks: busy and total as psutil counts them. */
export interface CpuTimes {
  busy: number;
  total: number;
}

/** `/proc/stat` CPU lines: the aggregate and one entry per online CPU. */
export interface CpuStat {
  all: CpuTimes;
  perCore: CpuTimes[];
}

/** The `memory` block of `/api/system/monitor`. */
export interface MemoryInfo {
  total: number;
  available: number;
  used: number;
  percent: number;
  swap_total: number;
  swap_used: number;
  swap_percent: number;
}

/** Cumulative disk I/O counters (whole disks, not partitions). */
export interface DiskIo {
  read_bytes: number;
  write_bytes: number;
  read_count: number;
  write_count: number;
}

/** Filesystem usage of one path, psutil `disk_usage` style. */
export interface DiskUsage {
  total: number;
  used: number;
  free: number;
  percent: number;
}

/** CPU frequency in MHz (averages over CPUs); min/max are 0 when only /proc/cpuinfo knows the speed. */
export interface CpuFrequency {
  current: number;
  min: number;
  max: number;
}

/** Rounds to one decimal, as psutil's percentages are. */
export function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined; // absent on this kernel/platform: the caller falls back or reports null
  }
}

function cpuTimesOf(fields: number[]): CpuTimes {
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user/nice
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
  const total = user + nice + system + idle + iowait + irq + softirq + steal;
  return { busy: total - idle - iowait, total };
}

/** Parses `/proc/stat` text into aggregate and per-CPU times. */
export function parseProcStat(text: string): CpuStat | undefined {
  let all: CpuTimes | undefined;
  const perCore: CpuTimes[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("cpu")) continue;
    const parts = line.trim().split(/\s+/);
    const times = cpuTimesOf(parts.slice(1).map(Number));
    if (parts[0] === "cpu") all = times;
    else perCore.push(times);
  }
  return all ? { all, perCore } : undefined;
}

/** CPU times from `procRoot/stat`, or from `os.cpus()` where there is no /proc. */
export function readCpuStat(procRoot: string): CpuStat | undefined {
  const text = readText(join(procRoot, "stat"));
  if (text !== undefined) return parseProcStat(text);
  const cpus = os.cpus();
  if (cpus.length === 0) return undefined;
  const perCore = cpus.map(({ times: t }) => {
    const total = t.user + t.nice + t.sys + t.idle + t.irq;
    return { busy: total - t.idle, total };
  });
  const all = perCore.reduce((a, c) => ({ busy: a.busy + c.busy, total: a.total + c.total }), { busy: 0, total: 0 });
  return { all, perCore };
}

/** psutil `cpu_percent` between two readings (0–100, one decimal); since boot when `prev` is undefined. */
export function cpuPercent(cur: CpuTimes, prev: CpuTimes | undefined): number {
  const dt = cur.total - (prev?.total ?? 0);
  const db = cur.busy - (prev?.busy ?? 0);
  if (dt <= 0) return 0;
  return round1(Math.max(0, Math.min(100, (db / dt) * 100)));
}

/** Where the host figures come from: Linux `/proc`, else what `node:os` gives (macOS, Windows). */
export type HostSource = "proc" | "os";

/** `proc` when `procRoot/stat` exists, else `os`. */
export function hostSource(procRoot: string): HostSource {
  return existsSync(join(procRoot, "stat")) ? "proc" : "os";
}

/** What is missing when the figures come from `node:os` instead of /proc, for the API to say so. */
export function osSourceGaps(platform: string): string[] {
  const gaps = ["swap", "disk_io"];
  if (platform === "win32") gaps.push("load_avg");
  return gaps;
}

/** The 1, 5 and 15 minute load averages; null where the platform has none (Windows). */
export function readLoadAvg(procRoot: string, platform: string = process.platform): [number, number, number] | null {
  const text = readText(join(procRoot, "loadavg"));
  if (text !== undefined) {
    const [a, b, c] = text.trim().split(/\s+/).map(Number);
    if ([a, b, c].every(Number.isFinite)) return [a, b, c];
  }
  if (platform === "win32") return null;
  const l = os.loadavg();
  return [l[0], l[1], l[2]];
}

/**
 * CPU frequency as psutil `cpu_freq()` reports it: averages of scaling_cur/min/max_freq over
 * `sysRoot/devices/system/cpu/cpu*\/cpufreq`, else the "cpu MHz" lines of /proc/cpuinfo with
 * min = max = 0 (spec §3.9 capture), else `os.cpus()` speeds; null when nothing knows.
 */
export function readCpuFrequency(sysRoot: string, procRoot: string): CpuFrequency | null {
  const cpuDir = join(sysRoot, "devices/system/cpu");
  const cur: number[] = [];
  const min: number[] = [];
  const max: number[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(cpuDir).filter((n) => /^cpu\d+$/.test(n));
  } catch {
    names = []; // no sysfs: fall through to cpuinfo
  }
  for (const n of names) {
    const dir = join(cpuDir, n, "cpufreq");
    const c = Number(readText(join(dir, "scaling_cur_freq")) ?? readText(join(dir, "cpuinfo_cur_freq")));
    if (!Number.isFinite(c) || c <= 0) continue;
    cur.push(c / 1000);
    min.push(Number(readText(join(dir, "scaling_min_freq")) ?? 0) / 1000 || 0);
    max.push(Number(readText(join(dir, "scaling_max_freq")) ?? 0) / 1000 || 0);
  }
  if (cur.length) return { current: avg(cur), min: avg(min), max: avg(max) };
  const info = readText(join(procRoot, "cpuinfo"));
  if (info !== undefined) {
    const mhz = [...info.matchAll(/^cpu MHz\s*:\s*([\d.]+)/gim)].map((m) => Number(m[1]));
    if (mhz.length) return { current: avg(mhz), min: 0, max: 0 };
  }
  const speeds = os.cpus().map((c) => c.speed).filter((s) => s > 0);
  return speeds.length ? { current: avg(speeds), min: 0, max: 0 } : null;
}

function avg(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Parses `/proc/meminfo` into psutil's `virtual_memory()` + `swap_memory()` numbers (bytes). */
export function parseMeminfo(text: string): MemoryInfo | undefined {
  const kb = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^([\w()]+):\s+(\d+)/.exec(line);
    if (m) kb.set(m[1], Number(m[2]) * 1024);
  }
  const total = kb.get("MemTotal");
  if (total === undefined) return undefined;
  const free = kb.get("MemFree") ?? 0;
  const buffers = kb.get("Buffers") ?? 0;
  const cached = (kb.get("Cached") ?? 0) + (kb.get("SReclaimable") ?? 0);
  let used = total - free - cached - buffers;
  if (used < 0) used = total - free;
  // kernels before 3.14 lack MemAvailable; psutil then estimates it, free + cache is close enough
  const available = kb.get("MemAvailable") ?? Math.min(total, free + cached + buffers);
  const swapTotal = kb.get("SwapTotal") ?? 0;
  const swapUsed = Math.max(0, swapTotal - (kb.get("SwapFree") ?? 0));
  return {
    total,
    available,
    used,
    percent: total > 0 ? round1(((total - available) / total) * 100) : 0,
    swap_total: swapTotal,
    swap_used: swapUsed,
    swap_percent: swapTotal > 0 ? round1((swapUsed / swapTotal) * 100) : 0,
  };
}

/** Memory from `procRoot/meminfo`, or `os.totalmem/freemem` (no swap figures) elsewhere. */
export function readMemory(procRoot: string): MemoryInfo | undefined {
  const text = readText(join(procRoot, "meminfo"));
  if (text !== undefined) return parseMeminfo(text);
  const total = os.totalmem();
  const available = os.freemem();
  return {
    total,
    available,
    used: total - available,
    percent: total > 0 ? round1(((total - available) / total) * 100) : 0,
    swap_total: 0,
    swap_used: 0,
    swap_percent: 0,
  };
}

/**
 * Sums `/proc/diskstats` over whole disks as psutil does: only names that exist in `sysRoot/block`
 * (so partitions are not counted twice); sectors are always 512 bytes there. Without /sys, names
 * that look like partitions are skipped instead.
 */
export function parseDiskstats(text: string, isWholeDisk: (name: string) => boolean): DiskIo {
  const io: DiskIo = { read_bytes: 0, write_bytes: 0, read_count: 0, write_count: 0 };
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    if (!isWholeDisk(f[2])) continue;
    io.read_count += Number(f[3]) || 0;
    io.read_bytes += (Number(f[5]) || 0) * 512;
    io.write_count += Number(f[7]) || 0;
    io.write_bytes += (Number(f[9]) || 0) * 512;
  }
  return io;
}

/** Disk I/O counters of the host, or null where /proc/diskstats does not exist. */
export function readDiskIo(procRoot: string, sysRoot: string): DiskIo | null {
  const text = readText(join(procRoot, "diskstats"));
  if (text === undefined) return null;
  const blockDir = join(sysRoot, "block");
  const haveSys = existsSync(blockDir);
  const whole = haveSys
    ? (name: string) => existsSync(join(blockDir, name.replaceAll("/", "!")))
    : (name: string) => !/^(sd[a-z]+|vd[a-z]+|xvd[a-z]+|hd[a-z]+)\d+$|^(nvme\d+n\d+|mmcblk\d+)p\d+$/.test(name);
  return parseDiskstats(text, whole);
}

/**
 * Usage of the filesystem holding `path` (psutil `disk_usage`: used = blocks − bfree, free = bavail,
 * percent of used + free). A path that does not exist yet is measured at its nearest existing parent.
 */
export function readDiskUsage(path: string): DiskUsage {
  let p = path;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  const s = statfsSync(p);
  // block counts are in fragment-size units (f_frsize); Bun exposes it, Node only bsize
  const unit = (s as { frsize?: number }).frsize || s.bsize;
  const total = s.blocks * unit;
  const used = (s.blocks - s.bfree) * unit;
  const free = s.bavail * unit;
  return { total, used, free, percent: used + free > 0 ? round1((used / (used + free)) * 100) : 0 };
}

/**
 * Physical core count as psutil `cpu_count(logical=False)`: distinct topology/core_cpus_list (or
 * thread_siblings_list) values, else distinct (physical id, core id) pairs of /proc/cpuinfo; undefined if unknown.
 */
export function readPhysicalCores(sysRoot: string, procRoot: string): number | undefined {
  const cpuDir = join(sysRoot, "devices/system/cpu");
  let names: string[] = [];
  try {
    names = readdirSync(cpuDir).filter((n) => /^cpu\d+$/.test(n));
  } catch {
    names = []; // no sysfs topology
  }
  for (const file of ["core_cpus_list", "thread_siblings_list"]) {
    const set = new Set<string>();
    for (const n of names) {
      const v = readText(join(cpuDir, n, "topology", file));
      if (v !== undefined) set.add(v.trim());
    }
    if (set.size) return set.size;
  }
  const info = readText(join(procRoot, "cpuinfo"));
  if (info === undefined) return undefined;
  const pairs = new Set<string>();
  for (const block of info.split(/\n\s*\n/)) {
    const phys = /^physical id\s*:\s*(\d+)/m.exec(block)?.[1];
    const core = /^core id\s*:\s*(\d+)/m.exec(block)?.[1];
    if (phys !== undefined && core !== undefined) pairs.add(`${phys}:${core}`);
  }
  return pairs.size || undefined;
}

/** `platform.system()`, `platform.release()`, `platform.machine()` of the original. */
export function readPlatform(platform: string = process.platform): { system: string; release: string; machine: string } {
  const system = { linux: "Linux", darwin: "Darwin", win32: "Windows" }[platform] ?? os.type();
  return { system, release: os.release(), machine: os.machine() };
}
