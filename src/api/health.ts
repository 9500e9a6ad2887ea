// GET /api/health and POST /api/status/check (spec §3.1).
import { Elysia } from "elysia";
import { COMPAT_VERSION, VERSION } from "../version.ts";
import type { AppContext } from "./context.ts";

/** Health and status-check routes. */
export function healthRoutes(ctx: AppContext) {
  return new Elysia({ name: "health" })
    .get(
      "/api/health",
      () => ({
        status: "ok",
        storage: ctx.root(),
        // spec §10: clients of the original check for 0.6.x here
        version: COMPAT_VERSION,
        server_version: VERSION,
        cache: { enabled: true, type: "sqlite-index", hit_rate: "100.0%", hits: 0, misses: 0, incremental_updates: 0, size: 0, max_size: 0 },
      }),
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
