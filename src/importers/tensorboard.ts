// `runicorn import --tensorboard DIR`: every directory of TensorBoard event files
// (`events.out.tfevents.*`) becomes a Runicorn run. Reads TFRecord framing and the Event/Summary
// protobufs directly: scalars (old `simple_value` and tensor scalars), histograms (old `histo` and the
// histograms plugin's [k,3] tensors), images (old `image` and the images plugin's string tensors),
// text, and hparams (into the run's config). Incremental: import.json keeps each file's byte offset.
import { closeSync, fstatSync, openSync, readdirSync, readSync, type Dirent } from "node:fs";
import { availableParallelism } from "node:os";
import { basename, join, relative, resolve } from "node:path";
import { FIXED32, FIXED64, LEN, ProtoError, ProtoReader, VARINT } from "./protobuf.ts";
import { ImportedRun, ImportError, safePath, shortestFloat32 } from "./run-writer.ts";
import { readRecords, RecordError } from "./tfrecord.ts";

/** Options of a TensorBoard import. */
export interface TensorBoardImportOptions {
  /** Runicorn path prefix (default: the source folder's name). */
  path?: string;
  /** Called after each run with runs done/total and scalar events so far. */
  progress?: (done: number, total: number, events: number) => void;
}

/** What one import did. */
export interface TensorBoardImportResult {
  runs: { id: string; path: string; source: string; created: boolean; scalars: number; histograms: number; images: number; texts: number }[];
  scalars: number;
  histograms: number;
  images: number;
  texts: number;
  skipped: { file: string; reason: string }[];
}

const EVENT_FILE = /(^|\.)tfevents\./;

/** Run directories under `dir` (those holding event files), sorted; symlinks are not followed. */
export function findTensorBoardRuns(dir: string): { dir: string; files: string[] }[] {
  const out: { dir: string; files: string[] }[] = [];
  const walk = (d: string, depth: number) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch (e) {
      if (d === dir) throw new ImportError(`cannot read ${d}: ${(e as Error).message}`);
      return;
    }
    const files = entries.filter((e) => e.isFile() && EVENT_FILE.test(e.name)).map((e) => e.name).sort();
    if (files.length) out.push({ dir: d, files });
    if (depth > 32) return;
    for (const e of entries) if (e.isDirectory() && !e.name.startsWith(".")) walk(join(d, e.name), depth + 1);
  };
  walk(dir, 0);
  return out.sort((a, b) => (a.dir < b.dir ? -1 : 1));
}

/** Start time, host and pid from an event file name (`events.out.tfevents.<time>.<host>[.<pid>.<n>]`). */
export function parseEventFileName(name: string): { time: number | null; host: string; pid: number | null } {
  const m = /tfevents\.(\d+(?:\.\d+)?)\.(.*)$/.exec(name);
  if (!m) return { time: null, host: "", pid: null };
  const parts = m[2].split(".");
  let pid: number | null = null;
  if (parts.length >= 3 && /^\d+$/.test(parts[parts.length - 1]) && /^\d+$/.test(parts[parts.length - 2])) {
    pid = Number(parts[parts.length - 2]);
    parts.splice(parts.length - 2, 2);
  }
  return { time: Number(m[1]), host: parts.join("."), pid };
}

// TensorFlow DataType numbers (types.proto)
const DT_FLOAT = 1;
const DT_DOUBLE = 2;
const DT_INT32 = 3;
const DT_UINT8 = 4;
const DT_INT16 = 5;
const DT_INT8 = 6;
const DT_STRING = 7;
const DT_INT64 = 9;
const DT_BOOL = 10;
const DT_HALF = 19;

