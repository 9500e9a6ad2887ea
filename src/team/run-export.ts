// A team run written back as the run folder the file mode would hold (meta/status/summary/assets.json, events.jsonl
// rebuilt from the stored metric rows and media events, logs.txt, system.jsonl, histograms.jsonl, media/ from the blob
// store), and the file mode's two archive layouts over those folders: the original's paths/export zip and the
// importable ROOT-relative export (store/assets/run-export.ts), so `import` reads a team export like a file one.
import type { SQL } from "bun";
import type { ImageEvent } from "../metrics/events.ts";
import { rowsAt } from "../metrics/query.ts";
import { EXPORT_MANIFEST, type EntryWriter, exportItem } from "../store/assets/run-export.ts";
import type { JsonObject } from "../store/json.ts";
import type { MediaEvent } from "../api/media-events.ts";
import { MEDIA_LINE_KIND } from "./media.ts";
import type { TeamService } from "./service.ts";

/** A run chosen for export, with what its folder's JSON files hold. */
export interface TeamExportRun {
  run_id: string;
  path: string;
  meta: Record<string, unknown>;
  summary: Record<string, unknown>;
  status_obj: Record<string, unknown>;
  assets: Record<string, unknown>;
  /** status.status, `finished` when absent (spec §3.5). */
  status: string;
  created_at: number;
  deleted_at: number | null;
  delete_reason: string | null;
}

export interface TeamExportSelection {
  path?: string;
  exact: boolean;
  runIds?: string[];
  includeDeleted: boolean;
}

const likeEscape = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/** Runs by path prefix (or exact path) and/or ids, soft-deleted ones only when asked, in the file mode's scan order. */
export async function selectTeamRuns(sql: SQL, sel: TeamExportSelection): Promise<TeamExportRun[]> {
  const prefix = sel.path?.replace(/^\/+|\/+$/g, "") || null;
  return (await sql`select run_id, path, meta, summary, status as status_obj, assets, coalesce(nullif(status->>'status', ''), 'finished') as status,
      created_at, deleted_at, delete_reason from team_run
    where (${sel.includeDeleted} or deleted_at is null)
      and (${sel.runIds ?? null}::text[] is null or run_id = any(${sel.runIds ?? null}::text[]))
      and (${prefix}::text is null or path = ${prefix} or (${!sel.exact} and path like ${prefix ? `${likeEscape(prefix)}/%` : null}))
    order by path collate "C", run_id collate "C"`) as TeamExportRun[];
}

/** The item of the original's JSON path export (spec §3.5): the file mode's exportItem over the run's row (meta.json carries id and path). */
export function teamExportItem(r: TeamExportRun): JsonObject {
  const meta = { ...r.meta, id: r.run_id, path: r.path } as JsonObject;
  return exportItem({ id: r.run_id, path: r.path === "" ? null : r.path, meta, status: r.status, summary: r.summary as JsonObject, created_time: r.created_at });
}

/** The run folder relative to ROOT where the file mode's ingest would have written it (`runs/<path>/<run_id>`). */
export function teamRunRel(r: Pick<TeamExportRun, "run_id" | "path">): string {
  return ["runs", ...r.path.split("/").filter(Boolean), r.run_id].join("/");
}

const enc = new TextEncoder();
const jsonFile = (v: unknown) => enc.encode(JSON.stringify(v, null, 2));

/** A number as the SDK writes it into events.jsonl (Python's tokens for non-finite values, which every reader here accepts). */
function pyNumber(v: number): string {
  return Number.isFinite(v) ? JSON.stringify(v) : v !== v ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
}

function metricsLine(step: number, time: number | null, values: Record<string, unknown>): string {
  let data = `"global_step": ${step}`;
  for (const [k, v] of Object.entries(values)) data += `, ${JSON.stringify(k)}: ${typeof v === "number" ? pyNumber(v) : JSON.stringify(v)}`;
  return `{"ts": ${time === null ? "null" : pyNumber(time)}, "type": "metrics", "data": {${data}}}\n`;
}

const linesOf = (rows: { line: unknown }[]) => rows.map((r) => `${JSON.stringify(r.line)}\n`).join("");

/**
 * The files of a team run's folder (names relative to it), written one at a time: events.jsonl holds one metrics line
 * per stored step (the row as the metric store keeps it: later events of a step already merged), then the image events,
 * then the table and audio events in logged order.
 */
