// The `metric.<key>.last|min|max|count` filter fields of a run (issue 16), from the store's key summaries.
import { NON_METRIC_KEYS } from "../metrics/downsample.ts";
import type { KeyStats } from "../metrics/stats.ts";
import type { MetricFieldSummary } from "../wire/analysis.ts";

/** Stats of a key as filter fields: numeric keys only; `count` is the number of numeric values. */
export function metricFields(keyStats: ReadonlyMap<string, KeyStats>): Record<string, MetricFieldSummary> {
  const out: Record<string, MetricFieldSummary> = {};
  for (const [key, s] of keyStats) {
    if (NON_METRIC_KEYS.has(key) || key === "global_step" || s.num <= 0) continue;
    out[key] = {
      last: finite(s.last),
      min: finite(s.min),
      max: finite(s.max),
      count: s.num,
    };
  }
  return out;
}

/** The fields as the JSON the run row stores (keys in code-point order, so equal runs store equal text). */
export function metricFieldsJson(keyStats: ReadonlyMap<string, KeyStats>): string {
  const fields = metricFields(keyStats);
  const sorted: Record<string, MetricFieldSummary> = {};
  for (const k of Object.keys(fields).sort()) sorted[k] = fields[k];
  return JSON.stringify(sorted);
}

function finite(v: unknown): number | null {
  if (typeof v === "boolean") return v ? 1 : 0;
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}