/** A decoded TensorProto: numbers (with whether they are float32) or byte strings, and the shape. */
interface Tensor {
  dtype: number;
  shape: number[];
  numbers: number[];
  strings: Uint8Array[];
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

function readTensor(r: ProtoReader): Tensor {
  const t: Tensor = { dtype: 0, shape: [], numbers: [], strings: [] };
  let content: Uint8Array | undefined;
  while (r.more()) {
    const tag = r.tag();
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1 && wt === VARINT) t.dtype = r.varint();
    else if (field === 2 && wt === LEN)
      r.within((s) => {
        while (s.more()) {
          const tg = s.tag();
          if (tg >>> 3 === 2 && (tg & 7) === LEN)
            s.within((d) => {
              let size = 0;
              while (d.more()) {
                const x = d.tag();
                if (x >>> 3 === 1 && (x & 7) === VARINT) size = d.int64();
                else d.skip(x & 7);
              }
              t.shape.push(size);
            });
          else s.skip(tg & 7);
        }
      });
    else if (field === 4 && wt === LEN) content = r.bytes();
    else if (field === 5) r.floats(wt, t.numbers);
    else if (field === 6) r.doubles(wt, t.numbers);
    else if (field === 7 || field === 10 || field === 11) r.varints(wt, t.numbers);
    else if (field === 13) {
      const hs: number[] = [];
      r.varints(wt, hs);
      for (const h of hs) t.numbers.push(halfToFloat(h));
    } else if (field === 8 && wt === LEN) t.strings.push(r.bytes());
    else r.skip(wt);
  }
  if (content && content.length) {
    const v = new DataView(content.buffer, content.byteOffset, content.byteLength);
    const n = content.length;
    switch (t.dtype) {
      case DT_FLOAT:
        for (let p = 0; p + 4 <= n; p += 4) t.numbers.push(v.getFloat32(p, true));
        break;
      case DT_DOUBLE:
        for (let p = 0; p + 8 <= n; p += 8) t.numbers.push(v.getFloat64(p, true));
        break;
      case DT_INT32:
        for (let p = 0; p + 4 <= n; p += 4) t.numbers.push(v.getInt32(p, true));
        break;
      case DT_INT64:
        for (let p = 0; p + 8 <= n; p += 8) t.numbers.push(Number(v.getBigInt64(p, true)));
        break;
      case DT_INT16:
        for (let p = 0; p + 2 <= n; p += 2) t.numbers.push(v.getInt16(p, true));
        break;
      case DT_HALF:
        for (let p = 0; p + 2 <= n; p += 2) t.numbers.push(halfToFloat(v.getUint16(p, true)));
        break;
      case DT_INT8:
        for (let p = 0; p < n; p++) t.numbers.push(v.getInt8(p));
        break;
      case DT_UINT8:
      case DT_BOOL:
        for (let p = 0; p < n; p++) t.numbers.push(content[p]);
        break;
    }
  }
  return t;
}

/** An image's file extension from its magic bytes. */
function imageExt(b: Uint8Array): string {
  if (b[0] === 0x89 && b[1] === 0x50) return "png";
  if (b[0] === 0xff && b[1] === 0xd8) return "jpg";
  if (b[0] === 0x47 && b[1] === 0x49) return "gif";
  if (b[0] === 0x52 && b[1] === 0x49) return "webp";
  return "bin";
}

const utf8 = new TextDecoder();

/** hparams plugin content → the session's hyperparameters (HParamsPluginData.session_start_info.hparams). */
function readHparams(content: Uint8Array): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const r = new ProtoReader(content);
  while (r.more()) {
    const tag = r.tag();
    if (tag >>> 3 === 3 && (tag & 7) === LEN)
      r.within((s) => {
        while (s.more()) {
          const t2 = s.tag();
          if (t2 >>> 3 === 1 && (t2 & 7) === LEN)
            s.within((entry) => {
              let key = "";
              let value: unknown = null;
              while (entry.more()) {
                const t3 = entry.tag();
                if (t3 >>> 3 === 1 && (t3 & 7) === LEN) key = entry.string();
                else if (t3 >>> 3 === 2 && (t3 & 7) === LEN)
                  entry.within((v) => {
                    while (v.more()) {
                      const t4 = v.tag();
                      const f = t4 >>> 3;
                      if (f === 2 && (t4 & 7) === FIXED64) value = v.double();
                      else if (f === 3 && (t4 & 7) === LEN) value = v.string();
                      else if (f === 4 && (t4 & 7) === VARINT) value = v.varint() !== 0;
                      else v.skip(t4 & 7);
                    }
                  });
                else entry.skip(t3 & 7);
              }
              if (key) out[key] = value;
            });
          else s.skip(t2 & 7);
        }
      });
    else r.skip(tag & 7);
  }
  return out;
}

