// Export and import over HTTP: path export (json/zip, spec §3.5), archive import (spec §3.10), per-run CSV and
// reports, and a many-run export in the importable ROOT-relative layout (issue 9).
import { Elysia, t } from "elysia";
import { type ByteSink, GzipSink, streamFrom } from "../store/assets/byte-sink.ts";
import { ArchiveError } from "../store/assets/zip-reader.ts";
import { importArchive, UnsafeArchiveError } from "../store/assets/archive-import.ts";
import { readMetricsTable, tableToCsv } from "../store/assets/metrics-table.ts";
import { htmlReport, markdownReport, readReportFiles, type ReportInput } from "../store/assets/report.ts";
import { type ExportSelection, exportItem, selectRunsFrom, writePathsExport, writeRootExport } from "../store/assets/run-export.ts";
import { runPlacesUnder } from "../index/run-queries.ts";
import { TarWriter } from "../store/assets/tar.ts";
import { ZipWriter } from "../store/assets/zip-writer.ts";
import { FileRefusedError } from "../store/safe-read.ts";
import { attachment, refusedError } from "./assets.ts";
import type { AppContext } from "./context.ts";
import type { Logger } from "../util/log.ts";
import { parseBoolQuery } from "./params.ts";
import { HttpError } from "./errors.ts";
import { getLiveRun } from "./run-ids.ts";

/** An archive streamed as it is written (both modes); a failure after the first bytes is logged (the answer has started). */
export function streamed(log: Logger, what: string, type: string, name: string, produce: (sink: ByteSink) => Promise<void>): Response {
  const body = streamFrom(produce, (e) => log.error(`${what} failed`, e));
  return new Response(body, { headers: { "content-type": type, "content-disposition": attachment(name) } });
}

/** The import's error mapping: corrupt → `Unsupported or corrupted archive: …`, refused → `Archive rejected: …`. */
export function importError(e: unknown): HttpError | undefined {
  if (e instanceof UnsafeArchiveError) return new HttpError(400, `Archive rejected: ${e.message}`);
  if (e instanceof ArchiveError) return new HttpError(400, `Unsupported or corrupted archive: ${e.message}`);
  // the archive was fine but ROOT holds something unreadable where the import must write (e.g. the SDK index)
  if (e instanceof FileRefusedError) return new HttpError(409, `Import failed, nothing imported: ${e.message}`);
  return undefined;
}

/** A run's metrics table read under the safe-read rule; a refused events.jsonl is a 4xx naming why. */
function tableOf(ctx: AppContext, runDir: string) {
  try {
    return readMetricsTable(runDir, ctx.root());
  } catch (e) {
    throw e instanceof FileRefusedError ? refusedError(e) : e;
  }
}

/** A report's format from `?format=` (markdown, md or html); 400 for anything else. */
export function reportFormat(format: string | undefined): "markdown" | "html" {
  const f = format ?? "markdown";
  if (f !== "markdown" && f !== "html" && f !== "md") throw new HttpError(400, `Unsupported format: ${f}`);
  return f === "html" ? "html" : "markdown";
}

/** A run report as a download, in both modes (the file mode reads the run's folder, the team mode its rows). */
export function reportResponse(input: ReportInput, format: "markdown" | "html"): Response {
  const html = format === "html";
  return new Response(html ? htmlReport(input) : markdownReport(input), {
    headers: {
      "content-type": html ? "text/html; charset=utf-8" : "text/markdown; charset=utf-8",
      "content-disposition": attachment(`${input.runId}_report.${html ? "html" : "md"}`),
    },
  });
}

/**
 * The runs an export selects: the index narrows the candidates to the path (a walk of ROOT read every run's
 * meta.json, 13 s at 100,000 runs with every request held), then each is checked against its files.
 */
async function selectIndexed(ctx: AppContext, sel: ExportSelection) {
  await ctx.storage.runs.settled();
  const places = await runPlacesUnder(ctx.index().db, { path: sel.path, exact: sel.exact, includeDeleted: true });
  return selectRunsFrom(ctx.root(), sel, places.map((r) => ({ id: r.id, dir: r.run_dir, entryPath: r.entry_path })));
}

