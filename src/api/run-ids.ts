// Run-id validation and lookups shared by the run features (spec §6.1).
import type { AppContext } from "./context.ts";
import { HttpError } from "./errors.ts";
import type { RunRecord } from "../index/run-types.ts";

/** The id format the original's mutating endpoints accept (spec §1.4, §6.1). */
export const RUN_ID_RE = /^[0-9]{8}_[0-9]{6}_[a-f0-9]{6}$/;

/** Throws 400 `Invalid run_id format: <id>` for an id mutating endpoints cannot take. */
export function assertRunId(id: string): void {
  if (!RUN_ID_RE.test(id)) throw new HttpError(400, `Invalid run_id format: ${id}`);
}

/** The live run with this id or 404 `Run not found`. */
export function getLiveRun(ctx: AppContext, id: string): RunRecord {
  const run = ctx.runs.findRun(id);
  if (!run) throw new HttpError(404, "Run not found");
  return run;
}

/**
 * Validates a batch body (`run_ids`, spec §3.6): a non-empty list of at most `max` valid ids.
 * All ids are checked before any work.
 */
export function assertRunIdBatch(ids: unknown, max: number, verb = "delete"): string[] {
  if (!Array.isArray(ids) || ids.length === 0) throw new HttpError(400, "run_ids is required and must be a list");
  if (ids.length > max) throw new HttpError(400, `Cannot ${verb} more than ${max} runs at once`);
  for (const id of ids) {
    if (typeof id !== "string") throw new HttpError(400, `Invalid run_id format: ${String(id)}`);
    assertRunId(id);
  }
  return ids as string[];
}
