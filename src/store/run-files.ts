// Reads a run directory's small JSON files into one record, and writes the few files the viewer changes.
import { renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isObject, type JsonObject, readJsonObject } from "./json.ts";

/** Everything the listing needs from one run directory. */
export interface RunFiles {
  meta: JsonObject;
  status: JsonObject;
  summary: JsonObject;
  assets: JsonObject | undefined;
  deleted: JsonObject | undefined;
  /** The directory's mtime in seconds (fallback for created_time, spec §3.2). */
  dirMtime: number | null;
}

/** Reads meta/status/summary/assets/.deleted of a run; missing or torn files read as empty. */
export function readRunFiles(dir: string): RunFiles {
  const deletedPath = join(dir, ".deleted");
  const deletedStat = statSync(deletedPath, { throwIfNoEntry: false });
  return {
    meta: readJsonObject(join(dir, "meta.json")) ?? {},
    status: readJsonObject(join(dir, "status.json")) ?? {},
    summary: readJsonObject(join(dir, "summary.json")) ?? {},
    assets: readJsonObject(join(dir, "assets.json")),
    // a .deleted marker that does not parse still marks the run deleted
    deleted: deletedStat ? (readJsonObject(deletedPath) ?? {}) : undefined,
    dirMtime: (statSync(dir, { throwIfNoEntry: false })?.mtimeMs ?? NaN) / 1000 || null,
  };
}

/** Spec §1.5: 1 for a code snapshot object, 1 for a non-empty config, plus datasets, pretrained, outputs. */
export function assetsCount(assets: JsonObject | undefined): number {
  if (!assets) return 0;
  let n = 0;
  const code = assets.code;
  if (isObject(code) && isObject(code.snapshot)) n++;
  if (isObject(assets.config) && Object.keys(assets.config).length > 0) n++;
  for (const k of ["datasets", "pretrained", "outputs"]) {
    const v = assets[k];
    if (Array.isArray(v)) n += v.length;
  }
  return n;
}

/** A finite number or null. */
export function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/** A string or null. */
export function str(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}

/** Writes a JSON file atomically (temp file + rename), pretty-printed as the SDK does (indent 2). */
export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 2));
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Merges `patch` into the run's status.json (spec §1.5: finish and crash detection merge keys). */
export function mergeStatus(dir: string, patch: JsonObject): JsonObject {
  const path = join(dir, "status.json");
  const next = { ...(readJsonObject(path) ?? {}), ...patch };
  writeJsonAtomic(path, next);
  return next;
}

/** Spec §1.11: writes the `.deleted` marker. */
export function writeDeletedMarker(dir: string, reason: string, originalStatus: string): void {
  writeJsonAtomic(join(dir, ".deleted"), {
    deleted_at: Date.now() / 1000,
    reason,
    original_status: originalStatus,
  });
}

/** Spec §1.11: restore = remove the marker. */
export function removeDeletedMarker(dir: string): void {
  rmSync(join(dir, ".deleted"), { force: true });
}
