// A scatter of one field against another on a canvas (e.g. config.lr against summary.acc), one dot per run.
import { useLayoutEffect, useRef, useState } from "preact/hooks";
import { fmtNum } from "../format.ts";
import { type AnalysisRow, buildAxis, normalise, themeColors, useWidth } from "./parallel-coords.tsx";

const PAD = { top: 16, bottom: 36, left: 64, right: 16 };

export function Scatter(props: { rows: AnalysisRow[]; x: string; y: string; logX?: boolean; height?: number }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const height = props.height ?? 320;
  const [, setTick] = useState(0);
  const width = useWidth(canvas, () => setTick((n) => n + 1));
  useLayoutEffect(() => {
    const c = canvas.current;
    if (!c) return;
    const dpr = window.devicePixelRatio || 1;
    const w = width.current;
    c.width = Math.round(w * dpr);
    c.height = Math.round(height * dpr);
    const ctx = c.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, height);
    const { fg, accent } = themeColors();
    // a log x axis only when every x value is positive
    const logX = props.logX && props.rows.every((r) => typeof r.fields[props.x] !== "number" || (r.fields[props.x] as number) > 0);
    const rows = logX ? props.rows.map((r) => ({ ...r, fields: { ...r.fields, [props.x]: typeof r.fields[props.x] === "number" ? Math.log10(r.fields[props.x] as number) : r.fields[props.x] } })) : props.rows;
    const ax = buildAxis(rows, props.x);
    const ay = buildAxis(rows, props.y);
    const pw = w - PAD.left - PAD.right;
    const ph = height - PAD.top - PAD.bottom;
    ctx.strokeStyle = fg;
    ctx.strokeRect(PAD.left, PAD.top, pw, ph);
    ctx.fillStyle = fg;
    ctx.font = "11px sans-serif";
    const xl = (v: number) => (ax.kind === "cat" ? (ax.cats[Math.round(v * Math.max(0, ax.cats.length - 1))] ?? "") : fmtNum(logX ? 10 ** (ax.min + v * (ax.max - ax.min)) : ax.min + v * (ax.max - ax.min)));
    const yl = (v: number) => (ay.kind === "cat" ? (ay.cats[Math.round(v * Math.max(0, ay.cats.length - 1))] ?? "") : fmtNum(ay.min + v * (ay.max - ay.min)));
    ctx.textAlign = "center";
    for (const v of [0, 0.5, 1]) ctx.fillText(xl(v), PAD.left + v * pw, PAD.top + ph + 14);
    ctx.fillText(props.x + (logX ? " (log)" : ""), PAD.left + pw / 2, height - 4);
    ctx.textAlign = "right";
    for (const v of [0, 0.5, 1]) ctx.fillText(yl(v), PAD.left - 4, PAD.top + (1 - v) * ph + 4);
    ctx.save();
    ctx.translate(12, PAD.top + ph / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center";
    ctx.fillText(props.y, 0, 0);
    ctx.restore();
    ctx.fillStyle = accent;
    ctx.globalAlpha = 0.7;
    let drawn = 0;
    for (const r of rows) {
      const nx = normalise(ax, r.fields[props.x]);
      const ny = normalise(ay, r.fields[props.y]);
      if (nx === null || ny === null) continue;
      ctx.beginPath();
      ctx.arc(PAD.left + nx * pw, PAD.top + (1 - ny) * ph, 3, 0, Math.PI * 2);
      ctx.fill();
      drawn++;
    }
    ctx.globalAlpha = 1;
    c.dataset.points = String(drawn);
  });
  return <canvas ref={canvas} class="scatter" data-testid="scatter" style={{ width: "100%", height: `${height}px` }} />;
}
