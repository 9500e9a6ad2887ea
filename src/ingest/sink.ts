// Where ingested runs go: the file mode writes the original's run files under the storage root, the team mode
// writes PostgreSQL rows. The ingest route (src/api/ingest.ts) validates a request and calls one of these.
import type { IngestBatch, IngestBatchAck, IngestRunCreate, IngestRunCreated } from "./contract.ts";

export interface IngestSink {
  /** Creates the run, or reports that it exists under the same path. A different path → HttpError 409. */
  createRun(req: IngestRunCreate, who: string | null): Promise<IngestRunCreated>;
  /** Stores a batch and its seq atomically, unless seq ≤ the last stored one (then `duplicate: true`). Unknown run → HttpError 404. */
  appendBatch(runId: string, batch: IngestBatch): Promise<IngestBatchAck>;
  /** Stores one media file of a run under `media/<name>` (name already checked safe); same name again → no change. */
  putMedia(runId: string, name: string, bytes: Uint8Array): Promise<void>;
}
