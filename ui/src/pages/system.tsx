// The system page: CPU, memory, disk and per-GPU charts (GPU ones seeded from the sampler's history) updating every two seconds, with a clear no-GPU state; in fleet mode one section per host, offline hosts greyed with their reason.
import type uPlot from "uplot";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { ApiError, getJson } from "../api.ts";
import { type GpuPoint, type GpuSample, historySamples, PALETTE } from "../chart-data.ts";
import { Chart } from "../components/chart.tsx";
import { Empty, ErrorState, Loading, useInterval } from "../components/common.tsx";
import { fmtBytes, fmtNum } from "../format.ts";
import { fmtInt, t } from "../i18n/i18n.ts";
import type { GpuHistory, GpuInfo, GpuTelemetry, SystemMonitor } from "../types.ts";
import type { FleetAnswer, FleetHost, PerHost } from "../../../src/wire/fleet.ts";

const KEEP = 300;
/** Samples of per-core history drawn as a heat strip (two minutes at the 2 s poll). */
const CORE_KEEP = 60;
const POLL_MS = 2000;
/** The x window of the charts is at least this wide (seconds), so that a few samples do not span years. */
const MIN_SPAN_S = 60;

interface HostSample {
  ts: number;
  cpu: number | null;
  mem: number | null;
  swap: number | null;
  disk: number | null;
}

function keepLast<T>(list: T[]): T[] {
  return list.length > KEEP ? list.slice(list.length - KEEP) : list;
}

/** The x window of samples `ts`: from the first to the last, at least MIN_SPAN_S wide. */
function timeWindow(ts: number[]): [number, number] | null {
  if (!ts.length) return null;
  const last = ts[ts.length - 1];
  return [Math.min(ts[0], last - MIN_SPAN_S), last];
}

/** What the page keeps of one host between polls (key "" on a single-host server). */
interface HostState {
  samples: HostSample[];
  gpuSamples: GpuSample[];
  cores: number[][];
}

const EMPTY_HOST: HostState = { samples: [], gpuSamples: [], cores: [] };

/** Adds one poll's answers of a host to what the page keeps of it. */
function advance(old: HostState, s: SystemMonitor, g: GpuTelemetry): HostState {
  const ts = s.ts ?? Date.now() / 1000;
  const perCore = s.cpu?.per_core;
  const cores = perCore?.length ? [...old.cores.slice(-(CORE_KEEP - 1)), perCore] : old.cores;
  const samples = keepLast([...old.samples, { ts, cpu: s.cpu?.percent ?? null, mem: s.memory?.percent ?? null, swap: s.memory?.swap_percent ?? null, disk: s.disk?.percent ?? null }]);
  const gts = g.ts;
  let gpuSamples = old.gpuSamples;
  // the sampler's own time: a sample already in the seeded history is not added twice
  if (g.available && typeof gts === "number" && !(gpuSamples.length && gpuSamples[gpuSamples.length - 1].ts >= gts)) gpuSamples = keepLast([...gpuSamples, { ts: gts, gpus: g.gpus ?? [] }]);
  return { samples, gpuSamples, cores };
}

/** A fleet host's part of the GPU telemetry (its GPUs and its availability). */
function hostTelemetry(g: GpuTelemetry & { hosts?: { host: string; available: boolean; reason: string | null }[] }, host: string): GpuTelemetry {
  const gpus = (g.gpus ?? []).filter((x) => (x as GpuInfo & { host?: string }).host === host);
  const h = g.hosts?.find((x) => x.host === host);
  return { ...g, available: gpus.length > 0, reason: gpus.length ? undefined : (h?.reason ?? undefined), gpus };
}

