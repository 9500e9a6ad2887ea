// Wire types of the media API (tables, audio, histograms) shared by the server and the UI.

/** One histogram logged at a step (GET /api/runs/{id}/histograms?key=K). */
export interface HistogramStep {
  step: number;
  ts: number | null;
  edges: number[];
  counts: number[];
  count: number;
  sum: number | null;
  min: number | null;
  max: number | null;
}

/** GET /api/runs/{id}/histograms (no key): the keys logged. */
export interface HistogramKeysResponse {
  run_id: string;
  keys: { key: string; steps: number; first_step: number; last_step: number }[];
}

/** GET /api/runs/{id}/histograms?key=K. */
export interface HistogramSeriesResponse {
  run_id: string;
  key: string;
  steps: HistogramStep[];
  total: number;
  sampled: boolean;
}

/** One rn.Table logged at a step (GET /api/runs/{id}/tables). */
export interface TableItem {
  key: string;
  step: number | null;
  /** "media/<file>.table.json" inside the run. */
  path: string;
  rows: number;
  columns: number;
  ts: number | null;
}

/** An image cell of a table: the media file it points to and the URL that serves it. */
export interface TableImageCell {
  _type: "image";
  path: string;
  caption: string | null;
  url: string | null;
}

export type TableCell = number | string | boolean | null | TableImageCell;

/** GET /api/runs/{id}/tables/data?path=…: every row (the UI sorts and filters them). */
export interface TableDataResponse {
  key: string | null;
  step: number | null;
  columns: string[];
  rows: TableCell[][];
}

/** One rn.Audio logged at a step (GET /api/runs/{id}/audio). */
export interface AudioItem {
  key: string;
  step: number | null;
  path: string;
  sample_rate: number | null;
  duration: number | null;
  caption: string | null;
  ts: number | null;
  /** Where the player fetches it (served with its audio content type), null for a path outside media/. */
  url: string | null;
}
