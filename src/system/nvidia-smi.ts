// nvidia-smi: where the binary is, what we ask it, and tolerant parsers for its `csv,noheader,nounits` output (spec §3.9).
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";

/** One GPU as `/api/gpu/telemetry` reports it (spec §3.9 keys, plus `uuid`). */
export interface GpuInfo {
  index: number;
  name: string;
  util_gpu: number | null;
  util_mem: number | null;
  mem_total_mib: number | null;
  mem_used_mib: number | null;
  temp_c: number | null;
  power_w: number | null;
  power_limit_w: number | null;
  clock_sm_mhz: number | null;
  clock_mem_mhz: number | null;
  pstate: string | null;
  fan_speed_pct: number | null;
  /** 0–100; present only when the total is known and non-zero (as in the original). */
  mem_used_pct?: number;
  /** Stable id (`GPU-…`) that compute processes refer to; null when the driver does not say. */
  uuid: string | null;
}

/** A process holding GPU memory (from `--query-compute-apps`). */
export interface GpuProcess {
  pid: number;
  /** null when the driver reports `[N/A]` (MIG on older drivers, restricted containers). */
  used_memory_mib: number | null;
  gpu_uuid: string | null;
  /** Index of the GPU with `gpu_uuid`, when it is in the same sample. */
  gpu_index: number | null;
  process_name: string | null;
}

/**
 * The `--query-gpu` fields: the original's thirteen (spec §3.9) in its order, then `uuid`
 * (added to match compute processes to GPUs; supported by every driver that has `--query-gpu`).
 */
export const GPU_QUERY_FIELDS = [
  "index",
  "name",
  "utilization.gpu",
  "utilization.memory",
  "memory.total",
  "memory.used",
  "temperature.gpu",
  "power.draw",
  "enforced.power.limit",
  "clocks.sm",
  "clocks.mem",
  "pstate",
  "fan.speed",
  "uuid",
] as const;

/** The `--query-compute-apps` fields; `process_name` is last so that names with commas can be re-joined. */
export const APPS_QUERY_FIELDS = ["pid", "used_memory", "gpu_uuid", "process_name"] as const;

/** Arguments for the GPU query. */
export const GPU_QUERY_ARGS = [`--query-gpu=${GPU_QUERY_FIELDS.join(",")}`, "--format=csv,noheader,nounits"];

/** Arguments for the compute-process query. */
export const APPS_QUERY_ARGS = [`--query-compute-apps=${APPS_QUERY_FIELDS.join(",")}`, "--format=csv,noheader,nounits"];

const WINDOWS_CANDIDATES = [
  "C:\\Windows\\System32\\nvidia-smi.exe",
  "C:\\Program Files\\NVIDIA Corporation\\NVSMI\\nvidia-smi.exe",
];

/**
 * Finds the nvidia-smi executable on `pathEnv` (a PATH string), as `shutil.which` does, then in the
 * Windows install locations (spec §3.9). Returns undefined when there is none.
 */
export function findNvidiaSmi(pathEnv: string, platform: NodeJS.Platform = process.platform): string | undefined {
  const win = platform === "win32";
  const names = win ? ["nvidia-smi.exe", "nvidia-smi"] : ["nvidia-smi"];
  for (const dir of pathEnv.split(win ? ";" : delimiter)) {
    if (!dir) continue;
    for (const name of names) {
      const candidate = join(dir, name);
      if (isExecutableFile(candidate, win)) return candidate;
    }
  }
  if (win) return WINDOWS_CANDIDATES.find((c) => isExecutableFile(c, true));
  return undefined;
}

function isExecutableFile(path: string, win: boolean): boolean {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st?.isFile()) return false;
  if (win) return true;
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false; // present but not executable: which() skips it too
  }
}

/**
 * A numeric cell, or null for what nvidia-smi prints when it has no value:
 * empty, `N/A`, `[N/A]`, `[Not Supported]`, `[Unknown Error]`, `[Insufficient Permissions]`, …
 */
export function toNumber(cell: string | undefined): number | null {
  if (cell === undefined) return null;
  const x = cell.trim();
  if (!x || x.startsWith("[") || x.toUpperCase() === "N/A") return null;
  // some drivers keep a unit despite nounits (e.g. "250.00 W"); take the leading number
  const m = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?/i.exec(x);
  if (!m) return null;
  const v = Number(m[0]);
  return Number.isFinite(v) ? v : null;
}

