// A run's rn.Table and rn.Audio events and media files, behind one interface (RunMedia) for both modes: the file
// mode reads events.jsonl incrementally (only the bytes appended since the last read) and media/ files; the team
// mode (src/team/media.ts) reads the events stored by batch and the blob store.
import { closeSync, readSync } from "node:fs";
import { join } from "node:path";
import { FileRefusedError, openChecked, readTextChecked, UNLIMITED } from "../store/safe-read.ts";
import { openForClient } from "./assets.ts";
import type { AppContext } from "./context.ts";
import { HttpError } from "./errors.ts";
import { fileResponse } from "./file-response.ts";
import { mediaFile } from "./metrics.ts";
import { getLiveRun } from "./run-ids.ts";

/** A table or audio event as logged (`{"ts", "type": "table"|"audio", "data": {...}}`). */
export interface MediaEvent {
  type: "table" | "audio";
  ts: number | null;
  data: Record<string, unknown>;
}

interface Scan {
  ino: number;
  offset: number;
  events: MediaEvent[];
}

const CHUNK = 8 << 20;
const CACHE_RUNS = 64;
const cache = new Map<string, Scan>();
const PATTERNS = [Buffer.from('"table"'), Buffer.from('"audio"')];

/** The media events found in the complete lines of buf[0, end), appended to `out`. */
function scanChunk(buf: Buffer, end: number, out: MediaEvent[]): void {
  const starts = new Set<number>();
  for (const p of PATTERNS) {
    let i = buf.indexOf(p, 0);
    while (i >= 0 && i < end) {
      const s = buf.lastIndexOf(10, i) + 1;
      starts.add(s);
      const nl = buf.indexOf(10, i);
      i = nl < 0 || nl >= end ? -1 : buf.indexOf(p, nl + 1);
    }
  }
  for (const s of [...starts].sort((a, b) => a - b)) {
    let nl = buf.indexOf(10, s);
    if (nl < 0 || nl > end) nl = end;
    let evt: unknown;
    try {
      evt = JSON.parse(buf.toString("utf8", s, nl));
    } catch {
      continue; // a torn or foreign line: the metrics reader counts malformed lines, here it is just not media
    }
    const m = mediaEventOf(evt);
    if (m) out.push(m);
  }
}

/** A table or audio event of a parsed events.jsonl line (or an ingested event), or undefined for anything else. */
export function mediaEventOf(evt: unknown): MediaEvent | undefined {
  if (typeof evt !== "object" || evt === null) return undefined;
  const o = evt as Record<string, unknown>;
  const data = o.data;
  if ((o.type !== "table" && o.type !== "audio") || typeof data !== "object" || data === null || Array.isArray(data)) return undefined;
  const d = data as Record<string, unknown>;
  if (typeof d.key !== "string" || typeof d.path !== "string") return undefined;
  return { type: o.type, ts: typeof o.ts === "number" && Number.isFinite(o.ts) ? o.ts : null, data: d };
}

/** Every table and audio event of the run, in file order; re-reads only what was appended (from the start if the file was replaced or shrank). */
export function readMediaEvents(root: string, runDir: string): MediaEvent[] {
  let f;
  try {
    f = openChecked(join(runDir, "events.jsonl"), { root, maxBytes: UNLIMITED });
  } catch (e) {
    if (e instanceof FileRefusedError && e.reason === "missing") return [];
    if (e instanceof FileRefusedError) throw new HttpError(409, `Cannot read events.jsonl: ${e.reason}`);
    throw e;
  }
  try {
    let scan = cache.get(runDir);
    if (!scan || scan.ino !== f.stats.ino || f.size < scan.offset) scan = { ino: f.stats.ino, offset: 0, events: [] };
    const found: MediaEvent[] = [];
    let offset = scan.offset;
    while (offset < f.size) {
      const want = Math.min(CHUNK, f.size - offset);
      const buf = Buffer.allocUnsafe(want);
      let got = 0;
      while (got < want) {
        const n = readSync(f.fd, buf, got, want - got, offset + got);
        if (n <= 0) break;
        got += n;
      }
      let end = buf.lastIndexOf(10, got - 1) + 1;
      if (end === 0) {
        if (got < CHUNK) break; // a line still being written: read it next time
        end = got; // one line longer than a chunk is not a media event (they are small)
      }
      scanChunk(buf, end, found);
      offset += end;
    }
    const next: Scan = { ino: scan.ino, offset, events: found.length ? scan.events.concat(found) : scan.events };
    cache.delete(runDir);
    if (cache.size >= CACHE_RUNS) cache.delete(cache.keys().next().value as string);
    cache.set(runDir, next);
    return next.events;
  } finally {
    closeSync(f.fd);
  }
}

/** The media/ file name of a logged path ("media/<name>"), or undefined for anything else. */
export function mediaName(path: string): string | undefined {
  const m = /^media\/([^/\\]+)$/.exec(path);
  return m && m[1] !== "." && m[1] !== ".." ? m[1] : undefined;
}

/** The URL that serves a media path of a run, or null when the path is not a plain file name under media/. */
export function mediaUrl(runId: string, path: string): string | null {
  const name = mediaName(path);
  return name ? `/api/runs/${encodeURIComponent(runId)}/media/${encodeURIComponent(name)}` : null;
}

export const numOrNull = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
export const strOrNull = (v: unknown): string | null => (typeof v === "string" ? v : null);

/** Where the tables and audio routes read a run's media: its folder (file mode) or the database and blob store (team mode). */
export interface RunMedia {
  /** Throws 404 `Run not found` unless the run exists and is not deleted. */
  assertRun(runId: string): Promise<void>;
  /** The run's table and audio events in logged order (404 for an unknown run). */
  events(runId: string): Promise<MediaEvent[]>;
  /** The text of one media file (413 over `maxBytes`), or undefined when it is not there. */
  text(runId: string, name: string, maxBytes: number): Promise<string | undefined>;
  /** One media file answered whole or by the byte range asked (file-response.ts) with `headers`, or undefined when it is not there. */
  respond(runId: string, name: string, request: Request, headers: Record<string, string>): Promise<Response | undefined>;
}

/** The file mode's RunMedia: events.jsonl and media/ of the run's folder under the storage root, read under the safe-read rule. */
export function fileRunMedia(ctx: AppContext): RunMedia {
  return {
    async assertRun(runId) {
      getLiveRun(ctx, runId);
    },
    async events(runId) {
      return readMediaEvents(ctx.root(), getLiveRun(ctx, runId).run_dir);
    },
    async text(runId, name, maxBytes) {
      const file = mediaFile(getLiveRun(ctx, runId).run_dir, name);
      if (!file) return undefined;
      try {
        return readTextChecked(file, { root: ctx.root(), maxBytes });
      } catch (e) {
        if (e instanceof FileRefusedError) throw new HttpError(e.reason === "too_large" ? 413 : 404, `Cannot read media/${name}: ${e.reason}`);
        throw e;
      }
    },
    async respond(runId, name, request, headers) {
      const path = mediaFile(getLiveRun(ctx, runId).run_dir, name);
      return path ? fileResponse(request, openForClient(ctx.root(), path), headers) : undefined;
    },
  };
}
