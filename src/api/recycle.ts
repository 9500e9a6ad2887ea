// Soft delete, the recycle bin and restore (spec §1.11, §3.6).
import { Elysia, t } from "elysia";
import { listRunRows } from "../index/run-queries.ts";
import { listPath } from "../index/run-row.ts";
import { removeDeletedMarker, writeDeletedMarker } from "../store/run-files.ts";
import type { AppContext } from "./context.ts";
import { ioMessage } from "./errors.ts";
import { assertRunIdBatch } from "./run-ids.ts";

/** Most runs one soft-delete or restore request may name (spec §6.1). */
export const MAX_SOFT_BATCH = 100;

type Result = { success: boolean; error?: string };

/** Recycle-bin routes. */
export function recycleRoutes(ctx: AppContext) {
  return new Elysia({ name: "recycle" })
    .post(
      "/api/runs/soft-delete",
      async ({ body }) => {
        const ids = assertRunIdBatch(body.run_ids, MAX_SOFT_BATCH);
        const results: Record<string, Result> = {};
        let count = 0;
        for (const id of ids) {
          const run = ctx.runs.findRunIncludingDeleted(id);
          if (!run) results[id] = { success: false, error: "run not found" };
          else if (run.deleted) results[id] = { success: false, error: "already deleted" };
          else {
            try {
              writeDeletedMarker(run.run_dir, "user_deleted", run.status || "unknown");
              results[id] = { success: true };
              count++;
            } catch (e) {
              results[id] = { success: false, error: ioMessage(e) };
            }
            await ctx.storage.runs.refreshRun(run.run_dir);
          }
        }
        return { deleted_count: count, results, message: `Soft deleted ${count} of ${ids.length} runs` };
      },
      { body: t.Object({ run_ids: t.Optional(t.Unknown()) }), detail: { summary: "Move runs to the recycle bin" } },
    )
    .get(
      "/api/recycle-bin",
      async () => {
        const rows = await listRunRows(ctx.index().db, true);
        return {
          deleted_runs: rows.map((r) => ({
            id: r.id,
            path: listPath(r.meta_path, r.entry_path),
            alias: r.alias,
            created_time: r.created_time,
            deleted_at: r.deleted_at,
            delete_reason: r.delete_reason ?? "unknown",
            original_status: r.original_status ?? "unknown",
            run_dir: r.run_dir,
          })),
        };
      },
      { detail: { summary: "Soft-deleted runs" } },
    )
    .post(
      "/api/recycle-bin/restore",
      async ({ body }) => {
        const ids = assertRunIdBatch(body.run_ids, MAX_SOFT_BATCH, "restore");
        const results: Record<string, Result> = {};
        let count = 0;
        for (const id of ids) {
          const run = ctx.runs.findRunIncludingDeleted(id);
          if (!run) results[id] = { success: false, error: "run not found" };
          else if (!run.deleted) results[id] = { success: false, error: "run not deleted" };
          else {
            try {
              removeDeletedMarker(run.run_dir);
              results[id] = { success: true };
              count++;
            } catch (e) {
              results[id] = { success: false, error: ioMessage(e) };
            }
            await ctx.storage.runs.refreshRun(run.run_dir);
          }
        }
        return { restored_count: count, results, message: `Restored ${count} of ${ids.length} runs` };
      },
      { body: t.Object({ run_ids: t.Optional(t.Unknown()) }), detail: { summary: "Restore runs from the recycle bin" } },
    );
}