export async function writeTeamRunFiles(svc: TeamService, r: TeamExportRun, add: (name: string, bytes: Uint8Array) => Promise<void>): Promise<void> {
  const sql = svc.sql;
  await add("meta.json", jsonFile({ ...r.meta, id: r.run_id, path: r.path }));
  await add("status.json", jsonFile(r.status_obj));
  if (Object.keys(r.summary).length) await add("summary.json", jsonFile(r.summary));
  await add("assets.json", jsonFile(r.assets));
  if (r.deleted_at !== null) {
    await add(".deleted", jsonFile({ deleted_at: r.deleted_at, reason: r.delete_reason ?? "user_deleted", original_status: r.status }));
  }
  const run = await svc.runData(r.run_id, true);
  const parts: string[] = [];
  for (const ref of run.state.chunks) {
    if (!ref.rows) continue;
    const chunk = run.state.load(ref, 0);
    for (const row of rowsAt(chunk, [...Array(chunk.n).keys()])) parts.push(metricsLine(row.step, row.time, row.values));
  }
  const images = (await sql`select line from team_run_line where run_id = ${r.run_id} and kind = 'image' order by seq, n`) as { line: ImageEvent }[];
  for (const { line: i } of images) parts.push(`${JSON.stringify({ ts: i.ts, type: "image", data: { key: i.key, path: i.path, step: i.step, caption: i.caption } })}\n`);
  const media = (await sql`select line from team_run_line where run_id = ${r.run_id} and kind = ${MEDIA_LINE_KIND} order by seq, n`) as { line: MediaEvent }[];
  for (const { line: m } of media) parts.push(`${JSON.stringify({ ts: m.ts, type: m.type, data: m.data })}\n`);
  if (parts.length) await add("events.jsonl", enc.encode(parts.join("")));
  const logs = await svc.logLines(r.run_id);
  if (logs.length) await add("logs.txt", enc.encode(logs.map((l) => `${l}\n`).join("")));
  for (const kind of ["system", "histograms"] as const) {
    const rows = (await sql`select line from team_run_line where run_id = ${r.run_id} and kind = ${kind} order by seq, n`) as { line: unknown }[];
    if (rows.length) await add(`${kind}.jsonl`, enc.encode(linesOf(rows)));
  }
  const names = (await sql`select name from team_media where run_id = ${r.run_id} order by name collate "C"`) as { name: string }[];
  for (const { name } of names) {
    const bytes = await svc.blobs.get(`${r.run_id}/media/${name}`);
    if (bytes) await add(`media/${name}`, bytes); // a row whose blob is gone is left out (docs/TEAM.md, Backups)
  }
}

/** The original's `paths/export?format=zip` layout: `index.json`, then `<run_id>/<file>` for each run. */
export async function writeTeamPathsExport(svc: TeamService, w: EntryWriter, path: string, runs: TeamExportRun[]): Promise<void> {
  const index = { path, total_runs: runs.length, runs: runs.map(teamExportItem) };
  await w.addBytes("index.json", enc.encode(JSON.stringify(index, null, 2)));
  for (const r of runs) await writeTeamRunFiles(svc, r, (name, bytes) => w.addBytes(`${r.run_id}/${name}`, bytes));
  await w.finish();
}

/**
 * The importable ROOT-relative layout (`runicorn-export.json`, then each run folder under `runs/<path>/<run_id>`).
 * A team server keeps no archives and no SDK index, so the manifest's index rows are empty.
 */
export async function writeTeamRootExport(svc: TeamService, w: EntryWriter, runs: TeamExportRun[]): Promise<void> {
  const manifest = {
    format: "runicorn-export",
    version: 1,
    created_at: Date.now() / 1000,
    source_root: svc.root,
    runs: runs.map((r) => ({ run_id: r.run_id, path: r.path === "" ? null : r.path, dir: teamRunRel(r), deleted: r.deleted_at !== null })),
    index: { runs: [], assets: [], links: [] },
  };
  await w.addBytes(EXPORT_MANIFEST, enc.encode(JSON.stringify(manifest, null, 2)));
  for (const r of runs) await writeTeamRunFiles(svc, r, (name, bytes) => w.addBytes(`${teamRunRel(r)}/${name}`, bytes));
  await w.finish();
}
