// The original's experiment-management routes (spec §3.11), dead there (501), working here on the run index.
import { join } from "node:path";
import { Elysia, t } from "elysia";
import { listRunRows } from "../index/run-queries.ts";
import { listPath } from "../index/run-row.ts";
import { readJsonObject } from "../store/json.ts";
import { writeJsonAtomic } from "../store/run-files.ts";
import type { AppContext } from "./context.ts";
import { deleteMany, MAX_PERMANENT_BATCH } from "./delete.ts";
import { HttpError, ioMessage } from "./errors.ts";
import { parseBoolQuery } from "./params.ts";
import { assertRunIdBatch } from "./run-ids.ts";

const MAX_TAGS = 100;

/** Experiment routes: tag, search and delete. */
export function experimentsRoutes(ctx: AppContext) {
  return new Elysia({ name: "experiments" })
    .post(
      "/api/experiments/tag",
      async ({ body }) => {
        const runId = body.run_id;
        if (!runId) throw new HttpError(400, "run_id is required");
        const run = ctx.runs.findRun(runId);
        if (!run) return { success: false };
        const metaPath = join(run.run_dir, "meta.json");
        const meta = readJsonObject(metaPath, { root: ctx.root() }) ?? {};
        const given = (body.tags ?? []).map((s) => s.trim()).filter(Boolean);
        const current = Array.isArray(meta.tags) ? meta.tags.filter((x): x is string => typeof x === "string") : [];
        meta.tags = body.append === false ? given : [...new Set([...current, ...given])];
        try {
          writeJsonAtomic(metaPath, meta);
        } catch (e) {
          throw new HttpError(500, `Failed to tag experiment: ${ioMessage(e)}`);
        }
        await ctx.storage.runs.refreshRun(run.run_dir);
        return { success: true, tags: meta.tags };
      },
      {
        body: t.Object({
          run_id: t.Optional(t.String({ maxLength: 200 })),
          tags: t.Optional(t.Array(t.String({ maxLength: 1000 }), { maxItems: MAX_TAGS })),
          append: t.Optional(t.Boolean()),
        }),
        detail: { summary: "Add tags to a run (append, or replace with append=false)" },
      },
    )
    .get(
      "/api/experiments/search",
      async ({ query }) => {
        const archived = parseBoolQuery(query.archived, "archived");
        const rows = [...(await listRunRows(ctx.index().db)), ...(archived ? await listRunRows(ctx.index().db, true) : [])];
        const wanted = query.tags ? query.tags.split(",").map((s) => s.trim()).filter(Boolean) : [];
        const text = query.text?.toLowerCase();
        const experiments = rows
          .filter((r) => {
            const path = listPath(r.meta_path, r.entry_path) ?? "";
            if (query.project && path !== query.project && !path.startsWith(query.project + "/")) return false;
            const tags: string[] = JSON.parse(r.tags);
            if (wanted.some((w) => !tags.includes(w))) return false;
            if (text && ![r.id, path, r.alias ?? "", ...tags].some((s) => s.toLowerCase().includes(text))) return false;
            return true;
          })
          .map((r) => ({
            run_id: r.id,
            path: listPath(r.meta_path, r.entry_path),
            alias: r.alias,
            tags: JSON.parse(r.tags),
            status: r.status,
            created_at: r.created_time,
            archived: r.deleted === 1,
          }));
        return { experiments };
      },
      {
        query: t.Object({
          project: t.Optional(t.String({ maxLength: 1024 })),
          tags: t.Optional(t.String({ maxLength: 4096 })),
          text: t.Optional(t.String({ maxLength: 256 })),
          archived: t.Optional(t.String({ maxLength: 8 })),
        }),
        detail: { summary: "Search runs by path prefix (project), tags (all must match) and text" },
      },
    )
    .delete(
      "/api/experiments/delete",
      async ({ body }) => {
        const ids = body?.run_ids;
        if (!Array.isArray(ids) || ids.length === 0) throw new HttpError(400, "run_ids are required");
        assertRunIdBatch(ids, MAX_PERMANENT_BATCH);
        const done = await deleteMany(ctx, (ids as string[]).map((id) => ({ id })), false);
        const results: Record<string, boolean> = {};
        for (const id of ids as string[]) results[id] = done.get(id)?.success ?? false;
        return { results };
      },
      {
        body: t.Optional(t.Object({ run_ids: t.Optional(t.Unknown()), force: t.Optional(t.Boolean()) })),
        detail: { summary: "Permanently delete runs (as DELETE /api/runs/{id}/permanent)" },
      },
    );
}
