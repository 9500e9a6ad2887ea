// Reads GPUs through NVML (libnvidia-ml) via bun:ffi when the library loads, so sampling spawns no process.
import { dlopen, FFIType } from "bun:ffi";
import { type GpuInfo, type GpuProcess, makeGpu } from "./nvidia-smi.ts";

/** One NVML read: the same shapes as the nvidia-smi path, or the reason it failed. */
export type NvmlReading = { ok: true; gpus: GpuInfo[]; processes: GpuProcess[] } | { ok: false; reason: string };

/** An initialised NVML; `close` calls nvmlShutdown. */
export interface Nvml {
  read(): NvmlReading;
  close(): void;
}

/** Where libnvidia-ml usually is: the loader's search path first (soname), then common install dirs. */
export const NVML_LIBRARY_CANDIDATES = [
  "libnvidia-ml.so.1",
  "libnvidia-ml.so",
  "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1",
  "/usr/lib64/libnvidia-ml.so.1",
  "/usr/lib/wsl/lib/libnvidia-ml.so.1",
];

const { u32, i32, u64, ptr } = FFIType;
const dev = u64; // nvmlDevice_t is an opaque pointer, passed as a 64-bit integer

const CORE_SYMBOLS = {
  nvmlInit_v2: { args: [], returns: i32 },
  nvmlShutdown: { args: [], returns: i32 },
  nvmlDeviceGetCount_v2: { args: [ptr], returns: i32 },
  nvmlDeviceGetHandleByIndex_v2: { args: [u32, ptr], returns: i32 },
  nvmlDeviceGetName: { args: [dev, ptr, u32], returns: i32 },
  nvmlDeviceGetUUID: { args: [dev, ptr, u32], returns: i32 },
  nvmlDeviceGetUtilizationRates: { args: [dev, ptr], returns: i32 },
  nvmlDeviceGetMemoryInfo: { args: [dev, ptr], returns: i32 },
  nvmlDeviceGetTemperature: { args: [dev, i32, ptr], returns: i32 },
  nvmlDeviceGetPowerUsage: { args: [dev, ptr], returns: i32 },
  nvmlDeviceGetEnforcedPowerLimit: { args: [dev, ptr], returns: i32 },
  nvmlDeviceGetClockInfo: { args: [dev, i32, ptr], returns: i32 },
  nvmlDeviceGetPerformanceState: { args: [dev, ptr], returns: i32 },
  nvmlDeviceGetFanSpeed: { args: [dev, ptr], returns: i32 },
} as const;

// nvmlProcessInfo_t (v2/v3): uint pid; [pad]; ull usedGpuMemory; uint gpuInstanceId; uint computeInstanceId
const PROCESS_SYMBOLS = {
  nvmlDeviceGetComputeRunningProcesses_v3: { args: [dev, ptr, ptr], returns: i32 },
} as const;
const PROC_INFO_BYTES = 24;
const MAX_PROCS = 128;
const NVML_SUCCESS = 0;
const NOT_AVAILABLE = 0xffffffffffffffffn; // NVML_VALUE_NOT_AVAILABLE for usedGpuMemory
const MIB = 1024 * 1024;

/**
 * Loads and initialises NVML from the first candidate that has every symbol we need; undefined when
 * none does (no driver, a library without these symbols, or nvmlInit failing). Never throws.
 */
export function loadNvml(candidates: string[] = NVML_LIBRARY_CANDIDATES): Nvml | undefined {
  for (const path of candidates) {
    let lib: ReturnType<typeof dlopen<typeof CORE_SYMBOLS>>;
    try {
      lib = dlopen(path, CORE_SYMBOLS);
    } catch {
      continue; // not there, or lacks a symbol: try the next candidate
    }
    if (lib.symbols.nvmlInit_v2() !== NVML_SUCCESS) {
      lib.close();
      continue;
    }
    let procs: ReturnType<typeof dlopen<typeof PROCESS_SYMBOLS>> | undefined;
    try {
      procs = dlopen(path, PROCESS_SYMBOLS);
    } catch {
      procs = undefined; // drivers before R510 lack _v3: report GPUs without processes
    }
    return makeNvml(lib, procs);
  }
  return undefined;
}

