// `runicorn import --mlflow DIR`: an MLflow file store (`mlruns/<experiment>/<run>/{meta.yaml,
// metrics,params,tags,artifacts}`) becomes Runicorn runs: params → config, metric files (lines of
// `timestamp value step`) → metrics rows by step, tags → tags, run name → alias, status and times
// from meta.yaml. Incremental: import.json keeps how many bytes of each metric file were read.
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readFileSync, readSync, type Dirent } from "node:fs";
import { join, resolve } from "node:path";
import { ImportedRun, ImportError, safePath } from "./run-writer.ts";

/** Options of an MLflow import. */
export interface MlflowImportOptions {
  /** Runicorn path prefix (default: `mlflow`); each experiment's name is a folder under it. */
  path?: string;
  progress?: (done: number, total: number, points: number) => void;
}

/** What one import did. */
export interface MlflowImportResult {
  runs: { id: string; path: string; source: string; mlflow_run_id: string; created: boolean; points: number; params: number }[];
  points: number;
  skipped: { dir: string; reason: string }[];
}

/** MLflow's RunStatus enum (the file store writes the number). */
const STATUS: Record<string, string> = {
  "1": "running",
  RUNNING: "running",
  "2": "running",
  SCHEDULED: "running",
  "3": "finished",
  FINISHED: "finished",
  "4": "failed",
  FAILED: "failed",
  "5": "interrupted",
  KILLED: "interrupted",
};

/**
 * The flat `key: value` mappings MLflow's file store writes in meta.yaml (quoted or plain scalars,
 * `[]`/`{}` for empty collections). Nested blocks are skipped.
 */
export function parseFlatYaml(text: string): Record<string, string | number | boolean | null> {
  const out: Record<string, string | number | boolean | null> = {};
  for (const raw of text.split(/\r?\n/)) {
    if (!raw || raw.startsWith(" ") || raw.startsWith("\t") || raw.startsWith("#") || raw.startsWith("-")) continue;
    const m = /^([A-Za-z_][\w.-]*):\s*(.*)$/.exec(raw);
    if (!m) continue;
    let v = m[2].trim();
    if (v === "" || v === "null" || v === "~") out[m[1]] = null;
    else if (v.startsWith("'") && v.endsWith("'") && v.length >= 2) out[m[1]] = v.slice(1, -1).replace(/''/g, "'");
    else if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) {
      try {
        out[m[1]] = JSON.parse(v) as string;
      } catch {
        out[m[1]] = v.slice(1, -1);
      }
    } else if (v === "true" || v === "false") out[m[1]] = v === "true";
    else if (/^[-+]?\d+$/.test(v)) out[m[1]] = Number(v);
    else if (v === "[]" || v === "{}") continue;
    else {
      const hash = v.indexOf(" #");
      if (hash >= 0) v = v.slice(0, hash).trim();
      out[m[1]] = v;
    }
  }
  return out;
}

/** Files under `dir` (recursively: MLflow keys may contain `/`), as key → absolute path. */
function keyFiles(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string, prefix: string, depth: number) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return; // a missing metrics/params/tags folder means none
    }
    for (const e of entries) {
      if (e.isFile()) out.set(prefix + e.name, join(d, e.name));
      else if (e.isDirectory() && depth < 16) walk(join(d, e.name), `${prefix}${e.name}/`, depth + 1);
    }
  };
  walk(dir, "", 0);
  return out;
}

/** A param's text as a config value: numbers and booleans typed, everything else a string. */
function paramValue(s: string): unknown {
  const t = s.trim();
  if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) return Number(t);
  if (t === "True" || t === "true") return true;
  if (t === "False" || t === "false") return false;
  if (t === "None") return null;
  return s;
}

/** Reads `path` from byte `offset`; returns the complete lines and the new offset (a torn last line waits). */
function readNewLines(path: string, offset: number): { lines: string[]; next: number } {
  const fd = openSync(path, "r");
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size <= offset) return { lines: [], next: st.size < offset ? 0 : offset };
    const buf = Buffer.alloc(st.size - offset);
    let got = 0;
    while (got < buf.length) {
      const k = readSync(fd, buf, got, buf.length - got, offset + got);
      if (k === 0) break;
      got += k;
    }
    const lastNl = buf.lastIndexOf(10, got - 1);
    if (lastNl < 0) return { lines: [], next: offset };
    return { lines: buf.toString("utf8", 0, lastNl).split("\n"), next: offset + lastNl + 1 };
  } finally {
    closeSync(fd);
  }
}

