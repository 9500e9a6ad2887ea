// The asset library: every asset that live runs recorded in assets.json, grouped by the original UI's identity rules (spec §7.4).
import { createHash } from "node:crypto";
import { lstatSync } from "node:fs";
import { basename, join } from "node:path";
import type { Kysely } from "kysely";
import type { Database } from "../../index/schema.ts";
import { type JsonObject, readJsonObject } from "../json.ts";
import { blobPath, remapRecordedPath } from "./cas.ts";

/** The kinds of asset, as the original's assets page names them. */
export type AssetKind = "code" | "config" | "dataset" | "pretrained" | "output";

/** A run that references an asset. */
export interface AssetRunRef {
  run_id: string;
  path: string | null;
  alias: string | null;
  created_time: number | null;
}

/** One distinct asset across runs. */
export interface LibraryAsset {
  /** base64url of `<kind>\0<identity>` (the original's `/assets/:id` encoding). */
  id: string;
  kind: AssetKind;
  name: string;
  /** The identity string: fingerprint, else archive path, else source, else name (spec §7.4). */
  identity: string;
  fingerprint: string | null;
  fingerprint_kind: string | null;
  archived: boolean;
  archive_path: string | null;
  source: string | null;
  size_bytes: number | null;
  file_count: number | null;
  description: string | null;
  context: string | null;
  source_type: string | null;
  /** Creation time of the newest referencing run. */
  last_used: number | null;
  run_count: number;
  /** The referencing runs, newest first, at most `MAX_RUNS_LISTED`. */
  runs: AssetRunRef[];
  /** How to download it through `/api/runs/{run_id}/assets/download`, or null when nothing is archived. */
  download: { run_id: string; path: string; filename: string } | null;
  /** The config object itself (kind `config` only). */
  content?: JsonObject;
}

/** `GET /api/assets`. */
export interface AssetLibrary {
  assets: LibraryAsset[];
  total_runs: number;
  runs_with_assets: number;
  distinct_assets: number;
  archived_assets: number;
  /** Bytes of distinct archived assets whose size is known. */
  archived_bytes: number;
  /** Bytes the runs reference in all (an asset counted once per referencing run). */
  referenced_bytes: number;
  /** What content addressing saved: referenced minus distinct archived bytes. */
  dedupe_saved_bytes: number;
}

/** Runs listed per asset; `run_count` still counts every one. */
export const MAX_RUNS_LISTED = 100;

const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const obj = (v: unknown): JsonObject | null => (v && typeof v === "object" && !Array.isArray(v) ? (v as JsonObject) : null);

