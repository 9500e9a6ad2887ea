// Selecting runs and writing them as archives: the ROOT-relative format that `import` reads back (run files,
// the archive files they refer to, and their SDK index rows) and the original's paths/export zip (spec §3.5).
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { discoverRuns } from "../discover.ts";
import { type JsonObject, readJsonObject } from "../json.ts";
import { num } from "../run-files.ts";
import { FileRefusedError } from "../safe-read.ts";
import { blobPath, manifestBlobs, readManifest, remapRecordedPath, rollingDir } from "./cas.ts";
import { listFiles } from "./delete-run.ts";
import { refsFromAssetRow, refsFromAssetsJson } from "./references.ts";
import { SdkIndex, type SdkAssetRow, type SdkLinkRow, type SdkRunRow } from "./sdk-index.ts";

/** The name of the description file at the top of an exported archive. */
export const EXPORT_MANIFEST = "runicorn-export.json";

/** Which runs to export; all conditions must hold. */
export interface ExportSelection {
  /** Path prefix (equal, or a parent of the run's path); runs without a path never match. */
  path?: string;
  exact?: boolean;
  runIds?: string[];
  includeDeleted?: boolean;
}

/** A run chosen for export with the files the JSON export reports. */
export interface SelectedRun {
  id: string;
  dir: string;
  /** The run directory relative to ROOT, `/`-separated. */
  rel: string;
  /** The directory path, else meta.path (spec §3.5); null for root-level runs without one. */
  path: string | null;
  meta: JsonObject;
  status: string;
  summary: JsonObject;
  created_time: number | null;
  deleted: boolean;
}

/** Anything archive entries can be written to (ZipWriter, TarWriter). */
export interface EntryWriter {
  addBytes(name: string, data: Uint8Array, mtime?: Date | number): Promise<void>;
  /** Adds a file under the safe-read rule; throws FileRefusedError (nothing written) for a link out of `root` or a special file. */
  addFile(name: string, path: string, root: string): Promise<void>;
  finish(): Promise<void>;
}

/** Runs matching the selection, in scan order (spec §1.9), from a walk of ROOT (the CLI's way: no index). */
export function selectRuns(root: string, sel: ExportSelection): SelectedRun[] {
  const pick = selector(root, sel);
  const out: SelectedRun[] = [];
  for (const e of discoverRuns(root)) {
    const r = pick(e);
    if (r) out.push(r);
  }
  return out;
}

/**
 * The same selection over candidates the caller already has in scan order (the server's index: only the runs
 * under the path), each checked against its files; gives the event loop back every few milliseconds.
 */
export async function selectRunsFrom(root: string, sel: ExportSelection, candidates: Iterable<Candidate>): Promise<SelectedRun[]> {
  const pick = selector(root, sel);
  const out: SelectedRun[] = [];
  let slice = performance.now();
  for (const e of candidates) {
    if (performance.now() - slice > 8) {
      await new Promise<void>((res) => setImmediate(res));
      slice = performance.now();
    }
    const r = pick(e);
    if (r) out.push(r);
  }
  return out;
}

/** A run folder that may be selected. */
interface Candidate {
  id: string;
  dir: string;
  /** `/`-joined parent segments; null for root-level runs. */
  entryPath: string | null;
}

