// The system page: CPU, memory, disk and per-GPU charts that update every two seconds, with a clear no-GPU state.
import type uPlot from "uplot";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { ApiError, getJson } from "../api.ts";
import { PALETTE } from "../chart-data.ts";
import { Chart } from "../components/chart.tsx";
import { Empty, ErrorState, Loading, useInterval } from "../components/common.tsx";
import { fmtBytes, fmtNum } from "../format.ts";
import type { GpuInfo, GpuTelemetry, SystemMonitor } from "../types.ts";

const KEEP = 300;
const POLL_MS = 2000;

interface Sample {
  ts: number;
  cpu: number | null;
  mem: number | null;
  swap: number | null;
  disk: number | null;
  gpus: GpuInfo[];
}

/** Accepts `[snapshot]`, `{samples: […]}` or `{history: […]}` from /api/gpu/history. */
function historySnapshots(body: unknown): { ts: number; gpus: GpuInfo[] }[] {
  const list = Array.isArray(body) ? body : ((body as { samples?: unknown[]; history?: unknown[] } | null)?.samples ?? (body as { history?: unknown[] } | null)?.history ?? []);
  return (list as { ts?: number; gpus?: GpuInfo[] }[]).filter((s) => typeof s?.ts === "number" && Array.isArray(s.gpus)).map((s) => ({ ts: s.ts!, gpus: s.gpus! }));
}

/** Route component for `/system`. */
export function SystemPage() {
  const [samples, setSamples] = useState<Sample[]>([]);
  const [gpu, setGpu] = useState<GpuTelemetry | null>(null);
  const [sys, setSys] = useState<SystemMonitor | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const busy = useRef(false);

  const poll = async () => {
    if (busy.current) return;
    busy.current = true;
    try {
      const [g, s] = await Promise.all([getJson<GpuTelemetry>("/api/gpu/telemetry"), getJson<SystemMonitor>("/api/system/monitor")]);
      setGpu(g);
      setSys(s);
      setError(null);
      const ts = s.ts ?? g.ts ?? Date.now() / 1000;
      setSamples((old) => {
        const next = [...old, { ts, cpu: s.cpu?.percent ?? null, mem: s.memory?.percent ?? null, swap: s.memory?.swap_percent ?? null, disk: s.disk?.percent ?? null, gpus: g.available ? g.gpus ?? [] : [] }];
        return next.length > KEEP ? next.slice(next.length - KEEP) : next;
      });
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(-1, String(e)));
    } finally {
      busy.current = false;
    }
  };

  useEffect(() => {
    // Seed the GPU charts with the server's short history, then poll.
    getJson<unknown>("/api/gpu/history").then(
      (body) => {
        const snaps = historySnapshots(body);
        if (snaps.length) setSamples((old) => [...snaps.map((s) => ({ ts: s.ts, cpu: null, mem: null, swap: null, disk: null, gpus: s.gpus })), ...old].slice(-KEEP));
      },
      () => undefined,
    );
    void poll();
  }, []);
  useInterval(poll, POLL_MS);

  const host = useMemo(() => {
    const xs = samples.map((s) => s.ts);
    return [xs, samples.map((s) => s.cpu), samples.map((s) => s.mem), samples.map((s) => s.swap), samples.map((s) => s.disk)] as uPlot.AlignedData;
  }, [samples]);
  const gpuCount = gpu?.available ? gpu.gpus?.length ?? 0 : 0;

  if (error && !sys) return <div class="page"><ErrorState error={error} onRetry={poll} what="system telemetry" /></div>;
  if (!sys || !gpu) return <Loading text="Sampling the machine…" />;

  return (
    <div class="page page-system">
      {error ? <div class="inline-error">{error.message} (showing the last samples)</div> : null}
      <div class="tiles">
        <Tile label="CPU" value={sys.cpu ? `${fmtNum(sys.cpu.percent)} %` : "–"} sub={sys.cpu ? `${sys.cpu.logical_count} threads${sys.cpu.load_avg ? ` · load ${sys.cpu.load_avg.map((x) => x.toFixed(2)).join(" ")}` : ""}` : ""} />
        <Tile label="Memory" value={sys.memory ? `${fmtNum(sys.memory.percent)} %` : "–"} sub={sys.memory ? `${fmtBytes(sys.memory.used)} of ${fmtBytes(sys.memory.total)}` : ""} />
        <Tile label="Swap" value={sys.memory ? `${fmtNum(sys.memory.swap_percent)} %` : "–"} sub={sys.memory ? `${fmtBytes(sys.memory.swap_used)} of ${fmtBytes(sys.memory.swap_total)}` : ""} />
        <Tile label={`Disk ${sys.disk?.path ?? ""}`} value={sys.disk ? `${fmtNum(sys.disk.percent)} %` : "–"} sub={sys.disk ? `${fmtBytes(sys.disk.free)} free` : ""} />
        <Tile label="GPUs" value={String(gpuCount)} sub={sys.platform ? `${sys.platform.system} ${sys.platform.release} ${sys.platform.machine}` : ""} />
      </div>
      {!sys.available ? <Empty title="Host metrics unavailable">{sys.reason ?? ""}</Empty> : null}
      <div class="card chart-card">
        <div class="chart-head">
          <span class="chart-title">Host utilisation (%)</span>
        </div>
        <Chart
          data={host}
          series={[
            { label: "CPU", color: PALETTE[0] },
            { label: "Memory", color: PALETTE[1] },
            { label: "Swap", color: PALETTE[3] },
            { label: "Disk", color: PALETTE[2] },
          ]}
          height={200}
          xTime
          syncKey="system"
          emptyText="Waiting for samples…"
        />
      </div>
      {sys.cpu?.per_core?.length ? (
        <div class="card">
          <h3>Per core</h3>
          <div class="cores">
            {sys.cpu.per_core.map((p, i) => (
              <div class="core" key={i} title={`core ${i}: ${fmtNum(p)} %`}>
                <div class="core-bar" style={{ height: `${Math.min(100, Math.max(0, p))}%` }} />
              </div>
            ))}
          </div>
        </div>
      ) : null}
      <h2 class="section-title">GPUs</h2>
      {!gpu.available ? (
        <Empty title="No NVIDIA GPU">
          {gpu.reason ?? "No GPU telemetry on this machine."} GPU charts appear here when <code>nvidia-smi</code> works on the server.
        </Empty>
      ) : (
        <div class="chart-grid wide">
          {(gpu.gpus ?? []).map((g) => (
            <GpuCard key={g.index} gpu={g} samples={samples} />
          ))}
        </div>
      )}
    </div>
  );
}

