// Run assets: the assets.json view, SDK-index reference counts, and downloads of files, directories and
// manifests under ROOT only (spec §3.7, §3.6 refs; §6.1 with links that leave ROOT refused).
import { lstatSync, readdirSync, statSync } from "node:fs";
import { basename, isAbsolute, join, relative, resolve } from "node:path";
import { Elysia, t } from "elysia";
import { readJsonObject } from "../store/json.ts";
import { assetsCount } from "../store/run-files.ts";
import { streamFrom } from "../store/assets/byte-sink.ts";
import { blobPath, isInsideRoot, isManifestPath, readManifestFile, realpathOrUndefined, remapRecordedPath } from "../store/assets/cas.ts";
import { FileRefusedError, openChecked, type OpenedFile, UNLIMITED } from "../store/safe-read.ts";
import { safeMemberName } from "../store/assets/archive-import.ts";
import { SdkIndex } from "../store/assets/sdk-index.ts";
import { ZipWriter } from "../store/assets/zip-writer.ts";
import type { AppContext } from "./context.ts";
import { fileResponse } from "./file-response.ts";
import { HttpError } from "./errors.ts";
import { assertRunId, getLiveRun } from "./run-ids.ts";

/** `Content-Disposition: attachment` as Starlette writes it (RFC 5987 form for non-ASCII names). */
export function attachment(filename: string): string {
  const quoted = encodeURIComponent(filename);
  return quoted === filename ? `attachment; filename="${filename}"` : `attachment; filename*=utf-8''${quoted}`;
}

/** Spec §3.7: `filename` reduced to a base name with `/` and `\` replaced; undefined when blank. */
export function downloadName(filename: string | undefined): string | undefined {
  if (filename === undefined) return undefined;
  const name = basename(filename.replaceAll("\\", "/")).replace(/[\\/]/g, "_");
  return name.trim() ? name : undefined;
}

/** An asset as `assets/refs` lists it. */
interface RefItem {
  asset_id: string;
  asset_type: string;
  name: string | null;
  fingerprint: string | null;
  role: string;
  ref_count: number;
  other_runs?: string[];
}

/** Spec §3.6: which of a run's index assets only it uses; counted by distinct runs (fix of link-row counts). */
export function assetRefs(root: string, runId: string) {
  const orphaned: RefItem[] = [];
  const shared: RefItem[] = [];
  const index = SdkIndex.open(root);
  try {
    for (const a of index?.assetsForRun(runId) ?? []) {
      const runs = index!.runsForAsset(a.asset_id);
      const others = runs.filter((r) => r !== runId);
      const item: RefItem = {
        asset_id: a.asset_id,
        asset_type: a.asset_type,
        name: a.name,
        fingerprint: a.fingerprint,
        role: a.role,
        ref_count: others.length + 1,
      };
      if (others.length === 0) orphaned.push(item);
      else shared.push({ ...item, other_runs: others });
    }
  } finally {
    index?.close();
  }
  return { run_id: runId, orphaned_assets: orphaned, shared_assets: shared, orphaned_count: orphaned.length, shared_count: shared.length };
}

/**
 * Resolves a requested download path: absolute paths recorded under the run's old `meta.storage_dir` (or any
 * old root's archive) are re-rooted when they no longer exist; the result must stay inside ROOT after
 * symlinks are resolved (403 `Unsafe path`), and exist (404 `File not found`).
 */
export function resolveDownloadPath(root: string, requested: string, storageDir: string | null): string {
  if (requested.includes("\0")) throw new HttpError(400, "Invalid path");
  let target = isAbsolute(requested) ? resolve(requested) : resolve(root, requested);
  if (!exists(target)) {
    const mapped = resolve(remapRecordedPath(root, target, storageDir));
    if (mapped !== target && exists(mapped)) target = mapped;
  }
  if (!isInsideRoot(root, target)) throw new HttpError(403, "Unsafe path");
  if (!exists(target)) throw new HttpError(404, "File not found");
  return realpathOrUndefined(target) ?? target;
}

/** True when the path exists; names the OS refuses (too long, bad bytes) simply do not exist. */
function exists(p: string): boolean {
  try {
    return statSync(p, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return false; // ENAMETOOLONG and friends: not a file anyone can download
  }
}

/** Files below a directory (relative `/` names), not following symlinks. */
function walkFiles(dir: string, base = dir, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walkFiles(p, base, out);
    else if (e.isFile()) out.push(relative(base, p).split("\\").join("/"));
  }
  return out.sort();
}

function zipResponse(ctx: AppContext, name: string, produce: (z: ZipWriter) => Promise<void>): Response {
  const body = streamFrom(
    async (sink) => {
      const z = new ZipWriter(sink);
      await produce(z);
      await z.finish();
    },
    (e) => ctx.log.error(`zip download ${name} failed`, e),
  );
  return new Response(body, { headers: { "content-type": "application/zip", "content-disposition": attachment(name) } });
}

/** Adds a file to a zip download; a link leaving ROOT or a special file found inside a folder is left out (and logged). */
async function addUnlessRefused(ctx: AppContext, z: ZipWriter, name: string, path: string, root: string): Promise<void> {
  try {
    await z.addFile(name, path, root);
  } catch (e) {
    if (!(e instanceof FileRefusedError)) throw e;
    ctx.log.warn(`download: left out ${e.message}`);
  }
}

