// The PostgreSQL IngestSink: a run's rows, logs, status/summary/meta merges and its batch sequence number
// are written in ONE transaction under the run row's lock, so a batch is stored exactly once whichever
// replica receives it (and however often it is retried), and an acknowledged batch survives a crash.
import type { SQL } from "bun";
import { HttpError } from "../api/errors.ts";
import type { IngestBatch, IngestBatchAck, IngestRunCreate, IngestRunCreated } from "../ingest/contract.ts";
import { ingestPathConflict, ingestRunNotFound, type IngestSink } from "../ingest/sink.ts";
import { buildRunConfig } from "../analysis/run-fields.ts";
import { metricFields } from "../index/metric-fields.ts";
import { foldStats } from "../metrics/stats.ts";
import type { BlobStore } from "./blob-store.ts";
import { type ListSource, listItemJson } from "./list-item.ts";
import { mediaEventOf, type MediaEvent } from "../api/media-events.ts";
import { MEDIA_LINE_KIND } from "./media.ts";
import { TeamRun, type TeamRunCache } from "./metric-state.ts";

/** The NOTIFY channel every replica listens on: payload `{"run_id", "seq", "kind"}`. */
export const TEAM_CHANNEL = "runicorn_team";

const LINE_KINDS = ["system", "histograms"] as const;

/** The smallest and largest of `steps` (nothing when empty). */
function stepRange(steps: readonly number[]): { from?: number; to?: number } {
  if (!steps.length) return {};
  let from = steps[0];
  let to = steps[0];
  for (const s of steps) {
    if (s < from) from = s;
    if (s > to) to = s;
  }
  return { from, to };
}

export class PgIngestSink implements IngestSink {
  constructor(
    private readonly sql: SQL,
    private readonly cache: TeamRunCache,
    private readonly blobs: BlobStore,
    /** Called after a run is created or a batch changed its list item (this replica's list need not wait for the NOTIFY). */
    private readonly onStored: () => void = () => {},
  ) {}

  async createRun(req: IngestRunCreate, who: string | null): Promise<IngestRunCreated> {
    const now = Date.now() / 1000;
    const createdAt = typeof req.meta.created_at === "number" && Number.isFinite(req.meta.created_at) ? req.meta.created_at : now;
    const listJson = listItemJson({ run_id: req.run_id, path: req.path, meta: req.meta, status: req.status, summary: {}, assets: req.assets ?? {}, created_by: who, created_at: createdAt });
    const config = buildRunConfig(req.assets ?? {});
    const inserted = await this.sql`insert into team_run (run_id, path, meta, status, assets, config, created_by, created_at, updated_at, list_json)
      values (${req.run_id}, ${req.path}, ${req.meta}, ${req.status}, ${req.assets ?? {}}, ${config}, ${who}, ${createdAt}, ${now}, ${listJson})
      on conflict (run_id) do nothing returning run_id`;
    if (inserted.length) {
      this.onStored();
      await this.notify(req.run_id, 0, "created");
      return { run_id: req.run_id, created: true, last_seq: 0 };
    }
    const rows = (await this.sql`select path, last_seq from team_run where run_id = ${req.run_id}`) as { path: string; last_seq: string | number }[];
    if (!rows.length) throw new HttpError(409, `run ${req.run_id} was deleted while it was being created; retry`);
    if (rows[0].path !== req.path) throw ingestPathConflict(req.run_id, rows[0].path, req.path);
    return { run_id: req.run_id, created: false, last_seq: Number(rows[0].last_seq) };
  }