function Tile(props: { label: string; value: string; sub: string }) {
  return (
    <div class="card tile">
      <div class="muted">{props.label}</div>
      <div class="tile-value">{props.value}</div>
      <div class="muted tile-sub">{props.sub}</div>
    </div>
  );
}

function GpuCard(props: { gpu: GpuInfo; samples: Sample[] }) {
  const g = props.gpu;
  const data = useMemo(() => {
    const rows = props.samples.map((s) => ({ ts: s.ts, g: s.gpus.find((x) => x.index === g.index) }));
    const memPct = (x?: GpuInfo) => (x ? (x.mem_used_pct ?? (x.mem_total_mib && x.mem_used_mib !== null ? (100 * x.mem_used_mib) / x.mem_total_mib : null)) : null);
    return [rows.map((r) => r.ts), rows.map((r) => r.g?.util_gpu ?? null), rows.map((r) => memPct(r.g)), rows.map((r) => r.g?.temp_c ?? null), rows.map((r) => (r.g?.power_w !== null && r.g?.power_w !== undefined && r.g.power_limit_w ? (100 * r.g.power_w) / r.g.power_limit_w : null))] as uPlot.AlignedData;
  }, [props.samples]);
  return (
    <div class="card chart-card" data-gpu={g.index}>
      <div class="chart-head">
        <span class="chart-title">
          GPU {g.index} · {g.name}
        </span>
        <span class="muted mono">
          {fmtNum(g.mem_used_mib)} / {fmtNum(g.mem_total_mib)} MiB · {fmtNum(g.power_w)} / {fmtNum(g.power_limit_w)} W · {g.pstate ?? ""}
        </span>
      </div>
      <Chart
        data={data}
        series={[
          { label: "util %", color: PALETTE[0] },
          { label: "mem %", color: PALETTE[1] },
          { label: "temp °C", color: PALETTE[4] },
          { label: "power %", color: PALETTE[2] },
        ]}
        height={180}
        xTime
        syncKey="system"
      />
    </div>
  );
}