/** The selection rule, one folder at a time (the first of an id in scan order wins). */
function selector(root: string, sel: ExportSelection): (e: Candidate) => SelectedRun | undefined {
  const ids = sel.runIds?.length ? new Set(sel.runIds) : undefined;
  const prefix = sel.path?.replace(/^\/+|\/+$/g, "");
  const seen = new Set<string>();
  return (e) => {
    if (ids && !ids.has(e.id)) return undefined;
    const deleted = existsSync(join(e.dir, ".deleted"));
    if (deleted && !sel.includeDeleted) return undefined;
    const meta = readJsonObject(join(e.dir, "meta.json")) ?? {};
    const metaPath = typeof meta.path === "string" && meta.path ? meta.path : null;
    const path = e.entryPath || metaPath;
    if (prefix !== undefined && prefix !== "") {
      if (!path) return undefined;
      if (sel.exact ? path !== prefix : path !== prefix && !path.startsWith(prefix + "/")) return undefined;
    }
    if (seen.has(e.id)) return undefined; // ids are unique by assumption (spec §1.4); the first in scan order wins
    seen.add(e.id);
    const status = readJsonObject(join(e.dir, "status.json")) ?? {};
    return {
      id: e.id,
      dir: e.dir,
      rel: relative(root, e.dir).split("\\").join("/"),
      path,
      meta,
      status: typeof status.status === "string" && status.status ? status.status : "finished",
      summary: readJsonObject(join(e.dir, "summary.json")) ?? {},
      created_time: num(meta.created_at) ?? dirMtime(e.dir),
      deleted,
    };
  };
}

function dirMtime(dir: string): number | null {
  const st = statSync(dir, { throwIfNoEntry: false });
  return st ? st.mtimeMs / 1000 : null;
}

/** The item of the original's JSON path export (spec §3.5), in both modes (a team server passes its row's fields). */
export function exportItem(r: Pick<SelectedRun, "id" | "path" | "meta" | "status" | "summary" | "created_time">): JsonObject {
  return {
    run_id: r.id,
    path: r.path,
    alias: typeof r.meta.alias === "string" ? r.meta.alias : null,
    status: r.status,
    created_time: r.created_time,
    summary: r.summary,
    meta: r.meta,
  };
}

/**
 * Entries of a run directory relative to it: regular files, and also links and special files (FIFOs, devices)
 * so that the writer's safe-read rule refuses them and the export reports them. Linked folders are not entered.
 */
export function runFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return; // vanished while exporting: nothing below it
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(relative(dir, p).split("\\").join("/"));
    }
  };
  walk(dir);
  return out.sort();
}

/** A file left out of an archive, and why (a link leaving ROOT, a FIFO or device, vanished). */
export interface SkippedFile {
  path: string;
  reason: string;
}

/** The archive entry that lists skipped files, written last when any were skipped. */
export const SKIPPED_LIST = "runicorn-export-skipped.json";

/** Adds one file, or records why it was left out (the safe-read rule refused it). */
async function addOrSkip(w: EntryWriter, name: string, path: string, root: string, skipped: SkippedFile[]): Promise<boolean> {
  try {
    await w.addFile(name, path, root);
    return true;
  } catch (e) {
    if (!(e instanceof FileRefusedError)) throw e;
    skipped.push({ path: name, reason: e.message });
    return false;
  }
}

/** Ends an archive: the list of skipped files (if any) as its last entry. */
async function finishWithSkipped(w: EntryWriter, skipped: SkippedFile[]): Promise<void> {
  if (skipped.length) await w.addBytes(SKIPPED_LIST, new TextEncoder().encode(JSON.stringify({ skipped }, null, 2)));
  await w.finish();
}

/**
 * Writes the original's `paths/export?format=zip` layout: `index.json` then `<run_id>/<every file>`,
 * lock files included (spec §3.5, verified capture). Links and special files are left out and listed.
 */
export async function writePathsExport(root: string, w: EntryWriter, path: string, runs: SelectedRun[]): Promise<SkippedFile[]> {
  const index = { path, total_runs: runs.length, runs: runs.map(exportItem) };
  const skipped: SkippedFile[] = [];
  await w.addBytes("index.json", new TextEncoder().encode(JSON.stringify(index, null, 2)));
  for (const r of runs) for (const f of runFiles(r.dir)) await addOrSkip(w, `${r.id}/${f}`, join(r.dir, f), root, skipped);
  await finishWithSkipped(w, skipped);
  return skipped;
}

