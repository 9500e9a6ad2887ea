// The team server's services over one PostgreSQL database: run rows, metric state (per-replica cache,
// checked against the run's batch sequence number), log lines, the ingest sink, tokens, and the
// LISTEN/NOTIFY feed that tells this replica what any replica stored.
import type { SQL } from "bun";
import { HttpError } from "../api/errors.ts";
import type { IngestEvent } from "../ingest/contract.ts";
import type { Logger } from "../util/log.ts";
import type { RunMedia } from "../api/media-events.ts";
import type { BlobStore } from "./blob-store.ts";
import { teamRunMedia } from "./media.ts";
import { TeamRun, TeamRunCache } from "./metric-state.ts";
import { markLostRuns } from "./liveness.ts";
import { ListItemCache, WholeListCache } from "./run-list.ts";
import { PgIngestSink, TEAM_CHANNEL } from "./sink.ts";
import { TokenVerifier } from "./tokens.ts";

/** How often each replica checks running runs for lost heartbeats (conditional updates: replicas agree). */
const LIVENESS_EVERY_MS = 30_000;

/** A run row as the API reads it. */
export interface TeamRunRow {
  run_id: string;
  path: string;
  meta: Record<string, unknown>;
  status: Record<string, unknown>;
  summary: Record<string, unknown>;
  assets: Record<string, unknown>;
  created_by: string | null;
  last_seq: string | number;
  total_rows: string | number;
  created_at: number;
  updated_at: number;
}

/** What a NOTIFY says: a run was created or a batch stored (`from`..`to`: the range of steps it changed). */
export interface TeamChange {
  run_id: string;
  seq: number;
  kind: "created" | "batch" | "updated" | "deleted";
  /** A batch that changed the run's list item (status, summary, meta or assets). */
  list?: boolean;
  from?: number;
  to?: number;
}

export class TeamService {
  readonly cache = new TeamRunCache();
  /** Per run, its system.jsonl lines (stored by batch) as a column store, as the file mode keeps system metrics. */
  readonly systemCache = new TeamRunCache(64);
  /** The whole default run list, until any replica stores a change. */
  readonly wholeList = new WholeListCache();
  /** Each run's list item as of its list_version, so list queries read ids and versions only. */
  readonly listItems = new ListItemCache();
  readonly sink: PgIngestSink;
  readonly tokens: TokenVerifier;
  /** Runs' table and audio events and media files, for the routes the file mode shares (media-tables.ts, media-audio.ts). */
  readonly media: RunMedia;
  private readonly listeners = new Set<(c: TeamChange) => void>();
  private subscription?: SQL.ListenSubscription;
  private livenessTimer?: ReturnType<typeof setInterval>;

  /**
   * Where the run list is read: a pool of its own, of few connections, so the PostgreSQL backends that send whole
   * lists stay warm (a backend's first pass over the list pays for faulting its shared buffers and sort memory in;
   * spread over the main pool's many connections, most list requests paid it). Defaults to `sql`.
   */
  readonly listSql: SQL;

  constructor(
    readonly sql: SQL,
    readonly blobs: BlobStore,
    readonly root: string,
    readonly log: Logger,
    listSql?: SQL,
  ) {
    this.listSql = listSql ?? sql;
    this.sink = new PgIngestSink(sql, this.cache, blobs, () => this.wholeList.invalidate());
    this.tokens = new TokenVerifier(sql);
    this.media = teamRunMedia(sql, blobs);
  }

  /** Starts listening for other replicas' (and this one's) changes, and the periodic crash check. */
  async start(livenessEveryMs = LIVENESS_EVERY_MS): Promise<void> {
    this.livenessTimer = setInterval(() => {
      this.checkLiveness().catch((e) => this.log.warn(`liveness check failed: ${(e as Error).message}`));
    }, livenessEveryMs);
    this.livenessTimer.unref?.();
    this.subscription = await this.sql.listen(TEAM_CHANNEL, (payload) => {
      let change: TeamChange;
      try {
        change = JSON.parse(payload) as TeamChange;
      } catch (e) {
        this.log.warn(`ignoring a malformed ${TEAM_CHANNEL} notification: ${(e as Error).message}`);
        return;
      }
      if (change.kind !== "batch" || change.list) this.wholeList.invalidate();
      for (const fn of this.listeners) fn(change);
    });
  }

