// Histograms logged with rn.Histogram: TensorBoard-style distribution bands over steps per key, and the histogram at a chosen step over the others.
import { useMemo, useState } from "preact/hooks";
import { getJson, qs, useResource } from "../api.ts";
import { t } from "../i18n/i18n.ts";
import type { HistogramKeysResponse, HistogramSeriesResponse, HistogramStep } from "../../../src/wire/media.ts";
import { Empty, ErrorState, Loading, useInterval } from "./common.tsx";

/** The percentiles drawn as bands (TensorBoard's distribution view): 0/100, 7/93, 16/84, 31/69 and the median. */
export const BAND_PERCENTILES = [0, 7, 16, 31, 50, 69, 84, 93, 100];

/**
 * The values at the given percentiles (0..100) of a binned distribution, assuming the values of a bin are spread
 * evenly over it; null when the histogram holds nothing.
 */
export function binPercentiles(h: Pick<HistogramStep, "edges" | "counts">, percentiles: number[] = BAND_PERCENTILES): number[] | null {
  const total = h.counts.reduce((a, b) => a + b, 0);
  if (!(total > 0) || h.edges.length !== h.counts.length + 1) return null;
  let first = 0;
  while (h.counts[first] === 0) first++;
  let last = h.counts.length - 1;
  while (h.counts[last] === 0) last--;
  return percentiles.map((p) => {
    if (p <= 0) return h.edges[first];
    if (p >= 100) return h.edges[last + 1];
    const target = (p / 100) * total;
    let acc = 0;
    for (let i = first; i <= last; i++) {
      const c = h.counts[i];
      if (acc + c >= target && c > 0) return h.edges[i] + ((target - acc) / c) * (h.edges[i + 1] - h.edges[i]);
      acc += c;
    }
    return h.edges[last + 1];
  });
}

const W = 560;
const SVG_STYLE = { width: "100%", maxWidth: "640px", height: "auto", display: "block" };
const H = 220;
const PAD = { l: 52, r: 12, t: 10, b: 26 };

function ticks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  return Array.from({ length: n }, (_, i) => lo + ((hi - lo) * i) / (n - 1));
}

const fmt = (v: number) => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(1) : String(Number(v.toPrecision(3))));

function Axes(props: { x: [number, number]; y: [number, number]; sx: (v: number) => number; sy: (v: number) => number; xInt?: boolean }) {
  return (
    <g class="hist-axes" font-size="10" fill="currentColor">
      {ticks(props.y[0], props.y[1]).map((v) => (
        <g key={`y${v}`}>
          <line x1={PAD.l} x2={W - PAD.r} y1={props.sy(v)} y2={props.sy(v)} stroke="var(--grid)" />
          <text x={PAD.l - 4} y={props.sy(v) + 3} text-anchor="end">{fmt(v)}</text>
        </g>
      ))}
      {ticks(props.x[0], props.x[1]).map((v) => (
        <text key={`x${v}`} x={props.sx(v)} y={H - 8} text-anchor="middle">{props.xInt ? Math.round(v) : fmt(v)}</text>
      ))}
    </g>
  );
}