/** Progress of a long export: files done of total. */
export type Progress = (done: number, total: number) => void;

/** Summary of a ROOT-relative export. */
export interface ExportSummary {
  runs: number;
  files: number;
  archive_files: number;
  /** Files left out by the safe-read rule (also listed in the archive as runicorn-export-skipped.json). */
  skipped: SkippedFile[];
}

/**
 * Writes runs in the ROOT-relative layout `import` reads: `runicorn-export.json` (runs and their SDK
 * index rows), each run directory under its path, then the archive files (blobs, manifests, rolling
 * outputs) the runs refer to. Lock files are left out.
 */
export async function writeRootExport(root: string, w: EntryWriter, runs: SelectedRun[], progress?: Progress): Promise<ExportSummary> {
  const index = SdkIndex.open(root);
  const rows = { runs: [] as SdkRunRow[], assets: [] as SdkAssetRow[], links: [] as SdkLinkRow[] };
  const archiveFiles = new Set<string>();
  try {
    for (const r of runs) {
      const storageDir = typeof r.meta.storage_dir === "string" ? r.meta.storage_dir : null;
      const refs = refsFromAssetsJson(root, readJsonObject(join(r.dir, "assets.json")), storageDir);
      if (index) {
        const run = index.run(r.id);
        if (run) rows.runs.push(run);
        const links = index.linksForRuns([r.id]);
        rows.links.push(...links);
        for (const a of index.assetsByIds(new Set(links.map((l) => l.asset_id)))) {
          if (!rows.assets.some((x) => x.asset_id === a.asset_id)) rows.assets.push(a);
          const ar = refsFromAssetRow(root, a, false);
          for (const b of ar.blobs) refs.blobs.add(b);
          for (const m of ar.manifests) refs.manifests.add(m);
        }
      }
      for (const m of refs.manifests) {
        archiveFiles.add(m);
        const man = readManifest(m);
        if (man) for (const b of manifestBlobs(man)) refs.blobs.add(b);
      }
      for (const b of refs.blobs) archiveFiles.add(blobPath(root, b));
      for (const [p] of listFiles(rollingDir(root, r.id))) archiveFiles.add(p);
    }
  } finally {
    index?.close();
  }
  const existing = [...archiveFiles].filter((p) => statSync(p, { throwIfNoEntry: false })?.isFile()).sort();
  const perRun = runs.map((r) => runFiles(r.dir).filter((f) => !f.endsWith(".lock")));
  const total = perRun.reduce((n, f) => n + f.length, 0) + existing.length;
  const manifest = {
    format: "runicorn-export",
    version: 1,
    created_at: Date.now() / 1000,
    source_root: root,
    runs: runs.map((r) => ({ run_id: r.id, path: r.path, dir: r.rel, deleted: r.deleted })),
    index: rows,
  };
  await w.addBytes(EXPORT_MANIFEST, new TextEncoder().encode(JSON.stringify(manifest, null, 2)));
  let done = 0;
  let archived = 0;
  const skipped: SkippedFile[] = [];
  for (let i = 0; i < runs.length; i++) {
    for (const f of perRun[i]) {
      if (await addOrSkip(w, `${runs[i].rel}/${f}`, join(runs[i].dir, f), root, skipped)) done++;
      progress?.(done + skipped.length, total);
    }
  }
  for (const p of existing) {
    if (await addOrSkip(w, relative(root, p).split("\\").join("/"), p, root, skipped)) (done++, archived++);
    progress?.(done + skipped.length, total);
  }
  await finishWithSkipped(w, skipped);
  return { runs: runs.length, files: done, archive_files: archived, skipped };
}

/** Maps a path recorded by the source root onto the target root (for imported index rows). */
export function rebasePath(targetRoot: string, recorded: string | null, sourceRoot: string | null): string | null {
  if (!recorded) return recorded;
  return remapRecordedPath(targetRoot, recorded, sourceRoot);
}