/** Route component for `/system`. */
export function SystemPage() {
  const [hosts, setHosts] = useState<Record<string, HostState>>({});
  const [gpu, setGpu] = useState<GpuTelemetry | null>(null);
  const [sys, setSys] = useState<(SystemMonitor & PerHost<SystemMonitor>) | null>(null);
  const [fleet, setFleet] = useState<FleetHost[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const busy = useRef(false);

  const poll = async () => {
    if (busy.current) return;
    busy.current = true;
    try {
      const [g, s] = await Promise.all([getJson<GpuTelemetry>("/api/gpu/telemetry"), getJson<SystemMonitor & PerHost<SystemMonitor>>("/api/system/monitor")]);
      // a fleet-mode server answers every host (docs/FLEET.md); /api/fleet adds the hosts not answering
      const f = Array.isArray(s.hosts) ? await getJson<FleetAnswer>("/api/fleet").then((x) => x.hosts, () => null) : null;
      setGpu(g);
      setSys(s);
      setFleet(f);
      setError(null);
      setHosts((old) => {
        if (!Array.isArray(s.hosts)) return { "": advance(old[""] ?? EMPTY_HOST, s, g) };
        const next: Record<string, HostState> = { ...old };
        for (const h of s.hosts) next[h.host] = advance(old[h.host] ?? EMPTY_HOST, h, hostTelemetry(g, h.host));
        return next;
      });
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(-1, String(e)));
    } finally {
      busy.current = false;
    }
  };

  useEffect(() => {
    // Seed the GPU charts with the sampler's last minutes (the host has no history: its charts start now).
    getJson<GpuHistory & PerHost<GpuHistory>>("/api/gpu/history").then(
      (body) => {
        const parts = Array.isArray(body.hosts) ? body.hosts.map((h) => [h.host, h] as const) : [["", body] as const];
        setHosts((old) => {
          const next = { ...old };
          for (const [key, part] of parts) {
            const seed = historySamples(part);
            if (!seed.length) continue;
            const was = next[key] ?? EMPTY_HOST;
            next[key] = { ...was, gpuSamples: keepLast([...seed, ...was.gpuSamples.filter((x) => x.ts > seed[seed.length - 1].ts)]) };
          }
          return next;
        });
      },
      () => undefined, // the live samples still come; the page shows the telemetry error, if any
    );
    void poll();
  }, []);
  useInterval(poll, POLL_MS);

  if (error && !sys) return <div class="page"><ErrorState error={error} onRetry={poll} what="system telemetry" /></div>;
  if (!sys || !gpu) return <Loading text={t("system.sampling")} />;

  if (!Array.isArray(sys.hosts)) {
    return (
      <div class="page page-system">
        {error ? <div class="inline-error">{error.message} (showing the last samples)</div> : null}
        <HostSystem sys={sys} gpu={gpu} state={hosts[""] ?? EMPTY_HOST} />
      </div>
    );
  }
  // fleet mode: every host of /api/fleet in its order (answering ones first when /api/fleet failed)
  const answering = new Map(sys.hosts.map((h) => [h.host, h]));
  const order = fleet ?? sys.hosts.map((h) => ({ host: h.host, state: "online", reason: null }) as Pick<FleetHost, "host" | "state" | "reason">);
  return (
    <div class="page page-system">
      {error ? <div class="inline-error">{error.message} (showing the last samples)</div> : null}
      {order.map((h) => {
        const part = answering.get(h.host);
        const up = h.state === "online" && part !== undefined;
        return (
          <section key={h.host} class={`host-section${up ? "" : " host-offline"}`} data-host={h.host} data-state={h.state} style={up ? undefined : { opacity: 0.55 }}>
            <h2 class="section-title">
              {h.host} <span class="muted">· {h.state}{h.reason ? ` (${h.reason})` : ""}</span>
            </h2>
            {up ? (
              <HostSystem sys={part} gpu={hostTelemetry(gpu, h.host)} state={hosts[h.host] ?? EMPTY_HOST} />
            ) : (
              <Empty title={t("system.hostUnavailable")}>{h.reason ?? (part ? "" : h.state)}</Empty>
            )}
          </section>
        );
      })}
    </div>
  );
}

/** One host's tiles, host chart, per-core strip and GPU cards. */
function HostSystem(props: { sys: SystemMonitor; gpu: GpuTelemetry; state: HostState }) {
  const { sys, gpu, state } = props;
  const host = useMemo(() => {
    const hs = state.samples;
    return [hs.map((s) => s.ts), hs.map((s) => s.cpu), hs.map((s) => s.mem), hs.map((s) => s.swap), hs.map((s) => s.disk)] as uPlot.AlignedData;
  }, [state.samples]);
  const hostRange = useMemo(() => timeWindow(state.samples.map((s) => s.ts)), [state.samples]);
  const gpuCount = gpu.available ? (gpu.gpus?.length ?? 0) : 0;
  return (
    <>
      <div class="tiles">
        <Tile label={t("system.cpu")} value={sys.cpu ? `${fmtNum(sys.cpu.percent)} %` : "–"} sub={sys.cpu ? `${t("system.threads", { n: sys.cpu.logical_count })}${sys.cpu.load_avg ? ` · ${t("system.load", { load: sys.cpu.load_avg.map((x) => x.toFixed(2)).join(" ") })}` : ""}` : ""} />
        <Tile label={t("system.memory")} value={sys.memory ? `${fmtNum(sys.memory.percent)} %` : "–"} sub={sys.memory ? t("system.of", { used: fmtBytes(sys.memory.used), total: fmtBytes(sys.memory.total) }) : ""} />
        <Tile label={t("system.swap")} value={sys.memory ? `${fmtNum(sys.memory.swap_percent)} %` : "–"} sub={sys.memory ? t("system.of", { used: fmtBytes(sys.memory.swap_used), total: fmtBytes(sys.memory.swap_total) }) : ""} />
        <Tile label={t("system.disk", { path: sys.disk?.path ?? "" })} value={sys.disk ? `${fmtNum(sys.disk.percent)} %` : "–"} sub={sys.disk ? t("system.free", { n: fmtBytes(sys.disk.free) }) : ""} />
        <Tile label={t("system.gpus")} value={String(gpuCount)} sub={sys.platform ? `${sys.platform.system} ${sys.platform.release} ${sys.platform.machine}` : ""} />
      </div>
      {!sys.available ? <Empty title={t("system.hostUnavailable")}>{sys.reason ?? ""}</Empty> : null}
      <div class="card chart-card">
        <div class="chart-head">
          <span class="chart-title">{t("system.hostChart")}</span>
        </div>
        <Chart
          data={host}
          series={[
            { label: t("system.cpu"), color: PALETTE[0] },
            { label: t("system.memory"), color: PALETTE[1] },
            { label: t("system.swap"), color: PALETTE[3] },
            { label: t("system.disk", { path: "" }).trim(), color: PALETTE[2] },
          ]}
          height={200}
          xTime
          xRange={hostRange}
          emptyText={t("system.waiting")}
        />
      </div>
      {sys.cpu?.per_core?.length ? <PerCore now={sys.cpu.per_core} history={state.cores} /> : null}
      <h2 class="section-title">GPUs</h2>
      {!gpu.available ? (
        <Empty title={t("system.noGpu")}>
          {gpu.reason ? `${gpu.reason.replace(/[.\s]+$/, "")}.` : t("system.noGpuTelemetry")} {t("system.noGpuHint")}
        </Empty>
      ) : (
        <div class="chart-grid wide">
          {(gpu.gpus ?? []).map((g) => (
            <GpuCard key={g.index} gpu={g} samples={state.gpuSamples} />
          ))}
        </div>
      )}
    </>
  );
}