/** A text cell, or null when nvidia-smi says it has none. */
function toText(cell: string | undefined): string | null {
  const x = cell?.trim() ?? "";
  if (!x || x.startsWith("[") || x.toUpperCase() === "N/A") return null;
  return x;
}

/**
 * Splits one CSV line into exactly `count` cells, re-joining the extra commas of the free-text cell
 * at `textIndex` (GPU or process names may contain commas). Returns undefined for lines with too few
 * cells (driver messages, blank lines).
 */
export function splitRow(line: string, count: number, textIndex: number): string[] | undefined {
  const parts = line.split(",");
  if (parts.length < count) return undefined;
  const extra = parts.length - count;
  const text = parts.slice(textIndex, textIndex + extra + 1).join(",");
  return [...parts.slice(0, textIndex), text, ...parts.slice(textIndex + extra + 1)].map((p) => p.trim());
}

/**
 * Parses `nvidia-smi --query-gpu=<GPU_QUERY_FIELDS> --format=csv,noheader,nounits` output.
 * Lines that are not GPU rows (error text, warnings) are skipped; an empty array means no GPU was read.
 */
export function parseGpuCsv(text: string): GpuInfo[] {
  const gpus: GpuInfo[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    const p = splitRow(line, GPU_QUERY_FIELDS.length, 1);
    if (!p) continue;
    const index = toNumber(p[0]);
    if (index === null || !Number.isInteger(index)) continue; // not a GPU row
    const gpu = makeGpu(
      {
        index,
        name: p[1],
        util_gpu: toNumber(p[2]),
        util_mem: toNumber(p[3]),
        mem_total_mib: toNumber(p[4]),
        mem_used_mib: toNumber(p[5]),
        temp_c: toNumber(p[6]),
        power_w: toNumber(p[7]),
        power_limit_w: toNumber(p[8]),
        clock_sm_mhz: toNumber(p[9]),
        clock_mem_mhz: toNumber(p[10]),
        pstate: toText(p[11]),
        fan_speed_pct: toNumber(p[12]),
      },
      toText(p[13]),
    );
    gpus.push(gpu);
  }
  return gpus;
}

/** The original's per-GPU fields, without the derived percentage and the uuid. */
export type GpuFields = Omit<GpuInfo, "mem_used_pct" | "uuid">;

/**
 * Builds a GpuInfo with keys in the original's order; `mem_used_pct` is set as the original does,
 * only with a non-zero total and a known used value; `uuid` comes last.
 */
export function makeGpu(fields: GpuFields, uuid: string | null): GpuInfo {
  const gpu = { ...fields } as GpuInfo;
  if (fields.mem_total_mib && fields.mem_used_mib !== null) {
    const pct = (fields.mem_used_mib * 100) / Math.max(1, fields.mem_total_mib);
    gpu.mem_used_pct = Math.max(0, Math.min(100, pct));
  }
  gpu.uuid = uuid;
  return gpu;
}

/**
 * Parses `nvidia-smi --query-compute-apps=<APPS_QUERY_FIELDS> --format=csv,noheader,nounits` output;
 * `gpus` maps each process's GPU uuid to its index. "No running processes found" and other text is skipped.
 */
export function parseComputeApps(text: string, gpus: GpuInfo[] = []): GpuProcess[] {
  const indexByUuid = new Map(gpus.filter((g) => g.uuid).map((g) => [g.uuid as string, g.index]));
  const out: GpuProcess[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    const p = splitRow(line, APPS_QUERY_FIELDS.length, APPS_QUERY_FIELDS.length - 1);
    if (!p) continue;
    const pid = toNumber(p[0]);
    if (pid === null || !Number.isInteger(pid) || pid < 0) continue;
    const uuid = toText(p[2]);
    out.push({
      pid,
      used_memory_mib: toNumber(p[1]),
      gpu_uuid: uuid,
      gpu_index: uuid !== null ? (indexByUuid.get(uuid) ?? null) : null,
      process_name: toText(p[3]),
    });
  }
  return out;
}

/** The first meaningful line of a failed run, as the `reason` of `{"available": false}`. */
export function failureReason(stdout: string, stderr: string, code: number | null): string {
  const line = `${stdout}\n${stderr}`
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find((l) => l.length > 0);
  if (line) return line;
  return code === null ? "nvidia-smi was killed" : `nvidia-smi exited with code ${code} and printed nothing`;
}
