// Safe import of zip / tar(.gz) archives into ROOT (spec §3.10, §6.1): nothing outside ROOT, no links, size and
// ratio limits counted as bytes inflate, checked names, staged inside ROOT, then all runs moved in or none.
import { createHash } from "node:crypto";
import { closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readSync, realpathSync, renameSync, rmdirSync, rmSync, statfsSync } from "node:fs";
import { dirname, join } from "node:path";
import { discoverRuns } from "../discover.ts";
import { FileRefusedError, MANIFEST_FILE_LIMIT, readChecked } from "../safe-read.ts";
import { isObject, parseTolerant } from "../json.ts";
import { FileSink } from "./byte-sink.ts";
import { remapRecordedPath, safeName, SHA256_RE } from "./cas.ts";
import { listFiles } from "./delete-run.ts";
import { EXPORT_MANIFEST, type Progress, SKIPPED_LIST } from "./run-export.ts";
import { mergeRows, SdkIndex, type SdkAssetRow, type SdkLinkRow, type SdkRunRow } from "./sdk-index.ts";
import { TarParser } from "./tar.ts";
import { ArchiveError, extractZipEntry, readZipEntries } from "./zip-reader.ts";

/** An archive refused for safety (unsafe entry, link, bomb); nothing of it is imported. */
export class UnsafeArchiveError extends ArchiveError {}

/** Limits of one import. */
export interface ImportLimits {
  maxEntries: number;
  /** Total bytes after decompression (also capped by the free space of ROOT's file system). */
  maxTotalBytes: number;
  /** Largest decompressed/compressed ratio of the whole archive, counted as bytes are inflated, beyond `ratioFloorBytes`. */
  maxRatio: number;
  /** Output below this is never refused for its ratio (small, highly repetitive logs). */
  ratioFloorBytes: number;
  /** Longest member name in bytes, and deepest path. */
  maxNameBytes: number;
  maxDepth: number;
}

/** Defaults: 200k entries, 20 GiB, ratio 200 past 64 MiB (real run data compresses ~5-30x; bombs ~1000x), names ≤ 1024 bytes / 32 levels. */
export const DEFAULT_IMPORT_LIMITS: ImportLimits = {
  maxEntries: 200_000,
  maxTotalBytes: 20 * 1024 ** 3,
  maxRatio: 200,
  ratioFloorBytes: 64 * 1024 * 1024,
  maxNameBytes: 1024,
  maxDepth: 32,
};

/** Free space kept on ROOT's file system by an import. */
const DISK_RESERVE = 64 * 1024 * 1024;

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

const utf8 = new TextEncoder();

/**
 * Normalises an archive member name to a relative `/` path; undefined for the archive root itself. Throws
 * UnsafeArchiveError for absolute paths, drive letters, `..`, NUL and control characters, names that were not
 * UTF-8 (decoded to U+FFFD), segments over 255 bytes, and names longer or deeper than the limits (spec §6.1:
 * no entry outside ROOT; every name one the file system accepts).
 */
export function safeMemberName(raw: string, limits: Pick<ImportLimits, "maxNameBytes" | "maxDepth"> = DEFAULT_IMPORT_LIMITS): string | undefined {
  const shown = JSON.stringify(raw.length > 200 ? raw.slice(0, 200) + "…" : raw);
  if (raw.includes("\0")) throw new UnsafeArchiveError(`unsafe entry name (NUL byte): ${shown}`);
  if (/[\u0001-\u001f\u007f]/.test(raw)) throw new UnsafeArchiveError(`unsafe entry name (control character): ${shown}`);
  if (raw.includes("\ufffd")) throw new UnsafeArchiveError(`entry name is not valid UTF-8: ${shown}`);
  const n = raw.replaceAll("\\", "/");
  if (n.startsWith("/") || /^[A-Za-z]:/.test(n)) throw new UnsafeArchiveError(`absolute path in archive: ${shown}`);
  const segs = n.split("/").filter((s) => s !== "" && s !== ".");
  if (segs.some((s) => s === "..")) throw new UnsafeArchiveError(`path traversal in archive: ${shown}`);
  if (segs.some((s) => utf8.encode(s).length > 255)) throw new UnsafeArchiveError(`entry name has a part longer than 255 bytes: ${shown}`);
  if (segs.length > limits.maxDepth) throw new UnsafeArchiveError(`entry name deeper than ${limits.maxDepth} folders: ${shown}`);
  const joined = segs.join("/");
  if (utf8.encode(joined).length > limits.maxNameBytes) throw new UnsafeArchiveError(`entry name longer than ${limits.maxNameBytes} bytes: ${shown}`);
  return segs.length ? joined : undefined;
}

