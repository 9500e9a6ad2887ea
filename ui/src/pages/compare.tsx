// The compare page: 2–20 runs overlaid on every metric they share, a colour per run, runs and metrics toggled on and off.
import { t } from "../i18n/i18n.ts";
import type uPlot from "uplot";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { useLocation } from "preact-iso/router";
import { ApiError, getJson, qs, useResource } from "../api.ts";
import { bestMode, groupKeys, joinSeries, PALETTE, positiveOnly, seriesCsv, smoothSeries } from "../chart-data.ts";
import { Chart, exportPng } from "../components/chart.tsx";
import { Empty, ErrorState, Loading, useSeen } from "../components/common.tsx";
import { GroupedView } from "../components/grouped-chart.tsx";
import { displayPath, downloadText, shortId } from "../format.ts";
import { useLiveMessages, useLiveRuns } from "../live.ts";
import { useSettings } from "../settings.ts";
import type { CompareResponse, KeysResponse, RunDetail, RunItem } from "../types.ts";

const MAX_RUNS = 20;
const MAX_GROUPED_RUNS = 500;

interface RunInfo {
  id: string;
  label: string;
  color: string;
  keys: Set<string>;
  missing?: boolean;
}

/** Route component for `/compare?runs=a,b`. */
export function ComparePage() {
  const loc = useLocation();
  const settings = useSettings();
  // grouped mode (issue 16) takes a whole sweep; the overlay stays at MAX_RUNS
  const grouped = loc.query.view === "grouped";
  const allIds = (loc.query.runs ?? "").split(",").map((s) => s.trim()).filter(Boolean).slice(0, MAX_GROUPED_RUNS);
  const ids = allIds.slice(0, MAX_RUNS);
  const idsKey = ids.join(",");
  const xMode = loc.query.x === "time" ? "time" : "step";
  const smoothRaw = Number(loc.query.smooth);
  const smoothing = Number.isFinite(smoothRaw) && smoothRaw > 0 && smoothRaw < 1 ? smoothRaw : 0;
  const logY = loc.query.log === "1";
  const setView = (patch: Record<string, string>) => loc.route(`/compare${qs({ ...loc.query, ...patch })}`, true);
  const [hiddenRuns, setHiddenRuns] = useState<Set<string>>(new Set());
  const [hiddenKeys, setHiddenKeys] = useState<Set<string>>(new Set());
  const [xRange, setXRange] = useState<[number, number] | null>(null);
  useEffect(() => setXRange(null), [xMode, idsKey]);

  const info = useResource(ids.length && !grouped ? `cmp:${idsKey}` : null, async (signal) => {
    const out = await Promise.all(
      ids.map(async (id, i): Promise<RunInfo> => {
        const enc = encodeURIComponent(id);
        try {
          const [d, k] = await Promise.all([getJson<RunDetail>(`/api/runs/${enc}`, signal), getJson<KeysResponse>(`/api/runs/${enc}/keys`, signal)]);
          return { id, label: d.alias || shortId(id), color: PALETTE[i % PALETTE.length], keys: new Set(k.keys.filter((x) => x.numeric).map((x) => x.key)) };
        } catch (e) {
          if (e instanceof ApiError && e.status === 404) return { id, label: shortId(id), color: PALETTE[i % PALETTE.length], keys: new Set(), missing: true };
          throw e;
        }
      }),
    );
    return out;
  });

  useLiveRuns(ids);
  const runs = info.data ?? [];
  // Metrics that at least two runs logged (one run alone is nothing to compare).
  const common = useMemo(() => {
    const counts = new Map<string, number>();
    for (const r of runs) for (const k of r.keys) counts.set(k, (counts.get(k) ?? 0) + 1);
    const keys = [...counts].filter(([, n]) => n >= 2 || runs.length < 2).map(([key]) => ({ key, numeric: true, count: 0, min: null, max: null, last: null, last_step: null }));
    return groupKeys(keys);
  }, [info.data]);

  const setRuns = (next: string[]) => loc.route(`/compare${qs({ ...loc.query, runs: next.join(",") })}`);

  return (
    <div class="page page-compare">
      <div class="toolbar">
        <h2 class="page-title">{t("compare.title")}</h2>
        <label class="field-inline">
          {t("grouped.mode")}
          <select class="input" data-testid="compare-mode" value={grouped ? "grouped" : ""} onChange={(e) => setView({ view: (e.target as HTMLSelectElement).value })}>
            <option value="">{t("grouped.overlay")}</option>
            <option value="grouped">{t("grouped.title")}</option>
          </select>
        </label>
        <label class="field-inline">
          {t("charts.xAxis")}
          <select class="input" aria-label={t("charts.xAxis.aria")} value={xMode} onChange={(e) => setView({ x: (e.target as HTMLSelectElement).value === "time" ? "time" : "" })}>
            <option value="step">step</option>
            <option value="time">time</option>
          </select>
        </label>
        <label class="field-inline" title={t("charts.smoothing.title")}>
          {t("charts.smoothing")}
          <input type="range" min="0" max="0.99" step="0.01" value={smoothing} aria-label={t("charts.smoothing.aria")} onChange={(e) => setView({ smooth: Number((e.target as HTMLInputElement).value) > 0 ? (e.target as HTMLInputElement).value : "" })} />
          <span class="mono">{smoothing.toFixed(2)}</span>
        </label>
        <label class="field-inline">
          <input type="checkbox" checked={logY} aria-label={t("charts.logScale.aria")} onChange={(e) => setView({ log: (e.target as HTMLInputElement).checked ? "1" : "" })} />
          {t("charts.logScale")}
        </label>
        {xRange ? (
          <button class="btn" onClick={() => setXRange(null)} data-testid="reset-zoom">
            {t("charts.resetZoom")}
          </button>
        ) : ids.length >= 2 ? (
          <span class="muted hint">{t("charts.zoomHint")}</span>
        ) : null}
        <span class="spacer" />
        <RunPicker exclude={ids} disabled={ids.length >= MAX_RUNS} onAdd={(id) => setRuns([...ids, id])} />
      </div>
      {grouped && allIds.length ? (
        <GroupedView
          ids={allIds}
          groupBy={loc.query.group ?? ""}
          band={loc.query.band === "std" || loc.query.band === "none" ? loc.query.band : "minmax"}
          xMode={xMode}
          height={settings.chartHeight}
          onGroupBy={(g) => setView({ group: g })}
          onBand={(b) => setView({ band: b === "minmax" ? "" : b })}
        />
      ) : ids.length < 2 ? (
        <Empty title={t("compare.pick")}>
          {t("compare.pickText", { n: ids.length })}
        </Empty>
      ) : info.error && !info.data ? (
        <ErrorState error={info.error} onRetry={info.reload} what={t("compare.what")} />
      ) : !info.data ? (
        <Loading />
      ) : (
        <div class="compare-layout">
          <aside class="compare-side card">
            <h4>{t("compare.runs")}</h4>
            <ul class="run-toggles">
              {runs.map((r) => (
                <li key={r.id} data-run-id={r.id}>
                  <label class={r.missing ? "missing" : ""}>
                    <input
                      type="checkbox"
                      checked={!hiddenRuns.has(r.id)}
                      onChange={() => {
                        const s = new Set(hiddenRuns);
                        s.has(r.id) ? s.delete(r.id) : s.add(r.id);
                        setHiddenRuns(s);
                      }}
                    />
                    <i class="swatch" style={{ background: r.color }} />
                    <a href={`/runs/${encodeURIComponent(r.id)}`} title={r.id}>
                      {r.label}
                    </a>
                    {r.missing ? <span class="muted"> {t("compare.notFound")}</span> : null}
                  </label>
                  <button class="chip-x" aria-label={t("compare.remove", { id: r.id })} onClick={() => setRuns(ids.filter((x) => x !== r.id))}>
                    ×
                  </button>
                </li>
              ))}
            </ul>
            <h4>{t("compare.metrics")}</h4>
            <div class="metric-toggles">
              <button class="btn-mini" onClick={() => setHiddenKeys(new Set())}>
                all
              </button>
              <button class="btn-mini" onClick={() => setHiddenKeys(new Set(common.flatMap((g) => g.keys)))}>
                none
              </button>
              {common.flatMap((g) => g.keys).map((k) => (
                <label key={k} class="menu-check">
                  <input
                    type="checkbox"
                    checked={!hiddenKeys.has(k)}
                    onChange={() => {
                      const s = new Set(hiddenKeys);
                      s.has(k) ? s.delete(k) : s.add(k);
                      setHiddenKeys(s);
                    }}
                  />
                  {k}
                </label>
              ))}
            </div>
          </aside>
          <section class="compare-main">
            {common.length === 0 ? (
              <Empty title={t("compare.noCommon")}>{t("compare.noCommonText")}</Empty>
            ) : (
              common.map((g) => {
                const keys = g.keys.filter((k) => !hiddenKeys.has(k));
                if (!keys.length) return null;
                return (
                  <section class="chart-group" key={g.group}>
                    <h3 class="group-title">{g.group}</h3>
                    <div class={`chart-grid${settings.wideCharts ? " wide" : ""}`}>
                      {keys.map((k) => (
                        <ComparePanel key={`${k}:${xMode}:${idsKey}`} smoothing={smoothing} logY={logY} metric={k} runs={runs.filter((r) => r.keys.has(k))} hidden={hiddenRuns} xMode={xMode} points={settings.maxPoints} height={settings.chartHeight} xRange={xRange} onZoom={setXRange} />
                      ))}
                    </div>
                  </section>
                );
              })
            )}
          </section>
        </div>
      )}
    </div>
  );
}

