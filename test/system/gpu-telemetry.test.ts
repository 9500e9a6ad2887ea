// GPU endpoints against a real server, with a fake nvidia-smi first on the sampler's PATH replaying captured outputs.
import { afterAll, afterEach, describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { GpuSampler } from "../../src/system/gpu-sampler.ts";
import { runWithTimeout } from "../../src/system/spawn-timeout.ts";
import { createLogger } from "../../src/util/log.ts";
import { cleanup, type FakeSmi, installFakeSmi, startServer, tempDir, until } from "./helpers.ts";

const dir = tempDir("gpu");
afterAll(() => cleanup(dir));

let server: ReturnType<typeof startServer> | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

let n = 0;
/** A server whose GPU sampler polls a fresh fake nvidia-smi every 50 ms. */
function serve(scenario: string, extra: { gpuTimeoutMs?: number } = {}): { fake: FakeSmi; s: ReturnType<typeof startServer> } {
  const root = join(dir, `case${++n}`);
  const fake = installFakeSmi(root, scenario);
  server = startServer(root, {
    pathEnv: `${fake.binDir}:/usr/bin:/bin`,
    useNvml: false,
    gpuIntervalMs: 50,
    gpuTimeoutMs: extra.gpuTimeoutMs ?? 3000,
  });
  return { fake, s: server };
}

/** True while `pid` runs; a killed process waiting to be reaped by init (state Z) counts as dead. */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

describe("GET /api/gpu/telemetry", () => {
  it("answers the original's no-binary body when nvidia-smi is not on PATH", async () => {
    const root = join(dir, "nobin");
    server = startServer(root, { pathEnv: "/nonexistent-dir", useNvml: false, gpuIntervalMs: 50 });
    const r = await server.get("/api/gpu/telemetry");
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ available: false, reason: "nvidia-smi not found in PATH" });
  });

  it("reports the GPU of the first answer with the original's fields, its processes and the exact query it ran", async () => {
    const { fake, s } = serve("rtx4090-535");
    const r = await s.get("/api/gpu/telemetry");
    expect(r.status).toBe(200);
    expect(r.body.available).toBe(true);
    expect(typeof r.body.ts).toBe("number");
    expect(Math.abs(r.body.ts - Date.now() / 1000)).toBeLessThan(60);
    expect(r.body.source).toBe("nvidia-smi");
    expect(r.body.gpus).toHaveLength(1);
    expect(r.body.gpus[0]).toMatchObject({
      index: 0,
      name: "NVIDIA GeForce RTX 4090",
      util_gpu: 37,
      mem_used_mib: 18234,
      pstate: "P2",
      fan_speed_pct: 45,
    });
    expect(r.body.processes).toEqual([
      {
        pid: 48213,
        used_memory_mib: 17920,
        gpu_uuid: "GPU-5c8b1f0e-3a1d-6b7e-9f2a-1c4d8e7b6a52",
        gpu_index: 0,
        process_name: "/home/ml/miniconda3/envs/torch/bin/python",
      },
    ]);
    const calls = fake.calls();
    expect(calls).toContain(
      "--query-gpu=index,name,utilization.gpu,utilization.memory,memory.total,memory.used,temperature.gpu,power.draw,enforced.power.limit,clocks.sm,clocks.mem,pstate,fan.speed,uuid --format=csv,noheader,nounits",
    );
    expect(calls).toContain("--query-compute-apps=pid,used_memory,gpu_uuid,process_name --format=csv,noheader,nounits");
  });

  it("reports every GPU of a multi-GPU node with null for [N/A] fields", async () => {
    const { s } = serve("a100-mig-470");
    const r = await s.get("/api/gpu/telemetry");
    expect(r.body.gpus.map((g: { index: number }) => g.index)).toEqual([0, 1]);
    expect(r.body.gpus[0].util_gpu).toBeNull();
    expect(r.body.processes.map((p: { gpu_index: number }) => p.gpu_index)).toEqual([0, 0, 1]);
  });

  it("says unavailable with the driver's own message when nvidia-smi fails, and recovers when it works again", async () => {
    const { fake, s } = serve("driver-failed");
    const r = await s.get("/api/gpu/telemetry");
    expect(r.body).toEqual({
      available: false,
      reason:
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.",
    });
    fake.use("t4-450");
    const back = await until(async () => {
      const x = await s.get("/api/gpu/telemetry");
      return x.body.available ? x.body : undefined;
    }, "recovery");
    expect(back.gpus[0].name).toBe("Tesla T4");
    expect(back.processes).toEqual([]);
  });

  it("reports the GPUs that answered when another has fallen off the bus and nvidia-smi exits non-zero", async () => {
    const { s } = serve("gpu-lost-535");
    const r = await s.get("/api/gpu/telemetry");
    expect(r.body.available).toBe(true);
    expect(r.body.gpus.map((g: { index: number }) => g.index)).toEqual([0, 2]);
    expect(r.body.processes.map((p: { gpu_index: number }) => p.gpu_index)).toEqual([0, 2]);
  });

  it("reports 'No devices were found' as the reason when no GPU is visible", async () => {
    const { s } = serve("no-devices");
    const r = await s.get("/api/gpu/telemetry");
    expect(r.body).toEqual({ available: false, reason: "No devices were found" });
  });

  it("kills a hanging nvidia-smi with its children at the deadline and says so", async () => {
    const { fake, s } = serve("hang", { gpuTimeoutMs: 300 });
    const r = await s.get("/api/gpu/telemetry");
    expect(r.body).toEqual({ available: false, reason: "nvidia-smi did not answer within 0.3 s" });
    const shell = Number(readFileSync(join(fake.binDir, "hang.pid"), "utf8"));
    const child = Number(readFileSync(join(fake.binDir, "hang-child.pid"), "utf8"));
    await until(() => !isAlive(shell) && !isAlive(child), "the hanging processes to die");
    // other endpoints are not held up by the GPU sampler
    const m = await s.get("/api/system/monitor");
    expect(m.body.available).toBe(true);
  });

  it("stops calling nvidia-smi once the server closes", async () => {
    const { fake, s } = serve("t4-450");
    await s.get("/api/gpu/telemetry");
    await server!.close();
    server = undefined;
    const after = fake.calls().length;
    await Bun.sleep(200);
    expect(fake.calls().length).toBe(after);
  });

  it("answers 404 for unknown paths under /api/gpu", async () => {
    const { s } = serve("t4-450");
    const r = await fetch(`${s.base}/api/gpu/telemetry/../../../etc/passwd`);
    expect(r.status).not.toBe(200);
    const u = await fetch(`${s.base}/api/gpu/nothing`);
    expect(u.status).toBe(404);
  });
});

