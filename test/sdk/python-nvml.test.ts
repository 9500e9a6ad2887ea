// The Python SDK's system sampler reads GPUs through NVML (ctypes) when libnvidia-ml.so.1 loads, else through nvidia-smi; never fails without either.
import { afterAll, describe, expect, it } from "bun:test";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PROJECT, tempDir } from "../helpers/server.ts";

const SDK = join(PROJECT, "sdk", "python");
const STUB_C = join(PROJECT, "test", "fixtures", "nvidia-smi", "fake-libnvidia-ml.c");
const gcc = Bun.which("gcc");
const tmp = tempDir("rn-py-nvml-");
afterAll(() => tmp.cleanup());

/** A fake nvidia-smi that leaves a marker file when it is started. */
const FAKE_SMI = (marker: string) => `#!/bin/sh
touch ${JSON.stringify(marker)}
case "$1" in
  --query-gpu=*) printf '0, GPU-aaaa, 37, 1024, 8192, 55.5, 61\\n' ;;
  --query-compute-apps=*) ;;
  *) exit 2 ;;
esac
`;

/** A directory holding the stub built as libnvidia-ml.so.1 (found by dlopen through LD_LIBRARY_PATH). */
function stubDir(name: string, defines: string[] = []): string {
  const dir = join(tmp.dir, name);
  mkdirSync(dir, { recursive: true });
  const r = Bun.spawnSync([gcc!, "-shared", "-fPIC", "-O1", ...defines, "-o", join(dir, "libnvidia-ml.so.1"), STUB_C]);
  if (r.exitCode !== 0) throw new Error(r.stderr.toString());
  return dir;
}

function smiDir(name: string): { bin: string; marker: string } {
  const bin = join(tmp.dir, name);
  mkdirSync(bin, { recursive: true });
  const marker = join(bin, "called");
  writeFileSync(join(bin, "nvidia-smi"), FAKE_SMI(marker));
  chmodSync(join(bin, "nvidia-smi"), 0o755);
  return { bin, marker };
}

/** Two samples (the second after ~0.1 s) of the real sampler, with its stderr. */
async function sample(env: Record<string, string>, pid = "None"): Promise<{ gpu: Record<string, number>; err: string }> {
  const code = `import json, os, time
from runicorn.system_metrics import SystemSampler
s = SystemSampler(os.path.join(${JSON.stringify(tmp.dir)}, "probe.jsonl"), 60.0, pid=${pid})
s.sample(); time.sleep(0.1)
print(json.dumps({k: v for k, v in s.sample().items() if "gpu" in k}))`;
  const p = Bun.spawn(["python3", "-c", code], {
    env: { HOME: tmp.dir, PYTHONPATH: SDK, PATH: "/usr/local/bin:/usr/bin:/bin", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  if ((await p.exited) !== 0) throw new Error(`sampler failed: ${err}`);
  return { gpu: JSON.parse(out), err };
}

describe("GPU readings of the Python system sampler", () => {
  it.skipIf(!gcc)("come from NVML through ctypes when the library loads, without starting nvidia-smi", async () => {
    const smi = smiDir("smi-unused");
    const { gpu, err } = await sample({ LD_LIBRARY_PATH: stubDir("full"), PATH: `${smi.bin}:/usr/bin:/bin` });
    expect(err).toBe("");
    // the stub's H100 and T4 (this process uses neither, so every GPU is recorded), in nvidia-smi's units
    expect(gpu).toEqual({
      "sys/gpu0/util": 97,
      "sys/gpu0/mem_used_mb": 74531,
      "sys/gpu0/mem_percent": Math.round(((74531 / 81559) * 100) * 100) / 100,
      "sys/gpu0/power_w": 612.37,
      "sys/gpu0/temp_c": 67,
      "sys/gpu1/util": 0,
      "sys/gpu1/mem_used_mb": 0,
      "sys/gpu1/mem_percent": 0,
      "sys/gpu1/power_w": 9.95,
      "sys/gpu1/temp_c": 38,
    });
    expect(existsSync(smi.marker)).toBe(false);
  });

  it.skipIf(!gcc)("keep only the GPUs NVML lists the sampled process on", async () => {
    // the stub lists pids 4242 and 4243 on its H100 (GPU 0)
    const { gpu } = await sample({ LD_LIBRARY_PATH: stubDir("procs") }, "4242");
    expect(Object.keys(gpu).sort()).toEqual(["sys/gpu0/mem_percent", "sys/gpu0/mem_used_mb", "sys/gpu0/power_w", "sys/gpu0/temp_c", "sys/gpu0/util"]);
  });

  it.skipIf(!gcc)("keep CUDA_VISIBLE_DEVICES, and work with a driver older than the _v3 process call", async () => {
    const { gpu } = await sample({ LD_LIBRARY_PATH: stubDir("no-v3", ["-DNO_V3"]), CUDA_VISIBLE_DEVICES: "1" });
    expect(Object.keys(gpu).sort()).toEqual(["sys/gpu1/mem_percent", "sys/gpu1/mem_used_mb", "sys/gpu1/power_w", "sys/gpu1/temp_c", "sys/gpu1/util"]);
  });

  it.skipIf(!gcc)("fall back to nvidia-smi when NVML is there but its driver is not", async () => {
    const smi = smiDir("smi-fallback");
    const { gpu, err } = await sample({ LD_LIBRARY_PATH: stubDir("init-fails", ["-DINIT_FAILS"]), PATH: `${smi.bin}:/usr/bin:/bin` });
    expect(err).toBe("");
    expect(gpu).toEqual({ "sys/gpu0/util": 37, "sys/gpu0/mem_used_mb": 1024, "sys/gpu0/mem_percent": 12.5, "sys/gpu0/power_w": 55.5, "sys/gpu0/temp_c": 61 });
    expect(existsSync(smi.marker)).toBe(true);
  });

  it("come from nvidia-smi on a machine without libnvidia-ml", async () => {
    const smi = smiDir("smi-only");
    const { gpu } = await sample({ PATH: `${smi.bin}:/usr/bin:/bin` });
    expect(gpu["sys/gpu0/util"]).toBe(37);
  });

  it("are simply absent, silently, without NVML and without nvidia-smi", async () => {
    const { gpu, err } = await sample({});
    expect(gpu).toEqual({});
    expect(err).toBe("");
  });
});