/** Export/import routes. */
export function exportRoutes(ctx: AppContext) {
  return new Elysia({ name: "export" })
    .get(
      "/api/paths/export",
      async ({ query }) => {
        if (!query.path) throw new HttpError(400, "path is required");
        const exact = parseBoolQuery(query.exact, "exact");
        const format = query.format ?? "json";
        const root = ctx.root();
        const runs = await selectIndexed(ctx, { path: query.path, exact });
        if (format === "json") {
          return { path: query.path, exact, total_runs: runs.length, runs: runs.map(exportItem) };
        }
        if (format !== "zip") throw new HttpError(400, `Unsupported format: ${format}`);
        if (!runs.length) throw new HttpError(404, "No runs found for this path");
        const name = `runicorn_export_${query.path.replace(/[\\/]/g, "_")}.zip`;
        return streamed(ctx.log, "path export", "application/zip", name, async (sink) => {
          await writePathsExport(root, new ZipWriter(sink), query.path, runs);
        });
      },
      {
        query: t.Object({
          path: t.String({ maxLength: 1024 }),
          exact: t.Optional(t.String()),
          format: t.Optional(t.String({ maxLength: 32 })),
        }),
        detail: { summary: "Export the runs under a path as JSON, or as the original's zip (index.json + <run_id>/files)" },
      },
    )
    .post(
      "/api/import/archive",
      async ({ body }) => {
        try {
          const result = await importArchive(ctx.root(), body.file, body.file.name);
          if (result.new_run_ids.length) await ctx.storage.runs.sync();
          return result;
        } catch (e) {
          throw importError(e) ?? e;
        }
      },
      {
        body: t.Object({ file: t.File() }),
        detail: {
          summary: "Import a zip or tar(.gz) archive of runs into the storage root",
          description:
            "Accepts this tool's export, the original's paths/export zip and archives with paths relative to the root. Entries outside the root, links and decompression bombs are refused; existing runs are never overwritten (skipped_run_ids).",
        },
      },
    )
    .get(
      "/api/export/:run_id/csv",
      ({ params }) => {
        const run = getLiveRun(ctx, params.run_id);
        const csv = tableToCsv(tableOf(ctx, run.run_dir));
        return new Response(csv, {
          headers: { "content-type": "text/csv; charset=utf-8", "content-disposition": attachment(`${params.run_id}_metrics.csv`) },
        });
      },
      { params: t.Object({ run_id: t.String() }), detail: { summary: "A run's metrics as CSV, one row per step" } },
    )
    .get(
      "/api/export/:run_id/report",
      ({ params, query }) => {
        const run = getLiveRun(ctx, params.run_id);
        const format = reportFormat(query.format);
        return reportResponse({ runId: params.run_id, ...readReportFiles(run.run_dir, ctx.root()), table: tableOf(ctx, run.run_dir) }, format);
      },
      {
        params: t.Object({ run_id: t.String() }),
        query: t.Object({ format: t.Optional(t.String({ maxLength: 32 })) }),
        detail: { summary: "A run report (summary, config, best metric, a chart per main metric) as Markdown or HTML" },
      },
    )
    .get(
      "/api/export",
      async ({ query }) => {
        const format = query.format ?? "json";
        const runIds = query.run_ids?.split(",").map((s) => s.trim()).filter(Boolean);
        const exact = parseBoolQuery(query.exact, "exact");
        const includeDeleted = parseBoolQuery(query.include_deleted, "include_deleted");
        const runs = await selectIndexed(ctx, { path: query.path, exact, runIds, includeDeleted });
        if (format === "json") {
          return { path: query.path ?? null, exact, total_runs: runs.length, runs: runs.map(exportItem) };
        }
        if (format !== "zip" && format !== "tar.gz") throw new HttpError(400, `Unsupported format: ${format}`);
        if (!runs.length) throw new HttpError(404, "No runs found for this path");
        const stem = `runicorn_export_${query.path ? query.path.replace(/[\\/]/g, "_") : "all"}`;
        const root = ctx.root();
        if (format === "zip") {
          return streamed(ctx.log, "export", "application/zip", `${stem}.zip`, async (sink) => {
            await writeRootExport(root, new ZipWriter(sink), runs);
          });
        }
        return streamed(ctx.log, "export", "application/gzip", `${stem}.tar.gz`, async (sink) => {
          const gz = new GzipSink(sink);
          await writeRootExport(root, new TarWriter(gz), runs);
          await gz.finish();
        });
      },
      {
        query: t.Object({
          format: t.Optional(t.String({ maxLength: 32 })),
          path: t.Optional(t.String({ maxLength: 1024 })),
          exact: t.Optional(t.String()),
          run_ids: t.Optional(t.String({ maxLength: 100_000 })),
          include_deleted: t.Optional(t.String()),
        }),
        detail: {
          summary: "Export many runs: JSON metadata, or an importable zip / tar.gz with their archive files and index rows",
        },
      },
    );
}
