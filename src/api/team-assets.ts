// Team mode (PostgreSQL): a run's assets.json (GET /api/runs/{id}/assets), its archive refs and the asset library
// (GET /api/assets) from the runs' assets.json. A team server stores no archived files (they stay on the training
// machine), so refs are empty, library items carry no download link, and downloads answer 501 (unserved.ts).
import { Elysia } from "elysia";
import { assetsCount } from "../store/run-files.ts";
import { foldAssetLibrary, type LibraryRun } from "../store/assets/library.ts";
import type { TeamService } from "../team/service.ts";
import { HttpError } from "./errors.ts";

interface AssetRow {
  run_id: string;
  path: string;
  meta: Record<string, unknown>;
  assets: Record<string, unknown>;
  created_at: number;
}

/** Live runs that recorded assets, newest first, as the library folds them. */
async function* libraryRuns(svc: TeamService): AsyncGenerator<LibraryRun> {
  const rows = (await svc.sql`select run_id, path, meta, assets, created_at from team_run
    where deleted_at is null and assets <> '{}'::jsonb order by created_at desc, run_id`) as AssetRow[];
  for (const r of rows) {
    const alias = r.meta.alias;
    const storageDir = r.meta.storage_dir;
    yield {
      ref: { run_id: r.run_id, path: r.path === "" ? null : r.path, alias: typeof alias === "string" ? alias : null, created_time: r.created_at },
      assets: r.assets as never,
      storageDir: typeof storageDir === "string" && storageDir ? storageDir : null,
    };
  }
}

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
    }, { detail: { summary: "Archived assets shared with other runs (team mode: none are stored)" } })
    .get("/api/assets", async () => {
      const total = (await svc.sql`select count(*)::int as n from team_run where deleted_at is null`) as { n: number }[];
      return foldAssetLibrary(libraryRuns(svc), total[0].n, { root: null, downloads: false });
    }, { detail: { summary: "Every asset recorded by live runs (team mode: from the runs' assets.json; archives stay on the training machines, so no download links)" } });
}
