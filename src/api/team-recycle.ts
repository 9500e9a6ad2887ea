// Team mode (PostgreSQL): permanent deletion (one run, a batch, emptying the bin) with the file mode's request and
// answer shapes (api/delete.ts), so the UI's bin works unchanged: a run's rows go (cascade) and its media blobs.
// Soft delete, the bin's list and restore are the file mode's routes (api/recycle.ts) over team/recycle.ts.
import { Elysia, t } from "elysia";
import type { TeamService } from "../team/service.ts";
import { HttpError } from "./errors.ts";
import { parseBoolQuery, truthy } from "./params.ts";
import { MAX_PERMANENT_BATCH } from "./delete.ts";
import { assertRunId, assertRunIdBatch } from "./run-ids.ts";

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
