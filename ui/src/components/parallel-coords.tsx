// Parallel coordinates on one canvas: an axis per chosen field, a line per run, drag on an axis to brush (filter) runs.
import { useLayoutEffect, useRef } from "preact/hooks";
import { fmtNum } from "../format.ts";

/** One run as the analysis views see it: flat field → value. */
export interface AnalysisRow {
  id: string;
  label: string;
  fields: Record<string, unknown>;
}

/** A field drawn as an axis: numbers on a linear scale, anything else as evenly spaced categories. */
export interface Axis {
  field: string;
  kind: "num" | "cat";
  min: number;
  max: number;
  cats: string[];
}

/** Normalised brush windows per field: [lo, hi] within 0 (bottom) … 1 (top). */
export type Brushes = Record<string, [number, number]>;

export function buildAxis(rows: AnalysisRow[], field: string): Axis {
  let min = Infinity;
  let max = -Infinity;
  let nonNum = false;
  const cats = new Set<string>();
  for (const r of rows) {
    const v = r.fields[field];
    if (v === undefined || v === null) continue;
    if (typeof v === "number" && Number.isFinite(v)) {
      if (v < min) min = v;
      if (v > max) max = v;
    } else nonNum = true;
    cats.add(typeof v === "string" ? v : JSON.stringify(v));
  }
  if (nonNum || min === Infinity) return { field, kind: "cat", min: 0, max: Math.max(0, cats.size - 1), cats: [...cats].sort() };
  return { field, kind: "num", min, max, cats: [] };
}

/** Where a value sits on its axis, 0 (bottom) … 1 (top); null when the run has no value. */
export function normalise(axis: Axis, v: unknown): number | null {
  if (v === undefined || v === null) return null;
  if (axis.kind === "num") {
    if (typeof v !== "number" || !Number.isFinite(v)) return null;
    return axis.max === axis.min ? 0.5 : (v - axis.min) / (axis.max - axis.min);
  }
  const i = axis.cats.indexOf(typeof v === "string" ? v : JSON.stringify(v));
  if (i < 0) return null;
  return axis.cats.length === 1 ? 0.5 : i / (axis.cats.length - 1);
}

/** True when the row lies inside every brush (a run without a value on a brushed axis is out). */
export function passesBrushes(row: AnalysisRow, axes: Axis[], brushes: Brushes): boolean {
  for (const a of axes) {
    const b = brushes[a.field];
    if (!b) continue;
    const y = normalise(a, row.fields[a.field]);
    if (y === null || y < b[0] || y > b[1]) return false;
  }
  return true;
}

const PAD = { top: 28, bottom: 24, left: 40, right: 40 };

/** Theme colours, read once per theme (getComputedStyle in a draw would force a style pass over a changed page). */
let themeCache: { theme: string; fg: string; muted: string; accent: string } | null = null;
export function themeColors(): { fg: string; muted: string; accent: string } {
  const theme = document.documentElement.dataset.theme ?? "light";
  if (themeCache?.theme !== theme) {
    const style = getComputedStyle(document.documentElement);
    themeCache = { theme, fg: style.getPropertyValue("--text").trim() || "#333", muted: style.getPropertyValue("--muted").trim() || "#999", accent: style.getPropertyValue("--accent").trim() || "#3b82f6" };
  }
  return themeCache;
}

/** The element's width, measured by a ResizeObserver (reading clientWidth in a draw would force a layout). */
export function useWidth(el: { current: HTMLElement | null }, onResize: () => void): { current: number } {
  const width = useRef(0);
  useLayoutEffect(() => {
    const node = el.current;
    if (!node) return;
    width.current = node.clientWidth;
    const ro = new ResizeObserver((entries) => {
      const w = Math.round(entries[0].contentRect.width);
      if (w !== width.current) {
        width.current = w;
        onResize();
      }
    });
    ro.observe(node);
    return () => ro.disconnect();
  }, []);
  return width;
}

function axisLabel(a: Axis, y: number): string {
  if (a.kind === "cat") return a.cats[Math.round(y * Math.max(0, a.cats.length - 1))] ?? "";
  return fmtNum(a.min + y * (a.max - a.min));
}

