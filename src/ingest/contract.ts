// The ingest API's wire contract: how an SDK (or `runicorn push`/`sync`) sends a run over HTTP instead of
// writing files. One contract for both back ends: the file mode writes the original's files, the team mode
// (PostgreSQL) stores rows. Type-only here; the route (src/api/ingest.ts) validates and hands batches to an
// IngestSink (src/ingest/sink.ts).
//
//   POST /api/ingest/runs                      IngestRunCreate  → 201 IngestRunCreated (200 when it already exists
//                                                                 under the same path; 409 under another path)
//   POST /api/ingest/runs/{run_id}/batches     IngestBatch      → 200 IngestBatchAck
//   PUT  /api/ingest/runs/{run_id}/media/{name} raw bytes        → 200 {"stored": true}  (idempotent by name)
//
// Batches of one run carry a sequence number chosen by the sender, strictly increasing from 1 in the order
// they were produced. A sink stores a batch and its sequence number atomically; a batch whose `seq` is not
// above the last stored one is acknowledged with `duplicate: true` and stored again never, so a sender may
// retry any batch whose acknowledgement it did not see.
//
// Bodies are JSON, except that Python's bare `NaN`, `Infinity` and `-Infinity` tokens are accepted (the SDK's
// events.jsonl lines travel as written): both modes read NaN as null and keep ±Infinity in metric columns, and
// every API answer writes non-finite values as null (docs/TEAM.md "NaN and Infinity").

/** The run's identity and start, as `rn.init` knows it. */
export interface IngestRunCreate {
  /** Chosen by the sender, in the SDK's format (`YYYYMMDD_HHMMSS_xxxxxx`); the same id always means the same run. */
  run_id: string;
  /** The run's path (`""` for a root run), as `rn.init(path=…)`. */
  path: string;
  /** meta.json's fields (alias, created_at, python, platform, hostname, pid, workspace_root, tags, notes, …). */
  meta: Record<string, unknown>;
  /** status.json at start, normally `{"status": "running", "started_at": ts}`. */
  status: Record<string, unknown>;
  /** assets.json at start (the skeleton or more). */
  assets?: Record<string, unknown>;
}

export interface IngestRunCreated {
  run_id: string;
  /** False when the run existed already (a retried create): the sender continues with its next batch. */
  created: boolean;
  /** The highest batch sequence number stored for this run (0 when none), so a resuming sender knows where it is. */
  last_seq: number;
}

/** One line of events.jsonl, exactly as the SDK writes it (`{"ts", "type": "metrics"|"image", "data"}`). */
export interface IngestEvent {
  ts: number;
  type: string;
  data: Record<string, unknown>;
}

/** What a run produced since the previous batch. Every part is optional; an empty batch is a heartbeat. */
export interface IngestBatch {
  /** Integer ≥ 1, strictly increasing per run in production order. */
  seq: number;
  /** events.jsonl lines, in order. */
  events?: IngestEvent[];
  /** logs.txt lines, in order, without their trailing newline. */
  logs?: string[];
  /** system.jsonl lines (per-run system metrics: `{"ts", "type": "system", "data": {"sys/…": v}}`). */
  system?: IngestEvent[];
  /** histograms.jsonl lines (the SDK's rn.Histogram records), in order. */
  histograms?: Record<string, unknown>[];
  /** Merged into status.json (e.g. finish: `{"status": "finished", "ended_at": ts}`). */
  status?: Record<string, unknown>;
  /** Merged into summary.json. */
  summary?: Record<string, unknown>;
  /** Merged into meta.json (alias, tags, notes). */
  meta?: Record<string, unknown>;
  /** Replaces assets.json. */
  assets?: Record<string, unknown>;
}

export interface IngestBatchAck {
  run_id: string;
  seq: number;
  /** True when this seq (or a later one) was stored before: nothing was stored now. */
  duplicate: boolean;
}

/** Largest JSON body of one batch (the SDK splits bigger ones). */
export const MAX_INGEST_BATCH_BYTES = 8 * 1024 * 1024;
/** Largest media file sent with PUT …/media/{name}. */
export const MAX_INGEST_MEDIA_BYTES = 64 * 1024 * 1024;
