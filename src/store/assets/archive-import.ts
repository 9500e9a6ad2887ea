// Safe import of zip / tar(.gz) archives into ROOT (spec §3.10, §6.1): nothing outside ROOT, no links, size
// limits against bombs, staged inside ROOT and moved into place run by run, existing runs never overwritten.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { discoverRuns } from "../discover.ts";
import { isObject, parseTolerant } from "../json.ts";
import { type ByteSink, FileSink } from "./byte-sink.ts";
import { isInsideRoot, remapRecordedPath, safeName, SHA256_RE } from "./cas.ts";
import { listFiles } from "./delete-run.ts";
import { EXPORT_MANIFEST, type Progress } from "./run-export.ts";
import { mergeRows, SdkIndex, type SdkAssetRow, type SdkLinkRow, type SdkRunRow } from "./sdk-index.ts";
import { TarParser } from "./tar.ts";
import { ArchiveError, extractZipEntry, readZipEntries } from "./zip-reader.ts";

/** An archive refused for safety (unsafe entry, link, bomb); nothing of it is imported. */
export class UnsafeArchiveError extends ArchiveError {}

/** Limits of one import. */
export interface ImportLimits {
  maxEntries: number;
  /** Total bytes after decompression. */
  maxTotalBytes: number;
  /** Largest decompressed/compressed ratio accepted for content beyond 1 MiB. */
  maxRatio: number;
}

/** Defaults: 200k entries, 20 GiB, ratio 200 (real run data compresses ~5-30x; bombs ~1000x). */
export const DEFAULT_IMPORT_LIMITS: ImportLimits = { maxEntries: 200_000, maxTotalBytes: 20 * 1024 ** 3, maxRatio: 200 };

/** The import result: the original's keys (spec §3.10) plus what was skipped and why. */
export interface ImportResult {
  ok: true;
  imported_files: number;
  new_run_dirs: string[];
  new_run_ids: string[];
  storage: string;
  /** `runicorn` (this tool's export), `paths-export` (the original's zip), `root` (paths relative to ROOT). */
  format: "runicorn" | "paths-export" | "root";
  /** Runs left alone because a run with that id already exists. */
  skipped_run_ids: string[];
  /** Entries that are not part of a run or the archive store (ignored), at most 50 listed. */
  skipped_files: string[];
  skipped_file_count: number;
}

/**
 * Normalises an archive member name to a relative `/` path; undefined for the archive root itself.
 * Throws for absolute paths, drive letters, `..` and NUL (spec §6.1: no entry outside ROOT).
 */
export function safeMemberName(raw: string): string | undefined {
  if (raw.includes("\0")) throw new UnsafeArchiveError(`unsafe entry name: ${JSON.stringify(raw)}`);
  const n = raw.replaceAll("\\", "/");
  if (n.startsWith("/") || /^[A-Za-z]:/.test(n)) throw new UnsafeArchiveError(`absolute path in archive: ${raw}`);
  const segs = n.split("/").filter((s) => s !== "" && s !== ".");
  if (segs.some((s) => s === "..")) throw new UnsafeArchiveError(`path traversal in archive: ${raw}`);
  return segs.length ? segs.join("/") : undefined;
}

type Kind = "zip" | "tar" | "tgz";

async function detectKind(blob: Blob, filename: string | undefined): Promise<Kind> {
  const head = new Uint8Array(await blob.slice(0, 512).arrayBuffer());
  const sig = head.length >= 4 ? new DataView(head.buffer).getUint32(0, true) : 0;
  if (sig === 0x04034b50 || sig === 0x06054b50) return "zip";
  if (head[0] === 0x1f && head[1] === 0x8b) return "tgz";
  if (head.length === 512 && new TextDecoder().decode(head.subarray(257, 262)) === "ustar") return "tar";
  const f = (filename ?? "").toLowerCase();
  throw new ArchiveError(f ? `${f} is neither a zip nor a tar(.gz) archive` : "neither a zip nor a tar(.gz) archive");
}

/** Creates the parent folder of `path` and returns `path`. */
function withParentDir(path: string): string {
  mkdirSync(dirname(path), { recursive: true });
  return path;
}

