// Team mode (PostgreSQL): soft delete, the recycle bin, restore and permanent deletion over team_run's
// deleted_at, with the file mode's request and answer shapes (api/recycle.ts, api/delete.ts), so the UI's
// bin works unchanged. A permanent delete removes the run's rows (cascade) and its media blobs.
import { Elysia, t } from "elysia";
import type { TeamService } from "../team/service.ts";
import { HttpError } from "./errors.ts";
import { parseBoolQuery, truthy } from "./params.ts";
import { MAX_PERMANENT_BATCH } from "./delete.ts";
import { MAX_SOFT_BATCH } from "./recycle.ts";
import { assertRunId, assertRunIdBatch } from "./run-ids.ts";

type Result = { success: boolean; error?: string };

/** The file mode's DeleteResult for a team run (no archives: media blobs are its only files). */
interface TeamDeleteResult {
  success: boolean;
  run_id: string;
  run_dir_deleted: boolean;
  orphaned_assets: never[];
  kept_assets: never[];
  blobs_deleted: number;
  manifests_deleted: number;
  outputs_deleted: number;
  bytes_freed: number;
  errors: string[];
  blobs_kept: number;
}

/** Deletes one run for good (a dry run only counts); unknown → success false with the file mode's error. */
async function deleteForGood(svc: TeamService, id: string, dryRun: boolean): Promise<TeamDeleteResult> {
  const base = { run_id: id, orphaned_assets: [], kept_assets: [], manifests_deleted: 0, outputs_deleted: 0, blobs_kept: 0 };
  const found = (await svc.sql`select run_id from team_run where run_id = ${id}`) as unknown[];
  if (!found.length) return { ...base, success: false, run_dir_deleted: false, blobs_deleted: 0, bytes_freed: 0, errors: [`Run not found: ${id}`] };
  const media = (await svc.sql`select count(*)::int as n, coalesce(sum(size), 0)::float8 as bytes from team_media where run_id = ${id}`) as { n: number; bytes: number }[];
  if (dryRun) return { ...base, success: true, run_dir_deleted: false, blobs_deleted: media[0].n, bytes_freed: media[0].bytes, errors: [] };
  await svc.sql`delete from team_run where run_id = ${id}`;
  const removed = await svc.blobs.deletePrefix(id);
  svc.cache.drop(id);
  svc.systemCache.drop(id);
  await svc.notify({ run_id: id, seq: 0, kind: "deleted" });
  return { ...base, success: true, run_dir_deleted: true, blobs_deleted: removed.count, bytes_freed: removed.bytes, errors: [] };
}

