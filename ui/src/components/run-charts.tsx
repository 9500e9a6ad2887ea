// The run page's charts: one per numeric key, grouped by prefix, mounted when visible, zoom refetch and live points.
import { fmtInt, t } from "../i18n/i18n.ts";
import type uPlot from "uplot";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { useLocation } from "preact-iso/router";
import { getJson, qs } from "../api.ts";
import { appendRows, bestIndex, bestMode, byEpoch, type ChartView, type XMode, groupKeys, parseChartView, positiveOnly, seriesCsv, smoothSeries, stageMarkers } from "../chart-data.ts";
import { downloadText, fmtNum } from "../format.ts";
import { useLiveMessages } from "../live.ts";
import { useSettings, useStored } from "../settings.ts";
import type { KeysResponse, LiveRow, MetricKey, SeriesResponse } from "../types.ts";
import { Chart, exportPng } from "./chart.tsx";
import { Empty, useSeen } from "./common.tsx";

/** Receives live rows; `refetch` when the push says the column must be fetched again (reset or truncated). */
type RowListener = (rows: LiveRow[], refetch: boolean) => void;

/** Props of the charts panel. */
export interface RunChartsProps {
  runId: string;
  keys: KeysResponse;
  xMode: XMode;
  onXMode: (x: XMode) => void;
  /** Best metric name/mode from summary.json, when the SDK recorded one. */
  summaryBest?: { name: string; mode: "min" | "max" };
  /** Called when live points carry a key the panel has not seen (the page reloads the key list). */
  onNewKey: () => void;
}

/** Most stage separators looked up on a time axis (one small request each). */
const MAX_TIME_MARKERS = 50;

/**
 * Stage separators in the units of the x axis: steps as they are; on a time axis, the time of each
 * stage's first step, looked up with `/series?keys=time&x=step&from=s&to=s`.
 */
function useTimeMarkers(runId: string, stepMarkers: { x: number; label: string }[], xMode: XMode): { x: number; label: string }[] {
  const [timed, setTimed] = useState<{ x: number; label: string }[]>([]);
  const sig = stepMarkers.map((m) => `${m.x}:${m.label}`).join(",");
  useEffect(() => {
    if (xMode !== "time") return;
    const wanted = stepMarkers.slice(-MAX_TIME_MARKERS);
    if (!wanted.length) return setTimed([]);
    const ctl = new AbortController();
    const enc = encodeURIComponent(runId);
    Promise.all(
      wanted.map((m) =>
        getJson<SeriesResponse>(`/api/runs/${enc}/series${qs({ keys: "time", x: "step", from: m.x, to: m.x, points: 10 })}`, ctl.signal).then((r) => {
          const t = r.series.time?.[0];
          return typeof t === "number" ? { x: t, label: m.label } : null;
        }),
      ),
    ).then(
      (list) => setTimed(list.filter((m): m is { x: number; label: string } => m !== null)),
      () => undefined, // no separators is better than an error banner over the charts
    );
    return () => ctl.abort();
  }, [runId, xMode, sig]);
  // stage separators are placed in steps or times; an epoch axis has none
  return xMode === "time" ? timed : xMode === "epoch" ? [] : stepMarkers;
}

