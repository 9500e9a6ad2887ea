// Host monitor and temperatures: the real /proc of this machine, and prepared /proc and /sys trees for exact figures.
import { afterAll, afterEach, describe, expect, it } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { readDiskIo, readPhysicalCores } from "../../src/system/host-readers.ts";
import { readTemperatures } from "../../src/system/temperatures.ts";
import { cleanup, startServer, tempDir } from "./helpers.ts";

const dir = tempDir("host");
afterAll(() => cleanup(dir));

let server: ReturnType<typeof startServer> | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Writes `files` (relative path → content) below `base`. */
function tree(base: string, files: Record<string, string>): string {
  for (const [rel, text] of Object.entries(files)) {
    const p = join(base, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
  }
  return base;
}

let n = 0;
/** A server whose host sampler reads prepared trees and only samples when the test says so. */
function serveFake(proc: Record<string, string>, sys: Record<string, string>) {
  const base = join(dir, `case${++n}`);
  const procRoot = tree(join(base, "proc"), proc);
  const sysRoot = tree(join(base, "sys"), sys);
  mkdirSync(join(base, "root"), { recursive: true });
  server = startServer(join(base, "root"), {
    procRoot,
    sysRoot,
    pathEnv: "/nonexistent",
    useNvml: false,
    hostIntervalMs: 3_600_000,
    slowIntervalMs: 0,
  });
  return { s: server, procRoot, sysRoot };
}

const STAT_1 = [
  "cpu  400 0 400 3200 0 0 0 0 0 0",
  "cpu0 100 0 100 800 0 0 0 0 0 0",
  "cpu1 100 0 100 800 0 0 0 0 0 0",
  "cpu2 100 0 100 800 0 0 0 0 0 0",
  "cpu3 100 0 100 800 0 0 0 0 0 0",
  "intr 1 2 3",
].join("\n");
const STAT_2 = [
  // overall +200 busy of +600; cores: 100/100, 0/100, 50/100, 50/300 (iowait counts as idle time)
  "cpu  500 0 500 3500 100 0 0 0 0 0",
  "cpu0 150 0 150 800 0 0 0 0 0 0",
  "cpu1 100 0 100 900 0 0 0 0 0 0",
  "cpu2 125 0 125 800 50 0 0 0 0 0",
  "cpu3 125 0 125 1000 50 0 0 0 0 0",
].join("\n");
const MEMINFO = [
  "MemTotal:           1000 kB",
  "MemFree:             200 kB",
  "MemAvailable:        600 kB",
  "Buffers:              50 kB",
  "Cached:              250 kB",
  "SwapCached:            0 kB",
  "SReclaimable:         50 kB",
  "SwapTotal:           400 kB",
  "SwapFree:            100 kB",
].join("\n");
const DISKSTATS = [
  "   7       0 loop0 10 0 80 0 0 0 0 0 0 0 0 0 0 0 0 0 0",
  " 254       0 vda 1000 10 20000 100 500 5 8000 50 0 0 0 0 0 0 0 0 0",
  " 254       1 vda1 900 10 19000 90 450 5 7000 40 0 0 0 0 0 0 0 0 0",
  " 259       0 nvme0n1 100 0 2000 1 50 0 1000 1 0 0 0 0 0 0 0 0 0",
  " 259       1 nvme0n1p1 100 0 2000 1 50 0 1000 1 0 0 0 0 0 0 0 0 0",
].join("\n");
const SYS_BASE = {
  "block/loop0/size": "0",
  "block/vda/size": "0",
  "block/nvme0n1/size": "0",
};

describe("GET /api/system/monitor", () => {
  it("answers in the captured shape from this machine's /proc, with the storage root's disk", async () => {
    const root = join(dir, "real-root");
    mkdirSync(root, { recursive: true });
    server = startServer(root, { pathEnv: "/nonexistent", useNvml: false });
    const { status, body } = await server.get("/api/system/monitor");
    expect(status).toBe(200);
    expect(Object.keys(body)).toEqual(["available", "ts", "cpu", "memory", "disk", "platform", "source", "unavailable"]);
    expect(body.source).toBe("proc");
    expect(Object.keys(body.cpu)).toEqual(["percent", "count", "logical_count", "per_core", "frequency", "load_avg"]);
    expect(Object.keys(body.memory)).toEqual([
      "total",
      "available",
      "used",
      "percent",
      "swap_total",
      "swap_used",
      "swap_percent",
    ]);
    expect(Object.keys(body.disk)).toEqual(["path", "total", "used", "free", "percent", "io"]);
    expect(Object.keys(body.disk.io)).toEqual([
      "read_bytes",
      "write_bytes",
      "read_count",
      "write_count",
      "read_bytes_per_s",
      "write_bytes_per_s",
    ]);
    expect(body.cpu.logical_count).toBe(os.cpus().length);
    expect(body.cpu.per_core).toHaveLength(body.cpu.logical_count);
    expect(body.cpu.percent).toBeGreaterThanOrEqual(0);
    expect(body.cpu.percent).toBeLessThanOrEqual(100);
    expect(body.cpu.load_avg).toHaveLength(3);
    expect(body.memory.total).toBe(os.totalmem());
    expect(body.disk.path).toBe(root);
    expect(body.disk.total).toBeGreaterThan(0);
    expect(body.disk.used + body.disk.free).toBeLessThanOrEqual(body.disk.total);
    expect(body.platform).toEqual({ system: "Linux", release: os.release(), machine: os.machine() });
  });

  it("computes overall and per-core CPU percent from /proc/stat deltas, iowait counting as idle", async () => {
    const { s, procRoot } = serveFake({ stat: STAT_1, meminfo: MEMINFO, loadavg: "0.50 1.25 2.00 1/88 5933\n" }, SYS_BASE);
    const first = await s.get("/api/system/monitor");
    // the first sample has no previous one: the average since boot
    expect(first.body.cpu.percent).toBe(20);
    expect(first.body.cpu.per_core).toEqual([20, 20, 20, 20]);
    writeFileSync(join(procRoot, "stat"), STAT_2);
    s.samplers.host.sample();
    const next = await s.get("/api/system/monitor");
    expect(next.body.cpu.percent).toBe(33.3);
    expect(next.body.cpu.per_core).toEqual([100, 0, 50, 16.7]);
    expect(next.body.cpu.logical_count).toBe(4);
    expect(next.body.cpu.load_avg).toEqual([0.5, 1.25, 2]);
  });

  it("reports memory and swap as psutil does (used excludes buffers and reclaimable cache)", async () => {
    const { s } = serveFake({ stat: STAT_1, meminfo: MEMINFO }, SYS_BASE);
    const { body } = await s.get("/api/system/monitor");
    expect(body.memory).toEqual({
      total: 1000 * 1024,
      available: 600 * 1024,
      used: (1000 - 200 - 50 - 250 - 50) * 1024,
      percent: 40,
      swap_total: 400 * 1024,
      swap_used: 300 * 1024,
      swap_percent: 75,
    });
  });

  it("averages cpufreq over CPUs, else takes /proc/cpuinfo MHz with min and max 0 as the capture shows", async () => {
    const freq = {
      ...SYS_BASE,
      "devices/system/cpu/cpu0/cpufreq/scaling_cur_freq": "2000000\n",
      "devices/system/cpu/cpu0/cpufreq/scaling_min_freq": "800000\n",
      "devices/system/cpu/cpu0/cpufreq/scaling_max_freq": "3000000\n",
      "devices/system/cpu/cpu1/cpufreq/scaling_cur_freq": "3000000\n",
      "devices/system/cpu/cpu1/cpufreq/scaling_min_freq": "800000\n",
      "devices/system/cpu/cpu1/cpufreq/scaling_max_freq": "3000000\n",
    };
    const a = serveFake({ stat: STAT_1, meminfo: MEMINFO }, freq);
    expect((await a.s.get("/api/system/monitor")).body.cpu.frequency).toEqual({ current: 2500, min: 800, max: 3000 });
    await a.s.close();
    const cpuinfo = "processor\t: 0\ncpu MHz\t\t: 2095.999\n\nprocessor\t: 1\ncpu MHz\t\t: 2095.999\n";
    const b = serveFake({ stat: STAT_1, meminfo: MEMINFO, cpuinfo }, SYS_BASE);
    expect((await b.s.get("/api/system/monitor")).body.cpu.frequency).toEqual({ current: 2095.999, min: 0, max: 0 });
  });

  it("sums disk I/O over whole disks only and derives rates from the next sample", async () => {
    const { s, procRoot } = serveFake({ stat: STAT_1, meminfo: MEMINFO, diskstats: DISKSTATS }, SYS_BASE);
    const first = (await s.get("/api/system/monitor")).body.disk.io;
    expect(first).toEqual({
      read_bytes: (80 + 20000 + 2000) * 512,
      write_bytes: (8000 + 1000) * 512,
      read_count: 10 + 1000 + 100,
      write_count: 500 + 50,
      read_bytes_per_s: null,
      write_bytes_per_s: null,
    });
    await Bun.sleep(20);
    writeFileSync(join(procRoot, "diskstats"), DISKSTATS.replace(" vda 1000 10 20000", " vda 1000 10 30000"));
    s.samplers.host.sample();
    const next = (await s.get("/api/system/monitor")).body.disk.io;
    expect(next.read_bytes - first.read_bytes).toBe(10000 * 512);
    expect(next.read_bytes_per_s).toBeGreaterThan(0);
    expect(next.write_bytes_per_s).toBe(0);
  });

  it("counts physical cores from the sysfs topology", () => {
    const sysRoot = tree(join(dir, "topo"), {
      "devices/system/cpu/cpu0/topology/core_cpus_list": "0-1\n",
      "devices/system/cpu/cpu1/topology/core_cpus_list": "0-1\n",
      "devices/system/cpu/cpu2/topology/core_cpus_list": "2-3\n",
      "devices/system/cpu/cpu3/topology/core_cpus_list": "2-3\n",
    });
    expect(readPhysicalCores(sysRoot, join(dir, "no-proc"))).toBe(2);
    const procRoot = tree(join(dir, "topo-proc"), {
      cpuinfo: "physical id\t: 0\ncore id\t\t: 0\n\nphysical id\t: 0\ncore id\t\t: 0\n\nphysical id\t: 1\ncore id\t\t: 0\n",
    });
    expect(readPhysicalCores(join(dir, "no-sys"), procRoot)).toBe(2);
  });

  it("skips partitions by name when /sys/block is not there", () => {
    const procRoot = tree(join(dir, "io-nosys"), { diskstats: DISKSTATS });
    expect(readDiskIo(procRoot, join(dir, "no-sys"))?.read_count).toBe(10 + 1000 + 100);
  });

  it("measures a storage root that does not exist yet at its nearest existing parent", async () => {
    const root = join(dir, "not", "yet", "there");
    server = startServer(root, { pathEnv: "/nonexistent", useNvml: false });
    const { body } = await server.get("/api/system/monitor");
    expect(body.disk.path).toBe(root);
    expect(body.disk.total).toBeGreaterThan(0);
  });

  it("falls back to node:os figures when there is no /proc", async () => {
    const { s } = serveFake({}, {});
    const { body } = await s.get("/api/system/monitor");
    expect(body.available).toBe(true);
    expect(body.cpu.logical_count).toBe(os.cpus().length);
    expect(body.memory.total).toBe(os.totalmem());
    expect(body.disk.io).toBeNull();
  });

  it("answers 404 to a POST and to unknown sub-paths", async () => {
    const { s } = serveFake({ stat: STAT_1, meminfo: MEMINFO }, SYS_BASE);
    expect((await fetch(`${s.base}/api/system/monitor`, { method: "POST" })).status).toBe(404);
    expect((await fetch(`${s.base}/api/system/monitor/..%2f..%2fetc%2fpasswd`)).status).toBe(404);
  });
});

describe("GET /api/system/temperatures", () => {
  it("says unavailable with the original's reason when there are no sensors", async () => {
    const { s } = serveFake({ stat: STAT_1 }, SYS_BASE);
    const r = await s.get("/api/system/temperatures");
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ available: false, reason: "Temperature sensors not available" });
  });

  it("groups hwmon sensors by chip, labels unlabeled ones with the chip name and fills high from critical", async () => {
    const { s } = serveFake(
      { stat: STAT_1 },
      {
        "class/hwmon/hwmon0/name": "coretemp\n",
        "class/hwmon/hwmon0/temp1_input": "45000\n",
        "class/hwmon/hwmon0/temp1_label": "Package id 0\n",
        "class/hwmon/hwmon0/temp1_max": "80000\n",
        "class/hwmon/hwmon0/temp1_crit": "100000\n",
        "class/hwmon/hwmon0/temp2_input": "43000\n",
        "class/hwmon/hwmon1/name": "nvme\n",
        "class/hwmon/hwmon1/temp1_input": "38850\n",
        "class/hwmon/hwmon1/temp1_crit": "84850\n",
        "class/hwmon/hwmon2/name": "acpi_fan\n", // a chip without temperatures
        "class/hwmon/hwmon2/fan1_input": "1200\n",
      },
    );
    const r = await s.get("/api/system/temperatures");
    expect(r.body).toEqual({
      available: true,
      sensors: {
        coretemp: [
          { label: "Package id 0", current: 45, high: 80, critical: 100 },
          { label: "coretemp", current: 43, high: null, critical: null },
        ],
        nvme: [{ label: "nvme", current: 38.85, high: 84.85, critical: 84.85 }],
      },
    });
  });

  it("reads thermal zones with their trip points when hwmon has no sensors", () => {
    const sysRoot = tree(join(dir, "thermal"), {
      "class/thermal/thermal_zone0/type": "acpitz\n",
      "class/thermal/thermal_zone0/temp": "27800\n",
      "class/thermal/thermal_zone0/trip_point_0_type": "critical\n",
      "class/thermal/thermal_zone0/trip_point_0_temp": "105000\n",
      "class/thermal/thermal_zone0/trip_point_1_type": "passive\n",
      "class/thermal/thermal_zone0/trip_point_1_temp": "95000\n",
      "class/thermal/thermal_zone1/type": "x86_pkg_temp\n",
      "class/thermal/thermal_zone1/temp": "51000\n",
      "class/thermal/cooling_device0/type": "Processor\n",
    });
    expect(readTemperatures(sysRoot)).toEqual({
      available: true,
      sensors: {
        acpitz: [{ label: "acpitz", current: 27.8, high: 105, critical: 105 }],
        x86_pkg_temp: [{ label: "x86_pkg_temp", current: 51, high: null, critical: null }],
      },
    });
  });
});