/** Nested percentile bands over steps, the median as a line. */
function DistributionChart(props: { steps: HistogramStep[]; keyName: string }) {
  const rows = useMemo(() => props.steps.map((s) => ({ step: s.step, p: binPercentiles(s) })).filter((r) => r.p !== null) as { step: number; p: number[] }[], [props.steps]);
  if (!rows.length) return <p class="muted">{t("hist.empty")}</p>;
  const x0 = rows[0].step;
  const x1 = rows[rows.length - 1].step;
  let y0 = Infinity;
  let y1 = -Infinity;
  for (const r of rows) (y0 = Math.min(y0, r.p[0])), (y1 = Math.max(y1, r.p[r.p.length - 1]));
  if (y1 === y0) (y0 -= 0.5), (y1 += 0.5);
  const sx = (v: number) => PAD.l + (x1 === x0 ? (W - PAD.l - PAD.r) / 2 : ((v - x0) / (x1 - x0)) * (W - PAD.l - PAD.r));
  const sy = (v: number) => H - PAD.b - ((v - y0) / (y1 - y0)) * (H - PAD.t - PAD.b);
  const n = BAND_PERCENTILES.length;
  const bands = [];
  for (let b = 0; b < Math.floor(n / 2); b++) {
    const top = rows.map((r) => `${sx(r.step).toFixed(1)},${sy(r.p[n - 1 - b]).toFixed(1)}`);
    const bottom = rows.map((r) => `${sx(r.step).toFixed(1)},${sy(r.p[b]).toFixed(1)}`).reverse();
    const pts = rows.length === 1 ? [`${sx(x0) - 3},${sy(rows[0].p[n - 1 - b])}`, `${sx(x0) + 3},${sy(rows[0].p[n - 1 - b])}`, `${sx(x0) + 3},${sy(rows[0].p[b])}`, `${sx(x0) - 3},${sy(rows[0].p[b])}`] : [...top, ...bottom];
    bands.push(<polygon key={b} class="hist-band" data-band={`${BAND_PERCENTILES[b]}-${BAND_PERCENTILES[n - 1 - b]}`} points={pts.join(" ")} fill="var(--accent)" fill-opacity={0.16 + b * 0.14} stroke="none" />);
  }
  const mid = Math.floor(n / 2);
  return (
    <svg class="hist-svg" style={SVG_STYLE} data-testid="hist-distribution" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${props.keyName} distribution over steps`}>
      <Axes x={[x0, x1]} y={[y0, y1]} sx={sx} sy={sy} xInt />
      {bands}
      <polyline class="hist-median" points={rows.map((r) => `${sx(r.step).toFixed(1)},${sy(r.p[mid]).toFixed(1)}`).join(" ")} fill="none" stroke="var(--accent)" stroke-width="1.5" />
    </svg>
  );
}

/** The histogram at the chosen step, drawn over the outlines of the other steps. */
function OverlayChart(props: { steps: HistogramStep[]; index: number; keyName: string }) {
  const withBins = props.steps.filter((s) => s.counts.length > 0);
  const cur = props.steps[props.index];
  if (!withBins.length || !cur) return null;
  let x0 = Infinity;
  let x1 = -Infinity;
  let ymax = 0;
  const dens = (s: HistogramStep, i: number) => s.counts[i];
  for (const s of withBins) {
    x0 = Math.min(x0, s.edges[0]);
    x1 = Math.max(x1, s.edges[s.edges.length - 1]);
    for (let i = 0; i < s.counts.length; i++) ymax = Math.max(ymax, dens(s, i));
  }
  if (x1 === x0) (x0 -= 0.5), (x1 += 0.5);
  if (ymax === 0) ymax = 1;
  const sx = (v: number) => PAD.l + ((v - x0) / (x1 - x0)) * (W - PAD.l - PAD.r);
  const sy = (v: number) => H - PAD.b - (v / ymax) * (H - PAD.t - PAD.b);
  const outline = (s: HistogramStep) => {
    const pts = [`${sx(s.edges[0]).toFixed(1)},${sy(0).toFixed(1)}`];
    for (let i = 0; i < s.counts.length; i++) pts.push(`${sx(s.edges[i]).toFixed(1)},${sy(dens(s, i)).toFixed(1)}`, `${sx(s.edges[i + 1]).toFixed(1)},${sy(dens(s, i)).toFixed(1)}`);
    pts.push(`${sx(s.edges[s.edges.length - 1]).toFixed(1)},${sy(0).toFixed(1)}`);
    return pts.join(" ");
  };
  const others = withBins.length > 60 ? withBins.filter((_, i) => i % Math.ceil(withBins.length / 60) === 0) : withBins;
  return (
    <svg class="hist-svg" style={SVG_STYLE} data-testid="hist-overlay" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${props.keyName} histogram at step ${cur.step}`}>
      <Axes x={[x0, x1]} y={[0, ymax]} sx={sx} sy={sy} />
      {others.map((s) => (s === cur ? null : <polyline key={s.step} points={outline(s)} fill="none" stroke="var(--muted)" stroke-opacity="0.25" />))}
      {cur.counts.length ? (
        <g class="hist-current" data-step={cur.step}>
          {cur.counts.map((c, i) => (
            <rect key={i} class="hist-bar" x={sx(cur.edges[i])} width={Math.max(0.5, sx(cur.edges[i + 1]) - sx(cur.edges[i]))} y={sy(c)} height={sy(0) - sy(c)} fill="var(--accent)" fill-opacity="0.55" data-count={c} />
          ))}
        </g>
      ) : null}
    </svg>
  );
}

