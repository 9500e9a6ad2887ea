// Team mode (PostgreSQL): the path tree, the runs under a path, soft-deleting a path, and the legacy
// projects view over team_run, with the file mode's answers (src/api/paths.ts), so the UI works unchanged.
import { Elysia, t } from "elysia";
import type { TeamService } from "../team/service.ts";
import { HttpError } from "./errors.ts";
import { buildTree, pathsAnswer } from "./paths.ts";
import { parseBoolQuery } from "./params.ts";

interface UnderRow {
  run_id: string;
  path: string;
  alias: string | null;
  status: string;
  created_at: number;
  list_json: string;
}

const likeEscape = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/** Live runs whose path equals `path` or (unless `exact`) lies under it, in scan order; all runs with a path when none. */
async function runsUnder(svc: TeamService, path: string | undefined, exact: boolean): Promise<UnderRow[]> {
  const p = (path ?? "").replace(/^\/+|\/+$/g, "");
  const under = p === "" ? null : `${likeEscape(p)}/%`;
  return (await svc.sql`select run_id, path, nullif(meta->>'alias', '') as alias, coalesce(nullif(status->>'status', ''), 'finished') as status,
      created_at, list_json from team_run
    where deleted_at is null and path <> '' and (${p === "" ? null : p}::text is null or path = ${p} or (${!exact} and path like ${under}))
    order by path collate "C", run_id collate "C"`) as UnderRow[];
}

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
    })
    .get(
      "/api/paths/runs",
      async ({ query, set }) => {
        const rows = await runsUnder(svc, query.path, parseBoolQuery(query.exact, "exact"));
        set.headers["content-type"] = "application/json";
        return `[${rows.map((r) => r.list_json).join(",")}]`;
      },
      {
        query: t.Object({ path: t.Optional(t.String({ maxLength: 1024 })), exact: t.Optional(t.String()) }),
        detail: { summary: "Runs whose path equals or lies under `path` (team mode)" },
      },
    )
    .post(
      "/api/paths/soft-delete",
      async ({ body }) => {
        const path = typeof body?.path === "string" ? body.path.replace(/^\/+|\/+$/g, "") : "";
        if (!path) throw new HttpError(400, "path is required");
        const rows = await runsUnder(svc, path, body.exact === true);
        let count = 0;
        for (const r of rows) {
          const done = await svc.sql`update team_run set deleted_at = ${Date.now() / 1000}, delete_reason = 'path_batch_delete',
              list_version = nextval('team_list_version') where run_id = ${r.run_id} and deleted_at is null returning run_id`;
          if (!done.length) continue;
          count++;
          await svc.notify({ run_id: r.run_id, seq: 0, kind: "deleted" });
        }
        return { path, deleted_count: count, errors: null, message: `Moved ${count} runs to recycle bin` };
      },
      {
        body: t.Object({ path: t.Optional(t.Unknown()), exact: t.Optional(t.Boolean()) }),
        detail: { summary: "Soft-delete every run under a path (team mode)" },
      },
    )
    .get("/api/projects", async () => ({ projects: [...new Set((await pathCounts(svc)).map((c) => c.entry_path.split("/")[0]))].sort() }), {
      detail: { summary: "Legacy view: first path segments (team mode)" },
    })
    .get(
      "/api/projects/:project/names",
      async ({ params }) => {
        const names = (await pathCounts(svc))
          .map((c) => c.entry_path.split("/"))
          .filter((s) => s[0] === params.project && s.length > 1)
          .map((s) => s[1]);
        return { names: [...new Set(names)].sort() };
      },
      { detail: { summary: "Legacy view: second segments under a project (team mode)" } },
    )
    .get(
      "/api/projects/:project/names/:name/runs",
      async ({ params }) =>
        (await runsUnder(svc, `${params.project}/${params.name}`, false)).map((r) => ({
          run_id: r.run_id,
          path: r.path,
          alias: r.alias,
          status: r.status,
          start_time: r.created_at,
        })),
      { detail: { summary: "Legacy view: runs under project/name (team mode)" } },
    );
}
