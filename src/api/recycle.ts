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

/** One run's outcome in a batch, in the original's words ("run not found", "already deleted", "run not deleted", an I/O reason). */
export type RecycleResult = { success: boolean; error?: string };

/** An item of `GET /api/recycle-bin`. */
export interface DeletedRunItem {
  id: string;
  path: string | null;
  alias: string | null;
  created_time: number | null;
  deleted_at: number | null;
  delete_reason: string;
  original_status: string;
  run_dir: string;
}

/** Where the bin lives: `.deleted` markers in run folders (file mode) or `team_run.deleted_at` (team mode, src/team/recycle.ts). */
export interface RecycleStore {
  softDelete(id: string): Promise<RecycleResult>;
  restore(id: string): Promise<RecycleResult>;
  /** The runs in the bin. */
  deleted(): Promise<DeletedRunItem[]>;
}

/** The file mode's bin: `.deleted` markers (spec §1.11), the index refreshed after each change. */
export function fileRecycleStore(ctx: AppContext): RecycleStore {
  const change = async (id: string, wantDeleted: boolean): Promise<RecycleResult> => {
    const run = ctx.runs.findRunIncludingDeleted(id);
    if (!run) return { success: false, error: "run not found" };
    if (run.deleted === wantDeleted) return { success: false, error: wantDeleted ? "already deleted" : "run not deleted" };
    let result: RecycleResult;
    try {
      if (wantDeleted) writeDeletedMarker(run.run_dir, "user_deleted", run.status || "unknown");
      else removeDeletedMarker(run.run_dir);
      result = { success: true };
    } catch (e) {
      result = { success: false, error: ioMessage(e) };
    }
    await ctx.storage.runs.refreshRun(run.run_dir);
    return result;
  };
  return {
    softDelete: (id) => change(id, true),
    restore: (id) => change(id, false),
    async deleted() {
      const rows = await listRunRows(ctx.index().db, true);
      return rows.map((r) => ({
        id: r.id,
        path: listPath(r.meta_path, r.entry_path),
        alias: r.alias,
        created_time: r.created_time,
        deleted_at: r.deleted_at,
        delete_reason: r.delete_reason ?? "unknown",
        original_status: r.original_status ?? "unknown",
        run_dir: r.run_dir,
      }));
    },
  };
}

/** Recycle-bin routes over either mode's store: the same requests, checks and answers. */
export function recycleRoutes(store: RecycleStore) {
  return new Elysia({ name: "recycle" })
    .post(
      "/api/runs/soft-delete",
      async ({ body }) => {
        const ids = assertRunIdBatch(body.run_ids, MAX_SOFT_BATCH);
        const results: Record<string, RecycleResult> = {};
        let count = 0;
        for (const id of ids) if ((results[id] = await store.softDelete(id)).success) count++;
        return { deleted_count: count, results, message: `Soft deleted ${count} of ${ids.length} runs` };
      },
      { body: t.Object({ run_ids: t.Optional(t.Unknown()) }), detail: { summary: "Move runs to the recycle bin" } },
    )
    .get("/api/recycle-bin", async () => ({ deleted_runs: await store.deleted() }), { detail: { summary: "Soft-deleted runs" } })
    .post(
      "/api/recycle-bin/restore",
      async ({ body }) => {
        const ids = assertRunIdBatch(body.run_ids, MAX_SOFT_BATCH, "restore");
        const results: Record<string, RecycleResult> = {};
        let count = 0;
        for (const id of ids) if ((results[id] = await store.restore(id)).success) count++;
        return { restored_count: count, results, message: `Restored ${count} of ${ids.length} runs` };
      },
      { body: t.Object({ run_ids: t.Optional(t.Unknown()) }), detail: { summary: "Restore runs from the recycle bin" } },
    );
}