function withZip(name: string): string {
  return name.toLowerCase().endsWith(".zip") ? name : `${name}.zip`;
}

/** The HTTP answer to a file the safe-read rule refused. */
export function refusedError(e: FileRefusedError): HttpError {
  switch (e.reason) {
    case "missing":
      return new HttpError(404, "File not found");
    case "outside_root":
    case "link":
      return new HttpError(403, "Unsafe path");
    case "too_large":
      return new HttpError(413, `File too large: ${basename(e.path)}`);
    case "not_regular":
      return new HttpError(400, `Unsupported target: ${e.message.slice(e.path.length + 2)}`);
    default:
      return new HttpError(409, `Cannot read ${basename(e.path)}: ${e.message.slice(e.path.length + 2)}`);
  }
}

/** Opens a file to send under the safe-read rule, mapping refusals to 4xx. */
export function openForClient(root: string, path: string): OpenedFile {
  try {
    return openChecked(path, { root, maxBytes: UNLIMITED });
  } catch (e) {
    throw e instanceof FileRefusedError ? refusedError(e) : e;
  }
}

/** Builds the download response for a resolved target (spec §3.7): files, directories (zip) and manifests (zip). */
export function downloadResponse(ctx: AppContext, root: string, target: string, filename: string | undefined, request: Request): Response {
  const name = downloadName(filename);
  const st = lstatSync(target);
  if (st.isFile() && isManifestPath(realpathOrUndefined(root) ?? root, target)) {
    const read = readManifestFile(target, root);
    if (!read.ok) throw new HttpError(read.missing ? 404 : 422, read.missing ? "File not found" : `Cannot read manifest: ${read.reason}`);
    const m = read.manifest;
    const entries: [string, string][] = [];
    for (const [rel, e] of Object.entries(m.files)) {
      const sha = e && typeof e.sha256 === "string" ? e.sha256 : undefined;
      if (!sha || !/^[0-9a-f]{64}$/.test(sha)) continue;
      let safe: string | undefined;
      try {
        safe = safeMemberName(rel);
      } catch {
        safe = undefined; // a manifest path that would escape the client's folder is left out
      }
      const blob = blobPath(root, sha);
      if (safe && statSync(blob, { throwIfNoEntry: false })?.isFile()) entries.push([safe, blob]);
    }
    if (Object.keys(m.files).length === 0) throw new HttpError(404, "Manifest contains no files");
    const source = typeof m.source_path === "string" && m.source_path ? basename(m.source_path.replaceAll("\\", "/")) : "";
    const fallback = source || (typeof m.fingerprint === "string" ? m.fingerprint.slice(0, 16) : "archive");
    return zipResponse(ctx, withZip(name ?? fallback), async (z) => {
      for (const [rel, blob] of entries) await addUnlessRefused(ctx, z, rel, blob, root);
    });
  }
  if (st.isDirectory()) {
    const files = walkFiles(target);
    return zipResponse(ctx, withZip(name ?? basename(target)), async (z) => {
      for (const f of files) await addUnlessRefused(ctx, z, f, join(target, f), root);
    });
  }
  const f = openForClient(root, target);
  const finalName = name ?? basename(target);
  const type = Bun.file(finalName).type || "application/octet-stream";
  return fileResponse(request, f, { "content-type": type, "content-disposition": attachment(finalName) });
}

/** Asset routes. */
export function assetsRoutes(ctx: AppContext) {
  return new Elysia({ name: "assets" })
    .get(
      "/api/runs/:run_id/assets",
      ({ params }) => {
        const run = getLiveRun(ctx, params.run_id);
        const assets = readJsonObject(join(run.run_dir, "assets.json"), { root: ctx.root() }) ?? {};
        return { run_id: params.run_id, assets, assets_count: assetsCount(assets) };
      },
      { params: t.Object({ run_id: t.String() }), detail: { summary: "A run's assets.json" } },
    )
    .get(
      "/api/runs/:run_id/assets/refs",
      ({ params }) => {
        assertRunId(params.run_id);
        const run = ctx.runs.findRunIncludingDeleted(params.run_id);
        if (!run) throw new HttpError(404, "Run not found");
        try {
          return assetRefs(ctx.root(), params.run_id);
        } catch (e) {
          throw e instanceof FileRefusedError ? refusedError(e) : e;
        }
      },
      {
        params: t.Object({ run_id: t.String() }),
        detail: { summary: "Which of a run's indexed assets are shared with other runs (soft-deleted runs included)" },
      },
    )
    .get(
      "/api/runs/:run_id/assets/download",
      ({ params, query, request }) => {
        const run = getLiveRun(ctx, params.run_id);
        const root = ctx.root();
        const meta = readJsonObject(join(run.run_dir, "meta.json"), { root });
        const storageDir = typeof meta?.storage_dir === "string" ? meta.storage_dir : null;
        const target = resolveDownloadPath(root, query.path, storageDir);
        return downloadResponse(ctx, root, target, query.filename, request);
      },
      {
        params: t.Object({ run_id: t.String() }),
        query: t.Object({ path: t.String({ maxLength: 4096 }), filename: t.Optional(t.String({ maxLength: 1024 })) }),
        detail: {
          summary: "Download a file, a directory (zipped) or a manifest (re-assembled as zip) under the storage root",
          description: "Paths recorded under a moved root (meta.storage_dir) are mapped onto the current root.",
        },
      },
    );
}
