// The file-mode IngestSink: writes an ingested run as the Python SDK would (ROOT/runs/<path>/<run_id>/), once per seq.
//
// Exactly once: `ingest.json` in the run directory records the last stored seq and the byte length of every
// appended file after it. A batch first truncates each file back to the recorded length (undoing a batch that
// was half written when the server died: it was never acknowledged), appends its lines, merges its JSON
// files (merging the same values twice is harmless), fsyncs, and then records the new seq and lengths with an
// atomic rename. That rename is the commit: before it the batch is not stored (and will be retried), after it
// a retry is a duplicate.
import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, renameSync, statSync, writeSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { HttpError } from "../api/errors.ts";
import type { Storage } from "../index/storage.ts";
import { dumps } from "../sdk/py-json.ts";
import { readJsonObject } from "../store/json.ts";
import { writeJsonAtomic } from "../store/run-files.ts";
import type { IngestBatch, IngestBatchAck, IngestRunCreate, IngestRunCreated } from "./contract.ts";
import { ingestPathConflict, ingestRunNotFound, type IngestSink } from "./sink.ts";

/** The append-only files of a run, in the order a batch writes them, and the batch field each comes from. */
const APPENDED = [
  ["events.jsonl", "events"],
  ["logs.txt", "logs"],
  ["system.jsonl", "system"],
  ["histograms.jsonl", "histograms"],
] as const;

/** The commit record of a run's ingest (`ingest.json`). */
interface IngestState {
  last_seq: number;
  /** Byte length of each appended file once `last_seq` was stored. */
  lengths: Record<string, number>;
}

type JsonObject = Record<string, unknown>;

/** Writes ingested runs as files under the storage root; one batch at a time per run. */
export class FileIngestSink implements IngestSink {
  /** The tail of each run's chain of pending operations (serialises a run's batches). */
  private readonly chains = new Map<string, Promise<unknown>>();

  /** Where runs were found or created (checked again on use: a run may be moved or deleted). */
  private readonly dirs = new Map<string, { dir: string; path: string }>();

  constructor(private readonly storage: Pick<Storage, "root"> & Partial<Pick<Storage, "findRunIncludingDeleted">>) {}

  createRun(req: IngestRunCreate, _who: string | null): Promise<IngestRunCreated> {
    return this.serial(req.run_id, () => {
      const existing = this.locate(req.run_id);
      if (existing) {
        if (existing.path !== req.path) {
          throw ingestPathConflict(req.run_id, existing.path, req.path);
        }
        return { run_id: req.run_id, created: false, last_seq: ingestedState(existing.dir, req.run_id).last_seq };
      }
      const dir = this.runDir(req.path, req.run_id);
      mkdirSync(join(dir, "media"), { recursive: true });
      writeJsonAtomic(join(dir, "meta.json"), { ...req.meta, id: req.run_id, path: req.path });
      writeJsonAtomic(join(dir, "status.json"), req.status);
      writeJsonAtomic(join(dir, "assets.json"), req.assets ?? {});
      writeJsonAtomic(join(dir, "ingest.json"), { last_seq: 0, lengths: {} } satisfies IngestState);
      this.dirs.set(req.run_id, { dir, path: req.path });
      return { run_id: req.run_id, created: true, last_seq: 0 };
    });
  }

  appendBatch(runId: string, batch: IngestBatch): Promise<IngestBatchAck> {
    return this.serial(runId, () => {
      const found = this.locate(runId);
      if (!found) throw ingestRunNotFound(runId);
      const { dir } = found;
      const state = ingestedState(dir, runId);
      if (batch.seq <= state.last_seq) return { run_id: runId, seq: batch.seq, duplicate: true };
      const lengths: Record<string, number> = {};
      for (const [file, field] of APPENDED) {
        const lines = batch[field] as unknown[] | undefined;
        lengths[file] = appendLines(join(dir, file), state.lengths[file] ?? 0, lines ?? [], field === "logs");
      }
      if (batch.status) mergeJson(join(dir, "status.json"), batch.status);
      if (batch.summary) mergeJson(join(dir, "summary.json"), batch.summary);
      if (batch.meta) mergeJson(join(dir, "meta.json"), batch.meta);
      if (batch.assets) writeJsonAtomic(join(dir, "assets.json"), batch.assets);
      writeJsonAtomic(join(dir, "ingest.json"), { last_seq: batch.seq, lengths } satisfies IngestState);
      return { run_id: runId, seq: batch.seq, duplicate: false };
    });
  }