/** Checks the set of member names: no duplicates, no name that is both a file and a folder. */
class NameSet {
  private readonly files = new Set<string>();
  private readonly dirs = new Set<string>();

  /** Registers a checked name (from safeMemberName) as a file or a folder. */
  add(name: string, isDir: boolean): void {
    if (this.files.has(name)) throw new UnsafeArchiveError(`duplicate entry in archive: ${name}`);
    if (!isDir && this.dirs.has(name)) throw new UnsafeArchiveError(`entry is both a file and a folder: ${name}`);
    for (let i = name.indexOf("/"); i > 0; i = name.indexOf("/", i + 1)) {
      const parent = name.slice(0, i);
      if (this.files.has(parent)) throw new UnsafeArchiveError(`entry is both a file and a folder: ${parent}`);
      this.dirs.add(parent);
    }
    if (isDir) this.dirs.add(name);
    else this.files.add(name);
  }
}

/** Bytes an import may still write: the total cap, the free disk space and the whole-archive ratio, by bytes actually written. */
class Budget {
  private written = 0;
  private readonly cap: number;
  private readonly capReason: string;

  constructor(
    root: string,
    private readonly archiveBytes: number,
    private readonly limits: ImportLimits,
  ) {
    const free = freeBytes(root);
    if (free !== undefined && free - DISK_RESERVE < limits.maxTotalBytes) {
      this.cap = Math.max(0, free - DISK_RESERVE);
      this.capReason = `the free space of the storage root (${this.cap} bytes)`;
    } else {
      this.cap = limits.maxTotalBytes;
      this.capReason = `the size limit (${limits.maxTotalBytes} bytes)`;
    }
  }

  /** Declared sizes first (cheap refusal); never trusted for the real count. */
  checkDeclared(total: number): void {
    if (total > this.cap) throw new UnsafeArchiveError(`archive declares ${total} bytes, beyond ${this.capReason}`);
  }

  /** Counts `n` bytes about to be written. */
  take(n: number): void {
    this.written += n;
    if (this.written > this.cap) throw new UnsafeArchiveError(`archive expands beyond ${this.capReason}`);
    if (this.written > this.limits.ratioFloorBytes && this.written > this.archiveBytes * this.limits.maxRatio) {
      throw new UnsafeArchiveError(`compression ratio beyond ${this.limits.maxRatio}:1 (a decompression bomb)`);
    }
  }
}

function freeBytes(root: string): number | undefined {
  try {
    const s = statfsSync(root);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return undefined; // no statfs here: the absolute cap alone applies
  }
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

/** Creates the parent folder of `path` (inside the fresh stage, which holds no links) and returns `path`. */
function withParentDir(path: string): string {
  mkdirSync(dirname(path), { recursive: true });
  return path;
}

/** A sink writing one staged file, counting every byte against the import's budget. */
class StagedFile extends FileSink {
  constructor(
    path: string,
    private readonly budget: Budget,
  ) {
    super(withParentDir(path));
  }
  override write(chunk: Uint8Array): void {
    this.budget.take(chunk.length);
    super.write(chunk);
  }
}

/** File-system errors an entry name can cause while staging: the archive's fault, so a 4xx naming the entry. */
const NAME_ERRNOS = new Set(["ENAMETOOLONG", "ENOTDIR", "EEXIST", "EISDIR", "EILSEQ", "EINVAL", "ELOOP"]);

/** Runs `fn` for one entry; a file-system error caused by its name becomes an UnsafeArchiveError naming it. */
async function forEntry<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException)?.code;
    if (code && NAME_ERRNOS.has(code)) throw new UnsafeArchiveError(`cannot write entry ${JSON.stringify(name)} (${code})`);
    throw e;
  }
}

