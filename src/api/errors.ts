// The one error type for expected failures; api/app.ts turns it into Runicorn's `{"detail": …}` envelope.

/** An expected failure with an HTTP status and the original's `detail` (a string, or an object for 409s). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly detail: unknown,
    /** Extra top-level keys of the error body (e.g. `retry_after` on 429). */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
}

export const badRequest = (detail: string) => new HttpError(400, detail);
export const notFound = (detail: string) => new HttpError(404, detail);