/** Reads one run's event files from their recorded offsets into `run`. */
class RunReader {
  /** tag → plugin name, from the first value of each tag that carried metadata. */
  private plugins = new Map<string, string>();
  private rowStep = -1;
  private rowTs = 0;
  private rowKeys: string[] = [];
  private rowValues: number[] = [];
  private rowF32: boolean[] = [];
  private firstWall = Infinity;
  private lastWall = 0;
  counts = { scalars: 0, histograms: 0, images: 0, texts: 0 };
  hparams: Record<string, unknown> = {};
  /** Last value of each scalar tag, as written (float32 shortest form). */
  lastValues = new Map<string, number>();

  constructor(private readonly run: ImportedRun) {}

  private endRow(): void {
    if (this.rowKeys.length) this.run.addRow(this.rowTs, this.rowStep, this.rowKeys, this.rowValues, this.rowF32);
    this.rowKeys = [];
    this.rowValues = [];
    this.rowF32 = [];
  }

  private scalar(wall: number, step: number, tag: string, v: number, float32: boolean): void {
    if (step !== this.rowStep || this.rowKeys.includes(tag)) {
      this.endRow();
      this.rowStep = step;
    }
    this.rowTs = wall;
    this.rowKeys.push(tag);
    this.rowValues.push(v);
    this.rowF32.push(float32);
    this.lastValues.set(tag, float32 && Number.isFinite(v) ? shortestFloat32(v) : v);
    this.counts.scalars++;
  }

  /** Decodes one Event record. */
  event(buf: Uint8Array, start: number, end: number, r: ProtoReader): void {
    r.pos = start;
    r.end = end;
    let wall = 0;
    let step = 0;
    let sumStart = -1;
    let sumEnd = -1;
    while (r.more()) {
      const tag = r.tag();
      const field = tag >>> 3;
      const wt = tag & 7;
      if (field === 1 && wt === FIXED64) wall = r.double();
      else if (field === 2 && wt === VARINT) step = r.int64();
      else if (field === 5 && wt === LEN) (sumEnd = r.lenEnd()), (sumStart = r.lastStart);
      else r.skip(wt);
    }
    if (wall > 0) {
      if (wall < this.firstWall) this.firstWall = wall;
      if (wall > this.lastWall) this.lastWall = wall;
    }
    if (sumStart < 0) return;
    r.pos = sumStart;
    r.end = sumEnd;
    while (r.more()) {
      const t = r.tag();
      if (t >>> 3 === 1 && (t & 7) === LEN) {
        const e = r.lenEnd();
        const saveEnd = r.end;
        r.pos = r.lastStart;
        r.end = e;
        this.value(r, wall, step);
        r.end = saveEnd;
        r.pos = e;
      } else r.skip(t & 7);
    }
  }

  /** Tag strings by their bytes: a run has few tags, decoding each occurrence would dominate. */
  private tagCache: { bytes: Uint8Array; text: string }[] = [];

  private readTag(r: ProtoReader): string {
    const e = r.lenEnd();
    const s = r.lastStart;
    const buf = r.buf;
    const n = e - s;
    outer: for (const c of this.tagCache) {
      if (c.bytes.length !== n) continue;
      for (let i = 0; i < n; i++) if (c.bytes[i] !== buf[s + i]) continue outer;
      return c.text;
    }
    const bytes = buf.slice(s, e);
    const text = utf8.decode(bytes);
    if (this.tagCache.length < 256) this.tagCache.push({ bytes, text });
    return text;
  }

