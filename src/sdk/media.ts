// The TS SDK's rich values — Histogram, Table (with Image cells) and Audio — computed exactly as the Python SDK's rn.* (docs/SDK.md).
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { imageBytes } from "./run-assets.ts";

/** Most bins of a Histogram (as in Python). */
export const MAX_BINS = 512;
/** Most rows of a Table. */
export const MAX_ROWS = 10_000;
/** Most columns of a Table. */
export const MAX_COLUMNS = 1_000;
/** Highest Audio sample rate. */
export const MAX_SAMPLE_RATE = 384_000;
/** Most Audio channels. */
export const MAX_CHANNELS = 16;
/** Audio files copied as they are. */
export const AUDIO_EXTENSIONS = [".wav", ".mp3", ".ogg", ".flac"];

/** Values a histogram is computed from: numbers, nested arrays of numbers, or typed arrays. */
export type HistogramValues = ArrayLike<unknown>;

/** Precomputed bins: `edges.length === counts.length + 1`. */
export interface HistogramBins {
  counts: ArrayLike<number>;
  edges: ArrayLike<number>;
}

/** Every number of a (nested) array, as Python's `_flat_floats` reads it; a non-number is a TypeError. */
function flatNumbers(values: unknown): number[] {
  if (ArrayBuffer.isView(values) && !(values instanceof DataView)) return Array.from(values as unknown as ArrayLike<number>, Number);
  const out: number[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView))) {
      const a = v as ArrayLike<unknown>;
      for (let i = 0; i < a.length; i++) walk(a[i]);
    } else if (typeof v === "number") {
      out.push(v);
    } else if (typeof v === "bigint") {
      out.push(Number(v));
    } else {
      throw new TypeError(`Histogram values must be numbers, got ${v === null ? "null" : typeof v}`);
    }
  };
  walk(values);
  return out;
}

/** Python's `math.fsum`: the correctly rounded sum (Shewchuk's partials, CPython's final rounding). */
export function fsum(values: number[]): number {
  const partials: number[] = [];
  for (let x of values) {
    let i = 0;
    for (let j = 0; j < partials.length; j++) {
      let y = partials[j];
      if (Math.abs(x) < Math.abs(y)) [x, y] = [y, x];
      const hi = x + y;
      const lo = y - (hi - x);
      if (lo !== 0) partials[i++] = lo;
      x = hi;
    }
    partials.length = i;
    partials.push(x);
  }
  let n = partials.length;
  if (n === 0) return 0;
  let hi = partials[--n];
  let lo = 0;
  while (n > 0) {
    const x = hi;
    const y = partials[--n];
    hi = x + y;
    lo = y - (hi - x);
    if (lo !== 0) break;
  }
  if (n > 0 && ((lo < 0 && partials[n - 1] < 0) || (lo > 0 && partials[n - 1] > 0))) {
    const y = lo * 2;
    const x = hi + y;
    if (y === x - hi) hi = x;
  }
  return hi;
}

/**
 * A distribution for `run.log({ weights: new Histogram(values, { bins: 64 }) }, { step })`, kept as bins.
 * Values are numbers (nested arrays and typed arrays too), binned into `bins` equal-width bins from
 * the smallest to the largest finite value; NaN and ±Infinity are counted in `nonfinite`. Or pass
 * precomputed `{ counts, edges }`. Stored in histograms.jsonl exactly as Python's rn.Histogram.
 */
export class Histogram {
  readonly edges: number[];
  readonly counts: number[];
  readonly count: number;
  readonly sum: number;
  readonly min: number | null;
  readonly max: number | null;
  readonly nonfinite: number;

