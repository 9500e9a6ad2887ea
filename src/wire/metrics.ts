// Wire shapes of metric keys, series, comparisons and images: server and UI share them.

/** One metric key of `GET /api/runs/{id}/keys`. */
export interface MetricKey {
  key: string;
  count: number;
  numeric: boolean;
  min: number | null;
  max: number | null;
  last: number | string | null;
  last_step: number | null;
}

/** `GET /api/runs/{id}/keys`. */
export interface KeysResponse {
  run_id: string;
  keys: MetricKey[];
  stages: { stage: string; first_step: number; last_step: number }[];
  last_step: number | null;
  total_steps: number;
}

/** `GET /api/runs/{id}/series`: one shared x column and a column per key. */
export interface SeriesResponse {
  run_id: string;
  x_key: string;
  x: number[];
  series: Record<string, (number | null)[]>;
  /** Rows of the run in the window at full resolution. */
  total: number;
  /** True when the server downsampled (more rows than `points`). */
  sampled: boolean;
}

/** `GET /api/compare/series`. */
export interface CompareResponse {
  runs: Record<string, SeriesResponse>;
  missing: string[];
}

/** One image of `GET /api/runs/{id}/images`. */
export interface ImageItem {
  key: string;
  step: number | null;
  caption: string | null;
  path: string;
  url: string;
  ts: number | null;
}