function ComparePanel(props: { smoothing: number; logY: boolean; metric: string; runs: RunInfo[]; hidden: Set<string>; xMode: "step" | "time"; points: number; height: number; xRange: [number, number] | null; onZoom: (r: [number, number] | null) => void }) {
  const ref = useRef<HTMLDivElement>(null);
  const seen = useSeen(ref);
  const chartRef = useRef<uPlot | null>(null);
  const [tick, setTick] = useState(0);
  const runIds = props.runs.map((r) => r.id);
  const range = props.xRange;
  // A zoom window is fetched again at full resolution (the server keeps every row when the window holds no more than `points`).
  const res = useResource(seen ? `${props.metric}:${runIds.join(",")}:${props.xMode}:${props.points}:${range?.join("-") ?? ""}:${tick}` : null, (signal) =>
    getJson<CompareResponse>(`/api/compare/series${qs({ runs: runIds.join(","), keys: props.metric, x: props.xMode, points: props.points, from: range?.[0], to: range?.[1] })}`, signal),
  );
  // Live points: refetch at most every 2 s while any shown run is appending.
  const lastLive = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout>>();
  useLiveMessages((m) => {
    if (m.type !== "metrics" || !runIds.includes(m.run_id) || !m.rows.some((r) => props.metric in r.values)) return;
    if (timer.current) return;
    const wait = Math.max(0, 2000 - (Date.now() - lastLive.current));
    timer.current = setTimeout(() => {
      timer.current = undefined;
      lastLive.current = Date.now();
      setTick((t) => t + 1);
    }, wait);
  });
  useEffect(() => () => clearTimeout(timer.current), []);

  const data = useMemo(() => {
    if (!res.data) return null;
    const parts = props.runs.map((r) => {
      const s = res.data!.runs[r.id];
      return { x: s?.x ?? [], y: s?.series[props.metric] ?? [] };
    });
    const joined = joinSeries(parts);
    // each run is smoothed on its own points (a sparse run less than a dense one)
    return [joined[0], ...joined.slice(1).map((ys) => {
      const y = props.logY ? positiveOnly(ys as (number | null)[]) : (ys as (number | null)[]);
      return props.smoothing > 0 ? smoothSeries(y, props.smoothing) : y;
    })] as uPlot.AlignedData;
  }, [res.data, props.smoothing, props.logY]);
  const series = props.runs.map((r) => ({ label: r.label, color: r.color, show: !props.hidden.has(r.id) }));
  const mode = bestMode(props.metric);

  return (
    <div class="card chart-card" ref={ref} data-metric={props.metric}>
      <div class="chart-head">
        <span class="chart-title">{props.metric}</span>
        {mode ? <span class="muted">{mode === "min" ? "lower is better" : "higher is better"}</span> : null}
        <span class="chart-tools">
          <button
            class="btn-mini"
            disabled={!data}
            onClick={() => data && downloadText(`compare_${props.metric.replace(/[^\w.-]+/g, "_")}.csv`, seriesCsv(props.xMode, data[0] as number[], props.runs.map((r, i) => ({ name: r.id, ys: data[i + 1] as (number | null)[] }))), "text/csv")}
          >
            CSV
          </button>
          <button class="btn-mini" disabled={!data} onClick={() => chartRef.current && exportPng(chartRef.current, `compare_${props.metric.replace(/[^\w.-]+/g, "_")}.png`, { title: props.metric, xLabel: props.xMode, yLabel: props.metric })}>
            PNG
          </button>
        </span>
      </div>
      {res.error && !res.data ? (
        <div class="chart-error" style={{ height: props.height }}>
          {res.error.message}
        </div>
      ) : !data ? (
        <div class="skeleton" style={{ height: props.height + 22 }} />
      ) : (
        <Chart data={data} series={series} height={props.height} xTime={props.xMode === "time"} logY={props.logY} syncKey="compare" xRange={props.xRange} onZoom={props.onZoom} chartRef={chartRef} />
      )}
    </div>
  );
}

