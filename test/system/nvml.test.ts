// NVML through bun:ffi: the load guards, and a stub libnvidia-ml built from C with nvml.h's struct layouts.
import { afterAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { loadNvml } from "../../src/system/nvml.ts";
import { cleanup, installFakeSmi, SMI_FIXTURES, startServer, tempDir } from "./helpers.ts";

const dir = tempDir("nvml");
afterAll(() => cleanup(dir));

const gcc = Bun.which("gcc");
const MIB = 1048576;

/** Builds the stub library with extra `-D` flags; returns its path. */
function buildStub(name: string, defines: string[] = []): string {
  const out = join(dir, `${name}.so`);
  const r = Bun.spawnSync([gcc!, "-shared", "-fPIC", "-O1", ...defines, "-o", out, join(SMI_FIXTURES, "fake-libnvidia-ml.c")]);
  if (r.exitCode !== 0) throw new Error(r.stderr.toString());
  return out;
}

describe("loadNvml", () => {
  it("returns undefined when no candidate library exists", () => {
    expect(loadNvml([join(dir, "libnvidia-ml.so.1"), "libnvidia-ml-does-not-exist.so"])).toBeUndefined();
  });

  it("returns undefined for a library that lacks the NVML symbols", () => {
    expect(loadNvml(["libc.so.6"])).toBeUndefined();
  });

  it.skipIf(!gcc)("returns undefined when nvmlInit fails (driver not loaded)", () => {
    expect(loadNvml([buildStub("init-fails", ["-DINIT_FAILS"])])).toBeUndefined();
  });

  it.skipIf(!gcc)("reads every GPU field and the compute processes through the library", () => {
    const nvml = loadNvml([join(dir, "absent.so"), buildStub("full")]);
    expect(nvml).toBeDefined();
    try {
      const r = nvml!.read();
      if (!r.ok) throw new Error(r.reason);
      expect(r.gpus).toEqual([
        {
          index: 0,
          name: "NVIDIA H100 80GB HBM3",
          util_gpu: 97,
          util_mem: 41,
          mem_total_mib: 81559,
          mem_used_mib: 74531,
          temp_c: 67,
          power_w: 612.37,
          power_limit_w: 700,
          clock_sm_mhz: 1980,
          clock_mem_mhz: 2619,
          pstate: "P0",
          fan_speed_pct: null,
          mem_used_pct: (74531 * 100) / 81559,
          uuid: "GPU-stub-0",
        },
        {
          index: 1,
          name: "Tesla T4",
          util_gpu: 0,
          util_mem: 0,
          mem_total_mib: 15109,
          mem_used_mib: 0,
          temp_c: 38,
          power_w: 9.95,
          power_limit_w: 70,
          clock_sm_mhz: 300,
          clock_mem_mhz: 405,
          pstate: "P8",
          fan_speed_pct: null,
          mem_used_pct: 0,
          uuid: "GPU-stub-1",
        },
      ]);
      expect(r.processes).toEqual([
        { pid: 4242, used_memory_mib: 1000, gpu_uuid: "GPU-stub-0", gpu_index: 0, process_name: null },
        { pid: 4243, used_memory_mib: null, gpu_uuid: "GPU-stub-0", gpu_index: 0, process_name: null },
      ]);
    } finally {
      nvml!.close();
    }
  });

  it.skipIf(!gcc)("reads GPUs without processes from a driver that lacks the _v3 process call", () => {
    const nvml = loadNvml([buildStub("no-v3", ["-DNO_V3"])]);
    try {
      const r = nvml!.read();
      expect(r.ok && r.gpus.length).toBe(2);
      expect(r.ok && r.processes).toEqual([]);
    } finally {
      nvml!.close();
    }
  });
});

describe("GPU telemetry from NVML", () => {
  it.skipIf(!gcc)("serves NVML readings with source nvml and never calls nvidia-smi", async () => {
    const nvml = loadNvml([buildStub("served")]);
    const fake = installFakeSmi(join(dir, "root"), "rtx4090-535");
    const server = startServer(join(dir, "root"), { pathEnv: fake.binDir, nvml, gpuIntervalMs: 50 });
    try {
      const { body } = await server.get("/api/gpu/telemetry");
      expect(body.available).toBe(true);
      expect(body.source).toBe("nvml");
      expect(body.gpus.map((g: { name: string }) => g.name)).toEqual(["NVIDIA H100 80GB HBM3", "Tesla T4"]);
      expect(body.gpus[0].mem_total_mib * MIB).toBe(81559 * MIB);
      expect(server.samplers.gpu.findPidUsage(4242)?.used_memory_mib).toBe(1000);
      await Bun.sleep(120); // a few more samples
      expect(fake.calls()).toEqual([]);
    } finally {
      await server.close();
    }
  });
});
