// Wire shapes of the analysis API (issue 16): list items with include=…, and GET /api/compare/series.
// Type-only: the server and the UI both import it.

/** Per-run summary of one metric key, from the column store (finite values only). */
export interface MetricFieldSummary {
  /** Value at the last row where the key was logged (booleans as 0/1); null when that value is not a finite number. */
  last: number | null;
  min: number | null;
  max: number | null;
  /** Number of numeric values (finite numbers and booleans) logged for the key. */
  count: number;
}

/**
 * What `GET /api/runs?include=config,summary,metrics` adds to each list item (each only when asked).
 * `metrics` maps a metric key (`loss`, `train/acc`) to its summary; the filter/sort fields are
 * `metric.<key>.last|min|max|count`. `metrics` is null when the run's events are not ingested yet
 * (the response then carries `X-Metrics-Pending: <n>` and ingest runs in the background).
 */
export interface RunListIncludes {
  config?: Record<string, unknown>;
  summary?: Record<string, unknown>;
  metrics?: Record<string, MetricFieldSummary> | null;
}

export type CompareAgg = "mean" | "std" | "min" | "max";

/** One group of `GET /api/compare/series`. Arrays are parallel to `x`; a step where no run of the group has a value is dropped. */
export interface CompareSeriesGroup {
  /** The group's values of the group_by fields, by field name (`{"config.lr": 0.001}`); `{}` without group_by. Missing = null. */
  key: Record<string, unknown>;
  /** Run ids in the group, in request order. */
  runs: string[];
  /** Steps (x=step) or seconds since each run's first timed row (x=time). Exact steps when they fit in `points`, else the mean x of each bucket's rows. */
  x: number[];
  /** Only the aggregates asked for in `agg` are present. std is the population std (0 for a single value). */
  mean?: number[];
  std?: number[];
  min?: number[];
  max?: number[];
  /** Number of runs with a finite value at each x (always present). */
  count: number[];
}

/** One metric key's groups. */
export interface CompareSeriesKey {
  key: string;
  groups: CompareSeriesGroup[];
}

/** `GET /api/compare/series?run_ids=a,b&key=loss[&keys=k1,k2]&group_by=config.lr&agg=mean,std&x=step&points=N`. */
export interface CompareSeriesResponse {
  x: "step" | "time";
  group_by: string[];
  agg: CompareAgg[];
  points: number;
  /** One entry per requested key, in request order. */
  series: CompareSeriesKey[];
  /** Requested run ids that are unknown or deleted (they are left out, not an error). */
  missing_runs: string[];
  /** Runs whose metrics were still being ingested; their values may be partial. */
  pending_runs: string[];
}
