// The ingest API (issue 19): SDKs, `runicorn push` and `runicorn sync` send runs over HTTP (src/ingest/contract.ts).
import { Elysia, t } from "elysia";
import type { IngestBatch, IngestRunCreate } from "../ingest/contract.ts";
import type { IngestSink } from "../ingest/sink.ts";
import { HttpError } from "./errors.ts";

/** A run id an SDK may choose: the generated `YYYYMMDD_HHMMSS_xxxxxx` or a custom one (one safe directory name). */
export const INGEST_RUN_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** An experiment path as the SDK normalises it: `""` or segments of `[A-Za-z0-9_-]` joined by single `/`. */
const PATH_RE = /^(?:[A-Za-z0-9_-]+(?:\/[A-Za-z0-9_-]+)*)?$/;
/** A media file name: one safe file name (no separators, no leading dot, so no `..`). */
const MEDIA_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/;

function assertIngestRunId(id: string): void {
  if (!INGEST_RUN_ID_RE.test(id) || id.includes("..")) throw new HttpError(400, `Invalid run_id format: ${JSON.stringify(id)}`);
}

function assertMediaName(name: string): void {
  if (!MEDIA_NAME_RE.test(name) || name.includes("..") || name.endsWith(".ingest-tmp")) {
    throw new HttpError(400, `Invalid media name: ${JSON.stringify(name)} (one file name of letters, digits, '_', '-', '.')`);
  }
}

const Obj = t.Record(t.String(), t.Unknown());
const Event = t.Object({ ts: t.Number(), type: t.String({ minLength: 1, maxLength: 64 }), data: Obj });

const RunCreateBody = t.Object({
  run_id: t.String(),
  path: t.String({ maxLength: 200 }),
  meta: Obj,
  status: Obj,
  assets: t.Optional(Obj),
});

const BatchBody = t.Object({
  // checked by assertSeq: a schema number would coerce "7" into 7
  seq: t.Unknown(),
  events: t.Optional(t.Array(Event)),
  logs: t.Optional(t.Array(t.String())),
  system: t.Optional(t.Array(Event)),
  histograms: t.Optional(t.Array(Obj)),
  status: t.Optional(Obj),
  summary: t.Optional(Obj),
  meta: t.Optional(Obj),
  assets: t.Optional(Obj),
});

/** A log line may not carry a newline of its own: it would become two lines of logs.txt. */
function assertLogLines(logs: string[] | undefined): void {
  if (logs?.some((l) => l.includes("\n"))) throw new HttpError(400, "logs: a line may not contain a newline");
}

function assertSeq(seq: unknown): void {
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 1) {
    throw new HttpError(400, `seq must be an integer >= 1 (got ${JSON.stringify(seq) ?? "nothing"})`);
  }
}

/** Who sent a request: the token's name where the app derives one (team mode), else nobody in particular. */
function senderOf(c: object): string | null {
  const who = (c as { who?: unknown }).who;
  return typeof who === "string" ? who : null;
}

/**
 * The three ingest endpoints over `sink`: the file sink in the file mode, PgIngestSink in team mode (chosen
 * where the server's services are assembled: `ctx.ingest` in cli/serve.ts, the team service in team/serve.ts).
 */
export function ingestRoutes(sink: IngestSink) {
  return new Elysia({ name: "ingest" })
    .post(
      "/api/ingest/runs",
      async (c) => {
        const { body, set } = c;
        const req = body as IngestRunCreate;
        assertIngestRunId(req.run_id);
        if (!PATH_RE.test(req.path)) throw new HttpError(400, `Invalid path: ${JSON.stringify(req.path)} (letters, digits, '_', '-' and single '/')`);
        const created = await sink.createRun(req, senderOf(c));
        set.status = created.created ? 201 : 200;
        return created;
      },
      { body: RunCreateBody, detail: { tags: ["Ingest"], summary: "Create (or find again) a run sent over HTTP" } },
    )
    .post(
      "/api/ingest/runs/:run_id/batches",
      async ({ params, body }) => {
        assertIngestRunId(params.run_id);
        const batch = body as IngestBatch;
        assertSeq(batch.seq);
        assertLogLines(batch.logs);
        return sink.appendBatch(params.run_id, batch);
      },
      { body: BatchBody, detail: { tags: ["Ingest"], summary: "Store one sequenced batch of a run (idempotent by seq)" } },
    )
    .put(
      "/api/ingest/runs/:run_id/media/:name",
      async ({ params, body }) => {
        assertIngestRunId(params.run_id);
        assertMediaName(params.name);
        if (!(body instanceof ArrayBuffer)) throw new HttpError(400, "The media file's bytes are missing");
        await sink.putMedia(params.run_id, params.name, new Uint8Array(body));
        return { stored: true };
      },
      { detail: { tags: ["Ingest"], summary: "Store one media file of a run (idempotent by name)" } },
    );
}
