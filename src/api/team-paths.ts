// Team mode (PostgreSQL): GET /api/paths and /api/paths/tree over team_run, with the file mode's answer
// (src/api/paths.ts pathsAnswer), so the UI's path tree works unchanged.
import { Elysia, t } from "elysia";
import type { TeamService } from "../team/service.ts";
import { buildTree, pathsAnswer } from "./paths.ts";
import { parseBoolQuery } from "./params.ts";

/** Live runs per path and status (runs at the root have no path), in scan order. */
async function pathCounts(svc: TeamService): Promise<{ entry_path: string; status: string; n: number }[]> {
  return (await svc.sql`select path as entry_path, coalesce(nullif(status->>'status', ''), 'finished') as status, count(*)::int as n
    from team_run where deleted_at is null and path <> '' group by 1, 2 order by min(path collate "C"), 2`) as { entry_path: string; status: string; n: number }[];
}

export function teamPathsRoutes(svc: TeamService) {
  return new Elysia({ name: "team-paths" })
    .get("/api/paths", async ({ query }) => pathsAnswer(await pathCounts(svc), parseBoolQuery(query.include_stats, "include_stats")), {
      query: t.Object({ include_stats: t.Optional(t.String()) }),
      detail: { summary: "Every run path, as a list and a tree; with include_stats=true, counts per path (team mode)" },
    })
    .get("/api/paths/tree", async () => ({ tree: buildTree([...new Set((await pathCounts(svc)).map((c) => c.entry_path))].sort()) }), {
      detail: { summary: "The path tree (team mode)" },
    });
}