/** A sink writing one staged file, counting towards the total limit. */
class StagedFile extends FileSink {
  constructor(
    path: string,
    private readonly budget: { left: number },
    private readonly hash?: ReturnType<typeof createHash>,
  ) {
    super(withParentDir(path));
  }
  override write(chunk: Uint8Array): void {
    this.budget.left -= chunk.length;
    if (this.budget.left < 0) throw new UnsafeArchiveError("archive expands beyond the size limit");
    this.hash?.update(chunk);
    super.write(chunk);
  }
}

/** Extracts every member into `stage`; returns the staged relative file names. */
async function extractToStage(blob: Blob, kind: Kind, stage: string, limits: ImportLimits): Promise<string[]> {
  const files: string[] = [];
  const budget = { left: limits.maxTotalBytes };
  if (kind === "zip") {
    const entries = await readZipEntries(blob, limits.maxEntries);
    let declared = 0;
    const plan: [string, (typeof entries)[number]][] = [];
    for (const e of entries) {
      const name = safeMemberName(e.name);
      if (e.isLink) throw new UnsafeArchiveError(`link in archive: ${e.name}`);
      const type = e.mode & 0o170000;
      if (type !== 0 && type !== 0o100000 && type !== 0o040000) throw new UnsafeArchiveError(`special file in archive: ${e.name}`);
      if (!name || e.isDir) continue;
      declared += e.usize;
      if (e.usize > 1024 * 1024 && e.usize > e.csize * limits.maxRatio) {
        throw new UnsafeArchiveError(`compression ratio of ${e.name} beyond ${limits.maxRatio}:1`);
      }
      plan.push([name, e]);
    }
    if (declared > limits.maxTotalBytes) throw new UnsafeArchiveError(`archive expands to ${declared} bytes, beyond the limit`);
    for (const [name, e] of plan) {
      const out = new StagedFile(join(stage, name), budget);
      try {
        await extractZipEntry(blob, e, out);
      } finally {
        out.close();
      }
      files.push(name);
    }
    return files;
  }
  let count = 0;
  let current: StagedFile | undefined;
  const parser = new TarParser({
    entry: (h) => {
      if (++count > limits.maxEntries) throw new UnsafeArchiveError(`too many entries (> ${limits.maxEntries})`);
      const name = safeMemberName(h.name);
      if (h.type === "link") throw new UnsafeArchiveError(`link in archive: ${h.name}`);
      if (h.type === "other") throw new UnsafeArchiveError(`special file in archive: ${h.name}`);
      if (!name || h.type === "dir") return undefined;
      if (h.size > budget.left) throw new UnsafeArchiveError("archive expands beyond the size limit");
      current = new StagedFile(join(stage, name), budget);
      files.push(name);
      return current;
    },
    end: () => {
      current?.close();
      current = undefined;
    },
  });
  let input: ReadableStream<Uint8Array> = blob.stream();
  if (kind === "tgz") input = input.pipeThrough(new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>);
  let total = 0;
  try {
    for await (const chunk of input as unknown as AsyncIterable<Uint8Array>) {
      total += chunk.length;
      if (total > 64 * 1024 * 1024 && total > blob.size * limits.maxRatio) {
        throw new UnsafeArchiveError(`compression ratio beyond ${limits.maxRatio}:1`);
      }
      await parser.push(chunk);
    }
    parser.end();
  } catch (e) {
    if (e instanceof ArchiveError) throw e;
    throw new ArchiveError((e as Error).message);
  } finally {
    current?.close();
  }
  return files;
}

/** A run found in the staged tree: where it is staged and where it goes. */
interface PlannedRun {
  id: string;
  src: string;
  dst: string;
}