/** Colour of a utilisation in the heat strip: the accent at the given strength. */
function heat(p: number): string {
  return `color-mix(in srgb, var(--accent) ${Math.round(Math.min(100, Math.max(0, p)))}%, var(--grid))`;
}

/** Each core's utilisation now (value and bar) and its last samples as a heat strip, oldest on the left. */
function PerCore(props: { now: number[]; history: number[][] }) {
  const avg = props.now.reduce((a, b) => a + b, 0) / props.now.length;
  return (
    <div class="card" data-testid="per-core">
      <div class="chart-head">
        <h3>{t("system.perCore")}</h3>
        <span class="muted">{t("system.perCoreHint", { n: fmtInt(props.now.length), avg: fmtNum(Math.round(avg * 10) / 10), s: CORE_KEEP * (POLL_MS / 1000) })}</span>
      </div>
      <div class="core-grid">
        {props.now.map((p, i) => (
          <div class="core-cell" key={i} data-core={i} title={t("system.coreTitle", { i, p: fmtNum(p) })}>
            <div class="core-head">
              <span class="muted">{t("system.core", { i })}</span>
              <span class="core-value mono">{fmtNum(Math.round(p))}%</span>
            </div>
            <div class="core-meter">
              <div class="core-fill" style={{ width: `${Math.min(100, Math.max(0, p))}%`, background: heat(Math.max(35, p)) }} />
            </div>
            <div class="core-strip" aria-hidden="true">
              {Array.from({ length: CORE_KEEP }, (_, k) => {
                const sample = props.history[props.history.length - CORE_KEEP + k];
                const v = sample?.[i];
                return <i key={k} style={{ background: v === undefined ? "transparent" : heat(v) }} />;
              })}
            </div>
          </div>
        ))}
      </div>
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

function GpuCard(props: { gpu: GpuInfo; samples: GpuSample[] }) {
  const g = props.gpu;
  const data = useMemo(() => {
    const rows = props.samples.map((s) => ({ ts: s.ts, g: s.gpus.find((x) => x.index === g.index) }));
    const memPct = (x?: GpuPoint) => (x ? (x.mem_used_pct ?? (g.mem_total_mib && x.mem_used_mib !== null ? (100 * x.mem_used_mib) / g.mem_total_mib : null)) : null);
    const powerPct = (x?: GpuPoint) => {
      const limit = x?.power_limit_w ?? g.power_limit_w;
      return x && x.power_w !== null && limit ? (100 * x.power_w) / limit : null;
    };
    return [rows.map((r) => r.ts), rows.map((r) => r.g?.util_gpu ?? null), rows.map((r) => memPct(r.g)), rows.map((r) => r.g?.temp_c ?? null), rows.map((r) => powerPct(r.g))] as uPlot.AlignedData;
  }, [props.samples, g.mem_total_mib, g.power_limit_w]);
  const range = useMemo(() => timeWindow(props.samples.map((s) => s.ts)), [props.samples]);
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
        xRange={range}
        syncKey="system-gpu"
      />
    </div>
  );
}
