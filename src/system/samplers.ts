// Builds the system samplers of one server (started once, in cli/serve.ts), stopped by its onClose.
import type { Logger } from "../util/log.ts";
import { GpuSampler } from "./gpu-sampler.ts";
import { HostSampler } from "./host-sampler.ts";
import { loadNvml, type Nvml } from "./nvml.ts";
import { StorageStatsCache } from "./storage-stats.ts";

/** The live samplers behind the system endpoints. */
export interface SystemSamplers {
  gpu: GpuSampler;
  host: HostSampler;
  storage: StorageStatsCache;
  /** Stops every sampler (also registered with ctx.onClose). */
  stop(): Promise<void>;
}

/** Knobs for tests and benchmarks; production uses the defaults. */
export interface SystemSamplerOptions {
  /** PATH searched for nvidia-smi; the process's PATH when omitted. */
  pathEnv?: string;
  /** Try NVML through bun:ffi first (default true); tests turn it off to exercise nvidia-smi. */
  useNvml?: boolean;
  /** An NVML reader loaded by the caller (tests load a stub library); wins over `useNvml`. */
  nvml?: Nvml;
  procRoot?: string;
  sysRoot?: string;
  gpuIntervalMs?: number;
  gpuIdleIntervalMs?: number;
  gpuTimeoutMs?: number;
  hostIntervalMs?: number;
  slowIntervalMs?: number;
  storageTtlMs?: number;
}

/** What the samplers need from the server (api/context.ts's AppContext fits; system/ does not import api/). */
export interface SamplerContext {
  log: Logger;
  /** The storage root, whose disk and contents are reported; it can change at run time. */
  root(): string;
  onClose(fn: () => void | Promise<void>): void;
}

/** Starts the samplers of a server (cli/serve.ts calls it once); they stop with `ctx.onClose`. */
export function startSystemSamplers(ctx: SamplerContext, opts: SystemSamplerOptions = {}): SystemSamplers {
  const log = ctx.log.child("system");
  const nvml = opts.nvml ?? (opts.useNvml === false ? undefined : loadNvml());
  if (nvml) log.info("reading GPUs through NVML");
  const gpu = new GpuSampler({
    log,
    pathEnv: opts.pathEnv,
    nvml,
    intervalMs: opts.gpuIntervalMs,
    idleIntervalMs: opts.gpuIdleIntervalMs,
    timeoutMs: opts.gpuTimeoutMs,
    procRoot: opts.procRoot,
  });
  const host = new HostSampler({
    log,
    diskPath: () => ctx.root(),
    procRoot: opts.procRoot,
    sysRoot: opts.sysRoot,
    intervalMs: opts.hostIntervalMs,
    slowIntervalMs: opts.slowIntervalMs,
  });
  const storage = new StorageStatsCache({ ttlMs: opts.storageTtlMs, log });
  gpu.start();
  host.start();
  const samplers: SystemSamplers = {
    gpu,
    host,
    storage,
    async stop() {
      host.stop();
      await gpu.stop();
    },
  };
  ctx.onClose(() => samplers.stop());
  return samplers;
}