export function ParallelCoords(props: { rows: AnalysisRow[]; axes: Axis[]; brushes: Brushes; colorField?: string; height?: number; onBrush: (b: Brushes) => void }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const live = useRef({ brushes: props.brushes, drag: null as null | { field: string; y0: number; y1: number } });
  const height = props.height ?? 320;

  const width = useWidth(canvas, () => draw(live.current.brushes));
  const geometry = (_c: HTMLCanvasElement) => {
    const w = width.current;
    const n = props.axes.length;
    const xs = props.axes.map((_, i) => PAD.left + (n <= 1 ? 0 : (i * (w - PAD.left - PAD.right)) / (n - 1)));
    const h = height - PAD.top - PAD.bottom;
    return { w, xs, h, yOf: (v: number) => PAD.top + (1 - v) * h };
  };

  /** Draws everything from `brushes` (the live brush while dragging); records how long it took. */
  const draw = (brushes: Brushes) => {
    const t0 = performance.now();
    const c = canvas.current;
    if (!c) return;
    const dpr = window.devicePixelRatio || 1;
    const { w, xs, h, yOf } = geometry(c);
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(height * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(height * dpr);
    }
    const ctx = c.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, height);
    const { fg, muted, accent } = themeColors();
    const axes = props.axes;
    const colorAxis = axes[axes.length - 1];
    // pass 1: runs outside the brushes, faint; pass 2: runs inside, coloured by the last (result) axis
    let inside = 0;
    const passing: (number | null)[][] = [];
    const passingColor: number[] = [];
    ctx.lineWidth = 1;
    ctx.strokeStyle = muted;
    ctx.globalAlpha = 0.15;
    ctx.beginPath();
    for (const r of props.rows) {
      const ys = axes.map((a) => normalise(a, r.fields[a.field]));
      if (passesBrushes(r, axes, brushes)) {
        passing.push(ys);
        passingColor.push(colorAxis ? (normalise(colorAxis, r.fields[colorAxis.field]) ?? 0.5) : 0.5);
        inside++;
        continue;
      }
      tracePolyline(ctx, xs, ys, yOf);
    }
    ctx.stroke();
    ctx.globalAlpha = 0.7;
    // bucket the passing lines into a few colours so each colour is one path (fast at thousands of runs)
    const BUCKETS = 8;
    for (let b = 0; b < BUCKETS; b++) {
      ctx.strokeStyle = `hsl(${220 - (b * 200) / (BUCKETS - 1)}, 70%, 50%)`;
      ctx.beginPath();
      for (let i = 0; i < passing.length; i++) if (Math.min(BUCKETS - 1, Math.floor(passingColor[i] * BUCKETS)) === b) tracePolyline(ctx, xs, passing[i], yOf);
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
    // axes, labels and brushes
    ctx.font = "11px sans-serif";
    ctx.textAlign = "center";
    axes.forEach((a, i) => {
      ctx.strokeStyle = fg;
      ctx.beginPath();
      ctx.moveTo(xs[i], PAD.top);
      ctx.lineTo(xs[i], PAD.top + h);
      ctx.stroke();
      ctx.fillStyle = fg;
      ctx.fillText(a.field, Math.min(Math.max(xs[i], 40), w - 40), 14);
      ctx.fillStyle = muted;
      ctx.fillText(axisLabel(a, 1), xs[i], PAD.top - 3);
      ctx.fillText(axisLabel(a, 0), xs[i], PAD.top + h + 14);
      const br = brushes[a.field];
      if (br) {
        ctx.fillStyle = accent;
        ctx.globalAlpha = 0.3;
        ctx.fillRect(xs[i] - 7, yOf(br[1]), 14, yOf(br[0]) - yOf(br[1]));
        ctx.globalAlpha = 1;
      }
    });
    c.dataset.inside = String(inside);
    const end = performance.now();
    c.dataset.drawMs = (end - t0).toFixed(2);
    c.dataset.drawnAt = end.toFixed(2);
    c.dataset.draws = String(Number(c.dataset.draws ?? 0) + 1);
  };

  // drawn in the commit (not after paint) so an applied brush shows in the same frame as the table
  useLayoutEffect(() => {
    live.current.brushes = props.brushes;
    draw(props.brushes);
  });

  const hit = (e: MouseEvent): { field: string; v: number } | null => {
    const c = canvas.current;
    if (!c) return null;
    const rect = c.getBoundingClientRect();
    const { xs, h } = geometry(c);
    const x = e.clientX - rect.left;
    const i = xs.findIndex((ax) => Math.abs(ax - x) <= 12);
    if (i < 0) return null;
    const v = 1 - (e.clientY - rect.top - PAD.top) / h;
    return { field: props.axes[i].field, v: Math.min(1, Math.max(0, v)) };
  };
  const valueAt = (e: MouseEvent) => {
    const c = canvas.current as HTMLCanvasElement;
    const { h } = geometry(c);
    return Math.min(1, Math.max(0, 1 - (e.clientY - c.getBoundingClientRect().top - PAD.top) / h));
  };
  const withDrag = (d: { field: string; y0: number; y1: number }): Brushes => {
    const lo = Math.min(d.y0, d.y1);
    const hi = Math.max(d.y0, d.y1);
    const next = { ...live.current.brushes };
    if (hi - lo < 0.01) delete next[d.field];
    else next[d.field] = [lo, hi];
    return next;
  };

  return (
    <canvas
      ref={canvas}
      class="parallel-coords"
      data-testid="parallel-coords"
      style={{ width: "100%", height: `${height}px`, cursor: "crosshair" }}
      onMouseDown={(e) => {
        const h = hit(e);
        if (!h) return;
        e.preventDefault();
        live.current.drag = { field: h.field, y0: h.v, y1: h.v };
      }}
      onMouseMove={(e) => {
        const d = live.current.drag;
        if (!d) return;
        d.y1 = valueAt(e);
        draw(withDrag(d));
      }}
      onMouseUp={(e) => {
        const d = live.current.drag;
        if (!d) return;
        d.y1 = valueAt(e);
        live.current.drag = null;
        props.onBrush(withDrag(d));
      }}
      onMouseLeave={() => {
        const d = live.current.drag;
        if (!d) return;
        live.current.drag = null;
        props.onBrush(withDrag(d));
      }}
    />
  );
}

function tracePolyline(ctx: CanvasRenderingContext2D, xs: number[], ys: (number | null)[], yOf: (v: number) => number): void {
  let pen = false;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (y === null) {
      pen = false;
      continue;
    }
    if (pen) ctx.lineTo(xs[i], yOf(y));
    else ctx.moveTo(xs[i], yOf(y));
    pen = true;
  }
}