describe("GET /api/gpu/history", () => {
  it("returns the samples so far as columns aligned with ts, oldest first", async () => {
    const { s } = serve("h100x8-550");
    const h = await until(async () => {
      const x = await s.get("/api/gpu/history");
      return x.body.ts.length >= 3 ? x.body : undefined;
    }, "three samples");
    expect(h.available).toBe(true);
    expect(h.interval_s).toBe(0.05);
    expect(h.window_s).toBe(600);
    expect([...h.ts].sort((a: number, b: number) => a - b)).toEqual(h.ts);
    expect(h.gpus).toHaveLength(8);
    for (const g of h.gpus) {
      expect(g.name).toBe("NVIDIA H100 80GB HBM3");
      for (const k of ["util_gpu", "util_mem", "mem_used_mib", "mem_used_pct", "temp_c", "power_w", "clock_sm_mhz", "fan_speed_pct"]) {
        expect(g[k]).toHaveLength(h.ts.length);
      }
      expect(g.util_gpu.every((v: number) => v === 100 - g.index)).toBe(true);
      expect(g.fan_speed_pct.every((v: null) => v === null)).toBe(true);
    }
  });

  it("returns only samples newer than since", async () => {
    const { s } = serve("t4-450");
    const all = await until(async () => {
      const x = await s.get("/api/gpu/history");
      return x.body.ts.length >= 2 ? x.body : undefined;
    }, "two samples");
    const last = all.ts[all.ts.length - 1];
    const newer = await s.get(`/api/gpu/history?since=${last}`);
    expect(newer.status).toBe(200);
    expect(newer.body.ts.every((t: number) => t > last)).toBe(true);
    expect(newer.body.gpus.every((g: { util_gpu: unknown[] }) => g.util_gpu.length === newer.body.ts.length)).toBe(true);
  });

  it("puts null where a GPU was missing from a sample", async () => {
    const { fake, s } = serve("t4-450");
    await until(async () => (await s.get("/api/gpu/history")).body.ts.length >= 1, "a T4 sample");
    fake.use("a100-mig-470");
    const h = await until(async () => {
      const x = await s.get("/api/gpu/history");
      return x.body.gpus.length === 2 ? x.body : undefined;
    }, "an A100 sample");
    const gpu1 = h.gpus.find((g: { index: number }) => g.index === 1);
    expect(gpu1.util_gpu[0]).toBeNull();
    expect(gpu1.util_gpu[gpu1.util_gpu.length - 1]).toBe(98);
  });

  it("rejects a since that is not a non-negative number with 422", async () => {
    const { s } = serve("t4-450");
    for (const bad of ["abc", "-5", "1e", "NaN"]) {
      const r = await fetch(`${s.base}/api/gpu/history?since=${bad}`);
      expect(r.status).toBe(422);
    }
  });

  it("is empty and unavailable without a GPU", async () => {
    const root = join(dir, "nobin-history");
    server = startServer(root, { pathEnv: "/nonexistent-dir", useNvml: false, gpuIntervalMs: 50 });
    await server.get("/api/gpu/telemetry");
    const r = await server.get("/api/gpu/history");
    expect(r.body).toEqual({ available: false, interval_s: 0.05, window_s: 600, ts: [], gpus: [] });
  });
});