/** A search box that proposes runs to add. */
function RunPicker(props: { exclude: string[]; disabled: boolean; onAdd: (id: string) => void }) {
  const [q, setQ] = useState("");
  const [open, setOpen] = useState(false);
  const res = useResource(open ? `pick:${q}` : null, (signal) => getJson<RunItem[]>(`/api/runs${qs({ q, limit: 20, sort: "created_time", order: "desc" })}`, signal));
  const options = (res.data ?? []).filter((r) => !props.exclude.includes(r.id));
  return (
    <div class="dropdown picker">
      <input
        class="input"
        type="search"
        placeholder={props.disabled ? t("runs.atMost", { n: MAX_RUNS }) : t("compare.addRun")}
        aria-label={t("compare.addRun.aria")}
        disabled={props.disabled}
        value={q}
        onFocus={() => setOpen(true)}
        onBlur={() => setTimeout(() => setOpen(false), 150)}
        onInput={(e) => setQ((e.target as HTMLInputElement).value)}
      />
      {open ? (
        <div class="menu menu-down" role="listbox">
          {res.error ? <div class="muted">{res.error.message}</div> : null}
          {options.length === 0 && res.data ? <div class="muted menu-note">{t("compare.noMore")}</div> : null}
          {options.map((r) => (
            <button
              key={r.id}
              role="option"
              onMouseDown={(e) => {
                e.preventDefault();
                setQ("");
                setOpen(false);
                props.onAdd(r.id);
              }}
            >
              <code>{displayPath(r.path)}</code> {r.alias ?? shortId(r.id)}
            </button>
          ))}
        </div>
      ) : null}
    </div>
  );
}
