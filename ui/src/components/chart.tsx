// The one component that owns uPlot: creates a chart once, streams data with setData, and draws markers, best point and legend.
import { t } from "../i18n/i18n.ts";
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import { placeLabels } from "../chart-data.ts";
import { fmtNum, fmtTime, tickLabels } from "../format.ts";

/** One line of a chart. */
export interface ChartSeries {
  label: string;
  color: string;
  width?: number;
  /** 0–1; faded raw series under a smoothed one. */
  alpha?: number;
  show?: boolean;
  /** Leave out of the legend (e.g. the raw line behind an EMA). */
  noLegend?: boolean;
}

/** What a chart shows and how; `data` is uPlot's columnar `[xs, ys1, ys2, …]`. */
export interface ChartProps {
  data: uPlot.AlignedData;
  series: ChartSeries[];
  height: number;
  /** x values are epoch seconds. */
  xTime?: boolean;
  logY?: boolean;
  /** Charts with the same key share the cursor. */
  syncKey?: string;
  /** Dashed vertical lines (stage separators) at these x values. */
  markers?: { x: number; label: string }[];
  /** A highlighted point (the best value). */
  best?: { x: number; y: number } | null;
  /** The zoomed x window, or null for everything. */
  xRange?: [number, number] | null;
  /** Called with the dragged x window, or null on double-click (reset). */
  onZoom?: (range: [number, number] | null) => void;
  /** Receives the uPlot instance (for PNG export), null when destroyed. */
  chartRef?: { current: uPlot | null };
  /** Shown when there is no point at all. */
  emptyText?: string;
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

function withAlpha(color: string, alpha: number): string {
  if (alpha >= 1 || !color.startsWith("#") || color.length !== 7) return color;
  return color + Math.round(alpha * 255).toString(16).padStart(2, "0");
}

function lastIndex(ys: ArrayLike<number | null | undefined>): number {
  for (let i = ys.length - 1; i >= 0; i--) if (ys[i] !== null && ys[i] !== undefined) return i;
  return -1;
}

function hasPoints(data: uPlot.AlignedData): boolean {
  if (!data[0] || data[0].length === 0) return false;
  for (let s = 1; s < data.length; s++) if (lastIndex(data[s] as (number | null)[]) >= 0) return true;
  return false;
}

/** Width of the y axis from its longest label (uPlot's auto-size recipe), so that `1.025e+7` is not clipped. */
function axisSize(u: uPlot, values: string[] | null, axisIdx: number, cycleNum: number): number {
  const axis = u.axes[axisIdx] as uPlot.Axis & { _size?: number; font?: string | [string, number] };
  // uPlot calls again while the layout settles; keep the last size so that it converges
  if (cycleNum > 1 && axis._size) return axis._size;
  let size = (axis.ticks?.size ?? 10) + (axis.gap ?? 5);
  const longest = (values ?? []).reduce((a, v) => (v.length > a.length ? v : a), "");
  if (longest) {
    u.ctx.font = Array.isArray(axis.font) ? axis.font[0] : (axis.font ?? "12px sans-serif");
    size += u.ctx.measureText(longest).width / (devicePixelRatio || 1);
  }
  return Math.max(40, Math.ceil(size) + 4);
}

/** A uPlot line chart that is created once per structure and updated in place with new data. */
export function Chart(props: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const legend = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const live = useRef(props);
  live.current = props;
  const theme = document.documentElement.dataset.theme ?? "light";
  const structure = [props.series.map((s) => `${s.label}|${s.color}|${s.alpha ?? 1}|${s.width ?? 1.5}|${s.noLegend ? 1 : 0}`).join(","), props.logY, props.xTime, props.syncKey, theme].join(";");

  const renderLegend = (u: uPlot) => {
    const el = legend.current;
    if (!el) return;
    const idx = u.cursor.idx;
    const spans = el.querySelectorAll<HTMLElement>("[data-si]");
    spans.forEach((span) => {
      const si = Number(span.dataset.si);
      const ys = u.data[si] as (number | null)[] | undefined;
      if (!ys) return;
      const i = idx !== null && idx !== undefined && ys[idx] !== null && ys[idx] !== undefined ? idx : lastIndex(ys);
      span.textContent = i >= 0 ? fmtNum(ys[i]) : "–";
    });
    const xs = el.querySelector<HTMLElement>("[data-x]");
    if (xs) {
      const xv = idx !== null && idx !== undefined ? (u.data[0][idx] as number) : null;
      xs.textContent = xv === null || xv === undefined ? "" : live.current.xTime ? fmtTime(xv) : `step ${fmtNum(xv)}`;
    }
  };

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const p = live.current;
    const axisColor = cssVar("--muted");
    const gridColor = cssVar("--grid");
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: p.height,
      legend: { show: false },
      scales: {
        x: { time: !!p.xTime },
        y: p.logY ? { distr: 3 } : { auto: true },
      },
      series: [
        {},
        ...p.series.map((s) => ({
          label: s.label,
          stroke: withAlpha(s.color, s.alpha ?? 1),
          width: s.width ?? 1.5,
          spanGaps: true,
          show: s.show !== false,
          points: { size: 4 },
        })),
      ],
      axes: [
        { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor } },
        {
          stroke: axisColor,
          grid: { stroke: gridColor, width: 1 },
          ticks: { stroke: gridColor },
          size: axisSize,
          values: (_u, splits, _ax, _space, incr) => tickLabels(splits, incr, !!live.current.logY),
        },
      ],
      cursor: {
        sync: p.syncKey ? { key: p.syncKey, setSeries: false } : undefined,
        drag: { x: true, y: false, setScale: false },
        points: { size: 6 },
      },
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width < 4) return;
            const a = u.posToVal(u.select.left, "x");
            const b = u.posToVal(u.select.left + u.select.width, "x");
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            live.current.onZoom?.([Math.min(a, b), Math.max(a, b)]);
          },
        ],
        setCursor: [(u) => renderLegend(u)],
        setData: [(u) => renderLegend(u)],
        draw: [
          (u) => {
            const { markers, best } = live.current;
            const ctx = u.ctx;
            const { top, height, left, width } = u.bbox;
            const dpr = devicePixelRatio || 1;
            if (markers?.length) {
              ctx.save();
              ctx.strokeStyle = cssVar("--marker");
              ctx.fillStyle = cssVar("--marker");
              ctx.setLineDash([5 * dpr, 4 * dpr]);
              ctx.lineWidth = dpr;
              ctx.font = `${11 * dpr}px sans-serif`;
              // uPlot leaves its axis text alignment on the context
              ctx.textAlign = "left";
              ctx.textBaseline = "top";
              const placed = placeLabels(
                markers.map((m) => ({ x: Math.round(u.valToPos(m.x, "x", true)), label: m.label })).filter((m) => m.x >= left && m.x <= left + width),
                (text) => ctx.measureText(text).width,
                3 * dpr,
                left + width,
              );
              for (const m of placed) {
                ctx.beginPath();
                ctx.moveTo(m.x, top);
                ctx.lineTo(m.x, top + height);
                ctx.stroke();
                if (m.row >= 0) ctx.fillText(m.label, m.textX, top + 2 * dpr + m.row * 13 * dpr);
              }
              ctx.restore();
            }
            if (best && Number.isFinite(best.x) && Number.isFinite(best.y)) {
              const x = u.valToPos(best.x, "x", true);
              const y = u.valToPos(best.y, "y", true);
              if (x >= left && x <= left + width && y >= top && y <= top + height) {
                ctx.save();
                ctx.fillStyle = cssVar("--best");
                ctx.strokeStyle = cssVar("--panel");
                ctx.lineWidth = 2 * dpr;
                ctx.beginPath();
                ctx.arc(x, y, 5 * dpr, 0, Math.PI * 2);
                ctx.fill();
                ctx.stroke();
                ctx.restore();
              }
            }
          },
        ],
      },
    };
    const u = new uPlot(opts, p.data, el);
    plot.current = u;
    if (p.chartRef) p.chartRef.current = u;
    if (p.xRange) u.setScale("x", { min: p.xRange[0], max: p.xRange[1] });
    renderLegend(u);
    const onDbl = () => live.current.onZoom?.(null);
    u.over.addEventListener("dblclick", onDbl);
    const ro = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (Math.abs(w - u.width) > 1) u.setSize({ width: w, height: live.current.height });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.over.removeEventListener("dblclick", onDbl);
      u.destroy();
      plot.current = null;
      if (live.current.chartRef) live.current.chartRef.current = null;
    };
  }, [structure]);

  // New points or a new zoom window: update in place, never recreate.
  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    if (u.data !== props.data) u.setData(props.data, !props.xRange);
    if (props.xRange) u.setScale("x", { min: props.xRange[0], max: props.xRange[1] });
  }, [props.data, props.xRange?.[0], props.xRange?.[1]]);

  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    props.series.forEach((s, i) => {
      const show = s.show !== false;
      if (u.series[i + 1] && u.series[i + 1].show !== show) u.setSeries(i + 1, { show });
    });
  }, [props.series.map((s) => s.show !== false).join()]);

  useEffect(() => {
    plot.current?.redraw(false, false);
  }, [JSON.stringify(props.markers ?? []), props.best?.x, props.best?.y]);

  useEffect(() => {
    const u = plot.current;
    if (u && u.height !== props.height) u.setSize({ width: u.width, height: props.height });
  }, [props.height]);

  const empty = !hasPoints(props.data);
  return (
    <div class="chart" data-markers={(props.markers ?? []).map((m) => m.x).join(",")} data-points={props.data[0]?.length ?? 0} data-first-x={props.data[0]?.length ? props.data[0][0] : undefined}>
      <div class="chart-legend" ref={legend}>
        {props.series.map((s, i) =>
          s.noLegend || s.show === false ? null : (
            <span class="legend-item" key={s.label}>
              <i class="swatch" style={{ background: s.color }} />
              <span class="legend-label">{s.label}</span>
              <b class="legend-value" data-si={i + 1}>
                –
              </b>
            </span>
          ),
        )}
        <span class="legend-x" data-x />
      </div>
      <div class="chart-box" ref={box} style={{ minHeight: props.height }} />
      {empty ? <div class="chart-empty">{props.emptyText ?? t("charts.noPoints")}</div> : null}
    </div>
  );
}

