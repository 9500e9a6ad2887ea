// Permanent deletion: one run, a batch, and emptying the recycle bin, with index rows and blobs accounted
// for (spec §3.6, §2.10; fixes of §10.9: unknown run → 404, shared blobs kept, empty bin cleans up).
import { Elysia, t } from "elysia";
import { listRunRows } from "../index/run-queries.ts";
import { type DeleteResult, findRunDir, RunDeleter } from "../store/assets/delete-run.ts";
import type { AppContext } from "./context.ts";
import { HttpError } from "./errors.ts";
import { parseBoolQuery, truthy } from "./params.ts";
import { assertRunId, assertRunIdBatch } from "./run-ids.ts";

/** Most runs one permanent-delete request may name (spec §6.1). */
export const MAX_PERMANENT_BATCH = 50;

/** The run directory of an id (soft-deleted included): the index first, then a walk for just-created runs. */
function locate(ctx: AppContext, id: string): string | undefined {
  return ctx.runs.findRunIncludingDeleted(id)?.run_dir ?? findRunDir(ctx.root(), id);
}

/** Deletes runs one after another with one deleter, and tells the index about each removed directory. */
export async function deleteMany(
  ctx: AppContext,
  runs: { id: string; dir?: string }[],
  dryRun: boolean,
): Promise<Map<string, DeleteResult>> {
  const deleter = new RunDeleter(ctx.root(), dryRun);
  const out = new Map<string, DeleteResult>();
  const gone: string[] = [];
  let slice = performance.now();
  try {
    for (const { id, dir: known } of runs) {
      // emptying a large bin: other requests go on between short slices
      if (performance.now() - slice > 8) {
        await new Promise<void>((res) => setImmediate(res));
        slice = performance.now();
      }
      const dir = known ?? locate(ctx, id);
      const result = await deleter.deleteRun(id, dir);
      out.set(id, result);
      if (dir && !dryRun && result.run_dir_deleted) gone.push(dir);
    }
  } finally {
    deleter.close();
    await ctx.storage.runs.refreshRuns(gone);
  }
  return out;
}

/** Permanent deletion routes. */
export function deleteRoutes(ctx: AppContext) {
  return new Elysia({ name: "delete" })
    .delete(
      "/api/runs/:run_id/permanent",
      async ({ params, query }) => {
        assertRunId(params.run_id);
        const dryRun = parseBoolQuery(query.dry_run, "dry_run");
        const result = (await deleteMany(ctx, [{ id: params.run_id }], dryRun)).get(params.run_id)!;
        if (!result.success && result.errors.length) {
          // fix of spec §10.9: an unknown run is a 404, not the original's 500
          if (result.errors[0] === `Run not found: ${params.run_id}`) throw new HttpError(404, result.errors[0]);
          throw new HttpError(500, result.errors[0]);
        }
        return result;
      },
      {
        params: t.Object({ run_id: t.String() }),
        query: t.Object({ dry_run: t.Optional(t.String()) }),
        detail: { summary: "Permanently delete a run and the archive files nothing else refers to (dry_run previews)" },
      },
    )
    .post(
      "/api/runs/permanent-delete",
      async ({ body }) => {
        const ids = assertRunIdBatch(body.run_ids, MAX_PERMANENT_BATCH, "delete");
        const dryRun = truthy(body.dry_run);
        const results = await deleteMany(ctx, ids.map((id) => ({ id })), dryRun);
        let deleted = 0;
        let blobs = 0;
        let bytes = 0;
        for (const r of results.values()) {
          if (!r.success) continue;
          deleted++;
          blobs += r.blobs_deleted;
          bytes += r.bytes_freed;
        }
        return {
          deleted_count: deleted,
          total_runs: ids.length,
          total_blobs_deleted: blobs,
          total_bytes_freed: bytes,
          dry_run: dryRun,
          results: Object.fromEntries(results),
        };
      },
      {
        body: t.Object({ run_ids: t.Unknown(), dry_run: t.Optional(t.Unknown()) }),
        detail: { summary: "Permanently delete up to 50 runs" },
      },
    )
    .post(
      "/api/recycle-bin/empty",
      async ({ body }) => {
        if (!truthy(body.confirm)) throw new HttpError(400, "Must set confirm=true to permanently delete");
        const rows = await listRunRows(ctx.index().db, true);
        const results = await deleteMany(ctx, rows.map((r) => ({ id: r.id, dir: r.run_dir })), false);
        let deleted = 0;
        let blobs = 0;
        let bytes = 0;
        const errors: string[] = [];
        const warnings: string[] = [];
        for (const r of results.values()) {
          if (r.success) deleted++;
          blobs += r.blobs_deleted;
          bytes += r.bytes_freed;
          errors.push(...r.errors.map((e) => `${r.run_id}: ${e}`));
          warnings.push(...(r.warnings ?? []).map((w) => `${r.run_id}: ${w}`));
        }
        return {
          permanently_deleted: deleted,
          message: `Permanently deleted ${deleted} runs`,
          blobs_deleted: blobs,
          bytes_freed: bytes,
          errors,
          // fail closed (docs/RELIABILITY.md): present only when some holder could not be read
          ...(warnings.length ? { warnings } : {}),
        };
      },
      {
        body: t.Object({ confirm: t.Optional(t.Unknown()) }),
        detail: { summary: "Permanently delete every soft-deleted run, with index rows and unshared blobs" },
      },
    );
}
