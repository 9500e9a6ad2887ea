// The TS SDK's images, config and asset records, in the Python SDK's shapes (spec §1.5): media/ files, image events, assets.json.
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { isObject, type JsonObject } from "../store/json.ts";
import { readJsonForMerge, writeJsonFile } from "./run-files.ts";

/** PNG or JPEG bytes and their extension; anything else is a TypeError (as in Python). */
export function imageBytes(image: Uint8Array | string): { data: Uint8Array; ext: "png" | "jpg" } {
  const data = typeof image === "string" ? new Uint8Array(readFileSync(image)) : image;
  if (!(data instanceof Uint8Array)) throw new TypeError("logImage takes PNG/JPEG bytes (Uint8Array) or a file path");
  if (data.length >= 8 && data[0] === 0x89 && data[1] === 0x50 && data[2] === 0x4e && data[3] === 0x47) return { data, ext: "png" };
  if (data.length >= 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return { data, ext: "jpg" };
  throw new TypeError("logImage takes PNG or JPEG data; these bytes are neither");
}

/** Writes the image into media/ as `<ms>_<rand>_<key>.<ext>`; returns its run-relative path. */
export function saveImage(mediaDir: string, key: string, image: Uint8Array | string): string {
  const { data, ext } = imageBytes(image);
  const safe = String(key).replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 100);
  const name = `${Date.now()}_${Math.random().toString(16).slice(2, 8).padEnd(6, "0")}_${safe}.${ext}`;
  writeFileSync(join(mediaDir, name), data);
  return `media/${name}`;
}

/** Reads assets.json, lets `fn` change it, writes it back. */
export function updateAssets(assetsPath: string, fn: (a: JsonObject) => void): void {
  const a = readJsonForMerge(assetsPath) ?? {};
  fn(a);
  writeJsonFile(assetsPath, a);
}

/** logConfig's change: `args` replaced, `extra` merged into what is there, `config_files` recorded by path. */
export function mergeConfig(a: JsonObject, opts: { args?: Record<string, unknown>; extra?: Record<string, unknown>; configFiles?: string[] }): void {
  const cfg = isObject(a.config) ? a.config : {};
  if (opts.args !== undefined) cfg.args = opts.args as JsonObject;
  if (opts.extra !== undefined) cfg.extra = { ...(isObject(cfg.extra) ? cfg.extra : {}), ...opts.extra } as JsonObject;
  if (opts.configFiles !== undefined) cfg.config_files = opts.configFiles.map(String);
  a.config = cfg;
}

/** The Python SDK's unarchived fingerprint of a local path (stat of a file, or of a tree); null for URIs or missing paths. */
export function statFingerprint(pathOrUri: string): JsonObject | null {
  if (pathOrUri.includes("://")) return null;
  let st;
  try {
    st = statSync(pathOrUri);
  } catch {
    return null; // not here (yet): recorded by name only, as Python does
  }
  if (st.isFile()) return { size_bytes: st.size, mtime: st.mtimeMs / 1000 };
  if (!st.isDirectory()) return null;
  let count = 0;
  let total = 0;
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        count++;
        total += statSync(p).size;
      }
    }
  };
  walk(pathOrUri);
  return { mtime: st.mtimeMs / 1000, file_count: count, total_size_bytes: total };
}

/** A `datasets` entry as Python's log_dataset(save=False) writes it. */
export function datasetEntry(name: string, rootOrUri: string | Record<string, unknown>, opts: { context?: string; description?: string }): JsonObject {
  const uri = typeof rootOrUri === "string" ? (rootOrUri.includes("://") ? rootOrUri : resolve(rootOrUri)) : rootOrUri;
  const fp = typeof uri === "string" ? statFingerprint(uri) : null;
  return { name, context: opts.context ?? "train", uri: uri as JsonObject, description: opts.description ?? null, saved: false, fingerprint: fp };
}

/** A `pretrained` entry as Python's log_pretrained(save=False) writes it. */
export function pretrainedEntry(name: string, opts: { pathOrUri?: string | Record<string, unknown>; sourceType?: string; description?: string }): JsonObject {
  return {
    name,
    source_type: opts.sourceType ?? "unknown",
    path_or_uri: (opts.pathOrUri ?? null) as JsonObject | null,
    description: opts.description ?? null,
    saved: false,
  };
}
