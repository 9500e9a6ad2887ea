// Grouped charts on Compare: runs grouped by fields, each group's mean line with a min–max or ±std band, per metric, from GET /api/compare/series.
import uPlot from "uplot";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { getJson, qs, useResource } from "../api.ts";
import { PALETTE } from "../chart-data.ts";
import { fmtNum } from "../format.ts";
import { t } from "../i18n/i18n.ts";
import type { CompareSeriesGroup, CompareSeriesResponse } from "../../../src/wire/analysis.ts";
import type { KeysResponse } from "../types.ts";
import { ErrorState, Loading } from "./common.tsx";

export type Band = "minmax" | "std" | "none";

/** A group's legend label: `config.lr=0.001, config.bs=64` (or "all runs" without group_by). */
export function groupLabel(g: CompareSeriesGroup): string {
  const parts = Object.entries(g.key).map(([k, v]) => `${k.replace(/^config\./, "")}=${typeof v === "number" ? fmtNum(v) : v === null ? "∅" : String(v)}`);
  return parts.length ? parts.join(", ") : "all runs";
}

/** uPlot's data and series for the groups: per group a mean line, then (with a band) an upper and a lower edge. */
export function bandData(groups: CompareSeriesGroup[], band: Band): { data: uPlot.AlignedData; series: uPlot.Series[]; bands: uPlot.Band[] } {
  const xs = [...new Set(groups.flatMap((g) => g.x))].sort((a, b) => a - b);
  const at = new Map(xs.map((x, i) => [x, i]));
  const cols: (number | null)[][] = [];
  const series: uPlot.Series[] = [{}];
  const bands: uPlot.Band[] = [];
  groups.forEach((g, gi) => {
    const color = PALETTE[gi % PALETTE.length];
    const col = (vals: number[] | undefined) => {
      const out: (number | null)[] = new Array(xs.length).fill(null);
      if (vals) g.x.forEach((x, i) => (out[at.get(x) as number] = vals[i] ?? null));
      return out;
    };
    const mean = col(g.mean);
    cols.push(mean);
    series.push({ label: `${groupLabel(g)} (n=${g.runs.length})`, stroke: color, width: 2, spanGaps: true, points: { show: false } });
    if (band === "none") return;
    const std = band === "std" ? col(g.std) : [];
    const hi = band === "minmax" ? col(g.max) : mean.map((m, i) => (m === null ? null : m + (std[i] ?? 0)));
    const lo = band === "minmax" ? col(g.min) : mean.map((m, i) => (m === null ? null : m - (std[i] ?? 0)));
    const iHi = cols.push(hi);
    const iLo = cols.push(lo);
    series.push({ label: `${groupLabel(g)} hi`, stroke: color, width: 0, spanGaps: true, points: { show: false } }, { label: `${groupLabel(g)} lo`, stroke: color, width: 0, spanGaps: true, points: { show: false } });
    bands.push({ series: [iHi, iLo], fill: `${color}33` });
  });
  return { data: [xs, ...cols] as uPlot.AlignedData, series, bands };
}