function makeNvml(
  lib: ReturnType<typeof dlopen<typeof CORE_SYMBOLS>>,
  procLib: ReturnType<typeof dlopen<typeof PROCESS_SYMBOLS>> | undefined,
): Nvml {
  const s = lib.symbols;
  const u32buf = new Uint32Array(2);
  const i32buf = new Int32Array(1);
  const u64buf = new BigUint64Array(3);
  const text = new Uint8Array(96);
  const procBuf = new Uint8Array(PROC_INFO_BYTES * MAX_PROCS);
  const procView = new DataView(procBuf.buffer);
  const decoder = new TextDecoder();

  const cstr = (): string => {
    const end = text.indexOf(0);
    return decoder.decode(text.subarray(0, end < 0 ? text.length : end));
  };
  const one = (rc: number, scale = 1): number | null => (rc === NVML_SUCCESS ? u32buf[0] / scale : null);

  return {
    read(): NvmlReading {
      if (s.nvmlDeviceGetCount_v2(u32buf) !== NVML_SUCCESS) return { ok: false, reason: "NVML could not count GPUs" };
      const count = u32buf[0];
      const gpus: GpuInfo[] = [];
      const processes: GpuProcess[] = [];
      for (let i = 0; i < count; i++) {
        if (s.nvmlDeviceGetHandleByIndex_v2(i, u64buf) !== NVML_SUCCESS) continue;
        const h = u64buf[0];
        const name = s.nvmlDeviceGetName(h, text, text.length) === NVML_SUCCESS ? cstr() : "";
        const uuid = s.nvmlDeviceGetUUID(h, text, text.length) === NVML_SUCCESS ? cstr() : null;
        const utilOk = s.nvmlDeviceGetUtilizationRates(h, u32buf) === NVML_SUCCESS;
        const util = utilOk ? [u32buf[0], u32buf[1]] : [null, null];
        const memOk = s.nvmlDeviceGetMemoryInfo(h, u64buf) === NVML_SUCCESS;
        const mem = memOk ? [Number(u64buf[0]) / MIB, Number(u64buf[2]) / MIB] : [null, null];
        const temp = one(s.nvmlDeviceGetTemperature(h, 0, u32buf));
        const power = one(s.nvmlDeviceGetPowerUsage(h, u32buf), 1000);
        const limit = one(s.nvmlDeviceGetEnforcedPowerLimit(h, u32buf), 1000);
        const sm = one(s.nvmlDeviceGetClockInfo(h, 1, u32buf));
        const memClock = one(s.nvmlDeviceGetClockInfo(h, 2, u32buf));
        const ps = s.nvmlDeviceGetPerformanceState(h, i32buf) === NVML_SUCCESS ? i32buf[0] : 32;
        const fan = one(s.nvmlDeviceGetFanSpeed(h, u32buf));
        gpus.push(
          makeGpu(
            {
              index: i,
              name,
              util_gpu: util[0],
              util_mem: util[1],
              mem_total_mib: mem[0],
              mem_used_mib: mem[1],
              temp_c: temp,
              power_w: power,
              power_limit_w: limit,
              clock_sm_mhz: sm,
              clock_mem_mhz: memClock,
              pstate: ps >= 0 && ps <= 15 ? `P${ps}` : null,
              fan_speed_pct: fan,
            },
            uuid,
          ),
        );
        if (procLib) readProcesses(h, i, uuid);
      }
      return { ok: true, gpus, processes };

      function readProcesses(h: bigint, index: number, uuid: string | null): void {
        u32buf[0] = MAX_PROCS;
        if (procLib!.symbols.nvmlDeviceGetComputeRunningProcesses_v3(h, u32buf, procBuf) !== NVML_SUCCESS) return;
        const n = Math.min(u32buf[0], MAX_PROCS);
        for (let k = 0; k < n; k++) {
          const off = k * PROC_INFO_BYTES;
          const used = procView.getBigUint64(off + 8, true);
          processes.push({
            pid: procView.getUint32(off, true),
            used_memory_mib: used === NOT_AVAILABLE ? null : Number(used) / MIB,
            gpu_uuid: uuid,
            gpu_index: index,
            process_name: null,
          });
        }
      }
    },
    close(): void {
      s.nvmlShutdown();
      procLib?.close();
      lib.close();
    },
  };
}