/** All charts of a run with the shared controls (x axis, smoothing, zoom). */
export function RunCharts(props: RunChartsProps) {
  const settings = useSettings();
  // the view lives in the URL (smooth, log, filter, zoom) so that it can be shared; smoothing also stays the default
  const loc = useLocation();
  const [storedSmoothing, setStoredSmoothing] = useStored("chart_smoothing", 0);
  const view = parseChartView(loc.query, storedSmoothing);
  const setView = (patch: Partial<ChartView>) => {
    const next = { ...view, ...patch };
    if (patch.smoothing !== undefined) setStoredSmoothing(patch.smoothing);
    const q: Record<string, string> = { ...loc.query };
    for (const k of ["smooth", "log", "filter", "zoom"]) delete q[k];
    if (next.smoothing > 0) q.smooth = String(next.smoothing);
    if (next.logKeys.length) q.log = next.logKeys.join(",");
    if (next.filter) q.filter = next.filter;
    if (next.xRange) q.zoom = next.xRange.map((v) => Number(v.toPrecision(12))).join(",");
    loc.route(`${loc.path}${qs(q)}`, true);
  };
  const smoothing = view.smoothing;
  const filter = view.filter;
  const xRange = view.xRange;
  const setXRange = (r: [number, number] | null) => setView({ xRange: r });
  const [filterText, setFilterText] = useState(filter);
  useEffect(() => {
    if (filterText === filter) return;
    const id = setTimeout(() => setView({ filter: filterText }), 250);
    return () => clearTimeout(id);
  }, [filterText]);
  const listeners = useRef(new Set<RowListener>());
  const known = useMemo(() => new Set(props.keys.keys.map((k) => k.key)), [props.keys]);
  const groups = useMemo(() => groupKeys(props.keys.keys), [props.keys]);
  const byKey = useMemo(() => new Map(props.keys.keys.map((k) => [k.key, k])), [props.keys]);
  const stepMarkers = useMemo(() => stageMarkers(props.keys.stages ?? []), [props.keys]);
  const markers = useTimeMarkers(props.runId, stepMarkers, props.xMode);
  const lastStage = props.keys.stages?.length ? String(props.keys.stages[props.keys.stages.length - 1].stage) : undefined;

  const firstMode = useRef(`${props.xMode}:${props.runId}`);
  useEffect(() => {
    // a zoom from the URL belongs to the axis it was made on; a later axis or run change resets it
    if (firstMode.current === `${props.xMode}:${props.runId}`) return;
    firstMode.current = "";
    if (xRange) setXRange(null);
  }, [props.xMode, props.runId]);

  useLiveMessages((m) => {
    if (m.type !== "metrics" || m.run_id !== props.runId) return;
    const refetch = !!(m.reset || m.truncated);
    for (const fn of listeners.current) fn(m.rows, refetch);
    // a new key needs a chart, a new stage a separator: both come with a fresh key list
    const newKey = (r: LiveRow) => Object.keys(r.values).some((k) => !known.has(k) && typeof r.values[k] === "number");
    const newStage = (r: LiveRow) => r.values.stage !== undefined && r.values.stage !== null && String(r.values.stage) !== lastStage;
    if (m.reset || m.rows.some((r) => newKey(r) || newStage(r))) props.onNewKey();
  });

  const f = filter.trim().toLowerCase();
  const shown = groups.map((g) => ({ ...g, keys: g.keys.filter((k) => !f || k.toLowerCase().includes(f)) })).filter((g) => g.keys.length);

  return (
    <div class="run-charts">
      <div class="toolbar">
        <label class="field-inline">
          {t("charts.xAxis")}
          <select class="input" aria-label={t("charts.xAxis.aria")} value={props.xMode} onChange={(e) => props.onXMode((e.target as HTMLSelectElement).value as XMode)}>
            <option value="step">step</option>
            <option value="time">time</option>
            {props.keys.keys.some((k) => k.key === "epoch" && k.numeric) || props.xMode === "epoch" ? <option value="epoch">epoch</option> : null}
          </select>
        </label>
        <label class="field-inline" title={t("charts.smoothing.title")}>
          {t("charts.smoothing")}
          <input type="range" min="0" max="0.99" step="0.01" value={smoothing} aria-label={t("charts.smoothing.aria")} onInput={(e) => setView({ smoothing: Number((e.target as HTMLInputElement).value) })} />
          <span class="mono">{smoothing.toFixed(2)}</span>
        </label>
        <input class="input" type="search" placeholder={t("charts.filter")} aria-label={t("charts.filter")} value={filterText} onInput={(e) => setFilterText((e.target as HTMLInputElement).value)} />
        {xRange ? (
          <button class="btn" onClick={() => setXRange(null)} data-testid="reset-zoom">
            {t("charts.resetZoom")}
          </button>
        ) : (
          <span class="muted hint">{t("charts.zoomHint")}</span>
        )}
      </div>
      {shown.length === 0 ? (
        <Empty title={groups.length ? t("charts.noMatch") : t("charts.none")}>
          {groups.length ? null : t("charts.noneText")}
        </Empty>
      ) : (
        shown.map((g) => (
          <section class="chart-group" key={g.group}>
            <h3 class="group-title">{g.group}</h3>
            <div class={`chart-grid${settings.wideCharts ? " wide" : ""}`}>
              {g.keys.map((k) => (
                <MetricPanel
                  key={`${props.runId}:${k}:${props.xMode}`}
                  runId={props.runId}
                  metric={byKey.get(k)!}
                  xMode={props.xMode}
                  smoothing={smoothing}
                  maxPoints={settings.maxPoints}
                  height={settings.chartHeight}
                  markers={markers}
                  xRange={xRange}
                  onZoom={setXRange}
                  logY={view.logKeys.includes(k)}
                  onLogY={(on) => setView({ logKeys: on ? [...view.logKeys, k] : view.logKeys.filter((x) => x !== k) })}
                  mode={props.summaryBest?.name === k ? props.summaryBest.mode : bestMode(k)}
                  listeners={listeners.current}
                />
              ))}
            </div>
          </section>
        ))
      )}
    </div>
  );
}