  private value(r: ProtoReader, wall: number, step: number): void {
    let tag = "";
    let simple: number | undefined;
    let plugin: string | undefined;
    let pluginContent: Uint8Array | undefined;
    let tensor: [number, number] | undefined;
    let histo: [number, number] | undefined;
    let image: [number, number] | undefined;
    while (r.more()) {
      const t = r.tag();
      const field = t >>> 3;
      const wt = t & 7;
      if (field === 1 && wt === LEN) tag = this.readTag(r);
      else if (field === 2 && wt === FIXED32) simple = r.float();
      else if (field === 9 && wt === LEN)
        r.within((m) => {
          while (m.more()) {
            const mt = m.tag();
            if (mt >>> 3 === 1 && (mt & 7) === LEN)
              m.within((pd) => {
                while (pd.more()) {
                  const pt = pd.tag();
                  if (pt >>> 3 === 1 && (pt & 7) === LEN) plugin = pd.string();
                  else if (pt >>> 3 === 2 && (pt & 7) === LEN) pluginContent = pd.bytes();
                  else pd.skip(pt & 7);
                }
              });
            else m.skip(mt & 7);
          }
        });
      else if (field === 8 && wt === LEN) tensor = r.lenRange();
      else if (field === 5 && wt === LEN) histo = r.lenRange();
      else if (field === 4 && wt === LEN) image = r.lenRange();
      else r.skip(wt);
    }
    if (plugin !== undefined) this.plugins.set(tag, plugin);
    else plugin = this.plugins.get(tag);
    if (simple !== undefined) return this.scalar(wall, step, tag, simple, true);
    const sub = (range: [number, number]) => new ProtoReader(r.buf, range[0], range[1]);
    if (histo) return this.oldHistogram(sub(histo), wall, step, tag);
    if (image) return this.oldImage(sub(image), wall, step, tag);
    if (plugin === "hparams") {
      if (pluginContent) Object.assign(this.hparams, readHparams(pluginContent));
      return;
    }
    if (!tensor) return;
    const t = readTensor(sub(tensor));
    if (plugin === "histograms") {
      if (t.shape.length === 2 && t.shape[1] === 3 && t.numbers.length === t.shape[0] * 3) {
        const edges: number[] = [];
        const counts: number[] = [];
        for (let i = 0; i < t.shape[0]; i++) {
          if (i === 0) edges.push(t.numbers[0]);
          edges.push(t.numbers[i * 3 + 1]);
          counts.push(t.numbers[i * 3 + 2]);
        }
        this.endRow();
        this.run.addHistogram(wall, step, tag, edges, counts);
        this.counts.histograms++;
      }
      return;
    }
    if (plugin === "images") {
      // rank-1 string tensor: width, height, then one encoded image per sample
      this.endRow();
      for (let i = 2; i < t.strings.length; i++) {
        const key = t.strings.length > 3 ? `${tag}/${i - 2}` : tag;
        this.run.addImage(wall, step, key, t.strings[i], imageExt(t.strings[i]));
        this.counts.images++;
      }
      return;
    }
    if (plugin === "text" || t.dtype === DT_STRING) {
      const text = t.strings.map((s) => utf8.decode(s)).join("\n");
      this.run.addText(wall, `[${tag} @ step ${step}] ${text}`);
      this.counts.texts++;
      return;
    }
    if (t.numbers.length === 1 && t.shape.length === 0) this.scalar(wall, step, tag, t.numbers[0], t.dtype === DT_FLOAT);
  }

