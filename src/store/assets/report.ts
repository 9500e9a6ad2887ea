// A run report in Markdown or HTML: summary, config, best metric, per-metric statistics and an SVG chart
// per main metric (embedded, so the report is one self-contained file).
import { join } from "node:path";
import { isObject, type JsonObject, readJsonObject } from "../json.ts";
import type { MetricsTable } from "./metrics-table.ts";

/** Everything a report shows about a run: its JSON files (from its folder, or a team server's database) and metric rows. */
export interface ReportInput {
  runId: string;
  meta: JsonObject;
  status: JsonObject;
  summary: JsonObject;
  /** assets.json (the report shows its `config`), or null. */
  assets: JsonObject | null;
  table: MetricsTable;
}

/** The JSON files of a run folder a report shows, read under the safe-read rule inside `root` (a missing file is empty). */
export function readReportFiles(runDir: string, root: string): Pick<ReportInput, "meta" | "status" | "summary" | "assets"> {
  return {
    meta: readJsonObject(join(runDir, "meta.json"), { root }) ?? {},
    status: readJsonObject(join(runDir, "status.json"), { root }) ?? {},
    summary: readJsonObject(join(runDir, "summary.json"), { root }) ?? {},
    assets: readJsonObject(join(runDir, "assets.json"), { root }) ?? null,
  };
}

/** Columns never charted: the x axis and bookkeeping. */
const NOT_METRICS = new Set(["global_step", "time", "ts", "timestamp", "stage"]);

/** Numeric columns ordered for charting: the primary (best) metric first, then loss/acc-like, then the rest. */
export function mainMetrics(table: MetricsTable, primary: string | null, max = 8): string[] {
  const numeric = table.columns.filter(
    (c) => !NOT_METRICS.has(c) && table.rows.some((r) => typeof r[c] === "number"),
  );
  const rank = (c: string) => (c === primary ? 0 : /loss|acc|f1|auc|map|iou|error|score|reward/i.test(c) ? 1 : 2);
  return numeric.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b)).slice(0, max);
}

interface Stats {
  count: number;
  last: number | null;
  min: number | null;
  max: number | null;
}

function stats(table: MetricsTable, col: string): Stats {
  let count = 0;
  let last: number | null = null;
  let min = Infinity;
  let max = -Infinity;
  for (const r of table.rows) {
    const v = r[col];
    if (typeof v !== "number") continue;
    count++;
    last = v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { count, last, min: count ? min : null, max: count ? max : null };
}

function fmt(v: unknown): string {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toPrecision(6).replace(/\.?0+(e|$)/, "$1");
  if (v === null || v === undefined) return "–";
  return typeof v === "string" ? v : JSON.stringify(v);
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** A line chart of one metric over global_step as standalone SVG (min/max kept per pixel column). */
export function metricSvg(table: MetricsTable, col: string, width = 640, height = 240): string {
  const pts: [number, number][] = [];
  for (const r of table.rows) if (typeof r[col] === "number") pts.push([r.global_step as number, r[col] as number]);
  const pad = { l: 56, r: 12, t: 24, b: 28 };
  const w = width - pad.l - pad.r;
  const h = height - pad.t - pad.b;
  const x0 = pts.length ? pts[0][0] : 0;
  const x1 = pts.length ? pts[pts.length - 1][0] : 1;
  let y0 = Math.min(...pts.map((p) => p[1]));
  let y1 = Math.max(...pts.map((p) => p[1]));
  if (!pts.length) (y0 = 0), (y1 = 1);
  if (y0 === y1) (y0 -= 0.5), (y1 += 0.5);
  const sx = (x: number) => pad.l + (x1 === x0 ? w / 2 : ((x - x0) / (x1 - x0)) * w);
  const sy = (y: number) => pad.t + h - ((y - y0) / (y1 - y0)) * h;
  // keep first/min/max/last per pixel column so a long series stays small without losing its envelope
  const cols = new Map<number, [number, number][]>();
  for (const p of pts) {
    const px = Math.round(sx(p[0]));
    const c = cols.get(px);
    if (!c) cols.set(px, [p]);
    else c.push(p);
  }
  const kept: [number, number][] = [];
  for (const c of cols.values()) {
    if (c.length <= 4) kept.push(...c);
    else {
      const lo = c.reduce((a, b) => (b[1] < a[1] ? b : a));
      const hi = c.reduce((a, b) => (b[1] > a[1] ? b : a));
      const mid = [lo, hi].sort((a, b) => a[0] - b[0]);
      kept.push(c[0], ...mid, c[c.length - 1]);
    }
  }
  const d = kept.map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
  const label = (v: number) => esc(fmt(v));
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">` +
    `<rect width="100%" height="100%" fill="#fff"/>` +
    `<text x="${pad.l}" y="15" font-size="13" font-weight="bold">${esc(col)}</text>` +
    `<line x1="${pad.l}" y1="${pad.t + h}" x2="${pad.l + w}" y2="${pad.t + h}" stroke="#999"/>` +
    `<line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${pad.t + h}" stroke="#999"/>` +
    `<text x="${pad.l - 4}" y="${pad.t + 4}" text-anchor="end">${label(y1)}</text>` +
    `<text x="${pad.l - 4}" y="${pad.t + h}" text-anchor="end">${label(y0)}</text>` +
    `<text x="${pad.l}" y="${height - 8}">${label(x0)}</text>` +
    `<text x="${pad.l + w}" y="${height - 8}" text-anchor="end">${label(x1)}</text>` +
    (d ? `<path d="${d}" fill="none" stroke="#1677ff" stroke-width="1.5"/>` : "") +
    `</svg>`
  );
}

interface ReportData {
  meta: JsonObject;
  status: JsonObject;
  summary: JsonObject;
  config: JsonObject;
  metrics: string[];
  stats: Map<string, Stats>;
}

/** `v` with every object's keys in code-point order: a report reads the same whether the run's JSON came from a file or from jsonb. */
function sortedDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedDeep);
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const k of Object.keys(v).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) out[k] = sortedDeep(v[k]) as JsonObject[string];
  return out;
}

