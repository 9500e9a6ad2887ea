// Tables API: the rn.Table values a run logged (table event lines + media/*.table.json), listed and read whole.
import { Elysia, t } from "elysia";
import type { TableCell, TableDataResponse, TableItem } from "../wire/media.ts";
import { HttpError } from "./errors.ts";
import { mediaName, mediaUrl, numOrNull, type RunMedia } from "./media-events.ts";

/** 10,000 rows of a few hundred bytes each, with room to spare. */
export const MAX_TABLE_FILE = 64 << 20;
const MAX_ROWS = 10_000;

/** The rows of a stored table with image cells given their URLs; a 422 for a file of another shape. */
export function parseTable(runId: string, text: string): { columns: string[]; rows: TableCell[][] } {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw new HttpError(422, "The table file is not valid JSON");
  }
  const body = o as { columns?: unknown; rows?: unknown };
  if (typeof o !== "object" || o === null || !Array.isArray(body.columns) || !Array.isArray(body.rows)) {
    throw new HttpError(422, "The table file has no columns and rows lists");
  }
  const columns = body.columns.map((c) => String(c));
  if (body.rows.length > MAX_ROWS) throw new HttpError(422, `The table has ${body.rows.length} rows, over ${MAX_ROWS}`);
  const rows = body.rows.map((row, r) => {
    if (!Array.isArray(row) || row.length !== columns.length) throw new HttpError(422, `Table row ${r} does not have ${columns.length} cells`);
    return row.map((cell): TableCell => {
      if (cell === null || typeof cell === "number" || typeof cell === "string" || typeof cell === "boolean") return cell;
      const c = cell as Record<string, unknown>;
      if (typeof cell === "object" && c._type === "image" && typeof c.path === "string") {
        return { _type: "image", path: c.path, caption: typeof c.caption === "string" ? c.caption : null, url: mediaUrl(runId, c.path) };
      }
      return JSON.stringify(cell);
    });
  });
  return { columns, rows };
}

/** GET /api/runs/{id}/tables and /tables/data over a run's media (the file mode's folder or the team mode's database and blobs). */
export function mediaTablesRoutes(media: RunMedia) {
  return new Elysia({ name: "media-tables" })
    .get(
      "/api/runs/:run_id/tables",
      async ({ params }) => {
        const tables: TableItem[] = (await media.events(params.run_id))
          .filter((e) => e.type === "table")
          .map((e) => ({
            key: e.data.key as string,
            step: numOrNull(e.data.step),
            path: e.data.path as string,
            rows: numOrNull(e.data.rows) ?? 0,
            columns: numOrNull(e.data.columns) ?? 0,
            ts: e.ts,
          }));
        return { run_id: params.run_id, tables };
      },
      { detail: { summary: "Tables logged with rn.Table: key, step, media path, row and column counts" } },
    )
    .get(
      "/api/runs/:run_id/tables/data",
      async ({ params, query }): Promise<TableDataResponse> => {
        const events = await media.events(params.run_id);
        const name = mediaName(query.path);
        if (!name || !name.endsWith(".table.json")) throw new HttpError(400, "path must be media/<file>.table.json");
        const text = await media.text(params.run_id, name, MAX_TABLE_FILE);
        if (text === undefined) throw new HttpError(404, "Table not found");
        const evt = events.find((e) => e.type === "table" && e.data.path === query.path);
        return { key: evt ? (evt.data.key as string) : null, step: evt ? numOrNull(evt.data.step) : null, ...parseTable(params.run_id, text) };
      },
      {
        query: t.Object({ path: t.String({ description: "The table's media path, as listed by /tables" }) }),
        detail: { summary: "Every row of one logged table (sorting and filtering happen in the UI); image cells carry their URL" },
      },
    );
}