/** What an exported PNG shows around the plot. */
export interface PngMeta {
  title: string;
  xLabel: string;
  yLabel?: string;
}

/** Saves the chart as a PNG on an opaque background with its title, a legend (last raw values) and axis labels. */
export function exportPng(u: uPlot, name: string, meta?: PngMeta): void {
  const src = u.ctx.canvas;
  const dpr = devicePixelRatio || 1;
  const items = u.series.slice(1).flatMap((s, i) => {
    if (s.show === false) return [];
    const ys = u.data[i + 1] as (number | null)[];
    const li = lastIndex(ys);
    const stroke = typeof s.stroke === "function" ? s.stroke(u, i + 1) : s.stroke;
    return [{ label: `${String(s.label ?? "")} ${li >= 0 ? fmtNum(ys[li]) : "–"}`, color: String(stroke ?? "#888") }];
  });
  const pad = 10 * dpr;
  const head = meta ? 44 * dpr : 0;
  const foot = meta ? 20 * dpr : 0;
  const side = meta?.yLabel ? 18 * dpr : 0;
  const c = document.createElement("canvas");
  c.width = src.width + side + (meta ? 2 * pad : 0);
  c.height = src.height + head + foot;
  const ctx = c.getContext("2d");
  if (!ctx) return;
  ctx.fillStyle = cssVar("--panel");
  ctx.fillRect(0, 0, c.width, c.height);
  ctx.drawImage(src, (meta ? pad : 0) + side, head);
  if (meta) {
    ctx.fillStyle = cssVar("--text");
    ctx.textBaseline = "top";
    ctx.textAlign = "left";
    ctx.font = `600 ${14 * dpr}px sans-serif`;
    ctx.fillText(meta.title, pad, 6 * dpr);
    ctx.font = `${11 * dpr}px sans-serif`;
    let x = pad;
    for (const it of items) {
      ctx.fillStyle = it.color;
      ctx.fillRect(x, 28 * dpr, 10 * dpr, 3 * dpr);
      ctx.fillStyle = cssVar("--muted");
      ctx.fillText(it.label, x + 14 * dpr, 24 * dpr);
      x += ctx.measureText(it.label).width + 30 * dpr;
    }
    ctx.textAlign = "center";
    ctx.fillText(meta.xLabel, c.width / 2, c.height - foot + 4 * dpr);
    if (meta.yLabel) {
      ctx.save();
      ctx.translate(pad, head + src.height / 2);
      ctx.rotate(-Math.PI / 2);
      ctx.fillText(meta.yLabel, 0, 0);
      ctx.restore();
    }
  }
  c.toBlob((blob) => {
    if (!blob) return;
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }, "image/png");
}
