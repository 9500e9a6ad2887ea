// Writes one imported run (from TensorBoard or MLflow) in Runicorn's on-disk format, plus an
// additive `import.json` holding what was already read, so that a re-import appends only what is new.
// The original viewer reads these runs like any other (it ignores the files it does not know).
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, lstatSync, mkdirSync, realpathSync, writeFileSync } from "node:fs";
import { dirname, join, sep } from "node:path";
import { dumps, formatFloat } from "../sdk/py-json.ts";
import { isObject, readJsonObject, type JsonObject } from "../store/json.ts";
import { writeJsonAtomic } from "../store/run-files.ts";

/** Where a run came from, recorded in meta.json (`imported_from`) and import.json. */
export interface ImportSource {
  kind: "tensorboard" | "mlflow";
  /** Absolute path of the source run (a TensorBoard run directory, an MLflow run directory). */
  dir: string;
  /** The source's own id, when it has one (MLflow run id). */
  source_id?: string;
}

/** What an importer knows about a run before writing it. */
export interface ImportedRunInfo {
  path: string;
  createdAt: number;
  alias: string | null;
  hostname: string;
  pid: number | null;
  source: ImportSource;
}

/** A clear failure of one import (bad source, unsafe target); the CLI prints it on one line. */
export class ImportError extends Error {}

/** One path segment made of the characters Runicorn paths allow (letters, digits, `_`, `-`). */
export function safeSegment(s: string): string {
  const out = s.replace(/[^A-Za-z0-9_-]+/g, "_").replace(/^_+|_+$/g, "");
  return out || "run";
}

/** A Runicorn run path from free-form parts (`a/b.c/d e` → `a/b_c/d_e`); empty parts dropped. */
export function safePath(parts: string[]): string {
  return parts
    .flatMap((p) => p.split(/[\\/]+/))
    .filter((p) => p !== "" && p !== "." && p !== "..")
    .map(safeSegment)
    .join("/");
}

