// Parsers and lookup of nvidia-smi output, replaying the fixtures of several GPU models and drivers.
import { afterAll, describe, expect, it } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  APPS_QUERY_ARGS,
  failureReason,
  findNvidiaSmi,
  GPU_QUERY_ARGS,
  parseComputeApps,
  parseGpuCsv,
  splitRow,
  toNumber,
} from "../../src/system/nvidia-smi.ts";
import { cleanup, SMI_FIXTURES, tempDir } from "./helpers.ts";

const fixture = (name: string) => readFileSync(join(SMI_FIXTURES, name), "utf8");

/** The thirteen per-GPU keys of the original (spec §3.9), in its order. */
const ORIGINAL_KEYS = [
  "index",
  "name",
  "util_gpu",
  "util_mem",
  "mem_total_mib",
  "mem_used_mib",
  "temp_c",
  "power_w",
  "power_limit_w",
  "clock_sm_mhz",
  "clock_mem_mhz",
  "pstate",
  "fan_speed_pct",
];

describe("parseGpuCsv", () => {
  it("reads an RTX 4090 row into the original's keys with numbers, then mem_used_pct and uuid", () => {
    const [g, ...rest] = parseGpuCsv(fixture("rtx4090-535.gpu.csv"));
    expect(rest).toHaveLength(0);
    expect(Object.keys(g)).toEqual([...ORIGINAL_KEYS, "mem_used_pct", "uuid"]);
    expect(g).toMatchObject({
      index: 0,
      name: "NVIDIA GeForce RTX 4090",
      util_gpu: 37,
      util_mem: 12,
      mem_total_mib: 24564,
      mem_used_mib: 18234,
      temp_c: 61,
      power_w: 287.45,
      power_limit_w: 450,
      clock_sm_mhz: 2730,
      clock_mem_mhz: 10501,
      pstate: "P2",
      fan_speed_pct: 45,
      uuid: "GPU-5c8b1f0e-3a1d-6b7e-9f2a-1c4d8e7b6a52",
    });
    expect(g.mem_used_pct).toBeCloseTo((18234 * 100) / 24564, 10);
  });

  it("turns [N/A] utilisation of a MIG-enabled A100 into null and keeps the other GPU's numbers", () => {
    const [mig, plain] = parseGpuCsv(fixture("a100-mig-470.gpu.csv"));
    expect(mig.util_gpu).toBeNull();
    expect(mig.util_mem).toBeNull();
    expect(mig.fan_speed_pct).toBeNull();
    expect(mig.mem_used_mib).toBe(13);
    expect(plain).toMatchObject({ index: 1, util_gpu: 98, util_mem: 41, fan_speed_pct: null, power_w: 331.09 });
  });

  it("turns [Not Supported] fields of an old laptop driver into null and still computes memory percent", () => {
    const [g] = parseGpuCsv(fixture("gtx1050ti-390.gpu.csv"));
    expect(g.name).toBe("GeForce GTX 1050 Ti with Max-Q Design");
    for (const k of ["util_gpu", "util_mem", "power_w", "power_limit_w", "fan_speed_pct"] as const) {
      expect(g[k]).toBeNull();
    }
    expect(g.clock_sm_mhz).toBe(139);
    expect(g.mem_used_pct).toBeCloseTo((301 * 100) / 4042, 10);
  });

  it("reads all eight GPUs of an H100 node in index order", () => {
    const gpus = parseGpuCsv(fixture("h100x8-550.gpu.csv"));
    expect(gpus.map((g) => g.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(new Set(gpus.map((g) => g.name))).toEqual(new Set(["NVIDIA H100 80GB HBM3"]));
    expect(new Set(gpus.map((g) => g.uuid)).size).toBe(8);
    expect(gpus.every((g) => g.power_limit_w === 700 && g.fan_speed_pct === null)).toBe(true);
  });

  it("re-joins GPU names that contain commas and accepts CRLF line ends", () => {
    const gpus = parseGpuCsv(fixture("comma-names.gpu.csv"));
    expect(gpus.map((g) => g.name)).toEqual(["NVIDIA RTX A6000, Ada Generation", "Quadro RTX 8000, rev, B"]);
    expect(gpus[1]).toMatchObject({ index: 1, util_gpu: 0, mem_total_mib: 49152, fan_speed_pct: 33 });
    expect(gpus[1].uuid).toBe("GPU-66666666-7777-8888-9999-000000000000");
  });

  it("skips a warning line printed before the rows", () => {
    const gpus = parseGpuCsv(fixture("warning-525.gpu.csv"));
    expect(gpus).toHaveLength(1);
    expect(gpus[0].name).toBe("NVIDIA GeForce RTX 3090");
  });

  it("finds no GPU in driver error text", () => {
    expect(parseGpuCsv(fixture("driver-failed.gpu.csv"))).toEqual([]);
    expect(parseGpuCsv(fixture("no-devices.gpu.csv"))).toEqual([]);
    expect(parseGpuCsv(fixture("invalid-field.gpu.csv"))).toEqual([]);
    expect(parseGpuCsv("")).toEqual([]);
  });

  it("omits mem_used_pct when the total is unknown or zero, as the original does", () => {
    const line = (total: string, used: string) =>
      `0, X, 1, 1, ${total}, ${used}, 30, 10.00, 100.00, 100, 100, P8, [N/A], GPU-x`;
    expect(parseGpuCsv(line("[N/A]", "10"))[0].mem_used_pct).toBeUndefined();
    expect(parseGpuCsv(line("0", "10"))[0].mem_used_pct).toBeUndefined();
    expect(parseGpuCsv(line("100", "[N/A]"))[0].mem_used_pct).toBeUndefined();
    expect(parseGpuCsv(line("100", "250"))[0].mem_used_pct).toBe(100);
  });
});

describe("parseComputeApps", () => {
  it("maps each process to its GPU index through the uuid", () => {
    const gpus = parseGpuCsv(fixture("h100x8-550.gpu.csv"));
    const apps = parseComputeApps(fixture("h100x8-550.apps.csv"), gpus);
    expect(apps).toHaveLength(8);
    apps.forEach((p, i) => {
      expect(p.gpu_index).toBe(i);
      expect(p.gpu_uuid).toBe(gpus[i].uuid);
      expect(p.used_memory_mib).toBe((gpus[i].mem_used_mib as number) - 531);
      expect(p.process_name).toBe("/usr/bin/python3");
    });
  });

  it("reports [N/A] process memory under MIG as null", () => {
    const gpus = parseGpuCsv(fixture("a100-mig-470.gpu.csv"));
    const apps = parseComputeApps(fixture("a100-mig-470.apps.csv"), gpus);
    expect(apps.map((p) => [p.pid, p.used_memory_mib, p.gpu_index])).toEqual([
      [7731, null, 0],
      [7732, null, 0],
      [9120, 30195, 1],
    ]);
  });

  it("re-joins process names with commas", () => {
    const gpus = parseGpuCsv(fixture("comma-names.gpu.csv"));
    const [p] = parseComputeApps(fixture("comma-names.apps.csv"), gpus);
    expect(p).toEqual({
      pid: 4242,
      used_memory_mib: 1100,
      gpu_uuid: "GPU-11111111-2222-3333-4444-555555555555",
      gpu_index: 0,
      process_name: "C:\\Program Files\\Acme, Inc\\trainer.exe",
    });
  });

  it("reads 'No running processes found', empty output and error text as no processes", () => {
    expect(parseComputeApps(fixture("gtx1050ti-390.apps.csv"))).toEqual([]);
    expect(parseComputeApps(fixture("t4-450.apps.csv"))).toEqual([]);
    expect(parseComputeApps(fixture("driver-failed.apps.csv"))).toEqual([]);
  });

  it("leaves gpu_index null for a uuid not in the GPU list", () => {
    const [p] = parseComputeApps("12, 100, GPU-unknown, python");
    expect(p.gpu_index).toBeNull();
  });
});

describe("cells and rows", () => {
  it("reads every no-value spelling of nvidia-smi as null", () => {
    for (const cell of ["", " ", "N/A", "[N/A]", "[Not Supported]", "[Unknown Error]", "[Insufficient Permissions]", "abc"]) {
      expect(toNumber(cell)).toBeNull();
    }
    expect(toNumber(" 12.50 ")).toBe(12.5);
    expect(toNumber("250.00 W")).toBe(250);
  });

  it("refuses rows with fewer cells than asked for", () => {
    expect(splitRow("a, b", 3, 1)).toBeUndefined();
    expect(splitRow("1, a, b, c, 2", 3, 1)).toEqual(["1", "a, b, c", "2"]);
  });

  it("asks for the original's thirteen fields in order, then uuid, without units", () => {
    expect(GPU_QUERY_ARGS).toEqual([
      "--query-gpu=index,name,utilization.gpu,utilization.memory,memory.total,memory.used,temperature.gpu,power.draw,enforced.power.limit,clocks.sm,clocks.mem,pstate,fan.speed,uuid",
      "--format=csv,noheader,nounits",
    ]);
    expect(APPS_QUERY_ARGS[0]).toBe("--query-compute-apps=pid,used_memory,gpu_uuid,process_name");
  });

  it("uses the first printed line as the failure reason, else the exit code", () => {
    expect(failureReason(fixture("driver-failed.gpu.csv"), "", 9)).toBe(
      "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.",
    );
    expect(failureReason("", "boom\n", 3)).toBe("boom");
    expect(failureReason("", "", 4)).toBe("nvidia-smi exited with code 4 and printed nothing");
    expect(failureReason("", "", null)).toBe("nvidia-smi was killed");
  });
});

describe("findNvidiaSmi", () => {
  const dir = tempDir("find");
  afterAll(() => cleanup(dir));

  it("returns the first executable nvidia-smi on PATH and skips non-executable ones", () => {
    const a = join(dir, "a");
    const b = join(dir, "b");
    const c = join(dir, "c");
    for (const d of [a, b, c]) mkdirSync(d, { recursive: true });
    writeFileSync(join(a, "nvidia-smi"), "not executable");
    chmodSync(join(a, "nvidia-smi"), 0o644);
    mkdirSync(join(b, "nvidia-smi")); // a directory of that name
    writeFileSync(join(c, "nvidia-smi"), "#!/bin/sh\n");
    chmodSync(join(c, "nvidia-smi"), 0o755);
    expect(findNvidiaSmi([join(dir, "missing"), a, b, c].join(":"), "linux")).toBe(join(c, "nvidia-smi"));
  });

  it("returns undefined when no PATH entry has it", () => {
    expect(findNvidiaSmi(`${join(dir, "missing")}::/nonexistent`, "linux")).toBeUndefined();
    expect(findNvidiaSmi("", "linux")).toBeUndefined();
  });
});
