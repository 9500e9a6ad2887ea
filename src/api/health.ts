// GET /api/health and POST /api/status/check (spec §3.1).
import { Elysia } from "elysia";
import { COMPAT_VERSION, VERSION } from "../version.ts";
import type { AppContext } from "./context.ts";

/** The `index` object of `/api/health`: build state and progress, and how changes are noticed. */
export function indexHealth(ctx: AppContext) {
  const runs = ctx.storage.runs;
  return {
    ...runs.progress(),
    fs_type: runs.fs?.type ?? null,
    fs_events_reliable: runs.eventsReliable(),
    full_sweep_s: runs.fullSweepSeconds(),
    // background metric work still to do: runs being read now, runs waiting for their metric.* fields
    metrics: { reading: ctx.metrics().reading, fields_pending: ctx.metrics().runFieldsWaiting },
  };
}

/** Health and status-check routes. */
export function healthRoutes(ctx: AppContext) {
  return new Elysia({ name: "health" })
    .get(
      "/api/health",
      () => {
        const store = ctx.metrics();
        const { hits, misses, incremental_updates } = store.counters;
        const all = hits + misses + incremental_updates;
        return {
          status: "ok",
          storage: ctx.root(),
          // spec §10: clients of the original check for 0.6.x here
          version: COMPAT_VERSION,
          server_version: VERSION,
          cache: {
            enabled: true,
            type: "incremental",
            hit_rate: `${(all ? (100 * hits) / all : 0).toFixed(1)}%`,
            hits,
            misses,
            incremental_updates,
            size: store.size,
            max_size: store.maxRuns,
          },
          // issue 13: the server answers while the first index builds; clients show this progress
          index: indexHealth(ctx),
        };
      },
      { detail: { summary: "Server health, storage root and version" } },
    )
    .post(
      "/api/status/check",
      async () => {
        await ctx.storage.runs.sync();
        const { checked, updated } = await ctx.storage.runs.checkLiveness();
        return { checked, updated, message: `Checked ${checked} running experiments, updated ${updated} statuses` };
      },
      { detail: { summary: "Check running runs for dead processes or lost heartbeats now" } },
    );
}