/** `YYYYMMDD_HHMMSS` in local time, as the SDK names runs (spec §1.4). */
function stamp(t: number): string {
  const d = new Date(t * 1000);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}_${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/**
 * A number as the SDK's JSON writes it; a float32 (TensorBoard scalars) with the fewest digits that
 * read back as the same float32, so 0.1f is written `0.1`, not `0.10000000149011612`.
 */
export function formatValue(v: number, float32: boolean): string {
  if (v !== v) return "NaN";
  if (v === Infinity) return "Infinity";
  if (v === -Infinity) return "-Infinity";
  if (float32 && !Number.isInteger(v)) return float32Text(v);
  return formatFloat(v);
}

/**
 * `formatFloat(shortestFloat32(v))` without the double-to-string conversion: the digits come from the
 * scaled integer (integer printing is far cheaper). Outside [1e-4, 1e16) Python switches to exponent
 * notation, so those take the general path.
 */
function float32Text(v: number): string {
  const a = v < 0 ? -v : v;
  if (!(a >= 1e-4 && a < 1e16)) return formatFloat(shortestFloat32(v));
  const e = Math.floor(Math.log10(a));
  for (let p = 6; p <= 9; p++) {
    const k = p - 1 - e;
    if (k < 0 || k > 22) break;
    const m = Math.round(a * POW10[k]);
    if (Math.fround(m / POW10[k]) !== a) continue;
    let digits = String(m);
    let scale = k;
    let end = digits.length;
    while (scale > 0 && digits.charCodeAt(end - 1) === 48) end--, scale--;
    if (end !== digits.length) digits = digits.slice(0, end);
    let text: string;
    if (scale === 0) text = digits + ".0";
    else if (digits.length > scale) text = digits.slice(0, digits.length - scale) + "." + digits.slice(digits.length - scale);
    else text = "0." + "0".repeat(scale - digits.length) + digits;
    return v < 0 ? "-" + text : text;
  }
  return formatFloat(shortestFloat32(v));
}

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * The double with the fewest significant digits (6 to 9) that rounds to the same float32 as `v`.
 * Scaling by exact powers of ten instead of toPrecision (20× faster); every candidate is checked by
 * rounding it back, so an inexact scaling can only cost a digit, never change the value.
 */
export function shortestFloat32(v: number): number {
  const a = v < 0 ? -v : v;
  const e = Math.floor(Math.log10(a));
  for (let p = 6; p <= 9; p++) {
    const k = p - 1 - e;
    let d: number;
    if (k >= 0 && k <= 22) d = Math.round(a * POW10[k]) / POW10[k];
    else if (k < 0 && k >= -22) d = Math.round(a / POW10[-k]) * POW10[-k];
    else break;
    if (Math.fround(d) === a) return v < 0 ? -d : d;
  }
  for (let p = 6; p <= 9; p++) {
    const d = +a.toPrecision(p);
    if (Math.fround(d) === a) return v < 0 ? -d : d;
  }
  return v;
}

const utf8 = new TextEncoder();
const keyCache = new Map<string, Uint8Array>();

/** `"key": ` for a metric key as UTF-8, cached: the same keys come back on every row. */
function keyBytes(k: string): Uint8Array {
  let p = keyCache.get(k);
  if (p === undefined) {
    p = utf8.encode(JSON.stringify(k) + ": ");
    if (keyCache.size < 100_000) keyCache.set(k, p);
  }
  return p;
}

/** import.json: what was read from each source file (byte offsets or line counts). */
export interface ImportState {
  source: ImportSource;
  files: Record<string, number>;
  [k: string]: unknown;
}

/** One run being imported: created on first use, appended to on re-imports. */
export class ImportedRun {
  readonly dir: string;
  readonly id: string;
  readonly state: ImportState;
  readonly created: boolean;
  /** events.jsonl bytes not yet written (rows are encoded straight into it: no strings to join). */
  private out = new Uint8Array(1 << 20);
  private pos = 0;
  private lastTs = NaN;
  private lastTsBytes = new Uint8Array(0);

  private constructor(dir: string, id: string, state: ImportState, created: boolean) {
    this.dir = dir;
    this.id = id;
    this.state = state;
    this.created = created;
  }

  /**
   * Finds the run this source was imported to before (same source dir, same path), or creates it
   * with a stable id: the source's start time plus a hash of the source, so re-imports find it.
   */
  static open(root: string, info: ImportedRunInfo): ImportedRun {
    const runsDir = join(root, "runs");
    mkdirSync(runsDir, { recursive: true });
    const parent = join(runsDir, ...info.path.split("/"));
    ensureInside(root, parent);
    for (let n = 0; n < 100; n++) {
      const hash = createHash("sha256").update(`${info.source.kind}\0${info.source.dir}\0${info.path}\0${n}`).digest("hex").slice(0, 6);
      const id = `${stamp(info.createdAt)}_${hash}`;
      const dir = join(parent, id);
      if (existsSync(dir)) {
        const st = readJsonObject(join(dir, "import.json"));
        if (st && isObject(st.source) && st.source.dir === info.source.dir && isObject(st.files)) {
          return new ImportedRun(dir, id, st as unknown as ImportState, false);
        }
        continue; // another run holds this id: try the next hash
      }
      mkdirSync(join(dir, "media"), { recursive: true });
      ensureInside(root, dir);
      writeJsonAtomic(join(dir, "meta.json"), {
        id,
        path: info.path,
        alias: info.alias,
        created_at: info.createdAt,
        python: "",
        platform: "",
        hostname: info.hostname,
        pid: info.pid,
        storage_dir: root,
        workspace_root: info.source.dir,
        imported_from: { ...info.source },
      });
      writeJsonAtomic(join(dir, "status.json"), { status: "finished", started_at: info.createdAt, ended_at: info.createdAt });
      writeJsonAtomic(join(dir, "assets.json"), { code: {}, config: {}, datasets: [], pretrained: [], outputs: [] });
      const state: ImportState = { source: info.source, files: {} };
      return new ImportedRun(dir, id, state, true);
    }
    throw new ImportError(`cannot find a free run id for ${info.source.dir}`);
  }

  /**
   * Queues one metrics row in the SDK's line shape. `values[i]` is written as a JSON number the way
   * `formatValue(values[i], float32[i])` would (float32 values with their fewest digits).
   */
  addRow(ts: number, step: number, keys: string[], values: number[], float32: boolean[]): void {
    this.ensure(256);
    if (ts !== this.lastTs) (this.lastTs = ts), (this.lastTsBytes = utf8.encode(formatFloat(ts)));
    this.ascii('{"ts": ');
    this.bytes(this.lastTsBytes);
    this.ascii(', "type": "metrics", "data": {');
    for (let i = 0; i < keys.length; i++) {
      this.bytes(keyBytes(keys[i]));
      this.number(values[i], float32[i]);
      this.ascii(", ");
    }
    this.ascii('"global_step": ');
    this.ascii(String(step));
    this.ascii(', "time": ');
    this.bytes(this.lastTsBytes);
    this.ascii("}}\n");
    if (this.pos > 8 << 20) this.flush();
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.out.length) return;
    const next = new Uint8Array(Math.max(this.out.length * 2, this.pos + n));
    next.set(this.out.subarray(0, this.pos));
    this.out = next;
  }

  /** An ASCII string (the line's fixed parts, numbers). */
  private ascii(s: string): void {
    this.ensure(s.length);
    const o = this.out;
    let p = this.pos;
    for (let i = 0; i < s.length; i++) o[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  private bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.out.set(b, this.pos);
    this.pos += b.length;
  }

  /** `formatValue(v, float32)` written as bytes; the common float32 case prints the scaled integer's digits. */
  private number(v: number, float32: boolean): void {
    const a = v < 0 ? -v : v;
    if (float32 && a >= 1e-4 && a < 1e16 && !Number.isInteger(v)) {
      const e = Math.floor(Math.log10(a));
      for (let p = 6; p <= 9; p++) {
        const k = p - 1 - e;
        if (k < 0 || k > 22) break;
        let m = Math.round(a * POW10[k]);
        if (Math.fround(m / POW10[k]) !== a) continue;
        let scale = k;
        while (scale > 0 && m % 10 === 0) (m /= 10), scale--;
        this.ensure(40);
        if (v < 0) this.out[this.pos++] = 45;
        this.fixed(m, scale);
        return;
      }
    }
    this.ascii(formatValue(v, float32));
  }

  /** The integer `m` divided by 10^scale, in Python's repr form (`12.5`, `0.001`, `3.0`). */
  private fixed(m: number, scale: number): void {
    const d = this.digits;
    let n = 0;
    do {
      d[n++] = 48 + (m % 10);
      m = Math.floor(m / 10);
    } while (m > 0);
    const o = this.out;
    let p = this.pos;
    if (scale === 0) {
      while (n > 0) o[p++] = d[--n];
      o[p++] = 46;
      o[p++] = 48;
    } else if (n > scale) {
      while (n > scale) o[p++] = d[--n];
      o[p++] = 46;
      while (n > 0) o[p++] = d[--n];
    } else {
      o[p++] = 48;
      o[p++] = 46;
      for (let z = scale - n; z > 0; z--) o[p++] = 48;
      while (n > 0) o[p++] = d[--n];
    }
    this.pos = p;
  }

  private digits = new Uint8Array(24);

  /** Writes an image under media/ and queues its image event (spec §1.5 shape). */
  addImage(ts: number, step: number, key: string, bytes: Uint8Array, ext: string): void {
    const name = `${Math.round(ts * 1000)}_${createHash("sha256").update(bytes).digest("hex").slice(0, 6)}_${safeSegment(key)}.${ext}`;
    writeFileSync(join(this.dir, "media", name), bytes);
    this.bytes(utf8.encode(dumps({ ts, type: "image", data: { key, path: `media/${name}`, step, caption: null } }) + "\n"));
  }

  /** Appends a line to logs.txt in the SDK's `log_text` shape. */
  addText(ts: number, text: string): void {
    const d = new Date(ts * 1000);
    const p = (n: number) => String(n).padStart(2, "0");
    const hms = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
    const lines = text.split(/\r?\n/).map((l) => `${hms} | ${l}\n`);
    appendFileSync(join(this.dir, "logs.txt"), lines.join(""));
  }

  /** Appends one histogram (bins, not raw values) to histograms.jsonl. */
  addHistogram(ts: number, step: number, key: string, edges: number[], counts: number[], stats: { sum?: number; min?: number; max?: number } = {}): void {
    // the SDK's rn.Histogram line shape (docs/SDK.md), served by GET /api/runs/{id}/histograms
    const count = counts.reduce((a, b) => a + b, 0);
    const line: Record<string, unknown> = { ts, step, key, edges, counts, count };
    if (stats.sum !== undefined) line.sum = stats.sum;
    line.min = stats.min ?? edges[0];
    line.max = stats.max ?? edges[edges.length - 1];
    appendFileSync(join(this.dir, "histograms.jsonl"), dumps(line) + "\n");
  }

  /** Merges `extra` into assets.json's `config.extra` (where `log_config(extra=…)` puts it). */
  mergeConfig(extra: JsonObject): void {
    if (Object.keys(extra).length === 0) return;
    const path = join(this.dir, "assets.json");
    const assets = readJsonObject(path) ?? { code: {}, config: {}, datasets: [], pretrained: [], outputs: [] };
    const config = isObject(assets.config) ? assets.config : {};
    config.extra = { ...(isObject(config.extra) ? config.extra : {}), ...extra };
    assets.config = config;
    writeJsonAtomic(path, assets);
  }

  /** Merges keys into summary.json. */
  mergeSummary(patch: JsonObject): void {
    const path = join(this.dir, "summary.json");
    writeJsonAtomic(path, { ...(readJsonObject(path) ?? {}), ...patch });
  }

  /** Merges keys into meta.json (alias, tags). */
  mergeMeta(patch: JsonObject): void {
    const path = join(this.dir, "meta.json");
    writeJsonAtomic(path, { ...(readJsonObject(path) ?? {}), ...patch });
  }

  /** Rewrites status.json: the source's status and times. */
  setStatus(status: string, startedAt: number, endedAt: number | null): void {
    const s: JsonObject = { status, started_at: startedAt };
    if (endedAt !== null) s.ended_at = endedAt;
    writeJsonAtomic(join(this.dir, "status.json"), s);
  }

  /** Writes queued events to events.jsonl. */
  flush(): void {
    if (this.pos === 0) return;
    appendFileSync(join(this.dir, "events.jsonl"), this.out.subarray(0, this.pos));
    this.pos = 0;
  }

  /** Flushes events, then records what was read (after the data, so a crash re-reads rather than skips). */
  commit(): void {
    this.flush();
    writeJsonAtomic(join(this.dir, "import.json"), this.state);
  }
}

/** Refuses a target that resolves outside the storage root (a symlinked folder inside it). */
function ensureInside(root: string, dir: string): void {
  let real: string;
  try {
    const rootReal = realpathSync(root);
    let probe = dir;
    while (!existsSync(probe)) probe = dirname(probe);
    if (lstatSync(probe).isSymbolicLink() || !(real = realpathSync(probe)) || (real !== rootReal && !real.startsWith(rootReal + sep))) {
      throw new ImportError(`refusing to write ${dir}: it resolves outside the storage root ${root}`);
    }
  } catch (e) {
    if (e instanceof ImportError) throw e;
    throw new ImportError(`cannot check ${dir}: ${(e as Error).message}`);
  }
}