  putMedia(runId: string, name: string, bytes: Uint8Array): Promise<void> {
    return this.serial(runId, () => {
      const found = this.locate(runId);
      if (!found) throw ingestRunNotFound(runId);
      const media = join(found.dir, "media");
      mkdirSync(media, { recursive: true });
      const target = join(media, name);
      if (existsSync(target)) return;
      writeFileDurably(`${target}.ingest-tmp`, bytes, target);
    });
  }

  /** The directory of a new run: ROOT/runs/<path>/<run_id>. */
  private runDir(path: string, runId: string): string {
    return join(this.storage.root, "runs", ...path.split("/").filter(Boolean), runId);
  }

  /** Where an ingested run lives now, found through its ingest record (`ingest.json`); undefined when none. */
  private locate(runId: string): { dir: string; path: string } | undefined {
    const known = this.dirs.get(runId);
    if (known && existsSync(join(known.dir, "meta.json"))) return known;
    const runs = join(this.storage.root, "runs");
    const indexed = this.storage.findRunIncludingDeleted?.(runId);
    if (indexed && existsSync(join(indexed.run_dir, "meta.json")) && indexed.run_dir.startsWith(runs + "/")) {
      const found = { dir: indexed.run_dir, path: relative(runs, dirname(indexed.run_dir)).split(sep).join("/") };
      this.dirs.set(runId, found);
      return found;
    }
    const stack: { dir: string; path: string }[] = [{ dir: runs, path: "" }];
    // the path tree is shallow and this runs once per request per run: a walk keeps the files the only truth
    while (stack.length) {
      const { dir, path } = stack.pop()!;
      const candidate = join(dir, runId);
      if (existsSync(join(candidate, "meta.json"))) {
        this.dirs.set(runId, { dir: candidate, path });
        return { dir: candidate, path };
      }
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") continue;
        throw e;
      }
      for (const name of names) {
        const sub = join(dir, name);
        if (name === runId || !isPlainDir(sub) || existsSync(join(sub, "meta.json"))) continue;
        stack.push({ dir: sub, path: path ? `${path}/${name}` : name });
      }
    }
    return undefined;
  }

  /** Runs `fn` after every earlier operation on the same run. */
  private serial<T>(runId: string, fn: () => T): Promise<T> {
    const prev = this.chains.get(runId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.then(
      () => undefined,
      () => undefined,
    );
    this.chains.set(runId, tail);
    tail.then(() => {
      if (this.chains.get(runId) === tail) this.chains.delete(runId);
    });
    return next;
  }
}

function isPlainDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false; // vanished while we looked: not a directory to descend into
  }
}

/**
 * The commit record of a run the ingest API created. A run written by an SDK on this machine (or one whose record
 * is unreadable) is refused: its files are not the ingest's to cut back.
 */
function ingestedState(dir: string, runId: string): IngestState {
  const o = readJsonObject(join(dir, "ingest.json")) as Partial<IngestState> | undefined;
  const lengthsOk = !!o?.lengths && typeof o.lengths === "object" && Object.values(o.lengths).every((n) => Number.isSafeInteger(n) && (n as number) >= 0);
  if (!o || typeof o.last_seq !== "number" || !Number.isSafeInteger(o.last_seq) || o.last_seq < 0 || !lengthsOk) {
    throw new HttpError(409, `Run ${runId} exists on the server but was not created through the ingest API (or its ingest.json is unreadable); pick another run id`);
  }
  return { last_seq: o.last_seq, lengths: o.lengths as Record<string, number> };
}

/**
 * Cuts `path` back to `committed` bytes (what a crash mid-batch left beyond it was never acknowledged), appends
 * the lines, fsyncs, and returns the new length. JSON lines are written as the Python SDK writes them.
 */
function appendLines(path: string, committed: number, lines: unknown[], raw: boolean): number {
  if (lines.length === 0 && !existsSync(path)) return 0;
  const fd = openSync(path, "a+");
  try {
    const size = statSync(path).size;
    if (size > committed) ftruncateSync(fd, committed);
    if (lines.length === 0) return Math.min(size, committed);
    const text = lines.map((l) => (raw ? String(l) : dumps(l))).join("\n") + "\n";
    const buf = Buffer.from(text, "utf8");
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
    return Math.min(size, committed) + buf.length;
  } finally {
    closeSync(fd);
  }
}

function mergeJson(path: string, patch: JsonObject): void {
  writeJsonAtomic(path, { ...((readJsonObject(path) as JsonObject | undefined) ?? {}), ...patch });
}

/** Writes bytes to a temp file, fsyncs it and renames it into place (a media file is whole or absent). */
function writeFileDurably(tmp: string, bytes: Uint8Array, target: string): void {
  const fd = openSync(tmp, "w");
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, target);
}
