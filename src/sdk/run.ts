// A live run: buffered events.jsonl/logs.txt appends, summary/status merges, best metric and heartbeat (spec §1.5, §2.3).
import { finishRunRow, upsertRunRow } from "./index-rows.ts";
import { datasetEntry, imageBytes, mergeConfig, pretrainedEntry, saveImage, updateAssets } from "./run-assets.ts";
import { SystemSampler } from "./system-metrics.ts";
import { histogramLine, isRichValue, saveMediaValue, type RichValue } from "./media-log.ts";
import { Histogram } from "./media.ts";
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readSync, fstatSync } from "node:fs";
import { hostname, machine, platform, release, type } from "node:os";
import { join } from "node:path";
import { isObject, type JsonObject } from "../store/json.ts";
import { trackForExit, untrackForExit, type Flushable } from "./exit-hooks.ts";
import { dumps, formatFloat, formatNumber, PyFloat } from "./py-json.ts";
import {
  mergeInto,
  nowSeconds,
  openAppend,
  readJsonForMerge,
  resyncClock,
  syncAndClose,
  writeAll,
  writeJsonFile,
} from "./run-files.ts";

/** The metrics of one `log()` call: any JSON-serialisable values, keys in call order. */
export type LogData = Record<string, unknown>;

/** Options of `log()` (spec §2.3). */
export interface LogOptions {
  /** Sets the global step for this record (an integer); later auto steps continue from it. */
  step?: number | bigint | null;
  /** Stage label (e.g. "train"); wins over a `stage` key in the data. */
  stage?: unknown;
}

/** Everything a Run needs, already resolved by `init()`. */
export interface RunSetup {
  id: string;
  path: string;
  alias: string | null;
  storageRoot: string;
  workspaceRoot: string;
  /** Longest time buffered lines wait before they are written (ms). */
  flushIntervalMs: number;
  /** Seconds between `heartbeat_at` refreshes in status.json; 0 turns the heartbeat off. */
  heartbeatSeconds: number;
  /** Flush on SIGTERM (installs a listener, then re-raises the signal). */
  handleSignals: boolean;
  /** Tags written to meta.json (merged into a joined or resumed run's tags). */
  tags?: string[];
  /** Notes written to meta.json. */
  notes?: string;
  /** Settings stored as assets.json `config.extra` (merged with what is there). */
  config?: Record<string, unknown>;
  /** Continue an existing run: its step counter goes on from the last step logged. */
  resumed?: boolean;
  /** Seconds between system metric samples into system.jsonl; 0 or absent = off. */
  systemInterval?: number;
}

const MAX_CHUNK = 1 << 20; // flush early once this many characters are buffered
const MAX_PENDING = 64 << 20; // while writes fail, drop buffered lines beyond this

const keyCache = new Map<string, string>();

/** `"key": ` for a data key, cached because the same keys come back on every call. */
function keyPrefix(k: string): string {
  let p = keyCache.get(k);
  if (p === undefined) {
    p = JSON.stringify(k) + ": ";
    if (keyCache.size < 10_000) keyCache.set(k, p);
  }
  return p;
}

/** A step as an integer; a fraction, NaN, or anything but a number or bigint is refused with a clear error. */
export function toStep(v: unknown): number {
  if (typeof v === "bigint") return Number(v);
  if (typeof v !== "number") throw new TypeError(`step must be an integer, got ${typeof v} ${JSON.stringify(String(v))}`);
  if (!Number.isInteger(v)) throw new RangeError(`step must be a whole number, got ${v} (round it yourself, e.g. Math.round(x))`);
  return v;
}

/** Whether `v` is a plain object (`{...}`), which log() flattens into "parent/child" keys. */
function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** `{val: {acc: 1}}` → `{"val/acc": 1}`, keeping key order; other values as they are. */
export function flattenMetrics(data: LogData, prefix = "", out: LogData = {}, seen = new Set<object>()): LogData {
  if (seen.has(data)) throw new TypeError("Circular reference detected");
  seen.add(data);
  for (const k in data) {
    const v = data[k];
    const key = prefix ? `${prefix}/${k}` : k;
    if (isPlainObject(v)) flattenMetrics(v, key, out, seen);
    else out[key] = v;
  }
  seen.delete(data);
  return out;
}

