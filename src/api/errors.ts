// The one error type for expected failures; api/app.ts turns it into Runicorn's `{"detail": …}` envelope.

/** An expected failure with an HTTP status and the original's `detail` (a string, or an object for 409s). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly detail: unknown,
    /** Extra top-level keys of the error body (e.g. `retry_after` on 429). */
    readonly extra: Record<string, unknown> = {},
    /** Response headers the answer must carry (e.g. `content-range` on 416). */
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
}

export const badRequest = (detail: string) => new HttpError(400, detail);
export const notFound = (detail: string) => new HttpError(404, detail);

/** What a storage error means for a user, without the stack: "read-only file system", "no space left on device", … */
const IO_REASONS: Record<string, string> = {
  EROFS: "read-only file system",
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EIO: "input/output error",
  SQLITE_FULL: "disk is full (the index cannot grow)",
  SQLITE_READONLY: "the index is read-only",
  SQLITE_IOERR: "input/output error in the index",
};

/** A short reason for a file-system error (its code's meaning), or its message. */
export function ioMessage(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  return (code && IO_REASONS[code]) || (e as Error)?.message || String(e);
}

/**
 * Turns a file-system error that escaped a handler into an answer that names the cause
 * (507 for a full disk, 500 otherwise), or undefined for anything that is not one.
 */
export function storageError(e: unknown): HttpError | undefined {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (!code || !IO_REASONS[code]) return undefined;
  const status = code === "ENOSPC" || code === "EDQUOT" || code === "SQLITE_FULL" ? 507 : 500;
  return new HttpError(status, `Storage error: ${IO_REASONS[code]}`);
}