function GroupPanel(props: { ids: string[]; metric: string; groupBy: string; band: Band; xMode: "step" | "time"; height: number }) {
  const box = useRef<HTMLDivElement>(null);
  const res = useResource(`gs:${props.ids.join(",")}:${props.metric}:${props.groupBy}:${props.xMode}`, (signal) =>
    getJson<CompareSeriesResponse>(`/api/compare/series${qs({ run_ids: props.ids.join(","), key: props.metric, group_by: props.groupBy, agg: "mean,std,min,max", x: props.xMode, points: 500 })}`, signal),
  );
  const groups = res.data?.series?.find((s) => s.key === props.metric)?.groups ?? res.data?.series?.[0]?.groups ?? [];
  const built = useMemo(() => (res.data ? bandData(groups, props.band) : null), [res.data, props.band]);
  useEffect(() => {
    const el = box.current;
    if (!el || !built) return;
    el.textContent = "";
    const plot = new uPlot(
      {
        width: Math.max(300, el.clientWidth),
        height: props.height,
        series: built.series,
        bands: built.bands,
        scales: { x: { time: false } },
        axes: [{ label: props.xMode }, {}],
        // the band edges would crowd uPlot's legend: the head names each group in its colour instead
        legend: { show: false },
      },
      built.data,
      el,
    );
    el.dataset.groups = String(groups.length);
    el.dataset.bands = String(built.bands.length);
    return () => plot.destroy();
  }, [built, props.height]);
  return (
    <div class="card chart-card" data-metric={props.metric} data-testid="grouped-chart">
      <div class="chart-head">
        <span class="chart-title">{props.metric}</span>
        <span class="grouped-legend">
          {groups.map((g, gi) => (
            <span key={gi} class="muted" data-group={groupLabel(g)}>
              <i class="swatch" style={{ background: PALETTE[gi % PALETTE.length] }} /> {groupLabel(g)} (n={g.runs.length}){" "}
            </span>
          ))}
        </span>
      </div>
      {res.error && !res.data ? (
        <div class="chart-error" style={{ height: props.height }}>
          {res.error.status === 404 ? t("grouped.unavailable") : res.error.message}
        </div>
      ) : !built ? (
        <div class="skeleton" style={{ height: props.height + 22 }} />
      ) : (
        <div ref={box} class="grouped-plot" />
      )}
    </div>
  );
}

/** The Compare page's grouped mode: every selected run (up to 500), grouped by `groupBy` (comma-separated fields). */
export function GroupedView(props: { ids: string[]; groupBy: string; band: Band; xMode: "step" | "time"; height: number; onGroupBy: (g: string) => void; onBand: (b: Band) => void }) {
  const [text, setText] = useState(props.groupBy);
  useEffect(() => setText(props.groupBy), [props.groupBy]);
  // metric keys: those of the first few runs (a sweep's runs log the same keys)
  const keys = useResource(`gk:${props.ids.slice(0, 5).join(",")}`, async (signal) => {
    const all = await Promise.all(props.ids.slice(0, 5).map((id) => getJson<KeysResponse>(`/api/runs/${encodeURIComponent(id)}/keys`, signal).catch(() => ({ keys: [] }) as unknown as KeysResponse)));
    // `time` is the SDK's wall clock, not a metric to average
    return [...new Set(all.flatMap((k) => k.keys.filter((x) => x.numeric && x.key !== "time").map((x) => x.key)))].sort();
  });
  return (
    <div class="grouped-view" data-testid="grouped-view">
      <div class="toolbar">
        <label class="field-inline">
          {t("grouped.groupBy")}
          <input
            class="input mono"
            aria-label={t("grouped.groupBy.aria")}
            value={text}
            onInput={(e) => setText((e.target as HTMLInputElement).value)}
            onKeyDown={(e) => e.key === "Enter" && props.onGroupBy(text.trim())}
            onBlur={() => text.trim() !== props.groupBy && props.onGroupBy(text.trim())}
          />
        </label>
        <label class="field-inline">
          {t("grouped.band")}
          <select class="input" data-testid="band-select" value={props.band} onChange={(e) => props.onBand((e.target as HTMLSelectElement).value as Band)}>
            <option value="minmax">{t("grouped.band.minmax")}</option>
            <option value="std">{t("grouped.band.std")}</option>
            <option value="none">{t("grouped.band.none")}</option>
          </select>
        </label>
        <span class="muted">{t("grouped.runs", { n: props.ids.length })}</span>
      </div>
      {keys.error && !keys.data ? (
        <ErrorState error={keys.error} onRetry={keys.reload} what={t("grouped.what")} />
      ) : !keys.data ? (
        <Loading />
      ) : keys.data.length === 0 ? (
        <p class="muted">{t("grouped.noKeys")}</p>
      ) : (
        <div class="chart-grid">
          {keys.data.map((k) => (
            <GroupPanel key={k} ids={props.ids} metric={k} groupBy={props.groupBy} band={props.band} xMode={props.xMode} height={props.height} />
          ))}
        </div>
      )}
    </div>
  );
}
