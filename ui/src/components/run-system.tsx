// The run page's System tab: the run's own CPU, memory and per-GPU charts (sys/… keys) over its relative time, live while running.
import type uPlot from "uplot";
import { getJson, useResource } from "../api.ts";
import { useLiveMessages, useLiveUp } from "../live.ts";
import type { LiveRow } from "../../../src/wire/live.ts";
import { PALETTE } from "../chart-data.ts";
import type { MessageKey } from "../i18n/en.ts";
import { t } from "../i18n/i18n.ts";
import type { SeriesResponse } from "../types.ts";
import { Chart, type ChartSeries } from "./chart.tsx";
import { Empty, ErrorState, Loading, useInterval } from "./common.tsx";

/** One chart of the tab: its title and the keys it draws (label per key). */
interface Panel {
  id: string;
  title: string;
  lines: { key: string; label: string }[];
}

const GPU_KEY = /^sys\/gpu([^/]+)\/(util|mem_used_mb|mem_percent|power_w|temp_c)$/;
const GPU_PANELS: [string, MessageKey][] = [
  ["util", "runsys.gpuUtil"],
  ["mem_used_mb", "runsys.gpuMem"],
  ["power_w", "runsys.gpuPower"],
  ["temp_c", "runsys.gpuTemp"],
];

/** The charts for a run's system keys: CPU, memory, then one chart per GPU figure with a line per GPU. */
export function systemPanels(keys: string[]): Panel[] {
  const has = new Set(keys);
  const panels: Panel[] = [];
  const pick = (id: string, title: string, lines: [string, string][]) => {
    const present = lines.filter(([k]) => has.has(k)).map(([key, label]) => ({ key, label }));
    if (present.length) panels.push({ id, title, lines: present });
  };
  pick("cpu", t("runsys.cpu"), [
    ["sys/cpu_percent", t("runsys.process")],
    ["sys/host_cpu_percent", t("runsys.host")],
  ]);
  pick("mem", t("runsys.memory"), [
    ["sys/proc_rss_mb", t("runsys.processRss")],
    ["sys/host_mem_used_mb", t("runsys.host")],
  ]);
  const gpus = [...new Set(keys.map((k) => GPU_KEY.exec(k)?.[1]).filter((g): g is string => g !== undefined))].sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
  for (const [field, title] of GPU_PANELS) {
    pick(`gpu-${field}`, t(title), gpus.map((g) => [`sys/gpu${g}/${field}`, `GPU ${g}`]));
  }
  return panels;
}

/**
 * The series with the live rows appended (pushed by `/api/live` as `system` messages): rows at or before the
 * last time already drawn are left out (the fetch and the push may overlap), keys not drawn are ignored.
 */
export function appendSystemRows(body: SeriesResponse, rows: LiveRow[]): SeriesResponse {
  let last = body.x.length ? body.x[body.x.length - 1] : -Infinity;
  const fresh: LiveRow[] = [];
  for (const r of rows) {
    if (typeof r.time !== "number" || r.time <= last) continue;
    fresh.push(r);
    last = r.time;
  }
  if (!fresh.length) return body;
  const series: SeriesResponse["series"] = {};
  for (const [k, ys] of Object.entries(body.series)) {
    series[k] = ys.concat(fresh.map((r) => (typeof r.values[k] === "number" ? (r.values[k] as number) : null)));
  }
  return { ...body, x: body.x.concat(fresh.map((r) => r.time as number)), series, total: body.total + fresh.length };
}

/** The System tab; `keys` are the run's `sys/…` keys, `start` its start time (epoch s) for the relative axis. */
export function RunSystem(props: { runId: string; keys: string[]; start: number | null; running: boolean }) {
  const enc = encodeURIComponent(props.runId);
  const panels = systemPanels(props.keys);
  const wanted = panels.flatMap((p) => p.lines.map((l) => l.key));
  const res = useResource(wanted.length ? `system:${props.runId}:${wanted.join(",")}` : null, (signal) =>
    getJson<SeriesResponse>(`/api/runs/${enc}/series?x=time&points=2000&keys=${wanted.map(encodeURIComponent).join(",")}`, signal),
  );
  // new samples arrive over the live socket and are drawn as they come; only without it, poll every 5 s
  const liveUp = useLiveUp();
  useLiveMessages((m) => {
    if (m.type !== "system" || m.run_id !== props.runId) return;
    if (m.reset || m.truncated) return res.reload();
    res.mutate((old) => old && appendSystemRows(old, m.rows));
  });
  useInterval(() => res.reload(), 5000, props.running && !liveUp);
  if (!wanted.length) return <Empty title={t("runsys.none")} />;
  if (res.error && !res.data) return <ErrorState error={res.error} onRetry={res.reload} what={t("runsys.what")} />;
  if (!res.data) return <Loading />;
  const body = res.data;
  const t0 = props.start ?? body.x[0] ?? 0;
  const xs = body.x.map((x) => x - t0);
  return (
    <div class="system-tab" data-testid="run-system">
      <p class="muted">{t("runsys.axis")}</p>
      <div class="chart-grid">
        {panels.map((p) => {
          const data = [xs, ...p.lines.map((l) => body.series[l.key] ?? xs.map(() => null))] as uPlot.AlignedData;
          const series: ChartSeries[] = p.lines.map((l, i) => ({ label: l.label, color: PALETTE[i % PALETTE.length] }));
          return (
            <div class="card chart-card" key={p.id} data-system-chart={p.id}>
              <div class="chart-head">
                <span class="chart-title">{p.title}</span>
              </div>
              <Chart data={data} series={series} height={200} syncKey={`system:${props.runId}`} emptyText={t("runsys.none")} />
            </div>
          );
        })}
      </div>
    </div>
  );
}