  private oldHistogram(r: ProtoReader, wall: number, step: number, tag: string): void {
    let min = 0;
    let max = 0;
    let sum: number | undefined;
    const limits: number[] = [];
    const buckets: number[] = [];
    while (r.more()) {
      const t = r.tag();
      const f = t >>> 3;
      if (f === 1 && (t & 7) === FIXED64) min = r.double();
      else if (f === 2 && (t & 7) === FIXED64) max = r.double();
      else if (f === 4 && (t & 7) === FIXED64) sum = r.double();
      else if (f === 6) r.doubles(t & 7, limits);
      else if (f === 7) r.doubles(t & 7, buckets);
      else r.skip(t & 7);
    }
    // bucket i spans (limit[i-1], limit[i]]; the outer limits are ±DBL_MAX, clamp them to min/max
    const edges = [min];
    const counts: number[] = [];
    for (let i = 0; i < limits.length && i < buckets.length; i++) {
      edges.push(Math.min(Math.max(limits[i], min), max));
      counts.push(buckets[i]);
    }
    this.endRow();
    this.run.addHistogram(wall, step, tag, edges, counts, { sum, min, max });
    this.counts.histograms++;
  }

  private oldImage(r: ProtoReader, wall: number, step: number, tag: string): void {
    let bytes: Uint8Array | undefined;
    while (r.more()) {
      const t = r.tag();
      if (t >>> 3 === 4 && (t & 7) === LEN) bytes = r.bytes();
      else r.skip(t & 7);
    }
    if (!bytes) return;
    this.endRow();
    this.run.addImage(wall, step, tag, bytes, imageExt(bytes));
    this.counts.images++;
  }

  /** Closes the pending row; returns the first and last wall times seen. */
  finish(): { first: number; last: number } {
    this.endRow();
    return { first: this.firstWall, last: this.lastWall };
  }
}

/** Reads `path` from `offset` to its end. */
function readFrom(path: string, offset: number): Uint8Array {
  const fd = openSync(path, "r");
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ImportError(`${path} is not a regular file`);
    const n = Math.max(0, st.size - offset);
    const buf = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const k = readSync(fd, buf, got, n - got, offset + got);
      if (k === 0) break;
      got += k;
    }
    return got === n ? buf : buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** One run to import: where its files are and where it goes. */
export interface TensorBoardRunJob {
  root: string;
  source: string;
  dir: string;
  files: string[];
  prefix: string;
}

/** What importing one run did. */
export type TensorBoardRunResult = TensorBoardImportResult["runs"][number] & { skipped: TensorBoardImportResult["skipped"] };

/** Imports one TensorBoard run directory (from where the last import stopped). */
export function importTensorBoardRun(job: TensorBoardRunJob): TensorBoardRunResult {
  const { root, source, dir, files, prefix } = job;
  const skipped: TensorBoardImportResult["skipped"] = [];
  const rel = relative(source, dir);
  const path = safePath([prefix, rel]) || prefix || "tensorboard";
  const first = parseEventFileName(files[0]);
  const run = ImportedRun.open(root, {
    path,
    createdAt: first.time ?? Date.now() / 1000,
    alias: rel === "" ? basename(source) : rel.split(/[\\/]/).join("/"),
    hostname: first.host,
    pid: first.pid,
    source: { kind: "tensorboard", dir },
  });
  const reader = new RunReader(run);
  for (const file of files) {
    const full = join(dir, file);
    const offset = run.state.files[file] ?? 0;
    let buf: Uint8Array;
    try {
      buf = readFrom(full, offset);
    } catch (e) {
      skipped.push({ file: full, reason: (e as Error).message });
      continue;
    }
    const r = new ProtoReader(buf, 0, buf.length);
    let consumed = 0;
    try {
      consumed = readRecords(buf, 0, (b, s, e) => reader.event(b, s, e, r));
    } catch (e) {
      if (!(e instanceof RecordError || e instanceof ProtoError)) throw e;
      skipped.push({ file: full, reason: `${(e as Error).message} (the rest of this file was not imported)` });
      consumed = buf.length; // never re-read a corrupt tail as new data
    }
    run.state.files[file] = offset + consumed;
  }
  const { first: firstWall, last } = reader.finish();
  if (Object.keys(reader.hparams).length) run.mergeConfig(reader.hparams);
  if (reader.lastValues.size) {
    const summary: Record<string, number> = {};
    for (const [k, v] of reader.lastValues) if (Number.isFinite(v)) summary[k] = v;
    run.mergeSummary(summary);
  }
  // the run spans the first to the last event ever read from its files
  const st = run.state as { started_at?: number; last_wall?: number };
  if (st.started_at === undefined && Number.isFinite(firstWall)) st.started_at = firstWall;
  if (last > (st.last_wall ?? 0)) st.last_wall = last;
  if (st.started_at !== undefined) run.setStatus("finished", st.started_at, st.last_wall ?? st.started_at);
  run.commit();
  return { id: run.id, path, source: dir, created: run.created, ...reader.counts, skipped };
}

