// Small formatting helpers shared by the pages: dates, durations, numbers, bytes.
import { fmtDateTime } from "./i18n/i18n.ts";

/** Date and time (24 h) in local time and the UI's locale, or "–" for a missing time. */
export function fmtTime(ts: number | null | undefined): string {
  if (ts === null || ts === undefined || !Number.isFinite(ts)) return "–";
  return fmtDateTime(ts * 1000);
}

/** `1h 02m 03s`, `4m 05s`, `12.3s`. */
export function fmtDuration(sec: number | null | undefined): string {
  if (sec === null || sec === undefined || !Number.isFinite(sec) || sec < 0) return "–";
  if (sec < 60) return `${sec < 10 ? sec.toFixed(1) : Math.round(sec)}s`;
  const s = Math.floor(sec % 60);
  const m = Math.floor((sec / 60) % 60);
  const h = Math.floor(sec / 3600);
  const p = (n: number) => String(n).padStart(2, "0");
  if (h >= 24) return `${Math.floor(h / 24)}d ${h % 24}h ${p(m)}m`;
  return h > 0 ? `${h}h ${p(m)}m ${p(s)}s` : `${m}m ${p(s)}s`;
}

/** A metric value for display: integers as is, others with up to 4 significant decimals. */
export function fmtNum(v: unknown): string {
  if (v === null || v === undefined) return "–";
  if (typeof v === "boolean") return String(v);
  if (typeof v !== "number") return String(v);
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "-∞";
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-4 || a >= 1e6)) return v.toExponential(3);
  return String(Number(v.toPrecision(5)));
}

/** Decimals needed to write `v` exactly (0.25 → 2, 5e-4 → 4, 300 → 0), at most 15. */
function decimalsOf(v: number): number {
  for (let d = 0; d < 15; d++) {
    const m = v * 10 ** d;
    if (Math.abs(Math.round(m) - m) <= 1e-9 * Math.max(1, Math.abs(m))) return d;
  }
  return 15;
}

/**
 * Tick labels with as many decimals as the tick step needs (uPlot's default stops at three, so
 * 0.0015 and 0.002 both read "0.002"); exponents for very large or very small values.
 */
export function tickLabels(splits: number[], incr: number, log = false): string[] {
  if (log) return splits.map((v) => (v === null || v === undefined ? "" : fmtNum(v)));
  let maxAbs = 0;
  for (const v of splits) if (v !== null && v !== undefined && Number.isFinite(v)) maxAbs = Math.max(maxAbs, Math.abs(v));
  const step = incr > 0 && Number.isFinite(incr) ? incr : maxAbs || 1;
  const clean = (s: string) => (/^-0(\.0*)?$/.test(s) ? s.slice(1) : s);
  if (maxAbs >= 1e6 || (maxAbs > 0 && step < 1e-4)) {
    const e = Math.floor(Math.log10(step));
    const digits = Math.min(15, Math.max(1, Math.floor(Math.log10(maxAbs)) - e + 1 + decimalsOf(step / 10 ** e)));
    return splits.map((v) => (v === null || v === undefined ? "" : v === 0 ? "0" : v.toExponential(digits - 1).replace(/\.?0+e/, "e")));
  }
  const dec = decimalsOf(step);
  return splits.map((v) => (v === null || v === undefined ? "" : v === 0 ? "0" : clean(v.toFixed(dec))));
}

/** `1.50 MB` (1024-based). */
export function fmtBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "–";
  const units = ["B", "KB", "MB", "GB", "TB", "PB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(2)} ${units[i]}`;
}

/** A run's path for display: a root-level run (no path) reads "default", as in the original (issue 15.3). */
export function displayPath(path: string | null | undefined): string {
  return path || "default";
}

/** The short part of a run id shown in tables (the suffix after the last `_`). */
export function shortId(id: string): string {
  const i = id.lastIndexOf("_");
  return i >= 0 && i < id.length - 1 ? id.slice(i + 1) : id;
}

/** Offers `content` to the user as a download called `name`. */
export function downloadText(name: string, content: string | Blob, type = "text/plain"): void {
  const blob = content instanceof Blob ? content : new Blob([content], { type });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** One CSV field, quoted when needed. */
export function csvField(v: unknown): string {
  const s = v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
