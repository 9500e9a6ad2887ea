// Team mode's RunMedia (src/api/media-events.ts): a run's rn.Table and rn.Audio events as stored by batch
// (team_run_line, kind 'media') and its media files from the blob store, for the same tables and audio routes as the file mode.
import type { SQL } from "bun";
import { bytesResponse } from "../api/file-response.ts";
import { HttpError } from "../api/errors.ts";
import type { MediaEvent, RunMedia } from "../api/media-events.ts";
import type { BlobStore } from "./blob-store.ts";

/** The team_run_line kind of table and audio events (one kind, so their logged order is kept). */
export const MEDIA_LINE_KIND = "media";

/** A media file name the blob store may hold (one plain file name; anything else is simply not there). */
function plainName(name: string): boolean {
  return !!name && name !== "." && name !== ".." && !/[/\\\0]/.test(name);
}

/** RunMedia over the database (events) and the blob store (`<run_id>/media/<name>`). */
export function teamRunMedia(sql: SQL, blobs: BlobStore): RunMedia {
  const assertRun = async (runId: string) => {
    const rows = await sql`select 1 from team_run where run_id = ${runId} and deleted_at is null`;
    if (!rows.length) throw new HttpError(404, "Run not found");
  };
  const bytesOf = async (runId: string, name: string) => (plainName(name) ? blobs.get(`${runId}/media/${name}`) : null);
  return {
    assertRun,
    async events(runId) {
      await assertRun(runId);
      const rows = (await sql`select line from team_run_line where run_id = ${runId} and kind = ${MEDIA_LINE_KIND} order by seq, n`) as { line: MediaEvent }[];
      return rows.map((r) => r.line);
    },
    async text(runId, name, maxBytes) {
      await assertRun(runId);
      const bytes = await bytesOf(runId, name);
      if (!bytes) return undefined;
      if (bytes.byteLength > maxBytes) throw new HttpError(413, `Cannot read media/${name}: too_large`);
      return new TextDecoder().decode(bytes);
    },
    async respond(runId, name, request, headers) {
      await assertRun(runId);
      const bytes = await bytesOf(runId, name);
      return bytes ? bytesResponse(request, bytes, headers) : undefined;
    },
  };
}