/** JSON with sorted keys, as the SDK encodes dict fingerprints (spec §1.7). */
function sortedJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(sortedJson).join(",")}]`;
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${sortedJson(o[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/** A fingerprint as a string: dicts (stat fingerprints of unarchived paths) as sorted-key JSON. */
function fingerprintText(v: unknown): string | null {
  if (typeof v === "string") return v || null;
  if (v && typeof v === "object") return sortedJson(v);
  return null;
}

/** Size of a regular file (no link followed), or null. */
function fileSize(p: string): number | null {
  const st = lstatSync(p, { throwIfNoEntry: false });
  return st?.isFile() ? st.size : null;
}

/** What one assets.json entry contributes before grouping. */
interface Entry {
  kind: AssetKind;
  name: string;
  fingerprint: string | null;
  fingerprint_kind: string | null;
  archived: boolean;
  archive_path: string | null;
  source: string | null;
  size_bytes: number | null;
  file_count: number | null;
  description: string | null;
  context: string | null;
  source_type: string | null;
  filename: string;
  content?: JsonObject;
}

/** The size of an archived entry: recorded totals, else the blob (sha256 fingerprints), else the archived file. */
function archivedSize(root: string | null, storageDir: string | null, e: JsonObject): number | null {
  const recorded = num(e.total_size_bytes) ?? num(e.size_bytes);
  if (recorded !== null || root === null) return recorded;
  const fp = str(e.fingerprint);
  if (e.fingerprint_kind === "sha256" && fp && /^[0-9a-f]{64}$/.test(fp)) {
    const s = fileSize(blobPath(root, fp));
    if (s !== null) return s;
  }
  const ap = str(e.archive_path);
  return ap ? fileSize(remapRecordedPath(root, ap, storageDir)) : null;
}

/** The entries of one run's assets.json (spec §1.5 shapes; anything malformed is skipped). */
export function entriesOf(root: string | null, assets: JsonObject, storageDir: string | null): Entry[] {
  const out: Entry[] = [];
  const base = (kind: AssetKind, name: string, e: JsonObject, source: string | null): Entry => {
    const ap = str(e.archive_path);
    const fpRaw = e.fingerprint;
    const stat = obj(fpRaw);
    return {
      kind,
      name,
      fingerprint: fingerprintText(fpRaw),
      fingerprint_kind: str(e.fingerprint_kind) ?? (stat ? "stat" : null),
      archived: e.saved === true && ap !== null,
      archive_path: ap,
      source,
      size_bytes: ap ? archivedSize(root, storageDir, e) : (num(stat?.total_size_bytes) ?? num(stat?.size_bytes)),
      file_count: num(e.file_count) ?? num(stat?.file_count),
      description: str(e.description),
      context: str(e.context),
      source_type: str(e.source_type),
      filename: name,
    };
  };
  const snap = obj(obj(assets.code)?.snapshot);
  if (snap) out.push({ ...base("code", "code_snapshot.zip", snap, str(snap.workspace_root)), filename: "code_snapshot.zip" });
  const config = obj(assets.config);
  if (config && Object.keys(config).length) {
    const text = sortedJson(config);
    out.push({
      kind: "config",
      name: "config",
      // a config has no fingerprint in the files; its content is its identity, so equal configs are one asset
      fingerprint: createHash("sha256").update(text).digest("hex"),
      fingerprint_kind: "sha256_json",
      archived: false,
      archive_path: null,
      source: null,
      size_bytes: Buffer.byteLength(text),
      file_count: null,
      description: null,
      context: null,
      source_type: null,
      filename: "config.json",
      content: config,
    });
  }
  const list = (key: string) => (Array.isArray(assets[key]) ? (assets[key] as unknown[]).map(obj).filter((x): x is JsonObject => x !== null) : []);
  for (const d of list("datasets")) out.push(base("dataset", str(d.name) ?? "dataset", d, str(d.uri)));
  for (const p of list("pretrained")) {
    const e = base("pretrained", str(p.name) ?? "pretrained", p, str(p.path_or_uri));
    const src = str(p.path_or_uri);
    out.push({ ...e, filename: src && !e.archive_path?.endsWith(".json") ? basename(src) : e.name });
  }
  for (const o of list("outputs")) {
    const e = base("output", str(o.name) ?? str(o.key) ?? "output", o, str(o.path));
    out.push({ ...e, filename: e.name });
  }
  return out;
}

/** Spec §7.4 identity: the first non-empty of fingerprint, archive path, source, name (per kind). */
function identityOf(e: Entry): string {
  return e.fingerprint ?? e.archive_path ?? e.source ?? e.name;
}

function encodeId(kind: string, identity: string): string {
  return Buffer.from(`${kind}\0${identity}`, "utf8").toString("base64url");
}

/** One live run with assets, as the library folds it (newest first). */
export interface LibraryRun {
  ref: AssetRunRef;
  assets: JsonObject;
  /** meta.storage_dir: where the run's recorded archive paths pointed. */
  storageDir: string | null;
}

/** Collects every live run's assets (file mode: the index's rows and the runs' assets.json), yielding to the event loop every 200 runs. */
export async function buildAssetLibrary(db: Kysely<Database>, root: string): Promise<AssetLibrary> {
  const totalRow = await db.selectFrom("run").select((eb) => eb.fn.countAll<number>().as("n")).where("deleted", "=", 0).executeTakeFirst();
  const rows = await db
    .selectFrom("run")
    .select(["id", "run_dir", "entry_path", "alias", "created_time"])
    .where("deleted", "=", 0)
    .where("assets_count", ">", 0)
    .orderBy("created_time", "desc")
    .execute();
  async function* runs(): AsyncGenerator<LibraryRun> {
    for (let i = 0; i < rows.length; i++) {
      if (i % 200 === 199) await new Promise((r) => setImmediate(r));
      const row = rows[i];
      const assets = readJsonObject(join(row.run_dir, "assets.json"));
      if (!assets) continue;
      const meta = readJsonObject(join(row.run_dir, "meta.json"));
      yield { ref: { run_id: row.id, path: row.entry_path, alias: row.alias, created_time: row.created_time }, assets, storageDir: str(meta?.storage_dir) };
    }
  }
  return foldAssetLibrary(runs(), Number(totalRow?.n ?? 0), { root, downloads: true });
}

/**
 * The library of `runs` (newest first) in both modes. `root`: where archived files are sized when assets.json
 * records no size (null on a team server, which holds no archives); `downloads`: whether archived assets get a
 * download link (a team server's archives stay on the training machines).
 */
export async function foldAssetLibrary(runs: AsyncIterable<LibraryRun>, totalRuns: number, opts: { root: string | null; downloads: boolean }): Promise<AssetLibrary> {
  const groups = new Map<string, { entry: Entry; runs: AssetRunRef[]; runIds: Set<string>; download: LibraryAsset["download"] }>();
  let withAssets = 0;
  let referenced = 0;
  for await (const run of runs) {
    const entries = entriesOf(opts.root, run.assets, run.storageDir);
    if (entries.length) withAssets++;
    const ref = run.ref;
    for (const e of entries) {
      const key = `${e.kind}\0${identityOf(e)}`;
      let g = groups.get(key);
      if (!g) {
        g = { entry: e, runs: [], runIds: new Set(), download: null };
        groups.set(key, g);
      } else {
        // later runs fill in what the first one lacked
        g.entry = { ...e, ...Object.fromEntries(Object.entries(g.entry).filter(([, v]) => v !== null && v !== undefined)) } as Entry;
      }
      if (g.runIds.has(ref.run_id)) continue;
      g.runIds.add(ref.run_id);
      if (g.runs.length < MAX_RUNS_LISTED) g.runs.push(ref);
      if (opts.downloads && !g.download && e.archived && e.archive_path) g.download = { run_id: ref.run_id, path: e.archive_path, filename: e.filename };
      if (e.size_bytes !== null) referenced += e.size_bytes;
    }
  }
  const assets: LibraryAsset[] = [];
  let archivedCount = 0;
  let archivedBytes = 0;
  let archivedReferenced = 0;
  for (const [key, g] of groups) {
    const e = g.entry;
    const identity = key.slice(key.indexOf("\0") + 1);
    if (e.archived) {
      archivedCount++;
      if (e.size_bytes !== null) {
        archivedBytes += e.size_bytes;
        archivedReferenced += e.size_bytes * g.runIds.size;
      }
    }
    assets.push({
      id: encodeId(e.kind, identity),
      kind: e.kind,
      name: e.name,
      identity,
      fingerprint: e.fingerprint,
      fingerprint_kind: e.fingerprint_kind,
      archived: e.archived,
      archive_path: e.archive_path,
      source: e.source,
      size_bytes: e.size_bytes,
      file_count: e.file_count,
      description: e.description,
      context: e.context,
      source_type: e.source_type,
      last_used: g.runs[0]?.created_time ?? null,
      run_count: g.runIds.size,
      runs: g.runs,
      download: g.download,
      ...(e.content ? { content: e.content } : {}),
    });
  }
  assets.sort((a, b) => (b.last_used ?? 0) - (a.last_used ?? 0) || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
  return {
    assets,
    total_runs: totalRuns,
    runs_with_assets: withAssets,
    distinct_assets: assets.length,
    archived_assets: archivedCount,
    archived_bytes: archivedBytes,
    referenced_bytes: referenced,
    dedupe_saved_bytes: Math.max(0, archivedReferenced - archivedBytes),
  };
}
