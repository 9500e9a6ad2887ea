// Team mode's ingest routes (the contract in src/ingest/contract.ts) over the PostgreSQL sink. Until the
// shared ingest route (src/api/ingest.ts, written alongside) is merged, this file validates requests itself.
import { Elysia, t } from "elysia";
import { MAX_INGEST_BATCH_BYTES, MAX_INGEST_MEDIA_BYTES } from "../ingest/contract.ts";
import type { IngestSink } from "../ingest/sink.ts";
import { HttpError } from "./errors.ts";
import { assertRunId } from "./run-ids.ts";

const anyObject = t.Record(t.String(), t.Unknown());
const event = t.Object({ ts: t.Number(), type: t.String({ maxLength: 64 }), data: anyObject });

/** Rejects run paths that could climb out of a folder or hide control characters. */
function assertRunPath(path: string): void {
  if (path.length > 1024 || /[\\\0-\x1f]/.test(path) || path.split("/").some((p) => p === "." || p === "..") || path.startsWith("/")) {
    throw new HttpError(400, `Invalid run path: ${JSON.stringify(path.slice(0, 100))}`);
  }
}

/** POST runs, POST batches, PUT media; `who` is the token's name (derived by the team app's auth). */
export function teamIngestRoutes(sink: IngestSink) {
  return new Elysia({ name: "team-ingest" })
    .post(
      "/api/ingest/runs",
      async (c) => {
        const { body, set } = c;
        assertRunId(body.run_id);
        assertRunPath(body.path);
        const who = (c as unknown as { who: string | null }).who ?? null;
        const out = await sink.createRun(body, who);
        set.status = out.created ? 201 : 200;
        return out;
      },
      {
        body: t.Object({ run_id: t.String({ maxLength: 64 }), path: t.String({ maxLength: 1024 }), meta: anyObject, status: anyObject, assets: t.Optional(anyObject) }),
        detail: { summary: "Create a run for ingest (idempotent: 200 when it exists under the same path, 409 under another)" },
      },
    )
    .post(
      "/api/ingest/runs/:run_id/batches",
      async ({ params, body, request }) => {
        assertRunId(params.run_id);
        const size = Number(request.headers.get("content-length") ?? 0);
        if (size > MAX_INGEST_BATCH_BYTES) throw new HttpError(413, `A batch is limited to ${MAX_INGEST_BATCH_BYTES} bytes: split it`);
        return sink.appendBatch(params.run_id, body);
      },
      {
        body: t.Object({
          seq: t.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
          events: t.Optional(t.Array(event)),
          logs: t.Optional(t.Array(t.String())),
          system: t.Optional(t.Array(event)),
          histograms: t.Optional(t.Array(anyObject)),
          status: t.Optional(anyObject),
          summary: t.Optional(anyObject),
          meta: t.Optional(anyObject),
          assets: t.Optional(anyObject),
        }),
        detail: { summary: "Append one sequenced batch (a seq not above the last stored one is acknowledged as duplicate)" },
      },
    )
    .put(
      "/api/ingest/runs/:run_id/media/:name",
      async ({ params, request }) => {
        assertRunId(params.run_id);
        const name = params.name;
        if (!/^[A-Za-z0-9._-]{1,200}$/.test(name) || name === "." || name === "..") throw new HttpError(400, `Invalid media name: ${name.slice(0, 100)}`);
        const bytes = new Uint8Array(await request.arrayBuffer());
        if (bytes.byteLength > MAX_INGEST_MEDIA_BYTES) throw new HttpError(413, `A media file is limited to ${MAX_INGEST_MEDIA_BYTES} bytes`);
        await sink.putMedia(params.run_id, name, bytes);
        return { stored: true };
      },
      { parse: "none", detail: { summary: "Store one media file of a run (idempotent by name)" } },
    );
}
