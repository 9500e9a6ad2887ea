// Team mode (PostgreSQL): exports with the file mode's shapes (api/export.ts), built from the database and the blob
// store: a run's report, the JSON exports of many runs (GET /api/paths/export, GET /api/export) and their zip / tar.gz
// archives, whose run folders are rebuilt by team/run-export.ts (so `runicorn import` reads them like a file export).
import { Elysia, t } from "elysia";
import { GzipSink } from "../store/assets/byte-sink.ts";
import { TarWriter } from "../store/assets/tar.ts";
import { ZipWriter } from "../store/assets/zip-writer.ts";
import { teamMetricsTable } from "../team/metrics-table.ts";
import { selectTeamRuns, teamExportItem, writeTeamPathsExport, writeTeamRootExport } from "../team/run-export.ts";
import type { TeamService } from "../team/service.ts";
import { HttpError } from "./errors.ts";
import { reportFormat, reportResponse, streamed } from "./export.ts";
import { parseBoolQuery } from "./params.ts";

export function teamExportRoutes(svc: TeamService) {
  return new Elysia({ name: "team-export" })
    .get(
      "/api/export/:run_id/report",
      async ({ params, query }) => {
        const row = await svc.runRow(params.run_id);
        const format = reportFormat(query.format);
        const table = teamMetricsTable(await svc.runData(params.run_id));
        return reportResponse({ runId: params.run_id, meta: row.meta, status: row.status, summary: row.summary, assets: row.assets, table }, format);
      },
      {
        params: t.Object({ run_id: t.String() }),
        query: t.Object({ format: t.Optional(t.String({ maxLength: 32 })) }),
        detail: { summary: "A run report (summary, config, best metric, a chart per main metric) as Markdown or HTML, from the database (team mode)" },
      },
    )
    .get(
      "/api/paths/export",
      async ({ query }) => {
        if (!query.path) throw new HttpError(400, "path is required");
        const exact = parseBoolQuery(query.exact, "exact");
        const format = query.format ?? "json";
        const runs = await selectTeamRuns(svc.sql, { path: query.path, exact, includeDeleted: false });
        if (format === "json") return { path: query.path, exact, total_runs: runs.length, runs: runs.map(teamExportItem) };
        if (format !== "zip") throw new HttpError(400, `Unsupported format: ${format}`);
        if (!runs.length) throw new HttpError(404, "No runs found for this path");
        const name = `runicorn_export_${query.path.replace(/[\\/]/g, "_")}.zip`;
        return streamed(svc.log, "path export", "application/zip", name, (sink) => writeTeamPathsExport(svc, new ZipWriter(sink), query.path, runs));
      },
      {
        query: t.Object({ path: t.String({ maxLength: 1024 }), exact: t.Optional(t.String()), format: t.Optional(t.String({ maxLength: 32 })) }),
        detail: { summary: "Export the runs under a path as JSON, or as the original's zip (index.json + <run_id>/files) rebuilt from the database (team mode)" },
      },
    )
    .get(
      "/api/export",
      async ({ query }) => {
        const format = query.format ?? "json";
        const exact = parseBoolQuery(query.exact, "exact");
        const includeDeleted = parseBoolQuery(query.include_deleted, "include_deleted");
        const runIds = query.run_ids?.split(",").map((s) => s.trim()).filter(Boolean);
        const runs = await selectTeamRuns(svc.sql, { path: query.path, exact, runIds: runIds?.length ? runIds : undefined, includeDeleted });
        if (format === "json") return { path: query.path ?? null, exact, total_runs: runs.length, runs: runs.map(teamExportItem) };
        if (format !== "zip" && format !== "tar.gz") throw new HttpError(400, `Unsupported format: ${format}`);
        if (!runs.length) throw new HttpError(404, "No runs found for this path");
        const stem = `runicorn_export_${query.path ? query.path.replace(/[\\/]/g, "_") : "all"}`;
        if (format === "zip") return streamed(svc.log, "export", "application/zip", `${stem}.zip`, (sink) => writeTeamRootExport(svc, new ZipWriter(sink), runs));
        return streamed(svc.log, "export", "application/gzip", `${stem}.tar.gz`, async (sink) => {
          const gz = new GzipSink(sink);
          await writeTeamRootExport(svc, new TarWriter(gz), runs);
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
        detail: { summary: "Export many runs: JSON metadata, or an importable zip / tar.gz of their folders rebuilt from the database (team mode)" },
      },
    );
}
