// Team mode (PostgreSQL): a run's assets.json (GET /api/runs/{id}/assets) and its archive refs. A team server
// stores no archived files (they stay on the training machine), so refs are empty and downloads answer 501.
import { Elysia } from "elysia";
import { assetsCount } from "../store/run-files.ts";
import type { TeamService } from "../team/service.ts";
import { HttpError } from "./errors.ts";

/** GET /api/runs/{id}/assets in team mode: the assets.json the run sent (its archived files stay on the training machine). */
export function teamAssetsRoutes(svc: TeamService) {
  return new Elysia({ name: "team-assets" })
    .get("/api/runs/:run_id/assets", async ({ params }) => {
      const row = await svc.runRow(params.run_id);
      return { run_id: params.run_id, assets: row.assets, assets_count: assetsCount(row.assets as never) };
    }, { detail: { summary: "A run's assets.json (team mode)" } })
    .get("/api/runs/:run_id/assets/refs", async ({ params }) => {
      const rows = await svc.sql`select 1 from team_run where run_id = ${params.run_id}`;
      if (!rows.length) throw new HttpError(404, "Run not found");
      // a team server keeps no archive index: deleting a run frees only its rows and media
      return { run_id: params.run_id, orphaned_assets: [], shared_assets: [], orphaned_count: 0, shared_count: 0 };
    }, { detail: { summary: "Archived assets shared with other runs (team mode: none are stored)" } });
}
