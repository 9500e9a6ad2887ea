// Per-run system metrics (system.jsonl, keys `sys/…`) served beside a run's own metrics: keys, series, metrics_step opt-in.
import type { KeysBody, SeriesBody } from "./query.ts";

/** Every system metric key starts with this. */
export const SYS_PREFIX = "sys/";

/** Whether a key names a system metric. */
export function isSystemKey(key: string): boolean {
  return key.startsWith(SYS_PREFIX);
}

/** The run's keys followed by the system keys (`sys/…` only: the file's time and sample columns stay out). */
export function mergeKeys(run: KeysBody, sys: KeysBody | null): KeysBody {
  if (!sys) return run;
  const own = new Set(run.keys.map((k) => k.key));
  const extra = sys.keys.filter((k) => isSystemKey(k.key) && !own.has(k.key));
  return extra.length ? { ...run, keys: [...run.keys, ...extra] } : run;
}

/**
 * Two series bodies on one x axis: the sorted union of their x values, each key null where its body has no
 * point at that x. `total` is the larger of the two; `sampled` if either was.
 */
export function mergeSeries(a: SeriesBody, b: SeriesBody): SeriesBody {
  const xs = [...new Set([...a.x, ...b.x])].sort((p, q) => p - q);
  const at = new Map<number, number>();
  xs.forEach((x, i) => at.set(x, i));
  const series: Record<string, (number | null)[]> = {};
  for (const body of [a, b]) {
    for (const [key, vals] of Object.entries(body.series)) {
      const out = series[key] ?? new Array<number | null>(xs.length).fill(null);
      for (let i = 0; i < body.x.length; i++) if (vals[i] !== null) out[at.get(body.x[i])!] = vals[i];
      series[key] = out;
    }
  }
  const merged: SeriesBody = { run_id: a.run_id, x_key: a.x_key, x: xs, series, total: Math.max(a.total, b.total), sampled: a.sampled || b.sampled };
  if (a.columns) {
    merged.columns = {};
    for (const [key, vals] of Object.entries(a.columns)) {
      const out = new Array<number | null>(xs.length).fill(null);
      for (let i = 0; i < a.x.length; i++) out[at.get(a.x[i])!] = vals[i];
      merged.columns[key] = out;
    }
  }
  return merged;
}

/** One system sample: its time and its `sys/…` values. */
export interface SystemSample {
  time: number;
  values: Record<string, number | null>;
}

/**
 * Adds the system columns to a compatible metrics_step body (the `include_system=1` opt-in): each row gets
 * the latest sample taken at or before the row's time (null before the first sample, or when the row has
 * no time). Samples must be in time order.
 */
export function withSystemColumns(body: { columns: string[]; rows: Record<string, unknown>[] }, samples: SystemSample[]): void {
  const keys = [...new Set(samples.flatMap((s) => Object.keys(s.values)))].filter(isSystemKey).sort();
  if (!keys.length) return;
  body.columns.push(...keys);
  for (const row of body.rows) {
    const t = row.time;
    let s: SystemSample | undefined;
    if (typeof t === "number") {
      // binary search: the last sample with time <= t
      let lo = 0;
      let hi = samples.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (samples[mid].time <= t) lo = mid + 1;
        else hi = mid;
      }
      s = lo > 0 ? samples[lo - 1] : undefined;
    }
    for (const k of keys) row[k] = s ? (s.values[k] ?? null) : null;
  }
}
