// The v0.6 path tree, its runs and batch soft delete, plus the legacy projects endpoints (spec §3.5).
import { Elysia, t } from "elysia";
import { entryPathCounts, listRunRows, listRunRowsUnder } from "../index/run-queries.ts";
import type { RunTable } from "../index/schema.ts";
import { writeDeletedMarker } from "../store/run-files.ts";
import type { AppContext } from "./context.ts";
import { HttpError } from "./errors.ts";
import { parseBoolQuery } from "./params.ts";

type Tree = { [seg: string]: Tree };
type Stat = { total: number; running: number; finished: number; failed: number };

/** Nested object of path segments; leaves are `{}`. */
export function buildTree(paths: Iterable<string>): Tree {
  const tree: Tree = {};
  for (const p of paths) {
    let node = tree;
    for (const seg of p.split("/")) {
      if (!seg) continue;
      node = node[seg] ??= {};
    }
  }
  return tree;
}

function sortedUnique(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

/** The answer of GET /api/paths from the live runs' counts per path and status, in scan order (team mode shares it). */
export function pathsAnswer(counts: { entry_path: string; status: string; n: number }[], includeStats: boolean) {
  const leaves = sortedUnique(counts.map((c) => c.entry_path));
  const tree = buildTree(leaves);
  if (!includeStats) return { paths: leaves, tree };
  // the original lists leaf paths in scan order, then their ancestors
  const leafStats: Record<string, Stat> = {};
  const ancestorStats: Record<string, Stat> = {};
  for (const { entry_path, status, n } of counts) {
    const segs = entry_path.split("/");
    for (let i = segs.length; i >= 1; i--) {
      const p = segs.slice(0, i).join("/");
      const bucket = i === segs.length ? leafStats : ancestorStats;
      const s = (bucket[p] ??= { total: 0, running: 0, finished: 0, failed: 0 });
      s.total += n;
      if (status === "running" || status === "finished" || status === "failed") s[status] += n;
    }
  }
  const stats: Record<string, Stat> = { ...leafStats };
  for (const [p, st] of Object.entries(ancestorStats)) {
    if (stats[p]) {
      // a path that is both a leaf and an ancestor (runs at two depths): one entry, summed
      for (const k of ["total", "running", "finished", "failed"] as const) stats[p][k] += st[k];
    } else stats[p] = st;
  }
  const all = Object.keys(stats);
  return { paths: [...all].sort(), tree, stats };
}

/** Rows under a path prefix (all rows with a path when no prefix). */
async function runsUnder(ctx: AppContext, path: string | undefined, exact: boolean): Promise<RunTable[]> {
  if (path === undefined || path === "") return listRunRows(ctx.index().db);
  const p = path.replace(/^\/+|\/+$/g, "");
  if (p === "") return []; // "/" names no run's path
  // the path in SQL: a path of a few runs in a root of 100,000 reads a few rows
  return listRunRowsUnder(ctx.index().db, p, exact);
}

/** Paths and projects routes. */
export function pathsRoutes(ctx: AppContext) {
  return new Elysia({ name: "paths" })
    .get(
      "/api/paths",
      async ({ query }) => {
        return pathsAnswer(await entryPathCounts(ctx.index().db), parseBoolQuery(query.include_stats, "include_stats"));
      },
      {
        query: t.Object({ include_stats: t.Optional(t.String()) }),
        detail: { summary: "Every run path, as a list and a tree; with include_stats=true, counts per path" },
      },
    )
    .get(
      "/api/paths/tree",
      async () => {
        const counts = await entryPathCounts(ctx.index().db);
        return { tree: buildTree(sortedUnique(counts.map((c) => c.entry_path))) };
      },
      { detail: { summary: "The path tree" } },
    )
    .get(
      "/api/paths/runs",
      async ({ query, set }) => {
        const rows = await runsUnder(ctx, query.path, parseBoolQuery(query.exact, "exact"));
        set.headers["content-type"] = "application/json";
        // entry path here (spec §3.5), with the real tags and assets count (fix of §10.7)
        return (
          "[" +
          rows
            .map((r) => {
              const item = JSON.parse(r.list_json);
              item.path = r.entry_path;
              return JSON.stringify(item);
            })
            .join(",") +
          "]"
        );
      },
      {
        query: t.Object({ path: t.Optional(t.String({ maxLength: 1024 })), exact: t.Optional(t.String()) }),
        detail: { summary: "Runs whose path equals or lies under `path`" },
      },
    )
    .post(
      "/api/paths/soft-delete",
      async ({ body }) => {
        const path = typeof body?.path === "string" ? body.path.replace(/^\/+|\/+$/g, "") : "";
        if (!path) throw new HttpError(400, "path is required");
        const rows = await runsUnder(ctx, path, body.exact === true);
        const errors: string[] = [];
        let count = 0;
        let slice = performance.now();
        for (const r of rows) {
          // a path can hold tens of thousands of runs: other requests go on between short slices
          if (performance.now() - slice > 8) {
            await new Promise<void>((res) => setImmediate(res));
            slice = performance.now();
          }
          try {
            writeDeletedMarker(r.run_dir, "path_batch_delete", r.status || "unknown");
            count++;
          } catch (e) {
            errors.push(`${r.id}: ${(e as Error).message}`);
          }
        }
        await ctx.storage.runs.refreshRuns(rows.map((r) => r.run_dir));
        return {
          path,
          deleted_count: count,
          errors: errors.length ? errors : null,
          message: `Moved ${count} runs to recycle bin`,
        };
      },
      {
        body: t.Object({ path: t.Optional(t.Unknown()), exact: t.Optional(t.Boolean()) }),
        detail: { summary: "Soft-delete every run under a path" },
      },
    )
    .get(
      "/api/projects",
      async () => {
        const counts = await entryPathCounts(ctx.index().db);
        return { projects: sortedUnique(counts.map((c) => c.entry_path.split("/")[0])) };
      },
      { detail: { summary: "Legacy view: first path segments" } },
    )
    .get(
      "/api/projects/:project/names",
      async ({ params }) => {
        const counts = await entryPathCounts(ctx.index().db);
        const names = counts
          .map((c) => c.entry_path.split("/"))
          .filter((s) => s[0] === params.project && s.length > 1)
          .map((s) => s[1]);
        return { names: sortedUnique(names) };
      },
      { detail: { summary: "Legacy view: second segments under a project" } },
    )
    .get(
      "/api/projects/:project/names/:name/runs",
      async ({ params }) => {
        const rows = await runsUnder(ctx, `${params.project}/${params.name}`, false);
        return rows.map((r) => ({
          run_id: r.id,
          path: r.entry_path,
          alias: r.alias,
          status: r.status,
          start_time: r.created_time,
        }));
      },
      { detail: { summary: "Legacy view: runs under project/name" } },
    );
}
