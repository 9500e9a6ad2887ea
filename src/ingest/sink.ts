// Where ingested runs go: the file mode writes the original's run files under the storage root, the team mode
// writes PostgreSQL rows. The ingest route (src/api/ingest.ts) validates a request and calls one of these.
import { HttpError } from "../api/errors.ts";
import type { IngestBatch, IngestBatchAck, IngestRunCreate, IngestRunCreated } from "./contract.ts";

export interface IngestSink {
  /** Creates the run, or reports that it exists under the same path. A different path → HttpError 409. */
  createRun(req: IngestRunCreate, who: string | null): Promise<IngestRunCreated>;
  /** Stores a batch and its seq atomically, unless seq ≤ the last stored one (then `duplicate: true`). Unknown run → HttpError 404. */
  appendBatch(runId: string, batch: IngestBatch): Promise<IngestBatchAck>;
  /** Stores one media file of a run under `media/<name>` (name already checked safe); same name again → no change. */
  putMedia(runId: string, name: string, bytes: Uint8Array): Promise<void>;
}

/** The 404 of a batch or media file for a run that was never created (same words from every sink). */
export function ingestRunNotFound(runId: string): HttpError {
  return new HttpError(404, `Run not found: ${runId} (create it with POST /api/ingest/runs first)`);
}

/** The 409 of a create for a run id that exists under another path. */
export function ingestPathConflict(runId: string, existing: string, wanted: string): HttpError {
  return new HttpError(409, `Run ${runId} already exists under path '${existing}', not '${wanted}'`);
}