export function teamRecycleRoutes(svc: TeamService) {
  const sql = svc.sql;
  return new Elysia({ name: "team-recycle" })
    .post(
      "/api/runs/soft-delete",
      async ({ body }) => {
        const ids = assertRunIdBatch(body.run_ids, MAX_SOFT_BATCH);
        const results: Record<string, Result> = {};
        let count = 0;
        for (const id of ids) {
          const rows = (await sql`select deleted_at from team_run where run_id = ${id}`) as { deleted_at: number | null }[];
          if (!rows.length) results[id] = { success: false, error: "run not found" };
          else if (rows[0].deleted_at !== null) results[id] = { success: false, error: "already deleted" };
          else {
            const done = await sql`update team_run set deleted_at = ${Date.now() / 1000}, delete_reason = 'user_deleted', list_version = nextval('team_list_version')
              where run_id = ${id} and deleted_at is null returning run_id`;
            results[id] = done.length ? { success: true } : { success: false, error: "already deleted" };
            if (done.length) {
              count++;
              await svc.notify({ run_id: id, seq: 0, kind: "deleted" });
            }
          }
        }
        return { deleted_count: count, results, message: `Soft deleted ${count} of ${ids.length} runs` };
      },
      { body: t.Object({ run_ids: t.Optional(t.Unknown()) }), detail: { summary: "Move runs to the recycle bin (team mode)" } },
    )
    .get(
      "/api/recycle-bin",
      async () => {
        const rows = (await sql`select run_id, path, meta->>'alias' as alias, created_at, deleted_at, delete_reason,
            coalesce(nullif(status->>'status', ''), 'finished') as status
          from team_run where deleted_at is not null order by deleted_at desc, run_id`) as {
          run_id: string;
          path: string;
          alias: string | null;
          created_at: number;
          deleted_at: number;
          delete_reason: string | null;
          status: string;
        }[];
        return {
          deleted_runs: rows.map((r) => ({
            id: r.run_id,
            path: r.path === "" ? null : r.path,
            alias: r.alias || null,
            created_time: r.created_at,
            deleted_at: r.deleted_at,
            delete_reason: r.delete_reason ?? "unknown",
            original_status: r.status,
            run_dir: `runs/${r.path ? `${r.path}/` : ""}${r.run_id}`,
          })),
        };
      },
      { detail: { summary: "Soft-deleted runs (team mode)" } },
    )
    .post(
      "/api/recycle-bin/restore",
      async ({ body }) => {
        const ids = assertRunIdBatch(body.run_ids, MAX_SOFT_BATCH, "restore");
        const results: Record<string, Result> = {};
        let count = 0;
        for (const id of ids) {
          const rows = (await sql`select deleted_at from team_run where run_id = ${id}`) as { deleted_at: number | null }[];
          if (!rows.length) results[id] = { success: false, error: "run not found" };
          else if (rows[0].deleted_at === null) results[id] = { success: false, error: "run not deleted" };
          else {
            await sql`update team_run set deleted_at = null, delete_reason = null, list_version = nextval('team_list_version') where run_id = ${id}`;
            await svc.notify({ run_id: id, seq: 0, kind: "updated" });
            results[id] = { success: true };
            count++;
          }
        }
        return { restored_count: count, results, message: `Restored ${count} of ${ids.length} runs` };
      },
      { body: t.Object({ run_ids: t.Optional(t.Unknown()) }), detail: { summary: "Restore runs from the recycle bin (team mode)" } },
    )
    .delete(
      "/api/runs/:run_id/permanent",
      async ({ params, query }) => {
        assertRunId(params.run_id);
        const result = await deleteForGood(svc, params.run_id, parseBoolQuery(query.dry_run, "dry_run"));
        if (!result.success) throw new HttpError(404, result.errors[0]);
        return result;
      },
      { query: t.Object({ dry_run: t.Optional(t.String()) }), detail: { summary: "Permanently delete a run, its rows and media (team mode)" } },
    )
    .post(
      "/api/runs/permanent-delete",
      async ({ body }) => {
        const ids = assertRunIdBatch(body.run_ids, MAX_PERMANENT_BATCH, "delete");
        const dryRun = truthy(body.dry_run);
        const results: Record<string, TeamDeleteResult> = {};
        let deleted = 0;
        let blobs = 0;
        let bytes = 0;
        for (const id of ids) {
          const r = (results[id] = await deleteForGood(svc, id, dryRun));
          if (!r.success) continue;
          deleted++;
          blobs += r.blobs_deleted;
          bytes += r.bytes_freed;
        }
        return { deleted_count: deleted, total_runs: ids.length, total_blobs_deleted: blobs, total_bytes_freed: bytes, dry_run: dryRun, results };
      },
      { body: t.Object({ run_ids: t.Unknown(), dry_run: t.Optional(t.Unknown()) }), detail: { summary: "Permanently delete up to 50 runs (team mode)" } },
    )
    .post(
      "/api/recycle-bin/empty",
      async ({ body }) => {
        if (!truthy(body.confirm)) throw new HttpError(400, "Must set confirm=true to permanently delete");
        const rows = (await sql`select run_id from team_run where deleted_at is not null`) as { run_id: string }[];
        let deleted = 0;
        let blobs = 0;
        let bytes = 0;
        const errors: string[] = [];
        for (const { run_id } of rows) {
          const r = await deleteForGood(svc, run_id, false);
          if (r.success) deleted++;
          blobs += r.blobs_deleted;
          bytes += r.bytes_freed;
          errors.push(...r.errors.map((e) => `${run_id}: ${e}`));
        }
        return { permanently_deleted: deleted, message: `Permanently deleted ${deleted} runs`, blobs_deleted: blobs, bytes_freed: bytes, errors };
      },
      { body: t.Object({ confirm: t.Optional(t.Unknown()) }), detail: { summary: "Permanently delete every soft-deleted run (team mode)" } },
    );
}