const SEGMENT_RE = /^[^\u0000-\u001f/\\:*?"<>|]{1,255}$/;
const RESERVED = new Set(["runs", "webui", "archive", "index"]);

function safeSegments(path: string): boolean {
  return path.split("/").every((s) => SEGMENT_RE.test(s) && !s.startsWith("."));
}

/** Finds run directories (a dir holding meta.json or status.json) in ROOT-relative staged names. */
function rootRelativeRuns(files: string[]): PlannedRun[] {
  const dirs = new Set<string>();
  for (const f of files) {
    const i = f.lastIndexOf("/");
    if (i < 0) continue;
    const base = f.slice(i + 1);
    if (base !== "meta.json" && base !== "status.json") continue;
    const dir = f.slice(0, i);
    const segs = dir.split("/");
    const v06 = segs[0] === "runs" && segs.length >= 2;
    const legacy = segs.length === 4 && segs[2] === "runs" && !RESERVED.has(segs[0]);
    if ((v06 || legacy) && safeSegments(dir)) dirs.add(dir);
  }
  // a run's own sub-folders are never runs of their own (spec §1.9: no recursion into runs)
  const sorted = [...dirs].sort((a, b) => a.length - b.length);
  const runs: string[] = [];
  for (const d of sorted) if (!runs.some((r) => d.startsWith(r + "/"))) runs.push(d);
  return runs.map((d) => ({ id: d.slice(d.lastIndexOf("/") + 1), src: d, dst: d }));
}

function readStagedJson(stage: string, name: string): unknown {
  try {
    return parseTolerant(readFileSync(join(stage, name), "utf8"));
  } catch {
    return undefined; // absent or not JSON: that layout does not apply
  }
}

/** Recognises the original's paths/export zip: `index.json` + `<run_id>/…` (spec §3.5). */
function pathsExportRuns(stage: string, files: string[]): PlannedRun[] | undefined {
  if (!files.includes("index.json")) return undefined;
  const index = readStagedJson(stage, "index.json");
  if (!isObject(index) || !Array.isArray(index.runs)) return undefined;
  const paths = new Map<string, string | null>();
  for (const r of index.runs) {
    if (isObject(r) && typeof r.run_id === "string") paths.set(r.run_id, typeof r.path === "string" ? r.path : null);
  }
  const tops = new Set(files.filter((f) => f.includes("/")).map((f) => f.slice(0, f.indexOf("/"))));
  if (tops.size === 0 || ![...tops].every((t) => paths.has(t))) return undefined;
  const out: PlannedRun[] = [];
  for (const id of tops) {
    if (!SEGMENT_RE.test(id) || id.startsWith(".")) continue;
    const p = (paths.get(id) ?? "").replace(/^\/+|\/+$/g, "").replace(/\/{2,}/g, "/");
    if (p && !safeSegments(p)) throw new UnsafeArchiveError(`unsafe run path in index.json: ${p}`);
    out.push({ id, src: id, dst: p ? `runs/${p}/${id}` : `runs/${id}` });
  }
  return out;
}

/** Archive-store files (blobs checked against their digest, manifests, rolling outputs) among staged names. */
function archiveFiles(files: string[]): string[] {
  return files.filter((f) => {
    const s = f.split("/");
    if (s[0] !== "archive") return false;
    if (s[1] === "blobs") return s.length === 4 && SHA256_RE.test(s[3]) && s[2] === s[3].slice(0, 2);
    if (s[1] === "manifests") return s.length >= 4 && f.endsWith(".json");
    return s[1] === "outputs" && s[2] === "rolling" && s.length >= 5;
  });
}

function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** Moves a staged path into ROOT unless the target exists; refuses targets that resolve outside ROOT. */
function place(root: string, src: string, dst: string): boolean {
  if (existsSync(dst)) return false;
  mkdirSync(dirname(dst), { recursive: true });
  if (!isInsideRoot(root, dirname(dst))) throw new UnsafeArchiveError(`target leaves the storage root: ${dst}`);
  renameSync(src, dst);
  return true;
}

/**
 * Imports an archive (zip, tar or tar.gz; by content, not by name) into ROOT. Accepts this tool's export,
 * the original's paths/export zip, and any archive whose paths are relative to ROOT (`runs/…`, legacy
 * `<p>/<n>/runs/<id>/…`, `archive/…`). Throws ArchiveError (corrupt) or UnsafeArchiveError (refused).
 */
export async function importArchive(
  root: string,
  archive: Blob,
  filename?: string,
  opts: { limits?: Partial<ImportLimits>; progress?: Progress } = {},
): Promise<ImportResult> {
  const limits = { ...DEFAULT_IMPORT_LIMITS, ...opts.limits };
  const kind = await detectKind(archive, filename);
  mkdirSync(join(root, "runs"), { recursive: true });
  // staged inside ROOT (same file system, so moves are renames); dot-dirs are never scanned for runs
  const stage = mkdtempSync(join(root, ".import-"));
  try {
    const files = await extractToStage(archive, kind, stage, limits);
    let format: ImportResult["format"] = "root";
    let planned: PlannedRun[];
    let exportInfo: Record<string, unknown> | undefined;
    const fromPathsExport = files.includes(EXPORT_MANIFEST) ? undefined : pathsExportRuns(stage, files);
    if (fromPathsExport) {
      format = "paths-export";
      planned = fromPathsExport;
    } else {
      const m = files.includes(EXPORT_MANIFEST) ? readStagedJson(stage, EXPORT_MANIFEST) : undefined;
      if (isObject(m) && m.format === "runicorn-export") {
        format = "runicorn";
        exportInfo = m;
      }
      planned = rootRelativeRuns(files);
    }

    const existing = new Set(discoverRuns(root).map((e) => e.id));
    const taken = new Set<string>();
    const skippedRuns: string[] = [];
    const placed: PlannedRun[] = [];
    let imported = 0;
    const total = files.length;
    for (const r of planned) {
      if (existing.has(r.id) || taken.has(r.id) || existsSync(join(root, r.dst))) {
        skippedRuns.push(r.id);
        continue;
      }
      taken.add(r.id);
      const n = listFiles(join(stage, r.src)).length;
      if (place(root, join(stage, r.src), join(root, r.dst))) {
        placed.push(r);
        imported += n;
        opts.progress?.(imported, total);
      } else skippedRuns.push(r.id);
    }
    const skippedRolling = new Set(skippedRuns.map((id) => `archive/outputs/rolling/${safeName(id)}`));
    const claimed = new Set(planned.map((r) => r.src));
    const under = (f: string, dirs: Set<string>) => {
      for (let i = f.indexOf("/"); i > 0; i = f.indexOf("/", i + 1)) if (dirs.has(f.slice(0, i))) return true;
      return false;
    };
    const skippedFiles: string[] = [];
    let skippedCount = 0;
    const storeFiles = new Set(format === "paths-export" ? [] : archiveFiles(files));
    for (const f of files) {
      if (under(f, claimed)) continue;
      if (!storeFiles.has(f)) {
        if (f !== EXPORT_MANIFEST && !(format === "paths-export" && f === "index.json")) {
          skippedCount++;
          if (skippedFiles.length < 50) skippedFiles.push(f);
        }
        continue;
      }
      if (under(f, skippedRolling)) continue;
      const src = join(stage, f);
      if (f.startsWith("archive/blobs/") && sha256File(src) !== f.slice(-64)) {
        throw new UnsafeArchiveError(`blob content does not match its name: ${f}`);
      }
      if (place(root, src, join(root, f))) imported++;
      opts.progress?.(imported, total);
    }

    if (exportInfo && placed.length) await mergeExportedRows(root, exportInfo, placed);
    const dirs = placed.map((r) => join(root, r.dst));
    return {
      ok: true,
      imported_files: imported,
      new_run_dirs: dirs.sort(),
      new_run_ids: placed.map((r) => r.id).sort(),
      storage: root,
      format,
      skipped_run_ids: skippedRuns.sort(),
      skipped_files: skippedFiles,
      skipped_file_count: skippedCount,
    };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** Adds the exported SDK index rows of the imported runs to ROOT's index, re-rooted. */
async function mergeExportedRows(root: string, info: Record<string, unknown>, placed: PlannedRun[]): Promise<void> {
  const idx = isObject(info.index) ? info.index : undefined;
  if (!idx) return;
  const sourceRoot = typeof info.source_root === "string" ? info.source_root : null;
  const dst = new Map(placed.map((r) => [r.id, join(root, r.dst)]));
  const runs = (Array.isArray(idx.runs) ? (idx.runs as SdkRunRow[]) : []).filter((r) => isObject(r) && dst.has(r.run_id));
  const links = (Array.isArray(idx.links) ? (idx.links as SdkLinkRow[]) : []).filter((l) => isObject(l) && dst.has(l.run_id));
  const wanted = new Set(links.map((l) => l.asset_id));
  const assets = (Array.isArray(idx.assets) ? (idx.assets as SdkAssetRow[]) : []).filter(
    (a) => isObject(a) && typeof a.asset_id === "string" && typeof a.asset_type === "string" && wanted.has(a.asset_id),
  );
  if (!runs.length && !assets.length) return;
  const index = SdkIndex.open(root, { create: true });
  if (!index) return;
  try {
    await index.write((db) =>
      mergeRows(db, {
        runs: runs.map((r) => ({ ...r, run_dir: dst.get(r.run_id)! })),
        assets: assets.map((a) => ({ ...a, archive_uri: a.archive_uri ? remapRecordedPath(root, a.archive_uri, sourceRoot) : null })),
        links,
      }),
    );
  } finally {
    index.close();
  }
}