/** The worker's module: a path inside the compiled binary, or next to this file when run from source. */
function workerUrl(): string {
  return import.meta.url.includes("/$bunfs/") ? "./importers/import-worker.ts" : new URL("./import-worker.ts", import.meta.url).href;
}

/**
 * Runs jobs on up to `workers` Bun workers (one per core: parsing is CPU-bound); with one worker or
 * one job, or when a worker cannot start, the jobs run on this thread.
 */
async function runJobs(jobs: TensorBoardRunJob[], workers: number, onDone: (r: TensorBoardRunResult) => void): Promise<void> {
  if (workers <= 1 || jobs.length <= 1) {
    for (const j of jobs) onDone(importTensorBoardRun(j));
    return;
  }
  let next = 0;
  let failure: Error | undefined;
  const lane = async () => {
    let w: Bun.Worker;
    try {
      w = new Worker(workerUrl()) as unknown as Bun.Worker;
    } catch {
      while (next < jobs.length && !failure) onDone(importTensorBoardRun(jobs[next++]));
      return;
    }
    try {
      while (next < jobs.length && !failure) {
        const job = jobs[next++];
        const res = await new Promise<{ ok: true; result: TensorBoardRunResult } | { ok: false; error: string; importError: boolean }>((resolve) => {
          w.onmessage = ((ev: MessageEvent) => resolve(ev.data)) as never;
          w.onerror = ((ev: ErrorEvent) => resolve({ ok: false, error: ev.message, importError: false })) as never;
          w.postMessage(job);
        });
        if (res.ok) onDone(res.result);
        else failure ??= res.importError ? new ImportError(res.error) : new Error(res.error);
      }
    } finally {
      w.terminate();
    }
  };
  await Promise.all(Array.from({ length: Math.min(workers, jobs.length) }, lane));
  if (failure) throw failure;
}

/** Imports every TensorBoard run under `dir` into the storage root `root`, on up to `workers` threads. */
export async function importTensorBoard(root: string, dir: string, opts: TensorBoardImportOptions & { workers?: number } = {}): Promise<TensorBoardImportResult> {
  const source = resolve(dir);
  const found = findTensorBoardRuns(source);
  if (found.length === 0) throw new ImportError(`no TensorBoard event files (events.out.tfevents.*) under ${source}`);
  const prefix = opts.path !== undefined ? safePath([opts.path]) : safePath([basename(source)]);
  const result: TensorBoardImportResult = { runs: [], scalars: 0, histograms: 0, images: 0, texts: 0, skipped: [] };
  const jobs = found.map((tb) => ({ root, source, dir: tb.dir, files: tb.files, prefix }));
  let done = 0;
  await runJobs(jobs, opts.workers ?? Math.min(4, availableParallelism()), (r) => {
    const { skipped, ...run } = r;
    result.runs.push(run);
    result.skipped.push(...skipped);
    result.scalars += r.scalars;
    result.histograms += r.histograms;
    result.images += r.images;
    result.texts += r.texts;
    opts.progress?.(++done, found.length, result.scalars);
  });
  result.runs.sort((a, b) => (a.source < b.source ? -1 : 1));
  return result;
}
