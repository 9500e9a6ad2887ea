// Team mode (PostgreSQL): the JSON exports of many runs (GET /api/paths/export?format=json, GET /api/export),
// with the file mode's items (store/assets/run-export.ts exportItem). The zip and tar.gz formats copy run
// folders and archives, which a team server does not have: they answer 501.
import { Elysia, t } from "elysia";
import type { TeamService } from "../team/service.ts";
import { HttpError } from "./errors.ts";
import { parseBoolQuery } from "./params.ts";

interface ExportRow {
  run_id: string;
  path: string;
  meta: Record<string, unknown>;
  summary: Record<string, unknown>;
  status: string;
  created_at: number;
}

const likeEscape = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/** Runs by path prefix (or exact path) and/or ids, soft-deleted ones only when asked, in scan order. */
async function selectRuns(svc: TeamService, sel: { path?: string; exact: boolean; runIds?: string[]; includeDeleted: boolean }): Promise<ExportRow[]> {
  const prefix = sel.path?.replace(/^\/+|\/+$/g, "") || null;
  return (await svc.sql`select run_id, path, meta, summary, coalesce(nullif(status->>'status', ''), 'finished') as status, created_at from team_run
    where (${sel.includeDeleted} or deleted_at is null)
      and (${sel.runIds ?? null}::text[] is null or run_id = any(${sel.runIds ?? null}::text[]))
      and (${prefix}::text is null or path = ${prefix} or (${!sel.exact} and path like ${prefix ? `${likeEscape(prefix)}/%` : null}))
    order by path collate "C", run_id collate "C"`) as ExportRow[];
}

function exportItem(r: ExportRow) {
  return {
    run_id: r.run_id,
    path: r.path === "" ? null : r.path,
    alias: typeof r.meta.alias === "string" ? r.meta.alias : null,
    status: r.status,
    created_time: r.created_at,
    summary: r.summary,
    meta: { ...r.meta, id: r.run_id, path: r.path },
  };
}

function archiveRefused(format: string): HttpError {
  return new HttpError(501, `format=${format} (run folders and archives) is not available on a team (PostgreSQL) server; use format=json, or export the runs' files where they were logged`);
}

export function teamExportRoutes(svc: TeamService) {
  return new Elysia({ name: "team-export" })
    .get(
      "/api/paths/export",
      async ({ query }) => {
        if (!query.path) throw new HttpError(400, "path is required");
        const exact = parseBoolQuery(query.exact, "exact");
        const format = query.format ?? "json";
        if (format === "zip") throw archiveRefused(format);
        if (format !== "json") throw new HttpError(400, `Unsupported format: ${format}`);
        const runs = await selectRuns(svc, { path: query.path, exact, includeDeleted: false });
        return { path: query.path, exact, total_runs: runs.length, runs: runs.map(exportItem) };
      },
      {
        query: t.Object({ path: t.String({ maxLength: 1024 }), exact: t.Optional(t.String()), format: t.Optional(t.String({ maxLength: 32 })) }),
        detail: { summary: "Export the runs under a path as JSON (team mode; zip answers 501)" },
      },
    )
    .get(
      "/api/export",
      async ({ query }) => {
        const format = query.format ?? "json";
        const exact = parseBoolQuery(query.exact, "exact");
        const includeDeleted = parseBoolQuery(query.include_deleted, "include_deleted");
        if (format === "zip" || format === "tar.gz") throw archiveRefused(format);
        if (format !== "json") throw new HttpError(400, `Unsupported format: ${format}`);
        const runIds = query.run_ids?.split(",").map((s) => s.trim()).filter(Boolean);
        const runs = await selectRuns(svc, { path: query.path, exact, runIds: runIds?.length ? runIds : undefined, includeDeleted });
        return { path: query.path ?? null, exact, total_runs: runs.length, runs: runs.map(exportItem) };
      },
      {
        query: t.Object({
          format: t.Optional(t.String({ maxLength: 32 })),
          path: t.Optional(t.String({ maxLength: 1024 })),
          exact: t.Optional(t.String()),
          run_ids: t.Optional(t.String({ maxLength: 100_000 })),
          include_deleted: t.Optional(t.String()),
        }),
        detail: { summary: "Export many runs as JSON metadata (team mode; zip and tar.gz answer 501)" },
      },
    );
}