function HistogramCard(props: { runId: string; keyName: string; running: boolean }) {
  const enc = encodeURIComponent(props.runId);
  const series = useResource(`hist:${props.runId}:${props.keyName}`, (signal) =>
    getJson<HistogramSeriesResponse>(`/api/runs/${enc}/histograms${qs({ key: props.keyName, points: 500 })}`, signal),
  );
  useInterval(series.reload, 5000, props.running);
  const [idx, setIdx] = useState<number | null>(null);
  if (series.error && !series.data) return <ErrorState error={series.error} onRetry={series.reload} />;
  if (!series.data) return <Loading />;
  const steps = series.data.steps;
  const i = idx === null ? steps.length - 1 : Math.min(idx, steps.length - 1);
  const cur = steps[i];
  return (
    <div class="card hist-card" data-hist-key={props.keyName}>
      <div class="chart-head">
        <span class="chart-title">{props.keyName}</span>
        <span class="muted mono">
          {series.data.total} {t("hist.steps")}
          {series.data.sampled ? ` (${steps.length} ${t("hist.shown")})` : ""}
        </span>
      </div>
      <DistributionChart steps={steps} keyName={props.keyName} />
      {cur ? (
        <>
          <div class="toolbar">
            <label class="muted">
              {t("hist.atStep")} <b class="mono" data-testid="hist-step">{cur.step}</b>
            </label>
            <input type="range" min="0" max={Math.max(0, steps.length - 1)} value={i} aria-label={`${props.keyName} step`} onInput={(e) => setIdx(Number((e.target as HTMLInputElement).value))} />
            <span class="muted mono">
              n={cur.count}
              {cur.min !== null ? ` min=${fmt(cur.min)}` : ""}
              {cur.max !== null ? ` max=${fmt(cur.max)}` : ""}
            </span>
          </div>
          <OverlayChart steps={steps} index={i} keyName={props.keyName} />
        </>
      ) : null}
    </div>
  );
}

/** The run page's Histograms tab: one card per key; a running run is re-read every 5 s. */
export function HistogramsPanel(props: { runId: string; running: boolean }) {
  const enc = encodeURIComponent(props.runId);
  const keys = useResource(`hist-keys:${props.runId}`, (signal) => getJson<HistogramKeysResponse>(`/api/runs/${enc}/histograms`, signal));
  useInterval(keys.reload, 5000, props.running);
  if (keys.error && !keys.data) return <ErrorState error={keys.error} onRetry={keys.reload} />;
  if (!keys.data) return <Loading />;
  if (!keys.data.keys.length) return <Empty title={t("hist.none")}>{t("hist.noneText")} <code>run.log({"{"}"w": rn.Histogram(values){"}"})</code>.</Empty>;
  return (
    <div class="hist-grid" style={{ display: "grid", gridTemplateColumns: "repeat(auto-fill, minmax(520px, 1fr))", gap: "12px" }}>
      {keys.data.keys.map((k) => (
        <HistogramCard key={k.key} runId={props.runId} keyName={k.key} running={props.running} />
      ))}
    </div>
  );
}
