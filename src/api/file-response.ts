// The one way a file is answered to a download: whole (200) or one byte range (206, RFC 9110 §14), so players and resumes can seek.
import { closeSync } from "node:fs";
import { fileStream, type OpenedFile } from "../store/safe-read.ts";
import { HttpError } from "./errors.ts";

/** One satisfiable byte range, `end` exclusive. */
export interface ByteRange {
  start: number;
  end: number;
}

const SPEC = /^\s*(\d*)\s*-\s*(\d*)\s*$/;

/**
 * The range a `Range` header asks of a file of `size` bytes: undefined to send the whole file (no header,
 * another unit, or several ranges — a server may ignore those); throws 416 for a malformed or unsatisfiable
 * byte range.
 */
export function parseRange(header: string | null, size: number): ByteRange | undefined {
  if (header === null) return undefined;
  const eq = header.indexOf("=");
  if (eq < 0) throw rangeError(size, `Malformed Range header: ${JSON.stringify(header.slice(0, 100))}`);
  if (header.slice(0, eq).trim().toLowerCase() !== "bytes") return undefined;
  const specs = header.slice(eq + 1).split(",");
  if (specs.length > 1) return undefined;
  const m = SPEC.exec(specs[0]);
  if (!m || (m[1] === "" && m[2] === "")) throw rangeError(size, `Malformed byte range: ${JSON.stringify(specs[0].slice(0, 100))}`);
  if (m[1] === "") {
    const n = Number(m[2]); // suffix: the last n bytes
    if (n === 0 || size === 0) throw rangeError(size, `Range not satisfiable: the file has ${size} bytes`);
    return { start: Math.max(0, size - n), end: size };
  }
  const start = Number(m[1]);
  const last = m[2] === "" ? size - 1 : Number(m[2]);
  if (last < start) throw rangeError(size, `Malformed byte range: ${start}-${last} ends before it starts`);
  if (start >= size) throw rangeError(size, `Range not satisfiable: starts at byte ${start} of a ${size}-byte file`);
  return { start, end: Math.min(last, size - 1) + 1 };
}

function rangeError(size: number, detail: string): HttpError {
  return new HttpError(416, detail, {}, { "content-range": `bytes */${size}`, "accept-ranges": "bytes" });
}

/** A validator of the opened file's version, for `If-Range` (inode, size, modification time). */
function etagOf(f: OpenedFile): string {
  return `"${f.stats.ino.toString(36)}-${f.size.toString(36)}-${Math.floor(f.stats.mtimeMs).toString(36)}"`;
}

/**
 * Answers an opened file: 200 with all of it, or 206 with the one range `Range` asks for (`If-Range` naming
 * another version sends it whole). Always `Accept-Ranges: bytes`, `Content-Length`, `ETag`, `Last-Modified`;
 * `headers` adds the content type and the like. Closes the descriptor when the answer is not streamed.
 */
export function fileResponse(request: Request, f: OpenedFile, headers: Record<string, string>): Response {
  const etag = etagOf(f);
  const modified = new Date(Math.floor(f.stats.mtimeMs / 1000) * 1000).toUTCString();
  let range: ByteRange | undefined;
  try {
    const ifRange = request.headers.get("if-range");
    if (ifRange === null || ifRange === etag || ifRange === modified) range = parseRange(request.headers.get("range"), f.size);
  } catch (e) {
    closeSync(f.fd);
    throw e;
  }
  const out: Record<string, string> = { ...headers, "accept-ranges": "bytes", etag, "last-modified": modified };
  if (!range) {
    out["content-length"] = String(f.size);
    return new Response(fileStream(f), { headers: out });
  }
  out["content-length"] = String(range.end - range.start);
  out["content-range"] = `bytes ${range.start}-${range.end - 1}/${f.size}`;
  return new Response(fileStream(f, range.start, range.end), { status: 206, headers: out });
}

/**
 * Answers bytes held in memory (a blob of the team mode's store) as fileResponse answers a file: 200 whole or 206
 * with the one range asked, `Accept-Ranges`, `Content-Length` and an `ETag` of the content (for `If-Range`).
 */
export function bytesResponse(request: Request, bytes: Uint8Array, headers: Record<string, string>): Response {
  const etag = `"${bytes.byteLength.toString(36)}-${Bun.hash(bytes).toString(36)}"`;
  const ifRange = request.headers.get("if-range");
  const range = ifRange === null || ifRange === etag ? parseRange(request.headers.get("range"), bytes.byteLength) : undefined;
  const out: Record<string, string> = { ...headers, "accept-ranges": "bytes", etag };
  const body = (range ? bytes.subarray(range.start, range.end) : bytes) as Uint8Array<ArrayBuffer>;
  out["content-length"] = String(body.byteLength);
  if (!range) return new Response(body, { headers: out });
  out["content-range"] = `bytes ${range.start}-${range.end - 1}/${bytes.byteLength}`;
  return new Response(body, { status: 206, headers: out });
}