/** The largest step logged in the last MiB of an events.jsonl (0 when none), where a resumed run continues. */
export function lastLoggedStep(eventsPath: string): number {
  let fd = -1;
  try {
    fd = openSync(eventsPath, "r");
    const size = fstatSync(fd).size;
    const len = Math.min(size, 1 << 20);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    let best = 0;
    for (const m of buf.toString("utf8").matchAll(/"(?:global_step|step)": (-?\d+)/g)) best = Math.max(best, Number(m[1]));
    return best;
  } catch {
    return 0; // no file yet: a new run starts at step 0
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** The JS runtime written in meta.json's `python` key, e.g. "bun 1.4.5" or "node 20.20.2". */
export function runtimeVersion(): string {
  const v = process.versions as Record<string, string | undefined>;
  if (v.deno) return `deno ${v.deno}`;
  if (v.bun) return `bun ${v.bun}`;
  return `node ${v.node}`;
}

/** Python's `f"{platform.system()} {platform.release()} ({platform.machine()})"`. */
export function platformString(): string {
  const win = platform() === "win32";
  const system = win ? "Windows" : type();
  let mach = typeof machine === "function" ? machine() : process.arch;
  if (win) mach = mach === "x86_64" ? "AMD64" : mach.toUpperCase();
  return `${system} ${release()} (${mach})`;
}

/**
 * A run being recorded into `ROOT/runs/<path>/<id>/`. Metric and text lines are buffered and
 * written at least every `flushIntervalMs`, when 1 MiB is pending, on finish() and at process
 * exit. I/O errors are reported once per kind on stderr and never thrown.
 */
export class Run implements Flushable {
  /** The run id (directory name). */
  readonly id: string;
  /** The normalised path ("" for root runs). */
  readonly path: string;
  readonly alias: string | null;
  /** The storage root ROOT. */
  readonly storageRoot: string;
  /** ROOT/runs/<path>. */
  readonly runsDir: string;
  /** ROOT/runs/<path>/<id>. */
  readonly runDir: string;
  /** The run's media/ folder. */
  readonly mediaDir: string;
  readonly workspaceRoot: string;

  private globalStep = 0;
  private primaryName: string | undefined;
  private primaryMode: "max" | "min" = "max";
  private bestValue: number | boolean | undefined;
  private bestStep: number | undefined;

  private evBuf = "";
  private logBuf = "";
  private histBuf = "";
  private evFd = -1;
  private logFd = -1;
  private histFd = -1;
  private chunk = MAX_CHUNK;
  private due: number;
  private nextBeat: number;
  private timer: ReturnType<typeof setInterval> | undefined;
  private finished = false;
  private system: SystemSampler | undefined;
  private readonly flushSec: number;
  private readonly beatSec: number;
  private readonly startedAt: number;
  private readonly warned = new Set<string>();
  private lastStage: unknown = undefined;
  private lastStageJson = "";
  private clockSec = -1;
  private clockText = "";

  private readonly eventsPath: string;
  private readonly logsPath: string;
  private readonly histPath: string;
  private readonly statusPath: string;
  private readonly summaryPath: string;

  /** Creates the run directory and its initial files (spec §1.5); use `init()` rather than this. */
  constructor(s: RunSetup) {
    this.id = s.id;
    this.path = s.path;
    this.alias = s.alias;
    this.storageRoot = s.storageRoot;
    this.runsDir = s.path ? join(s.storageRoot, "runs", ...s.path.split("/")) : join(s.storageRoot, "runs");
    this.runDir = join(this.runsDir, s.id);
    this.mediaDir = join(this.runDir, "media");
    this.workspaceRoot = s.workspaceRoot;
    this.eventsPath = join(this.runDir, "events.jsonl");
    this.logsPath = join(this.runDir, "logs.txt");
    this.histPath = join(this.runDir, "histograms.jsonl");
    this.statusPath = join(this.runDir, "status.json");
    this.summaryPath = join(this.runDir, "summary.json");
    this.flushSec = Math.max(1, s.flushIntervalMs) / 1000;
    this.beatSec = s.heartbeatSeconds > 0 ? s.heartbeatSeconds : Infinity;

    this.guard("init", () => mkdirSync(this.mediaDir, { recursive: true }));
    const createdAt = nowSeconds();
    const meta: Record<string, unknown> = {
      id: this.id,
      path: this.path,
      alias: this.alias,
      created_at: createdAt,
      python: runtimeVersion(),
      platform: platformString(),
      hostname: hostname(),
      pid: process.pid,
      storage_dir: this.storageRoot,
      workspace_root: this.workspaceRoot,
    };
    if (s.tags) meta.tags = s.tags;
    if (s.notes !== undefined) meta.notes = s.notes;
    const metaPath = join(this.runDir, "meta.json");
    if (s.resumed) this.globalStep = lastLoggedStep(join(this.runDir, "events.jsonl"));
    // a second process joining the same run id (another DDP rank) keeps the first meta.json, adding tags and notes
    this.guard("init", () => {
      const cur = existsSync(metaPath) ? readJsonForMerge(metaPath) : undefined;
      if (!cur) return writeJsonFile(metaPath, floatTimes(meta, ["created_at"]));
      const before = JSON.stringify(cur);
      if (s.tags?.length) {
        const tags = Array.isArray(cur.tags) ? [...(cur.tags as string[])] : [];
        for (const t of s.tags) if (!tags.includes(t)) tags.push(t);
        cur.tags = tags;
      }
      if (s.notes !== undefined) cur.notes = s.notes;
      if (s.resumed && s.alias !== null) cur.alias = s.alias;
      if (JSON.stringify(cur) !== before) writeJsonFile(metaPath, floatTimes(cur, ["created_at"]));
    });
    this.startedAt = nowSeconds();
    this.guard("init", () => {
      const cur = existsSync(this.statusPath) ? (readJsonForMerge(this.statusPath) ?? {}) : {};
      // joining a run: it is running again; the first process's start time stays
      delete cur.ended_at;
      delete cur.exit_reason;
      mergeInto(cur, { status: "running" });
      if (!("started_at" in cur)) cur.started_at = this.startedAt;
      if (this.beatSec !== Infinity) cur.heartbeat_at = this.startedAt;
      else delete cur.heartbeat_at; // a stale beat from an earlier process would read as a dead run
      writeJsonFile(this.statusPath, floatTimes(cur, TIME_KEYS));
    });
    const assetsPath = join(this.runDir, "assets.json");
    this.guard("init", () => {
      if (!existsSync(assetsPath)) {
        writeJsonFile(assetsPath, { code: {}, config: {}, datasets: [], pretrained: [], outputs: [] });
      }
      if (s.config) {
        const assets = readJsonForMerge(assetsPath) ?? {};
        const cfg = isObject(assets.config) ? assets.config : {};
        cfg.extra = { ...(isObject(cfg.extra) ? cfg.extra : {}), ...s.config } as JsonObject;
        assets.config = cfg;
        writeJsonFile(assetsPath, assets);
      }
    });

    this.nextBeat = this.startedAt + this.beatSec;
    this.due = Math.min(this.startedAt + this.flushSec, this.nextBeat);
    trackForExit(this, s.handleSignals);
    const period = Math.max(1, Math.min(s.flushIntervalMs, this.beatSec * 1000));
    this.timer = setInterval(() => this.tick(nowSeconds()), period);
    this.guard("index/runicorn.db", () =>
      upsertRunRow(this.storageRoot, { runId: this.id, path: this.path, alias: this.alias, createdAt, runDir: this.runDir, workspaceRoot: this.workspaceRoot }),
    );
    if (s.systemInterval && s.systemInterval > 0) {
      this.system = new SystemSampler(join(this.runDir, "system.jsonl"), s.systemInterval);
      this.guard("system metrics", () => this.system!.start());
    }
    // never keep the process alive just for flushing; the exit hook writes the rest
    if (typeof this.timer === "object" && typeof this.timer.unref === "function") this.timer.unref();
  }

  /**
   * Records one metrics event (spec §2.3): `step`/`global_step` keys are dropped; an explicit
   * `step` (an integer: a fraction throws RangeError) sets the global step, otherwise it
   * auto-increments; nested plain objects are flattened with "/" (`{val: {acc}}` → `val/acc`); the
   * stage is the explicit option, else the data's `stage` key; `global_step`, `time` (and `stage`)
   * are appended.
   */
  log(data?: LogData | null, opts?: LogOptions): void {
    const ts = nowSeconds();
    const st = opts === undefined ? undefined : opts.step;
    if (st === undefined || st === null) {
      this.globalStep++;
    } else {
      this.globalStep = typeof st === "number" && Number.isInteger(st) ? st : toStep(st);
    }
    if (data) {
      for (const k in data) {
        if (isPlainObject(data[k])) {
          data = flattenMetrics(data);
          break;
        }
      }
    }
    const tsText = formatFloat(ts);
    let body = "";
    let timeInPlace = false;
    let dataStage: unknown;
    if (data) {
      for (const k in data) {
        const v = data[k];
        // spec §2.3: step/global_step are dropped, stage moves to the tail, time is overwritten in place
        if (k === "step" || k === "global_step") continue;
        if (k === "stage") {
          dataStage = v;
          continue;
        }
        let s: string;
        if (typeof v === "number") {
          s = (v >= 1e-4 && v < 1e16) || (v <= -1e-4 && v > -1e16) ? "" + v : formatNumber(v);
        } else if (typeof v === "string") {
          s = JSON.stringify(v);
        } else if (v === undefined || typeof v === "function" || typeof v === "symbol") {
          continue;
        } else if (isRichValue(v)) {
          this.logRich(k, v, ts); // Python: histograms.jsonl, or media/ + an event line before the metrics line
          continue;
        } else {
          s = dumps(v);
        }
        if (k === "time") {
          s = tsText;
          timeInPlace = true;
        }
        body = body === "" ? keyPrefix(k) + s : body + ", " + keyPrefix(k) + s;
      }
    }
    const step = this.globalStep;
    body = (body === "" ? '"global_step": ' : body + ', "global_step": ') + formatNumber(step);
    if (!timeInPlace) body += ', "time": ' + tsText;
    let stage = opts === undefined ? undefined : opts.stage;
    if (stage === undefined || stage === null) stage = dataStage;
    if (stage !== undefined && stage !== null) {
      if (stage !== this.lastStage) {
        this.lastStageJson = dumps(stage);
        this.lastStage = stage;
      }
      body += ', "stage": ' + this.lastStageJson;
    }
    const line = '{"ts": ' + tsText + ', "type": "metrics", "data": {' + body + "}}\n";
    if (this.finished) {
      this.appendDirect(this.eventsPath, line);
    } else {
      this.evBuf += line;
      if (ts >= this.due || this.evBuf.length > this.chunk) this.tick(ts);
    }
    if (this.primaryName !== undefined) this.updateBest(data, step, ts, stage);
  }

  /** Writes a Histogram, Table or Audio logged under `key` at the current step, as the Python SDK does. */
  private logRich(key: string, v: RichValue, ts: number): void {
    if (v instanceof Histogram) {
      const line = histogramLine(v, key, this.globalStep, ts);
      if (this.finished) this.appendDirect(this.histPath, line);
      else this.histBuf += line;
      return;
    }
    let line = "";
    this.guard("media", () => (line = saveMediaValue(this.mediaDir, key, v, this.globalStep)));
    if (!line) return;
    if (this.finished) this.appendDirect(this.eventsPath, line);
    else this.evBuf += line;
  }

  /** Appends `HH:MM:SS | text` (local time) to logs.txt (spec §1.5). */
  logText(text: string): void {
    const ts = nowSeconds();
    const line = this.clock(ts) + " | " + String(text) + "\n";
    if (this.finished) {
      this.appendDirect(this.logsPath, line);
    } else {
      this.logBuf += line;
      if (ts >= this.due || this.logBuf.length > this.chunk) this.tick(ts);
    }
  }

  /**
   * Saves an image (PNG/JPEG bytes, or a file path) into media/ and records an image event, like
   * Python's log_image; returns its run-relative path ("" when it could not be written).
   */
  logImage(key: string, image: Uint8Array | string, opts: { step?: number; caption?: string } = {}): string {
    const step = opts.step === undefined ? null : toStep(opts.step);
    const { data } = imageBytes(image); // a bad argument throws, as in Python
    let rel = "";
    this.guard("media", () => (rel = saveImage(this.mediaDir, key, data)));
    if (!rel) return "";
    const ts = nowSeconds();
    const line = JSON.stringify({ ts, type: "image", data: { key, path: rel, step, caption: opts.caption ?? null } }) + "\n";
    if (this.finished) this.appendDirect(this.eventsPath, line);
    else this.evBuf += line;
    return rel;
  }

  /** Records settings in assets.json `config`, like Python's log_config: `args` replaced, `extra` merged, `configFiles` by path. */
  logConfig(opts: { args?: Record<string, unknown>; extra?: Record<string, unknown>; configFiles?: string[] }): void {
    this.guard("assets.json", () => updateAssets(join(this.runDir, "assets.json"), (a) => mergeConfig(a, opts)));
  }

  /** Records a dataset in assets.json `datasets` (name, context, uri, fingerprint; not archived), like Python's log_dataset. */
  logDataset(name: string, rootOrUri: string | Record<string, unknown>, opts: { context?: string; description?: string } = {}): void {
    const entry = datasetEntry(name, rootOrUri, opts);
    this.guard("assets.json", () => updateAssets(join(this.runDir, "assets.json"), (a) => void (a.datasets = [...(Array.isArray(a.datasets) ? a.datasets : []), entry])));
  }

  /** Records pretrained weights in assets.json `pretrained` (not archived), like Python's log_pretrained. */
  logPretrained(name: string, opts: { pathOrUri?: string | Record<string, unknown>; sourceType?: string; description?: string } = {}): void {
    const entry = pretrainedEntry(name, opts);
    this.guard("assets.json", () => updateAssets(join(this.runDir, "assets.json"), (a) => void (a.pretrained = [...(Array.isArray(a.pretrained) ? a.pretrained : []), entry])));
  }

  /** Merges keys into summary.json (shallow, like dict.update); written at once. */
  summary(update: LogData): void {
    if (!isObject(update)) throw new TypeError("summary() takes an object");
    this.guard("summary", () => {
      writeJsonFile(this.summaryPath, mergeInto(readJsonForMerge(this.summaryPath) ?? {}, update));
    });
  }

  /**
   * Tracks the best value of one metric (spec §2.3); it is written to summary.json as
   * `best_metric_*` on finish(). Resets the best so far; `mode` must be "max" or "min".
   */
  setPrimaryMetric(name: string, mode: "max" | "min" = "max"): void {
    if (mode !== "max" && mode !== "min") throw new RangeError(`Mode must be 'max' or 'min', got '${mode}'`);
    this.primaryName = name;
    this.primaryMode = mode;
    this.bestValue = undefined;
    this.bestStep = undefined;
  }

  /**
   * Ends the run: writes buffered lines, the best metric into summary.json and merges
   * `status`/`ended_at` into status.json. Calling it again rewrites `ended_at`; lines logged
   * after it are appended unbuffered.
   */
  finish(status = "finished"): void {
    this.finished = true;
    this.system?.stop();
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    untrackForExit(this);
    this.flushNow();
    for (const fd of [this.evFd, this.logFd, this.histFd]) if (fd >= 0) syncAndClose(fd);
    this.evFd = this.logFd = this.histFd = -1;
    if (this.bestValue !== undefined) {
      this.summary({
        best_metric_value: this.bestValue,
        best_metric_name: this.primaryName,
        best_metric_step: this.bestStep,
        best_metric_mode: this.primaryMode,
      });
    }
    const endedAt = nowSeconds();
    this.guard("status", () => {
      const cur = readJsonForMerge(this.statusPath) ?? {};
      writeJsonFile(this.statusPath, floatTimes(mergeInto(cur, { status: String(status), ended_at: endedAt }), TIME_KEYS));
    });
    this.guard("index/runicorn.db", () => finishRunRow(this.storageRoot, this.id, String(status), endedAt));
  }

  /** Writes everything buffered now (also called by the exit hooks); never throws. */
  flushNow(): void {
    if (this.evBuf !== "") this.evBuf = this.drain(this.eventsPath, "evFd", this.evBuf);
    if (this.logBuf !== "") this.logBuf = this.drain(this.logsPath, "logFd", this.logBuf);
    if (this.histBuf !== "") this.histBuf = this.drain(this.histPath, "histFd", this.histBuf);
  }

  /** The periodic work: flush, re-align the clock, refresh the heartbeat when due. */
  private tick(ts: number): void {
    this.flushNow();
    resyncClock();
    if (ts >= this.nextBeat && !this.finished) {
      this.nextBeat = ts + this.beatSec;
      this.guard("heartbeat", () => {
        const cur = readJsonForMerge(this.statusPath);
        if (cur === undefined) return; // caught another writer mid-write: skip this beat, never clobber
        if (cur.status !== "running" && (cur.exit_reason === "heartbeat_lost" || cur.exit_reason === "process_not_found")) {
          // a viewer gave up on us while we were stalled (suspend, NFS hiccup): we are alive after all
          cur.status = "running";
          delete cur.ended_at;
          delete cur.exit_reason;
        }
        if (!("status" in cur)) mergeInto(cur, { status: "running", started_at: this.startedAt });
        writeJsonFile(this.statusPath, floatTimes(mergeInto(cur, { heartbeat_at: nowSeconds() }), TIME_KEYS));
      });
    }
    this.due = Math.min(ts + this.flushSec, this.nextBeat);
  }

  /** Writes a buffer to its file; returns what is left to retry (bounded by MAX_PENDING). */
  private drain(path: string, fdKey: "evFd" | "logFd" | "histFd", buf: string): string {
    if (this[fdKey] < 0) {
      try {
        this[fdKey] = openFresh(path);
      } catch (err) {
        return this.keep(buf, err);
      }
    }
    const { error, rest } = writeAll(this[fdKey], buf);
    if (error === undefined) {
      this.chunk = MAX_CHUNK;
      return "";
    }
    try {
      closeSync(this[fdKey]);
    } catch {
      // the descriptor is broken anyway; reopen on the next flush
    }
    this[fdKey] = -1;
    return this.keep(rest, error);
  }

  /** After a failed write: warn once, keep the lines for the next flush, drop beyond the cap. */
  private keep(buf: string, err: unknown): string {
    this.warnOnce("write", `cannot write to ${this.runDir}: ${String(err)}; will retry`);
    this.chunk = MAX_PENDING; // no early retries per call; the next timed flush tries again
    if (buf.length <= MAX_PENDING) return buf;
    this.warnOnce("drop", `dropping buffered lines for ${this.runDir}: writes keep failing`);
    return "";
  }

  /** Unbuffered append after finish(). */
  private appendDirect(path: string, line: string): void {
    this.guard("write", () => appendFileSync(path, line, { mode: 0o666 }));
  }

  private updateBest(data: LogData | null | undefined, step: number, ts: number, stage: unknown): void {
    const name = this.primaryName as string;
    let v: unknown;
    if (name === "global_step") v = step;
    else if (name === "time") v = ts;
    else if (name === "stage") v = stage;
    else if (name === "step" || !data) return;
    else v = data[name];
    // bool counts as numeric as in Python; NaN never becomes the best (0.6 would then be stuck on it)
    if (typeof v === "number") {
      if (v !== v) return;
    } else if (typeof v !== "boolean") {
      return;
    }
    const best = this.bestValue;
    if (best === undefined || (this.primaryMode === "max" ? v > best : v < best)) {
      this.bestValue = v;
      this.bestStep = step;
    }
  }

  /** `HH:MM:SS` local time, computed once per second. */
  private clock(ts: number): string {
    const sec = Math.floor(ts);
    if (sec !== this.clockSec) {
      const d = new Date(sec * 1000);
      const p2 = (n: number) => (n < 10 ? "0" + n : "" + n);
      this.clockText = `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
      this.clockSec = sec;
    }
    return this.clockText;
  }

  private guard(kind: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.warnOnce(kind, `${kind} failed for ${this.runDir}: ${String(err)}`);
    }
  }

  private warnOnce(kind: string, msg: string): void {
    if (this.warned.has(kind)) return;
    this.warned.add(kind);
    console.warn(`[runicorn] ${msg}`);
  }
}

const TIME_KEYS = ["started_at", "ended_at", "heartbeat_at"];

/** Opens for append, recreating the run directory if it vanished. */
function openFresh(path: string): number {
  try {
    return openAppend(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    mkdirSync(join(path, ".."), { recursive: true });
    return openAppend(path);
  }
}

/** Marks timestamp keys so they are written as Python floats (`…0.0`, never a bare integer). */
function floatTimes(obj: JsonObject, keys: string[]): JsonObject {
  for (const k of keys) {
    const v = obj[k];
    if (typeof v === "number") obj[k] = new PyFloat(v);
  }
  return obj;
}