  /** Bins the values (or takes `{counts, edges}`); a bad argument throws before anything is logged. */
  constructor(valuesOrBins: HistogramValues | HistogramBins, opts: { bins?: number } = {}) {
    let bins = opts.bins ?? 64;
    if (typeof bins !== "number" || !Number.isInteger(bins) || bins < 1 || bins > MAX_BINS) {
      throw new RangeError(`Histogram bins must be an integer from 1 to ${MAX_BINS}, got ${String(bins)}`);
    }
    this.nonfinite = 0;
    if (isBins(valuesOrBins)) {
      const counts = flatNumbers(valuesOrBins.counts).map((c) => Math.trunc(c));
      const edges = flatNumbers(valuesOrBins.edges);
      if (edges.length !== counts.length + 1 || counts.length === 0) {
        throw new RangeError(`Histogram({counts, edges}) needs edges.length === counts.length + 1, got ${counts.length} and ${edges.length}`);
      }
      if (counts.some((c) => !(c >= 0)) || edges.some((e) => !Number.isFinite(e)) || edges.some((e, i) => i > 0 && e <= edges[i - 1])) {
        throw new RangeError("Histogram({counts, edges}): counts must be >= 0 and edges finite and increasing");
      }
      this.counts = counts;
      this.edges = edges;
      this.count = counts.reduce((a, b) => a + b, 0);
      let sum = 0; // Python: float(sum(c * m)), added in order
      for (let i = 0; i < counts.length; i++) sum += counts[i] * ((edges[i] + edges[i + 1]) / 2);
      this.sum = sum;
      this.min = edges[0];
      this.max = edges[edges.length - 1];
      return;
    }
    const vals = flatNumbers(valuesOrBins);
    const finite = vals.filter((v) => Number.isFinite(v));
    this.nonfinite = vals.length - finite.length;
    this.count = finite.length;
    if (!finite.length) {
      this.edges = [];
      this.counts = [];
      this.sum = 0;
      this.min = this.max = null;
      return;
    }
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of finite) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    this.min = lo;
    this.max = hi;
    this.sum = fsum(finite);
    if (hi === lo) {
      lo -= 0.5;
      hi += 0.5;
      bins = 1;
    }
    const width = (hi - lo) / bins;
    const counts = new Array<number>(bins).fill(0);
    for (const v of finite) {
      const i = Math.trunc((v - lo) / width);
      counts[i < bins ? i : bins - 1]++;
    }
    const edges: number[] = [];
    for (let i = 0; i < bins; i++) edges.push(lo + width * i);
    edges.push(hi);
    this.edges = edges;
    this.counts = counts;
  }
}

function isBins(v: unknown): v is HistogramBins {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v) && "counts" in v && "edges" in v;
}

/** An image inside a Table cell: PNG/JPEG bytes or a file path (read and checked at once). */
export class Image {
  readonly data: Uint8Array;
  readonly ext: "png" | "jpg";
  readonly caption: string | null;

  /** Reads the image; anything but PNG/JPEG data is a TypeError, a missing file throws ENOENT. */
  constructor(image: Uint8Array | string, opts: { caption?: string | null } = {}) {
    const { data, ext } = imageBytes(image);
    this.data = data;
    this.ext = ext;
    this.caption = opts.caption === undefined || opts.caption === null ? null : String(opts.caption);
  }
}

/** A Table cell as stored: a finite number, a string, a bool, null, or an Image. */
export type TableCell = number | string | boolean | null | Image;

/**
 * A table for `run.log({ preds: new Table(columns, rows) }, { step })`: 1–1,000 unique columns, at most
 * 10,000 rows of one cell per column. Stored as `media/<ms>_<hex>_<key>.table.json` plus a `table` event.
 */
export class Table {
  readonly columns: string[];
  readonly rows: TableCell[][];

  /** Checks every cell (as Python's rn.Table does) before anything is written. */
  constructor(columns: readonly unknown[], rows: readonly (readonly unknown[])[]) {
    if (!Array.isArray(columns)) throw new TypeError(`Table columns must be an array of names, got ${typeof columns}`);
    const cols = columns.map((c) => String(c));
    if (!cols.length || cols.length > MAX_COLUMNS) throw new RangeError(`Table needs 1 to ${MAX_COLUMNS} columns, got ${cols.length}`);
    if (new Set(cols).size !== cols.length) throw new RangeError(`Table column names must be unique, got ${JSON.stringify(cols)}`);
    if (!Array.isArray(rows)) throw new TypeError(`Table rows must be an array of rows, got ${typeof rows}`);
    if (rows.length > MAX_ROWS) throw new RangeError(`Table has ${rows.length} rows; at most ${MAX_ROWS} are allowed`);
    this.columns = cols;
    this.rows = rows.map((row, r) => {
      if (!Array.isArray(row)) throw new RangeError(`Table row ${r} is not an array of ${cols.length} cells`);
      if (row.length !== cols.length) throw new RangeError(`Table row ${r} has ${row.length} cells; the table has ${cols.length} columns`);
      return row.map((v, c) => tableCell(v, r, cols[c]));
    });
  }
}