describe("per-pid GPU memory", () => {
  it("finds the GPU memory of a pid and of its child processes, and nothing for other pids", async () => {
    // a real parent (this test's shell) and child, reported by the fake as using two GPUs
    const parent = Bun.spawn(["sh", "-c", "sleep 30 & echo $!; wait"], { stdout: "pipe" });
    const reader = parent.stdout.getReader();
    const { value } = await reader.read();
    const childPid = Number(new TextDecoder().decode(value).trim());
    try {
      const { fake, s } = serve("pids");
      fake.write("pids.gpu.csv", readFileSync(join(fake.binDir, "fixtures", "a100-mig-470.gpu.csv"), "utf8"));
      fake.write(
        "pids.apps.csv",
        `${parent.pid}, 1000, GPU-0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b, python\n` +
          `${childPid}, 500, GPU-a5c9d2e1-7b3f-4c8a-9e6d-2f1b0c3a4d5e, python\n` +
          `1, 7, GPU-a5c9d2e1-7b3f-4c8a-9e6d-2f1b0c3a4d5e, init\n`,
      );
      await until(async () => (await s.get("/api/gpu/telemetry")).body.processes?.length === 3, "processes");
      const usage = s.samplers.gpu.findPidUsage(parent.pid);
      expect(usage?.used_memory_mib).toBe(1500);
      expect(usage?.processes.map((p) => p.pid).sort()).toEqual([parent.pid, childPid].sort());
      expect(s.samplers.gpu.findPidUsage(childPid)?.used_memory_mib).toBe(500);
      expect(s.samplers.gpu.findPidUsage(999_999_999)).toBeUndefined();
    } finally {
      process.kill(childPid, "SIGKILL");
      parent.kill("SIGKILL");
    }
  });
});

describe("idle slowdown", () => {
  it("calls nvidia-smi rarely while nobody asks and at full rate again as soon as someone does", async () => {
    const fake = installFakeSmi(join(dir, "idle"), "t4-450");
    const sampler = new GpuSampler({
      log: createLogger("error"),
      pathEnv: fake.binDir,
      intervalMs: 20,
      idleIntervalMs: 60_000,
      idleAfterMs: 0,
    });
    sampler.start();
    try {
      await until(() => sampler.latest(), "the first sample");
      await Bun.sleep(200);
      expect(fake.calls()).toHaveLength(2); // one GPU query and one process query, then idle
      const t = await sampler.telemetry(); // a reader arrives: sampling resumes at once
      expect(t.available).toBe(true);
      await until(() => fake.calls().length >= 4, "sampling to resume");
    } finally {
      await sampler.stop();
    }
  });
});

describe("runWithTimeout", () => {
  it("returns output and exit code of a quick command", async () => {
    const r = await runWithTimeout(["sh", "-c", "echo out; echo err >&2; exit 3"], { timeoutMs: 5000 });
    expect(r).toEqual({ code: 3, stdout: "out\n", stderr: "err\n", timedOut: false });
  });

  it("reads a binary that cannot start as exit code 127", async () => {
    const r = await runWithTimeout([join(dir, "no-such-binary")], { timeoutMs: 1000 });
    expect(r.code).toBe(127);
    expect(r.timedOut).toBe(false);
  });

  it("kills the command when its signal aborts", async () => {
    const ac = new AbortController();
    const p = runWithTimeout(["sleep", "30"], { timeoutMs: 30_000, signal: ac.signal });
    ac.abort();
    const r = await p;
    expect(r.code).toBeNull();
    expect(r.timedOut).toBe(false);
  });
});