/** Experiments of an mlruns folder: id → { name, dir }; `.trash` and `models` are not experiments. */
function findExperiments(root: string): { id: string; name: string; dir: string; deleted: boolean }[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(root, { withFileTypes: true });
  } catch (e) {
    throw new ImportError(`cannot read ${root}: ${(e as Error).message}`);
  }
  const out: { id: string; name: string; dir: string; deleted: boolean }[] = [];
  for (const e of entries) {
    if (!e.isDirectory() || e.name.startsWith(".") || e.name === "models") continue;
    const metaPath = join(root, e.name, "meta.yaml");
    if (!existsSync(metaPath)) continue;
    const meta = parseFlatYaml(readFileSync(metaPath, "utf8"));
    out.push({
      id: e.name,
      name: String(meta.name ?? e.name),
      dir: join(root, e.name),
      deleted: meta.lifecycle_stage === "deleted",
    });
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** Imports every run of the MLflow file store at `dir` (an `mlruns` folder) into `root`. */
export function importMlflow(root: string, dir: string, opts: MlflowImportOptions = {}): MlflowImportResult {
  let source = resolve(dir);
  if (!existsSync(source)) throw new ImportError(`${source} does not exist`);
  if (existsSync(join(source, "mlruns")) && !existsSync(join(source, "meta.yaml"))) source = join(source, "mlruns");
  const experiments = findExperiments(source);
  if (experiments.length === 0) throw new ImportError(`no MLflow experiments (<id>/meta.yaml) under ${source}`);
  const prefix = safePath([opts.path ?? "mlflow"]);
  const result: MlflowImportResult = { runs: [], points: 0, skipped: [] };
  const runDirs: { exp: (typeof experiments)[number]; dir: string; name: string }[] = [];
  for (const exp of experiments) {
    if (exp.deleted) {
      result.skipped.push({ dir: exp.dir, reason: "experiment is deleted in MLflow" });
      continue;
    }
    for (const e of readdirSync(exp.dir, { withFileTypes: true })) {
      if (e.isDirectory() && existsSync(join(exp.dir, e.name, "meta.yaml"))) runDirs.push({ exp, dir: join(exp.dir, e.name), name: e.name });
    }
  }
  let done = 0;
  for (const rd of runDirs) {
    try {
      const n = importRun(root, rd.exp.name, rd.dir, rd.name, prefix, result);
      result.points += n;
    } catch (e) {
      if (!(e instanceof ImportError)) throw e;
      result.skipped.push({ dir: rd.dir, reason: e.message });
    }
    opts.progress?.(++done, runDirs.length, result.points);
  }
  return result;
}

function importRun(root: string, expName: string, dir: string, dirName: string, prefix: string, result: MlflowImportResult): number {
  const meta = parseFlatYaml(readFileSync(join(dir, "meta.yaml"), "utf8"));
  if (meta.lifecycle_stage === "deleted") throw new ImportError("run is deleted in MLflow");
  const mlflowId = String(meta.run_id ?? meta.run_uuid ?? dirName);
  const startMs = typeof meta.start_time === "number" ? meta.start_time : null;
  const endMs = typeof meta.end_time === "number" ? meta.end_time : null;
  const tags = new Map<string, string>();
  for (const [k, p] of keyFiles(join(dir, "tags"))) tags.set(k, readFileSync(p, "utf8"));
  const runName = (typeof meta.run_name === "string" && meta.run_name) || tags.get("mlflow.runName") || null;
  const path = safePath([prefix, expName]) || prefix;
  const created = startMs !== null ? startMs / 1000 : Date.now() / 1000;
  const run = ImportedRun.open(root, {
    path,
    createdAt: created,
    alias: runName,
    hostname: "",
    pid: null,
    source: { kind: "mlflow", dir, source_id: mlflowId },
  });

  // params → config (re-read each time: they are small and may have been added)
  const params: Record<string, unknown> = {};
  for (const [k, p] of keyFiles(join(dir, "params"))) params[k] = paramValue(readFileSync(p, "utf8"));
  run.mergeConfig(params);

  // user tags → tags; system tags (mlflow.*) stay in the source
  const userTags = [...tags.keys()].filter((k) => !k.startsWith("mlflow.")).sort();
  const tagList = userTags.map((k) => (tags.get(k) ? `${k}:${tags.get(k)}` : k));
  const metaPatch: Record<string, unknown> = { alias: runName, mlflow: { run_id: mlflowId, experiment: expName, user: meta.user_id ?? null } };
  if (tagList.length) metaPatch.tags = tagList;
  const note = tags.get("mlflow.note.content");
  if (note) metaPatch.notes = note;
  run.mergeMeta(metaPatch);

  // metrics: new lines of every key file, merged into one row per step
  const rows = new Map<number, { ts: number; keys: string[]; values: number[] }>();
  const last: Record<string, number> = {};
  let points = 0;
  for (const [key, p] of keyFiles(join(dir, "metrics"))) {
    const offset = run.state.files[key] ?? 0;
    const { lines, next } = readNewLines(p, offset);
    for (const line of lines) {
      const parts = line.trim().split(/\s+/);
      if (parts.length < 2) continue;
      const ts = Number(parts[0]) / 1000;
      const value = parts[1] === "nan" || parts[1] === "NaN" ? NaN : Number(parts[1]);
      const step = parts.length >= 3 ? Number(parts[2]) : 0;
      if (!Number.isFinite(ts) || !Number.isInteger(step) || (Number.isNaN(value) && parts[1].toLowerCase() !== "nan")) continue;
      let row = rows.get(step);
      if (!row) rows.set(step, (row = { ts, keys: [], values: [] }));
      const at = row.keys.indexOf(key);
      if (at >= 0) row.values[at] = value;
      else row.keys.push(key), row.values.push(value);
      if (ts > row.ts) row.ts = ts;
      if (Number.isFinite(value)) last[key] = value;
      points++;
    }
    run.state.files[key] = next;
  }
  for (const step of [...rows.keys()].sort((a, b) => a - b)) {
    const r = rows.get(step)!;
    run.addRow(r.ts, step, r.keys, r.values, r.values.map(() => false));
  }
  if (Object.keys(last).length) run.mergeSummary(last);

  const status = STATUS[String(meta.status ?? "")] ?? "finished";
  // a run MLflow still records as running stays running here until a later import sees its end
  run.setStatus(status, created, endMs !== null ? endMs / 1000 : null);
  run.commit();
  result.runs.push({ id: run.id, path, source: dir, mlflow_run_id: mlflowId, created: run.created, points, params: Object.keys(params).length });
  return points;
}