/** Extracts every member into `stage` after checking every name (zip: all names before any byte is written). */
async function extractToStage(root: string, blob: Blob, kind: Kind, stage: string, limits: ImportLimits): Promise<string[]> {
  const files: string[] = [];
  const budget = new Budget(root, blob.size, limits);
  const names = new NameSet();
  if (kind === "zip") {
    const entries = await readZipEntries(blob, limits.maxEntries);
    let declared = 0;
    const plan: [string, (typeof entries)[number]][] = [];
    for (const e of entries) {
      const name = safeMemberName(e.name, limits);
      if (e.isLink) throw new UnsafeArchiveError(`link in archive: ${e.name}`);
      const type = e.mode & 0o170000;
      if (type !== 0 && type !== 0o100000 && type !== 0o040000) throw new UnsafeArchiveError(`special file in archive: ${e.name}`);
      if (!name) continue;
      names.add(name, e.isDir);
      if (e.isDir) continue;
      declared += e.usize;
      if (e.usize > 1024 * 1024 && e.usize > e.csize * limits.maxRatio) {
        throw new UnsafeArchiveError(`compression ratio of ${e.name} beyond ${limits.maxRatio}:1`);
      }
      plan.push([name, e]);
    }
    budget.checkDeclared(declared);
    for (const [name, e] of plan) {
      await forEntry(name, async () => {
        const out = new StagedFile(join(stage, name), budget);
        try {
          await extractZipEntry(blob, e, out);
        } finally {
          out.close();
        }
      });
      files.push(name);
    }
    return files;
  }
  let count = 0;
  let current: StagedFile | undefined;
  const parser = new TarParser({
    entry: (h) => {
      if (++count > limits.maxEntries) throw new UnsafeArchiveError(`too many entries (> ${limits.maxEntries})`);
      const name = safeMemberName(h.name, limits);
      if (h.type === "link") throw new UnsafeArchiveError(`link in archive: ${h.name}`);
      if (h.type === "other") throw new UnsafeArchiveError(`special file in archive: ${h.name}`);
      if (!name) return undefined;
      names.add(name, h.type === "dir");
      if (h.type === "dir") return undefined;
      budget.checkDeclared(h.size);
      const file = new StagedFile(join(stage, name), budget);
      current = file;
      files.push(name);
      return file;
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
      // the tar stream itself (headers, padding) counts towards the ratio too
      total += chunk.length;
      if (total > limits.ratioFloorBytes && total > blob.size * limits.maxRatio) {
        throw new UnsafeArchiveError(`compression ratio beyond ${limits.maxRatio}:1 (a decompression bomb)`);
      }
      await parser.push(chunk);
    }
    parser.end();
  } catch (e) {
    if (e instanceof ArchiveError) throw e;
    const code = (e as NodeJS.ErrnoException)?.code;
    if (code && NAME_ERRNOS.has(code)) throw new UnsafeArchiveError(`cannot write entry ${JSON.stringify(files.at(-1) ?? "")} (${code})`);
    if (code) throw e; // ENOSPC and friends: the storage's fault, not the archive's
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
  let text: string;
  try {
    text = readChecked(join(stage, name), { maxBytes: MANIFEST_FILE_LIMIT }).toString("utf8");
  } catch (e) {
    if (e instanceof FileRefusedError && e.reason === "too_large") throw new UnsafeArchiveError(`${name} is too large (over ${MANIFEST_FILE_LIMIT} bytes)`);
    return undefined; // absent: that layout does not apply
  }
  try {
    return parseTolerant(text);
  } catch {
    return undefined; // not JSON: that layout does not apply
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
  const h = createHash("sha256");
  const fd = openSync(path, "r"); // a file this import just staged (fresh folder, no links)
  try {
    const buf = Buffer.allocUnsafe(1024 * 1024);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest("hex");
}

/** One move of the commit: a staged path and its place under ROOT (relative, `/`-separated). */
interface Move {
  src: string;
  rel: string;
  files: number;
}

/**
 * Checks that every folder on the way to `rel` under ROOT is a real folder (lstat of each component: a link
 * anywhere, even one pointing inside ROOT, refuses the archive) and says which are missing. Creates nothing.
 */
function checkTargetPath(realRoot: string, rel: string): string[] {
  const segs = rel.split("/");
  const missing: string[] = [];
  let cur = realRoot;
  for (let i = 0; i < segs.length - 1; i++) {
    cur = join(cur, segs[i]);
    if (missing.length) {
      missing.push(cur);
      continue;
    }
    const st = lstatSync(cur, { throwIfNoEntry: false });
    if (!st) missing.push(cur);
    else if (st.isSymbolicLink()) throw new UnsafeArchiveError(`target goes through a symbolic link: ${segs.slice(0, i + 1).join("/")}`);
    else if (!st.isDirectory()) throw new UnsafeArchiveError(`target folder is a file: ${segs.slice(0, i + 1).join("/")}`);
  }
  return missing;
}

/**
 * Moves every staged path into ROOT, or none: targets are checked first (no links on the way, nothing there
 * yet), then folders are created and paths renamed one by one; on any failure every rename is undone and every
 * folder created is removed again.
 */
function commitAll(root: string, moves: Move[]): string[] {
  const realRoot = realRoot_(root);
  for (const m of moves) {
    checkTargetPath(realRoot, m.rel);
    if (lstatSync(join(realRoot, m.rel), { throwIfNoEntry: false })) throw new UnsafeArchiveError(`target exists: ${m.rel}`);
  }
  const created: string[] = [];
  const renamed: [string, string][] = [];
  try {
    for (const m of moves) {
      for (const dir of checkTargetPath(realRoot, m.rel)) {
        mkdirSync(dir); // one level at a time, each just checked: never through a link
        created.push(dir);
      }
      const dst = join(realRoot, m.rel);
      if (lstatSync(dst, { throwIfNoEntry: false })) throw new UnsafeArchiveError(`target appeared during the import: ${m.rel}`);
      renameSync(m.src, dst);
      renamed.push([dst, m.src]);
    }
  } catch (e) {
    rollBack(renamed, created);
    const code = (e as NodeJS.ErrnoException)?.code;
    if (code && NAME_ERRNOS.has(code)) throw new UnsafeArchiveError(`cannot place ${moves[renamed.length]?.rel ?? "an entry"} (${code})`);
    throw e;
  }
  return created;
}

/** Undoes a partial commit: renames back into the stage, then removes the folders the commit created. */
function rollBack(renamed: [string, string][], created: string[]): void {
  for (const [dst, src] of renamed.reverse()) {
    try {
      renameSync(dst, src);
    } catch (e) {
      log(`import rollback: cannot move ${dst} back: ${(e as Error).message}`);
    }
  }
  for (const dir of created.reverse()) {
    try {
      rmdirSync(dir);
    } catch (e) {
      log(`import rollback: cannot remove ${dir}: ${(e as Error).message}`);
    }
  }
}

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

function realRoot_(root: string): string {
  try {
    return realpathSync(root);
  } catch {
    return root; // created just before: it exists; a failure here surfaces at the first move
  }
}

/**
 * Imports an archive (zip, tar or tar.gz; by content, not by name) into ROOT, all or nothing. Accepts this
 * tool's export, the original's paths/export zip, and any archive whose paths are relative to ROOT (`runs/…`,
 * legacy `<p>/<n>/runs/<id>/…`, `archive/…`). Every name, type and size is checked (zip: before any byte is
 * written), everything is staged in a fresh folder inside ROOT, the export manifest and blob digests are
 * checked, and only then are runs moved into place. Throws ArchiveError (corrupt) or UnsafeArchiveError (refused).
 */
export async function importArchive(
  root: string,
  archive: Blob,
  filename?: string,
  opts: { limits?: Partial<ImportLimits>; progress?: Progress } = {},
): Promise<ImportResult> {
  const limits = { ...DEFAULT_IMPORT_LIMITS, ...opts.limits };
  const kind = await detectKind(archive, filename);
  mkdirSync(root, { recursive: true }); // the configured root itself (as `serve` would create it)
  // staged inside ROOT (same file system, so moves are renames) under a fresh name; dot-dirs are never scanned
  const stage = mkdtempSync(join(realRoot_(root), ".import-"));
  try {
    const files = await extractToStage(root, archive, kind, stage, limits);
    let format: ImportResult["format"] = "root";
    let planned: PlannedRun[];
    let exportInfo: ExportIndexRows | undefined;
    let sourceRoot: string | null = null;
    const fromPathsExport = files.includes(EXPORT_MANIFEST) ? undefined : pathsExportRuns(stage, files);
    if (fromPathsExport) {
      format = "paths-export";
      planned = fromPathsExport;
    } else {
      const m = files.includes(EXPORT_MANIFEST) ? readStagedJson(stage, EXPORT_MANIFEST) : undefined;
      if (files.includes(EXPORT_MANIFEST) && m === undefined) throw new UnsafeArchiveError(`${EXPORT_MANIFEST} is not valid JSON`);
      if (isObject(m) && m.format === "runicorn-export") {
        format = "runicorn";
        exportInfo = checkExportIndex(m);
        sourceRoot = typeof m.source_root === "string" ? m.source_root : null;
      }
      planned = rootRelativeRuns(files);
    }

    const existing = new Set(discoverRuns(root).map((e) => e.id));
    const taken = new Set<string>();
    const skippedRuns: string[] = [];
    const placed: PlannedRun[] = [];
    const moves: Move[] = [];
    for (const r of planned) {
      if (existing.has(r.id) || taken.has(r.id) || existsSync(join(root, r.dst))) {
        skippedRuns.push(r.id);
        continue;
      }
      taken.add(r.id);
      placed.push(r);
      moves.push({ src: join(stage, r.src), rel: r.dst, files: listFiles(join(stage, r.src)).length });
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
        if (f !== EXPORT_MANIFEST && f !== SKIPPED_LIST && !(format === "paths-export" && f === "index.json")) {
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
      if (existsSync(join(root, f))) continue; // content-addressed or already there: keep ROOT's copy
      moves.push({ src, rel: f, files: 1 });
    }

    const created = commitAll(root, moves);
    const imported = moves.reduce((n, m) => n + m.files, 0);
    opts.progress?.(imported, files.length);
    if (exportInfo && placed.length) {
      try {
        await mergeExportedRows(root, exportInfo, sourceRoot, placed);
      } catch (e) {
        // the runs are in place but their index rows are not: take them out again (all or nothing)
        rollBack(moves.map((m) => [join(realRoot_(root), m.rel), m.src]), created);
        const code = String((e as { code?: unknown })?.code ?? "");
        if (code.startsWith("SQLITE_CONSTRAINT") || code === "SQLITE_MISMATCH") {
          throw new UnsafeArchiveError(`${EXPORT_MANIFEST}: index rows refused by the SDK index (${(e as Error).message})`);
        }
        throw e;
      }
    }
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

/** The SDK index rows of a runicorn export, checked. */
interface ExportIndexRows {
  runs: SdkRunRow[];
  assets: SdkAssetRow[];
  links: SdkLinkRow[];
}

type ColumnType = "string" | "string?" | "number?" | "flag";

const RUN_COLUMNS: Record<string, ColumnType> = {
  run_id: "string", path: "string?", alias: "string?", created_at: "number?", ended_at: "number?", status: "string?", run_dir: "string?", workspace_root: "string?",
};
const ASSET_COLUMNS: Record<string, ColumnType> = {
  asset_id: "string", asset_type: "string", name: "string?", source_uri: "string?", archive_uri: "string?", is_archived: "flag",
  fingerprint_kind: "string?", fingerprint: "string?", size_bytes: "number?", mtime: "number?", created_at: "number?", metadata_json: "string?",
};
const LINK_COLUMNS: Record<string, ColumnType> = { run_id: "string", asset_id: "string", role: "string", created_at: "number?" };

function checkRows<T>(table: string, rows: unknown, columns: Record<string, ColumnType>): T[] {
  if (rows === undefined) return [];
  if (!Array.isArray(rows)) throw new UnsafeArchiveError(`${EXPORT_MANIFEST}: index.${table} must be a list`);
  if (rows.length > DEFAULT_IMPORT_LIMITS.maxEntries) throw new UnsafeArchiveError(`${EXPORT_MANIFEST}: index.${table} has too many rows`);
  rows.forEach((row, i) => {
    const at = `${EXPORT_MANIFEST}: index.${table}[${i}]`;
    if (!isObject(row)) throw new UnsafeArchiveError(`${at} must be an object`);
    for (const [col, type] of Object.entries(columns)) {
      const v = row[col];
      const ok =
        type === "string" ? typeof v === "string" && v.length > 0
        : type === "string?" ? v === undefined || v === null || typeof v === "string"
        : type === "number?" ? v === undefined || v === null || (typeof v === "number" && Number.isFinite(v))
        : v === undefined || v === null || typeof v === "boolean" || v === 0 || v === 1;
      if (!ok) {
        const want = type === "string" ? "a non-empty string" : type === "string?" ? "a string or null" : type === "number?" ? "a number or null" : "0, 1, true or false";
        throw new UnsafeArchiveError(`${at}.${col} must be ${want}`);
      }
    }
  });
  return (rows as Record<string, unknown>[]).map((r) => {
    const out: Record<string, unknown> = {};
    for (const col of Object.keys(columns)) out[col] = r[col] ?? null;
    return out as T;
  });
}

/** Checks the `index` rows of runicorn-export.json (types and required keys), naming the first bad one. */
function checkExportIndex(m: Record<string, unknown>): ExportIndexRows {
  if (m.index === undefined || m.index === null) return { runs: [], assets: [], links: [] };
  if (!isObject(m.index)) throw new UnsafeArchiveError(`${EXPORT_MANIFEST}: index must be an object`);
  if (m.source_root !== undefined && m.source_root !== null && typeof m.source_root !== "string") {
    throw new UnsafeArchiveError(`${EXPORT_MANIFEST}: source_root must be a string`);
  }
  return {
    runs: checkRows<SdkRunRow>("runs", m.index.runs, RUN_COLUMNS),
    assets: checkRows<SdkAssetRow>("assets", m.index.assets, ASSET_COLUMNS),
    links: checkRows<SdkLinkRow>("links", m.index.links, LINK_COLUMNS),
  };
}

/** Adds the exported SDK index rows of the imported runs to ROOT's index, re-rooted. */
async function mergeExportedRows(root: string, idx: ExportIndexRows, sourceRoot: string | null, placed: PlannedRun[]): Promise<void> {
  const dst = new Map(placed.map((r) => [r.id, join(root, r.dst)]));
  const runs = idx.runs.filter((r) => dst.has(r.run_id));
  const links = idx.links.filter((l) => dst.has(l.run_id));
  const wanted = new Set(links.map((l) => l.asset_id));
  const assets = idx.assets.filter((a) => wanted.has(a.asset_id));
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