  /** Marks runs whose SDK stopped sending heartbeats as failed now (and tells every replica). */
  async checkLiveness(): Promise<{ checked: number; updated: number }> {
    const { checked, updated } = await markLostRuns(this.sql);
    for (const id of updated) await this.notify({ run_id: id, seq: 0, kind: "updated" });
    return { checked, updated: updated.length };
  }

  async close(): Promise<void> {
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    await this.subscription?.unlisten();
    if (this.listSql !== this.sql) await this.listSql.close();
    await this.sql.close();
  }

  onChange(fn: (c: TeamChange) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  async notify(change: TeamChange): Promise<void> {
    this.wholeList.invalidate();
    await this.sql`select pg_notify(${TEAM_CHANNEL}, ${JSON.stringify(change)})`;
  }

  /** A live (not deleted) run's row, or 404; `includeDeleted` finds one in the recycle bin too (exports). */
  async runRow(runId: string, includeDeleted = false): Promise<TeamRunRow> {
    const rows = (await this.sql`select run_id, path, meta, status, summary, assets, created_by, last_seq, total_rows, created_at, updated_at
      from team_run where run_id = ${runId} and (${includeDeleted} or deleted_at is null)`) as TeamRunRow[];
    if (!rows.length) throw new HttpError(404, "Run not found");
    return rows[0];
  }

  /** A live run's metric columns as of its latest stored batch (from this replica's cache when current); `includeDeleted` as runRow. */
  async runData(runId: string, includeDeleted = false): Promise<TeamRun> {
    const row = await this.runRow(runId, includeDeleted);
    const seq = Number(row.last_seq);
    const hit = this.cache.get(runId, seq);
    if (hit) return hit;
    return this.cache.exclusive(runId, async () => {
      const again = this.cache.get(runId, seq);
      if (again) return again;
      // the chunks and the sequence number they belong to, read from one snapshot
      const run = await this.sql.begin("isolation level repeatable read read only", async (tx) => {
        const r = (await tx`select last_seq from team_run where run_id = ${runId}`) as { last_seq: string }[];
        return TeamRun.load(tx as unknown as SQL, runId, Number(r[0]?.last_seq ?? 0));
      });
      this.cache.put(run);
      return run;
    });
  }

  /**
   * A live run's system metrics (the `system` lines of its batches) as of its latest batch, built by the same
   * row builder as the file mode's system.jsonl store; null when it has none. Brought up to date by reading
   * only the lines of batches stored since.
   */
  async systemData(runId: string): Promise<TeamRun | null> {
    const seq = Number((await this.runRow(runId)).last_seq);
    const run = await this.systemCache.exclusive(runId, async () => {
      const hit = this.systemCache.get(runId, seq);
      if (hit) return hit;
      const known = this.systemCache.latest(runId);
      const base = known && known.lastSeq < seq ? known : new TeamRun(runId, 0);
      const rows = (await this.sql`select line from team_run_line where run_id = ${runId} and kind = 'system'
        and seq > ${base.lastSeq} and seq <= ${seq} order by seq, n`) as { line: IngestEvent }[];
      if (rows.length) base.apply(rows.map((r) => r.line)).commit();
      base.lastSeq = seq;
      this.systemCache.put(base);
      return base;
    });
    return run.state.totalRows ? run : null;
  }

  /** The run's log lines, oldest first (the last `tail` when given). */
  async logLines(runId: string, opts: { tail?: number; afterSeq?: number } = {}): Promise<string[]> {
    const after = opts.afterSeq ?? 0;
    if (opts.tail !== undefined) {
      const rows = (await this.sql`select line from (select seq, n, line from team_log_line where run_id = ${runId} and seq > ${after}
        order by seq desc, n desc limit ${opts.tail}) t order by seq, n`) as { line: string }[];
      return rows.map((r) => r.line);
    }
    const rows = (await this.sql`select line from team_log_line where run_id = ${runId} and seq > ${after} order by seq, n`) as { line: string }[];
    return rows.map((r) => r.line);
  }

  /** Log lines of exactly one batch. */
  async batchLogs(runId: string, seq: number): Promise<string[]> {
    const rows = (await this.sql`select line from team_log_line where run_id = ${runId} and seq = ${seq} order by n`) as { line: string }[];
    return rows.map((r) => r.line);
  }
}
