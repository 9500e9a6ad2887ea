// A run's metrics as one row per step (spec §3.3 row rules), for CSV export and reports.
import { join } from "node:path";
import { isObject, parseTolerant } from "../json.ts";
import { readIfPresent } from "../safe-read.ts";

/** The largest events.jsonl turned into a table in memory (CSV export, reports): 256 MiB. */
export const EVENTS_TABLE_LIMIT = 256 * 1024 * 1024;

/** Columns (`global_step` first, then sorted keys) and rows padded with null. */
export interface MetricsTable {
  columns: string[];
  rows: Record<string, unknown>[];
}

/**
 * Reads events.jsonl: metrics events only; step = global_step, else step (integer); later events of a
 * step merge into its row; numbers, bools, strings and null kept (NaN/±Inf → null); lists/objects dropped.
 * Only complete lines are read (a torn last line waits for its newline). The file is read under the safe-read
 * rule (inside `root`, regular, ≤ 256 MiB): a refused file throws FileRefusedError.
 */
export function readMetricsTable(runDir: string, root: string): MetricsTable {
  const bytes = readIfPresent(join(runDir, "events.jsonl"), { root, maxBytes: EVENTS_TABLE_LIMIT });
  if (!bytes) return { columns: [], rows: [] }; // spec §3.3: no events file, no rows
  const text = bytes.toString("utf8");
  const end = text.lastIndexOf("\n");
  const byStep = new Map<number, Record<string, unknown>>();
  const keys = new Set<string>();
  for (const line of text.slice(0, end + 1).split("\n")) {
    if (!line.trim()) continue;
    let ev: unknown;
    try {
      ev = parseTolerant(line);
    } catch {
      continue; // a corrupt line is skipped, as the original does
    }
    if (!isObject(ev) || ev.type !== "metrics" || !isObject(ev.data)) continue;
    const d = ev.data;
    const rawStep = d.global_step ?? d.step;
    const step = typeof rawStep === "number" ? Math.trunc(rawStep) : typeof rawStep === "string" ? parseInt(rawStep, 10) : NaN;
    if (!Number.isFinite(step)) continue;
    let row = byStep.get(step);
    if (!row) byStep.set(step, (row = { global_step: step }));
    for (const [k, v] of Object.entries(d)) {
      if (k === "global_step" || k === "step") continue; // a logged epoch is a column here (issue 20)
      if (v === null || typeof v === "number" || typeof v === "boolean" || typeof v === "string") {
        row[k] = typeof v === "number" && !Number.isFinite(v) ? null : v;
        keys.add(k);
      }
    }
  }
  if (byStep.size === 0) return { columns: [], rows: [] };
  const columns = ["global_step", ...[...keys].sort()];
  const rows = [...byStep.keys()]
    .sort((a, b) => a - b)
    .map((s) => {
      const r = byStep.get(s)!;
      const out: Record<string, unknown> = {};
      for (const c of columns) out[c] = r[c] ?? null;
      return out;
    });
  return { columns, rows };
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return "";
  const s = typeof v === "string" ? v : String(v);
  return /[",\r\n]/.test(s) || /^\s|\s$/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** RFC 4180 CSV of a table (header row, CRLF line ends); empty cells for null. */
export function tableToCsv(t: MetricsTable): string {
  const lines = [t.columns.map(csvCell).join(",")];
  for (const r of t.rows) lines.push(t.columns.map((c) => csvCell(r[c])).join(","));
  return lines.join("\r\n") + "\r\n";
}