interface PanelProps {
  logY: boolean;
  onLogY: (on: boolean) => void;
  runId: string;
  metric: MetricKey;
  xMode: XMode;
  smoothing: number;
  maxPoints: number;
  height: number;
  markers: { x: number; label: string }[];
  xRange: [number, number] | null;
  onZoom: (r: [number, number] | null) => void;
  mode: "min" | "max" | undefined;
  listeners: Set<RowListener>;
}

/** One metric's card; fetches its column when it first scrolls into view. */
function MetricPanel(props: PanelProps) {
  const ref = useRef<HTMLDivElement>(null);
  const seen = useSeen(ref);
  const key = props.metric.key;
  const logY = props.logY;
  const setLogY = props.onLogY;
  const [cols, setCols] = useState<{ x: number[]; y: (number | null)[]; version: number; sampled: boolean; total: number } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const chartRef = useRef<uPlot | null>(null);
  const fetched = useRef<string>("");
  // The best point and last value of the whole run: a zoomed window shows only part of it.
  const fullBest = useRef<{ x: number; y: number } | null>(null);
  const liveLast = useRef<number | null>(null);
  // extremes of the values that arrived live, so best/min/max follow the run
  const liveRange = useRef<{ min: number; max: number }>({ min: Infinity, max: -Infinity });

  // Fetch (again) when first seen, when the zoom window changes, or when live points outgrew the budget.
  const load = (signal?: AbortSignal) => {
    const range = props.xRange;
    // an epoch axis reads the metric and `epoch` by step and re-keys them here; its zoom stays in the browser
    const epoch = props.xMode === "epoch";
    const url = epoch
      ? `/api/runs/${encodeURIComponent(props.runId)}/series${qs({ keys: `${key},epoch`, x: "step", points: props.maxPoints })}`
      : `/api/runs/${encodeURIComponent(props.runId)}/series${qs({ keys: key, x: props.xMode, points: props.maxPoints, from: range?.[0], to: range?.[1] })}`;
    fetched.current = url;
    getJson<SeriesResponse>(url, signal).then(
      (r) => {
        if (fetched.current !== url) return;
        setError(null);
        const col = epoch ? byEpoch(r.series.epoch ?? [], r.series[key] ?? []) : { x: [...r.x], y: [...(r.series[key] ?? [])] };
        setCols((old) => ({ x: col.x, y: col.y, version: (old?.version ?? 0) + 1, sampled: r.sampled, total: r.total }));
      },
      (e) => (e as Error).name !== "AbortError" && setError((e as Error).message),
    );
  };
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    if (!seen) return;
    const ctl = new AbortController();
    load(ctl.signal);
    return () => ctl.abort();
  }, [seen, props.xRange?.[0], props.xRange?.[1], props.maxPoints]);

  // Live points extend the column in place (unless zoomed into an older window).
  const liveState = useRef({ cols, zoomed: !!props.xRange });
  liveState.current = { cols, zoomed: !!props.xRange };
  useEffect(() => {
    const fn: RowListener = (rows, refetch) => {
      for (const r of rows) {
        const v = r.values[key];
        if (typeof v !== "number" || !Number.isFinite(v)) continue;
        liveLast.current = v;
        liveRange.current = { min: Math.min(liveRange.current.min, v), max: Math.max(liveRange.current.max, v) };
      }
      const c = liveState.current.cols;
      if (!c) return;
      if (refetch) return loadRef.current();
      if (liveState.current.zoomed) return;
      if (appendRows(c.x, c.y, rows, key, props.xMode)) {
        if (c.x.length > props.maxPoints * 3) loadRef.current();
        else setCols({ ...c, version: c.version + 1 });
      }
    };
    props.listeners.add(fn);
    return () => void props.listeners.delete(fn);
  }, [key, props.xMode, props.maxPoints]);

  const view = useMemo(() => {
    if (!cols) return null;
    const raw = logY ? positiveOnly(cols.y) : cols.y;
    const smooth = props.smoothing > 0 ? smoothSeries(raw, props.smoothing) : null;
    const data: uPlot.AlignedData = smooth ? [cols.x, raw, smooth] : [cols.x, raw];
    let best: { x: number; y: number } | null = fullBest.current;
    if (props.mode && !props.xRange) {
      const i = bestIndex(raw, props.mode);
      best = i >= 0 ? { x: cols.x[i], y: raw[i] as number } : null;
      fullBest.current = best;
    }
    return { data, best: props.mode ? best : null };
  }, [cols?.version, logY, props.smoothing, props.mode]);

  const color = "#4c78d8";
  const series = props.smoothing > 0
    ? [{ label: `${key} (raw)`, color, alpha: 0.25, width: 1 }, { label: `${key} (smoothed)`, color, width: 1.75 }]
    : [{ label: key, color, width: 1.5 }];
  const m = props.metric;
  const lo = Math.min(typeof m.min === "number" ? m.min : Infinity, liveRange.current.min);
  const hi = Math.max(typeof m.max === "number" ? m.max : -Infinity, liveRange.current.max);
  const runMin = Number.isFinite(lo) ? lo : m.min;
  const runMax = Number.isFinite(hi) ? hi : m.max;
  const last = liveLast.current ?? (cols && cols.y.length && !props.xRange ? cols.y[cols.y.length - 1] : m.last);

  return (
    <div class="card chart-card" ref={ref} data-metric={key}>
      <div class="chart-head">
        <span class="chart-title" title={key}>
          {key}
        </span>
        <span class="chart-stats mono" data-testid="chart-stats">
          <span title={t("charts.lastTitle")}>{t("charts.last", { v: fmtNum(last) })}</span>
          {props.mode ? (
            <span title={`best (${props.mode})`} class="best">
              {t("charts.best", { v: fmtNum(props.mode === "min" ? runMin : runMax) })}
            </span>
          ) : (
            <span>
              {t("charts.minMax", { min: fmtNum(runMin), max: fmtNum(runMax) })}
            </span>
          )}
        </span>
        <span class="chart-tools">
          <button class={`btn-mini${logY ? " on" : ""}`} aria-pressed={logY} title={t("charts.logTitle")} onClick={() => setLogY(!logY)}>
            log
          </button>
          <button
            class="btn-mini"
            title={t("charts.csvTitle")}
            disabled={!cols}
            onClick={() => cols && downloadText(`${props.runId}_${key.replace(/[^\w.-]+/g, "_")}.csv`, seriesCsv(props.xMode, cols.x, [{ name: key, ys: cols.y }]), "text/csv")}
          >
            CSV
          </button>
          <button class="btn-mini" title={t("charts.pngTitle")} disabled={!cols} onClick={() => chartRef.current && exportPng(chartRef.current, `${props.runId}_${key.replace(/[^\w.-]+/g, "_")}.png`, { title: key, xLabel: props.xMode, yLabel: logY ? `${key} (log)` : key })}>
            PNG
          </button>
        </span>
      </div>
      {error ? (
        <div class="chart-error" style={{ height: props.height }}>
          {error}
        </div>
      ) : !view ? (
        <div class="skeleton" style={{ height: props.height + 22 }} />
      ) : (
        <Chart
          data={view.data}
          series={series}
          height={props.height}
          xTime={props.xMode === "time"}
          logY={logY}
          syncKey={`run:${props.runId}`}
          markers={props.markers}
          best={view.best}
          xRange={props.xRange}
          onZoom={props.onZoom}
          chartRef={chartRef}
        />
      )}
      {cols && cols.sampled ? (
        <div class="chart-foot muted">
          {t("charts.sampled", { shown: fmtInt(cols.x.length), total: fmtInt(cols.total) })}
        </div>
      ) : null}
    </div>
  );
}