  async appendBatch(runId: string, batch: IngestBatch): Promise<IngestBatchAck> {
    // status, summary, meta and assets are what a run's list item shows
    const listChanged = !!(batch.status || batch.summary || batch.meta || batch.assets);
    return this.cache.exclusive(runId, async () => {
      let staged: ReturnType<TeamRun["apply"]> | undefined;
      let run: TeamRun | undefined;
      try {
        const duplicate = await this.sql.begin(async (tx) => {
          const found = (await tx`select last_seq from team_run where run_id = ${runId} and deleted_at is null for update`) as { last_seq: string | number }[];
          if (!found.length) throw ingestRunNotFound(runId);
          const lastSeq = Number(found[0].last_seq);
          if (batch.seq <= lastSeq) return true;
          run = this.cache.get(runId, lastSeq) ?? (await TeamRun.load(tx as unknown as SQL, runId, lastSeq));
          staged = run.apply(batch.events ?? []);
          const now = Date.now() / 1000;
          if (staged.rows.length) {
            await tx`insert into team_metric_chunk ${tx(staged.rows)}
              on conflict (run_id, level, id) do update set rows = excluded.rows, first_step = excluded.first_step,
                last_step = excluded.last_step, min_time = excluded.min_time, max_time = excluded.max_time,
                stats = excluded.stats, data = excluded.data`;
          }
          if (batch.logs?.length) {
            const lines = batch.logs.map((line, n) => ({ run_id: runId, seq: batch.seq, n, line }));
            await tx`insert into team_log_line ${tx(lines)}`;
          }
          for (const kind of LINE_KINDS) {
            const src = batch[kind];
            if (!src?.length) continue;
            const lines = (src as unknown[]).map((line, n) => ({ run_id: runId, kind, seq: batch.seq, n, line }));
            await tx`insert into team_run_line ${tx(lines)}`;
          }
          if (staged.images.length) {
            const lines = staged.images.map((line, n) => ({ run_id: runId, kind: "image", seq: batch.seq, n, line }));
            await tx`insert into team_run_line ${tx(lines)}`;
          }
          // rn.Table and rn.Audio events, kept as the file mode's tables and audio routes read them from events.jsonl
          const media = (batch.events ?? []).map(mediaEventOf).filter((e): e is MediaEvent => e !== undefined);
          if (media.length) {
            const lines = media.map((line, n) => ({ run_id: runId, kind: MEDIA_LINE_KIND, seq: batch.seq, n, line }));
            await tx`insert into team_run_line ${tx(lines)}`;
          }
          await tx`update team_run set last_seq = ${batch.seq}, updated_at = ${now},
              total_rows = ${run.state.slots.reduce((a, s) => a + s.rows, 0)},
              status = status || ${batch.status ?? {}}::jsonb,
              summary = summary || ${batch.summary ?? {}}::jsonb,
              meta = meta || ${batch.meta ?? {}}::jsonb,
              assets = coalesce(${batch.assets ?? null}::jsonb, assets),
              config = coalesce(${batch.assets ? buildRunConfig(batch.assets) : null}::jsonb, config),
              metrics = coalesce(${staged.rows.length ? metricFields(foldStats(run.state.slots.map((s) => s.stats!)).keys) : null}::jsonb, metrics)
            where run_id = ${runId}`;
          if (listChanged) await refreshListJson(tx as unknown as SQL, runId);
          // a NOTIFY payload is limited to 8000 bytes: the changed steps travel as their range
          const change = { run_id: runId, seq: batch.seq, kind: "batch", ...stepRange(staged.changedSteps), ...(listChanged ? { list: true } : {}) };
          await tx`select pg_notify(${TEAM_CHANNEL}, ${JSON.stringify(change)})`;
          return false;
        });
        if (duplicate) return { run_id: runId, seq: batch.seq, duplicate: true };
      } catch (e) {
        // memory may hold rows the database rolled back: the next batch reloads the run
        this.cache.drop(runId);
        throw e;
      }
      if (listChanged) this.onStored();
      staged!.commit();
      run!.lastSeq = batch.seq;
      this.cache.put(run!);
      return { run_id: runId, seq: batch.seq, duplicate: false };
    });
  }

  async putMedia(runId: string, name: string, bytes: Uint8Array): Promise<void> {
    const found = await this.sql`select 1 from team_run where run_id = ${runId} and deleted_at is null`;
    if (!found.length) throw ingestRunNotFound(runId);
    await this.blobs.putIfAbsent(`${runId}/media/${name}`, bytes);
    await this.sql`insert into team_media (run_id, name, size, stored_at) values (${runId}, ${name}, ${bytes.byteLength}, ${Date.now() / 1000})
      on conflict (run_id, name) do nothing`;
  }

  private async notify(runId: string, seq: number, kind: string): Promise<void> {
    await this.sql`select pg_notify(${TEAM_CHANNEL}, ${JSON.stringify({ run_id: runId, seq, kind })})`;
  }
}

/** Rewrites a run's pre-serialised list item from its row (inside the caller's transaction). */
export async function refreshListJson(sql: SQL, runId: string): Promise<void> {
  const rows = (await sql`select run_id, path, meta, status, summary, assets, created_by, created_at from team_run where run_id = ${runId}`) as ListSource[];
  if (rows.length) await sql`update team_run set list_json = ${listItemJson(rows[0])}, list_version = nextval('team_list_version') where run_id = ${runId}`;
}
