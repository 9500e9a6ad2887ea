// Histograms API: the bins an SDK logged with rn.Histogram (ROOT/runs/.../histograms.jsonl), per key over steps, through the stored offset index.
import { Elysia, t } from "elysia";
import { closeSync } from "node:fs";
import {
  dropHistogramIndex,
  HistogramFileError,
  listHistogramKeys,
  listHistogramSlots,
  openHistogramFile,
  readHistogramSlots,
  syncHistogramIndex,
} from "../index/histogram-index.ts";
import type { HistogramKeysResponse, HistogramSeriesResponse, HistogramStep } from "../wire/media.ts";
import type { AppContext } from "./context.ts";
import { HttpError } from "./errors.ts";
import { getLiveRun } from "./run-ids.ts";

const DEFAULT_POINTS = 200;
const MAX_POINTS = 10000;

/**
 * Runs `fn` with the run's histograms.jsonl open and its stored offset index brought up to date (undefined when
 * the run has none); the file is opened once per request and always closed.
 */
async function withHistograms<T>(ctx: AppContext, runDir: string, fn: (fd: number) => Promise<T>): Promise<T | undefined> {
  let fd: number | undefined;
  try {
    fd = openHistogramFile(ctx.root(), runDir);
  } catch (e) {
    if (e instanceof HistogramFileError) throw new HttpError(e.reason === "too_large" ? 413 : 404, e.message);
    throw e;
  }
  if (fd === undefined) {
    await dropHistogramIndex(ctx.index().db, runDir);
    return undefined;
  }
  try {
    await syncHistogramIndex(ctx.index().db, runDir, fd);
    return await fn(fd);
  } catch (e) {
    if (e instanceof HistogramFileError) throw new HttpError(e.reason === "too_large" ? 413 : 404, e.message);
    throw e;
  } finally {
    closeSync(fd);
  }
}

/** The run's histogram keys with their step counts and first and last steps. */
export async function histogramKeys(ctx: AppContext, runDir: string): Promise<HistogramKeysResponse["keys"]> {
  return (await withHistograms(ctx, runDir, () => listHistogramKeys(ctx.index().db, runDir))) ?? [];
}

/** One key's histograms with steps in [from, to], at most `points` of them spread evenly; `total` counts them all. */
export async function histogramSeries(ctx: AppContext, runDir: string, key: string, from: number, to: number, points: number): Promise<{ steps: HistogramStep[]; total: number }> {
  const db = ctx.index().db;
  const out = await withHistograms(ctx, runDir, async (fd) => {
    const all = await listHistogramSlots(db, runDir, key, from, to);
    const { entries, dropped } = await readHistogramSlots(db, runDir, fd, key, pickSteps(all, points));
    return { steps: entries, total: all.length - dropped };
  });
  return out ?? { steps: [], total: 0 };
}

/** At most `points` entries spread evenly over the list, the first and the last always kept. */
export function pickSteps<T>(items: T[], points: number): T[] {
  if (items.length <= points) return items;
  const out: T[] = [];
  const n = items.length;
  for (let i = 0; i < points; i++) out.push(items[Math.round((i * (n - 1)) / (points - 1))]);
  return out;
}

/** An optional number query parameter; anything else is the original's 422 float_parsing. */
export function numberParam(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined || raw === "") return undefined;
  const v = Number(raw);
  if (!Number.isFinite(v)) throw new HttpError(422, [{ type: "float_parsing", loc: ["query", name], msg: "Input should be a valid number", input: raw }]);
  return v;
}

/** GET /api/runs/{id}/histograms. */
export function histogramsRoutes(ctx: AppContext) {
  return new Elysia({ name: "histograms" }).get(
    "/api/runs/:run_id/histograms",
    async ({ params, query }): Promise<HistogramKeysResponse | HistogramSeriesResponse> => {
      const run = getLiveRun(ctx, params.run_id);
      if (query.key === undefined) return { run_id: params.run_id, keys: await histogramKeys(ctx, run.run_dir) };
      const from = numberParam("from", query.from) ?? -Infinity;
      const to = numberParam("to", query.to) ?? Infinity;
      const pointsRaw = query.points;
      let points = DEFAULT_POINTS;
      if (pointsRaw !== undefined) {
        points = Number(pointsRaw);
        if (!Number.isInteger(points) || points < 2 || points > MAX_POINTS) {
          throw new HttpError(422, [
            { type: "range", loc: ["query", "points"], msg: `Input should be an integer from 2 to ${MAX_POINTS}`, input: pointsRaw },
          ]);
        }
      }
      const { steps, total } = await histogramSeries(ctx, run.run_dir, query.key, from, to, points);
      return { run_id: params.run_id, key: query.key, steps, total, sampled: steps.length < total };
    },
    {
      query: t.Object({
        key: t.Optional(t.String({ description: "The histogram's key; without it, the list of keys" })),
        from: t.Optional(t.String({ description: "Lowest step kept" })),
        to: t.Optional(t.String({ description: "Highest step kept" })),
        points: t.Optional(t.String({ description: `Most steps returned, 2..${MAX_POINTS} (default ${DEFAULT_POINTS}), spread evenly` })),
      }),
      detail: {
        summary: "Histograms logged with rn.Histogram: keys, or one key's bins (edges, counts) over steps",
      },
    },
  );
}