function gather(input: ReportInput): ReportData {
  const { meta, status } = input;
  const summary = sortedDeep(input.summary) as JsonObject;
  const assets = input.assets ? (sortedDeep(input.assets) as JsonObject) : null;
  const config = assets && isObject(assets.config) ? assets.config : {};
  const primary = typeof summary.best_metric_name === "string" ? summary.best_metric_name : null;
  const metrics = mainMetrics(input.table, primary);
  const st = new Map(metrics.map((m) => [m, stats(input.table, m)]));
  return { meta, status, summary, config, metrics, stats: st };
}

function overview(input: ReportInput, d: ReportData): [string, string][] {
  const started = typeof d.status.started_at === "number" ? d.status.started_at : null;
  const ended = typeof d.status.ended_at === "number" ? d.status.ended_at : null;
  const iso = (t: number | null) => (t === null ? "–" : new Date(t * 1000).toISOString());
  return [
    ["Run", input.runId],
    ["Path", fmt(d.meta.path ?? null)],
    ["Alias", fmt(d.meta.alias ?? null)],
    ["Status", fmt(d.status.status ?? "finished")],
    ["Started", iso(started ?? (typeof d.meta.created_at === "number" ? d.meta.created_at : null))],
    ["Ended", iso(ended)],
    ["Duration", started !== null && ended !== null ? `${(ended - started).toFixed(1)} s` : "–"],
    ["Host", fmt(d.meta.hostname ?? null)],
    ["Steps", String(input.table.rows.length)],
  ];
}

function bestLine(summary: JsonObject): string | null {
  if (summary.best_metric_name === undefined) return null;
  return `${fmt(summary.best_metric_name)} = ${fmt(summary.best_metric_value)} (${fmt(summary.best_metric_mode ?? "")}, step ${fmt(summary.best_metric_step ?? null)})`;
}

function mdCell(s: string): string {
  return s.replaceAll("|", "\\|").replace(/\r?\n/g, " ");
}

/** The report as Markdown; charts are SVG data URIs. */
export function markdownReport(input: ReportInput): string {
  const d = gather(input);
  const out: string[] = [`# Run report: ${input.runId}`, ""];
  out.push("| | |", "|---|---|", ...overview(input, d).map(([k, v]) => `| ${k} | ${mdCell(v)} |`), "");
  const best = bestLine(d.summary);
  if (best) out.push("## Best metric", "", mdCell(best), "");
  if (Object.keys(d.summary).length) {
    out.push("## Summary", "", "| key | value |", "|---|---|");
    for (const [k, v] of Object.entries(d.summary)) out.push(`| ${mdCell(k)} | ${mdCell(fmt(v))} |`);
    out.push("");
  }
  if (Object.keys(d.config).length) out.push("## Config", "", "```json", JSON.stringify(d.config, null, 2), "```", "");
  if (d.metrics.length) {
    out.push("## Metrics", "", "| metric | last | min | max | points |", "|---|---|---|---|---|");
    for (const m of d.metrics) {
      const s = d.stats.get(m)!;
      out.push(`| ${mdCell(m)} | ${fmt(s.last)} | ${fmt(s.min)} | ${fmt(s.max)} | ${s.count} |`);
    }
    out.push("");
    for (const m of d.metrics) {
      const svg = Buffer.from(metricSvg(input.table, m)).toString("base64");
      out.push(`![${mdCell(m)}](data:image/svg+xml;base64,${svg})`, "");
    }
  }
  return out.join("\n");
}

/** The report as a standalone HTML page with inline SVG charts. */
export function htmlReport(input: ReportInput): string {
  const d = gather(input);
  const rows = (pairs: [string, string][]) => pairs.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join("");
  const parts = [
    `<!doctype html><html><head><meta charset="utf-8"><title>Run report: ${esc(input.runId)}</title>`,
    `<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left}pre{background:#f6f8fa;padding:1em;overflow:auto}</style></head><body>`,
    `<h1>Run report: ${esc(input.runId)}</h1><table>${rows(overview(input, d))}</table>`,
  ];
  const best = bestLine(d.summary);
  if (best) parts.push(`<h2>Best metric</h2><p>${esc(best)}</p>`);
  if (Object.keys(d.summary).length) parts.push(`<h2>Summary</h2><table>${rows(Object.entries(d.summary).map(([k, v]) => [k, fmt(v)]))}</table>`);
  if (Object.keys(d.config).length) parts.push(`<h2>Config</h2><pre>${esc(JSON.stringify(d.config, null, 2))}</pre>`);
  if (d.metrics.length) {
    parts.push(`<h2>Metrics</h2><table><tr><th>metric</th><th>last</th><th>min</th><th>max</th><th>points</th></tr>`);
    for (const m of d.metrics) {
      const s = d.stats.get(m)!;
      parts.push(`<tr><td>${esc(m)}</td><td>${esc(fmt(s.last))}</td><td>${esc(fmt(s.min))}</td><td>${esc(fmt(s.max))}</td><td>${s.count}</td></tr>`);
    }
    parts.push(`</table>`);
    for (const m of d.metrics) parts.push(`<figure>${metricSvg(input.table, m)}</figure>`);
  }
  parts.push(`</body></html>`);
  return parts.join("\n");
}