function tableCell(v: unknown, r: number, c: string): TableCell {
  if (v === null || typeof v === "string" || typeof v === "boolean" || v instanceof Image) return v;
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new RangeError(`Table cell (row ${r}, column ${JSON.stringify(c)}) is ${v}; cells must be finite numbers (use null for missing)`);
    return v;
  }
  throw new TypeError(`Table cell (row ${r}, column ${JSON.stringify(c)}) is a ${typeof v}; cells are numbers, strings, booleans, null or Image`);
}

/** Audio samples: one number per frame, one array of channel values per frame, or a typed array (Int16Array = PCM as is). */
export type AudioSamples = ArrayLike<number> | ArrayLike<ArrayLike<number>>;

/** Python's `round()`: halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** A 16-bit little-endian PCM WAV, byte for byte what Python's `wave` module writes. */
export function wavBytes(pcm: Int16Array, channels: number, sampleRate: number): Uint8Array {
  const dataLen = pcm.length * 2;
  const out = new Uint8Array(44 + dataLen);
  const dv = new DataView(out.buffer);
  const ascii = (at: number, s: string) => {
    for (let i = 0; i < s.length; i++) out[at + i] = s.charCodeAt(i);
  };
  ascii(0, "RIFF");
  dv.setUint32(4, 36 + dataLen, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  dv.setUint32(16, 16, true);
  dv.setUint16(20, 1, true); // PCM
  dv.setUint16(22, channels, true);
  dv.setUint32(24, sampleRate, true);
  dv.setUint32(28, sampleRate * channels * 2, true);
  dv.setUint16(32, channels * 2, true);
  dv.setUint16(34, 16, true);
  ascii(36, "data");
  dv.setUint32(40, dataLen, true);
  for (let i = 0; i < pcm.length; i++) dv.setInt16(44 + 2 * i, pcm[i], true);
  return out;
}

/** Sample rate and frame count of a PCM WAV (what Python's `wave` reads); throws on anything else. */
export function readWavHeader(b: Uint8Array): { sampleRate: number; frames: number } {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const tag = (at: number) => String.fromCharCode(b[at], b[at + 1], b[at + 2], b[at + 3]);
  if (b.length < 12 || tag(0) !== "RIFF" || tag(8) !== "WAVE") throw new Error("file does not start with RIFF id");
  let fmt: { channels: number; rate: number; width: number } | undefined;
  let at = 12;
  while (at + 8 <= b.length) {
    const id = tag(at);
    const size = dv.getUint32(at + 4, true);
    if (id === "fmt ") {
      if (size < 16 || at + 24 > b.length) throw new Error("fmt chunk is too short");
      const format = dv.getUint16(at + 8, true);
      if (format !== 1 && format !== 0xfffe) throw new Error(`unknown format: ${format}`);
      fmt = { channels: dv.getUint16(at + 10, true), rate: dv.getUint32(at + 12, true), width: Math.ceil(dv.getUint16(at + 22, true) / 8) };
      if (!fmt.channels || !fmt.width || !fmt.rate) throw new Error("bad fmt chunk");
    } else if (id === "data") {
      if (!fmt) throw new Error("data chunk before fmt chunk");
      return { sampleRate: fmt.rate, frames: Math.floor(size / (fmt.channels * fmt.width)) };
    }
    at += 8 + size + (size & 1);
  }
  throw new Error(fmt ? "data chunk missing" : "fmt chunk and/or data chunk missing");
}

/**
 * Sound for `run.log({ sample: new Audio(samples, { sampleRate: 16000 }) }, { step })`: samples (floats in
 * [-1, 1], or int16 values: an Int16Array, or integers of which one exceeds 1 in magnitude) become a 16-bit
 * PCM WAV; a .wav/.mp3/.ogg/.flac path is copied as it is. Checked as Python's rn.Audio checks.
 */
export class Audio {
  readonly data: Uint8Array;
  readonly ext: string;
  readonly sampleRate: number | null;
  readonly duration: number | null;
  readonly caption: string | null;

  constructor(samplesOrPath: AudioSamples | string, opts: { sampleRate?: number; caption?: string | null } = {}) {
    this.caption = opts.caption === undefined || opts.caption === null ? null : String(opts.caption);
    if (typeof samplesOrPath === "string") {
      const ext = extname(samplesOrPath).toLowerCase();
      if (!AUDIO_EXTENSIONS.includes(ext)) throw new RangeError(`Audio file ${samplesOrPath}: only ${AUDIO_EXTENSIONS.join(", ")} files are accepted`);
      this.data = new Uint8Array(readFileSync(samplesOrPath));
      this.ext = ext.slice(1);
      this.sampleRate = this.duration = null;
      if (ext === ".wav") {
        let h;
        try {
          h = readWavHeader(this.data);
        } catch (err) {
          throw new RangeError(`Audio file ${samplesOrPath} is not a readable WAV: ${(err as Error).message}`);
        }
        this.sampleRate = h.sampleRate;
        this.duration = h.frames / h.sampleRate;
      }
      return;
    }
    const rate = opts.sampleRate;
    if (typeof rate !== "number" || !Number.isInteger(rate) || rate < 1 || rate > MAX_SAMPLE_RATE) {
      throw new RangeError(`Audio sampleRate must be an integer from 1 to ${MAX_SAMPLE_RATE}, got ${String(rate)}`);
    }
    const { pcm, channels } = toPcm(samplesOrPath);
    this.data = wavBytes(pcm, channels, rate);
    this.ext = "wav";
    this.sampleRate = rate;
    this.duration = pcm.length / channels / rate;
  }
}

/** Interleaved 16-bit samples and the channel count, by Python's `_frames` rules. */
function toPcm(samples: AudioSamples): { pcm: Int16Array; channels: number } {
  if (samples === null || typeof samples !== "object" || typeof (samples as ArrayLike<unknown>).length !== "number") {
    throw new TypeError(`Audio samples must be an array of numbers, got ${samples === null ? "null" : typeof samples}`);
  }
  const frames = samples as ArrayLike<unknown>;
  if (frames.length === 0) throw new RangeError("Audio has no samples");
  const first = frames[0];
  const twoD = typeof first === "object" && first !== null;
  const channels = twoD ? (first as ArrayLike<unknown>).length : 1;
  if (!(channels >= 1 && channels <= MAX_CHANNELS)) {
    throw new RangeError(`Audio needs 1 to ${MAX_CHANNELS} channels (frames, or frames of channel values), got ${channels}`);
  }
  if (samples instanceof Int16Array) return { pcm: Int16Array.from(samples), channels: 1 };
  const rows: ArrayLike<unknown>[] = [];
  let int16 = !twoD ? false : (first instanceof Int16Array);
  for (let i = 0; i < frames.length; i++) {
    const row = twoD ? frames[i] : [frames[i]];
    if (typeof row !== "object" || row === null || (row as ArrayLike<unknown>).length !== channels) {
      const got = typeof row === "object" && row !== null ? (row as ArrayLike<unknown>).length : 1;
      throw new RangeError(`Audio frame ${i} has ${got} channels, the first has ${channels}`);
    }
    rows.push(row as ArrayLike<unknown>);
  }
  if (!int16 && !ArrayBuffer.isView(samples) && !(twoD && ArrayBuffer.isView(first))) {
    // Python: plain ints with one beyond ±1 are int16 values; anything else is floats in [-1, 1]
    let allInts = true;
    let big = false;
    for (const row of rows) {
      for (let j = 0; j < channels; j++) {
        const v = row[j];
        if (typeof v !== "number" || !Number.isInteger(v)) allInts = false;
        else if (Math.abs(v) > 1) big = true;
      }
    }
    int16 = allInts && big;
  }
  const pcm = new Int16Array(rows.length * channels);
  let k = 0;
  for (let i = 0; i < rows.length; i++) {
    for (let j = 0; j < channels; j++) {
      const v = rows[i][j];
      if (typeof v === "object" && v !== null) throw new RangeError("Audio samples must be frames, or frames of channel values; got deeper nesting");
      if (typeof v !== "number") throw new TypeError(`Audio samples must be numbers, got ${v === null ? "null" : typeof v}`);
      if (!Number.isFinite(v)) throw new RangeError(`Audio sample ${i} is ${v}; samples must be finite`);
      if (int16) {
        if (v < -32768 || v > 32767) throw new RangeError(`Audio int16 sample ${i} is ${v}, outside -32768..32767`);
        pcm[k++] = Math.trunc(v);
      } else {
        if (v < -1 || v > 1) throw new RangeError(`Audio float sample ${i} is ${v}, outside [-1, 1] (scale it, or pass an Int16Array)`);
        pcm[k++] = roundHalfEven(v * 32767);
      }
    }
  }
  return { pcm, channels };
}
