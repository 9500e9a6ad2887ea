// The metric store's repository: every statement on metric_run / metric_chunk / metric_image, under the connection's one lock.
// metric_chunk levels: 0 raw rows, 1..3 digests, LEVEL_SUMMARY one row per run (catalogue and key
// summaries, so a restart reads one row), LEVEL_RESULT computed responses kept across restarts.
//
// The interface (`MetricRepository`) is the seam where another database plugs in. Reads that are not on
// the hot path and whole-run deletes go through kysely (the same code for any kysely dialect). The hot
// path — chunk blobs read between two awaits of a query, and the writes of one ingest slice — runs as a
// synchronous section on the connection: `transact(fn)` runs `fn` inside one transaction once the lock is
// free, `readNow(fn)` runs at once or answers BUSY while another owner holds the connection. A backend
// without synchronous access answers BUSY from `readNow` (the store then waits on `read`) and runs
// `transact` callbacks against a batch it sends in one transaction. SQLite-only statements (PRAGMAs of
// the bulk-ingest checkpoint policy) live in `beginBulk`/`endBulk` only.
import type { MetricChunkTable } from "./schema.ts";
import type { Database as BunDatabase, Statement } from "bun:sqlite";
import type { Chunk } from "../metrics/chunk.ts";
import type { ImageEvent } from "../metrics/events.ts";
import type { Logger } from "../util/log.ts";
import type { IndexDb } from "./db.ts";
import { decodeChunk, type EncodeScratch, encodeChunk } from "./metric-codec.ts";
import { BUSY } from "./sqlite-dialect.ts";

export { BUSY };

/** metric_chunk level of a run's summary row: its catalogue, key summaries and stages as JSON in `stats`. */
export const LEVEL_SUMMARY = -1;
/** metric_chunk level of stored query results: the body in `data`, its key and generation in `stats`. */
export const LEVEL_RESULT = -2;

/** Delay of the WAL checkpoint after a large ingest (see `beginBulk`). */
const CHECKPOINT_DELAY_MS = 2000;

/** Where reading of a run's events file stopped, and how the file looked then. */
export interface FileMark {
  dev: string;
  ino: string;
  /** Size when last looked at; -1 forces a read. */
  size: number;
  mtime: string;
  offset: number;
  tail: Uint8Array;
}

/** A run's stored state as a restart finds it. */
export interface StoredRun {
  sid: number;
  mark: FileMark;
  lines: number;
  nextChunkId: number;
  /** The LEVEL_SUMMARY row's JSON, if any. */
  summary: string | null;
  /** Stored results: their row and their meta JSON. */
  results: { slot: number; meta: string }[];
  imageCount: number;
}

/** One level-0 chunk row of the catalogue (an index written before summary rows existed). */
export type CatalogueRow = Omit<MetricChunkTable, "sid" | "data">;

/** A chunk (or digest) row to write. */
export interface ChunkWrite {
  level: number;
  id: number;
  rows: number;
  firstStep: number;
  lastStep: number;
  minTime: number | null;
  maxTime: number | null;
  /** JSON ChunkStats (level 0 only). */
  stats: string | null;
  chunk: Chunk;
}

/** Reads that the store makes synchronously (inside a section). */
export interface MetricReads {
  /** A chunk at a level, decoded; null when there is no such row. */
  chunk(sid: number, level: number, id: number): Chunk | null;
  /** The chunks of `ids` at a level, decoded, with one statement. */
  chunks(sid: number, level: number, ids: ReadonlySet<number>): [number, Chunk][];
  /** The body of a stored result row. */
  resultBody(sid: number, slot: number): Uint8Array | null;
  /** Every level-0 chunk's stats JSON. */
  chunkStats(sid: number): Map<number, string | null>;
}

/** The writes of one transaction (and the reads a write needs). */
export interface MetricWrites extends MetricReads {
  /** Inserts the run's row; its sid. */
  createRun(runDir: string, mark: FileMark, nextChunkId: number): number;
  putChunk(sid: number, w: ChunkWrite): void;
  putImage(sid: number, seq: number, img: ImageEvent): void;
  putSummary(sid: number, rows: number, json: string): void;
  /** Stores the run's `metric.*` filter fields (issue 16) on its run row, text and JSONB. */
  putRunMetrics(runDir: string, json: string): void;
  /** Drops every stored result of the run. */
  dropResults(sid: number): void;
  putResult(sid: number, slot: number, rows: number, meta: string, data: Uint8Array): void;
  writeMark(sid: number, mark: FileMark, lines: number, nextChunkId: number): void;
  /** Drops the run's chunks and images (the file is read again from byte 0). */
  clearRows(sid: number): void;
  /** Marks the run's file as not read (its rows were dropped and no file is there). */
  markUnread(sid: number): void;
}

/** All of the metric store's SQL. */
export interface MetricRepository {
  /** Runs `fn` (synchronous) inside one transaction once the connection is free. */
  transact<T>(fn: (w: MetricWrites) => T): Promise<T>;
  /** Runs `fn` (synchronous) once the connection is free. */
  read<T>(fn: (r: MetricReads) => T): Promise<T>;
  /** Runs `fn` at once, or answers BUSY while another owner holds the connection. */
  readNow<T>(fn: (r: MetricReads) => T): T | typeof BUSY;
  /** A run's stored state, or null when it has none. */
  loadRun(runDir: string): Promise<StoredRun | null>;
  catalogue(sid: number): Promise<CatalogueRow[]>;
  images(sid: number): Promise<ImageEvent[]>;
  /** Run folders whose metrics changed most recently. */
  recentRuns(limit: number): Promise<string[]>;
  sidOf(runDir: string): Promise<number | null>;
  /** Deletes everything stored for a run, in one transaction. */
  deleteRun(sid: number): Promise<void>;
  /** A large ingest starts / ends (the backend may defer housekeeping such as checkpoints meanwhile). */
  beginBulk(): Promise<void>;
  endBulk(): Promise<void>;
}

const UPSERT_CHUNK = `INSERT INTO metric_chunk (sid, level, chunk_id, rows, first_step, last_step, min_time, max_time, stats, data)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (sid, level, chunk_id) DO UPDATE SET rows = excluded.rows, first_step = excluded.first_step,
    last_step = excluded.last_step, min_time = excluded.min_time, max_time = excluded.max_time,
    stats = excluded.stats, data = excluded.data`;

/** The repository over the SQLite index (kysely for plain reads, prepared statements in sections). */
export class SqliteMetricRepository implements MetricRepository {
  /** Chunks are encoded here: SQLite copies a bound blob, so one buffer serves every write. */
  private readonly scratch: EncodeScratch = { buf: new Uint8Array(0) };
  private readonly reads: MetricReads;
  private readonly writes: MetricWrites;
  private bulk = 0;
  private savedAutoCheckpoint = 1000;
  private checkpointTimer?: ReturnType<typeof setTimeout>;
  private db?: BunDatabase;
  private readonly stmts = new Map<string, Statement>();

  constructor(
    private readonly index: IndexDb,
    private readonly log?: Logger,
  ) {
    const q = (sql: string): Statement => {
      let s = this.stmts.get(sql);
      if (!s) {
        s = this.db!.query(sql);
        this.stmts.set(sql, s);
      }
      return s;
    };
    this.reads = {
      chunk: (sid, level, id) => {
        const row = q("SELECT data FROM metric_chunk WHERE sid = ? AND level = ? AND chunk_id = ?").get(sid, level, id) as {
          data: Uint8Array;
        } | null;
        return row ? decodeChunk(row.data) : null;
      },
      chunks: (sid, level, ids) => {
        const out: [number, Chunk][] = [];
        for (const row of q("SELECT chunk_id, data FROM metric_chunk WHERE sid = ? AND level = ?").all(sid, level) as {
          chunk_id: number;
          data: Uint8Array;
        }[]) {
          if (ids.has(row.chunk_id)) out.push([row.chunk_id, decodeChunk(row.data)]);
        }
        return out;
      },
      resultBody: (sid, slot) => {
        const row = q(`SELECT data FROM metric_chunk WHERE sid = ? AND level = ${LEVEL_RESULT} AND chunk_id = ?`).get(sid, slot) as {
          data: Uint8Array;
        } | null;
        return row?.data ?? null;
      },
      chunkStats: (sid) => {
        const byId = new Map<number, string | null>();
        for (const r of q("SELECT chunk_id, stats FROM metric_chunk WHERE sid = ? AND level = 0").all(sid) as {
          chunk_id: number;
          stats: string | null;
        }[]) {
          byId.set(r.chunk_id, r.stats);
        }
        return byId;
      },
    };
    this.writes = {
      ...this.reads,
      createRun: (runDir, f, nextChunkId) => {
        const row = q(
          `INSERT INTO metric_run (run_dir, file_dev, file_ino, file_size, file_mtime, byte_offset, tail_hex, lines, next_chunk_id, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING sid`,
        ).get(runDir, f.dev, f.ino, f.size, f.mtime, f.offset, "", 0, nextChunkId, Date.now() / 1000) as { sid: number };
        return row.sid;
      },
      putChunk: (sid, w) => {
        q(UPSERT_CHUNK).run(sid, w.level, w.id, w.rows, w.firstStep, w.lastStep, w.minTime, w.maxTime, w.stats, encodeChunk(w.chunk, this.scratch));
      },
      putImage: (sid, seq, img) => {
        q("INSERT INTO metric_image (sid, seq, key, step, caption, path, ts) VALUES (?, ?, ?, ?, ?, ?, ?)").run(
          sid,
          seq,
          img.key,
          img.step,
          img.caption,
          img.path,
          img.ts,
        );
      },
      putSummary: (sid, rows, json) => {
        q(UPSERT_CHUNK).run(sid, LEVEL_SUMMARY, 0, rows, 0, 0, null, null, json, new Uint8Array(0));
      },
      putRunMetrics: (runDir, json) => {
        q("UPDATE run SET metrics = ?, metrics_b = jsonb(?) WHERE run_dir = ?").run(json, json, runDir);
      },
      dropResults: (sid) => {
        q(`DELETE FROM metric_chunk WHERE sid = ? AND level = ${LEVEL_RESULT}`).run(sid);
      },
      putResult: (sid, slot, rows, meta, data) => {
        q(UPSERT_CHUNK).run(sid, LEVEL_RESULT, slot, rows, 0, 0, null, null, meta, data);
      },
      writeMark: (sid, f, lines, nextChunkId) => {
        q(
          `UPDATE metric_run SET file_dev = ?, file_ino = ?, file_size = ?, file_mtime = ?, byte_offset = ?, tail_hex = ?,
             lines = ?, next_chunk_id = ?, updated_at = ? WHERE sid = ?`,
        ).run(f.dev, f.ino, f.size, f.mtime, f.offset, Buffer.from(f.tail).toString("hex"), lines, nextChunkId, Date.now() / 1000, sid);
      },
      clearRows: (sid) => {
        q("DELETE FROM metric_chunk WHERE sid = ?").run(sid);
        q("DELETE FROM metric_image WHERE sid = ?").run(sid);
      },
      markUnread: (sid) => {
        q("UPDATE metric_run SET byte_offset = 0, file_size = -1, tail_hex = '', lines = 0 WHERE sid = ?").run(sid);
      },
    };
  }

  transact<T>(fn: (w: MetricWrites) => T): Promise<T> {
    return this.index.connection.exclusive((db) => {
      this.db = db;
      return fn(this.writes);
    }, true);
  }

  read<T>(fn: (r: MetricReads) => T): Promise<T> {
    return this.index.connection.exclusive((db) => {
      this.db = db;
      return fn(this.reads);
    });
  }

  readNow<T>(fn: (r: MetricReads) => T): T | typeof BUSY {
    return this.index.connection.tryNow((db) => {
      this.db = db;
      return fn(this.reads);
    });
  }

  async loadRun(runDir: string): Promise<StoredRun | null> {
    const db = this.index.db;
    const row = await db.selectFrom("metric_run").selectAll().where("run_dir", "=", runDir).executeTakeFirst();
    if (!row) return null;
    const [summary, results, images] = await Promise.all([
      db
        .selectFrom("metric_chunk")
        .select("stats")
        .where("sid", "=", row.sid)
        .where("level", "=", LEVEL_SUMMARY)
        .where("chunk_id", "=", 0)
        .executeTakeFirst(),
      db.selectFrom("metric_chunk").select(["chunk_id", "stats"]).where("sid", "=", row.sid).where("level", "=", LEVEL_RESULT).execute(),
      db.selectFrom("metric_image").select((eb) => eb.fn.countAll<number>().as("n")).where("sid", "=", row.sid).executeTakeFirstOrThrow(),
    ]);
    return {
      sid: row.sid,
      mark: {
        dev: row.file_dev,
        ino: row.file_ino,
        size: row.file_size,
        mtime: row.file_mtime,
        offset: row.byte_offset,
        tail: Buffer.from(row.tail_hex, "hex"),
      },
      lines: row.lines,
      nextChunkId: row.next_chunk_id,
      summary: summary?.stats ?? null,
      results: results.filter((r) => r.stats !== null).map((r) => ({ slot: r.chunk_id, meta: r.stats! })),
      imageCount: Number(images.n),
    };
  }

  catalogue(sid: number): Promise<CatalogueRow[]> {
    return this.index.db
      .selectFrom("metric_chunk")
      .select(["level", "chunk_id", "rows", "first_step", "last_step", "min_time", "max_time", "stats"])
      .where("sid", "=", sid)
      .where("level", ">=", 0)
      .orderBy("level")
      .orderBy("first_step")
      .execute();
  }

  images(sid: number): Promise<ImageEvent[]> {
    return this.index.db
      .selectFrom("metric_image")
      .select(["key", "step", "caption", "path", "ts"])
      .where("sid", "=", sid)
      .orderBy("seq")
      .execute();
  }

  async recentRuns(limit: number): Promise<string[]> {
    const rows = await this.index.db.selectFrom("metric_run").select("run_dir").orderBy("updated_at", "desc").limit(limit).execute();
    return rows.map((r) => r.run_dir);
  }

  async sidOf(runDir: string): Promise<number | null> {
    const row = await this.index.db.selectFrom("metric_run").select("sid").where("run_dir", "=", runDir).executeTakeFirst();
    return row?.sid ?? null;
  }

  deleteRun(sid: number): Promise<void> {
    return this.index.db.transaction().execute(async (trx) => {
      await trx.deleteFrom("metric_chunk").where("sid", "=", sid).execute();
      await trx.deleteFrom("metric_image").where("sid", "=", sid).execute();
      await trx.deleteFrom("metric_run").where("sid", "=", sid).execute();
    });
  }

  /**
   * A large ingest (more than one slice) writes tens of MB: SQLite's automatic checkpoint would copy the
   * WAL into the database every 64 MB inside it. Instead it is checkpointed once, shortly after the last
   * large ingest ends, so the first answer does not wait for it.
   */
  async beginBulk(): Promise<void> {
    if (this.bulk++ > 0) return;
    await this.index.connection.exclusive((db) => {
      const row = db.query("PRAGMA wal_autocheckpoint").get() as { wal_autocheckpoint: number } | null;
      this.savedAutoCheckpoint = row?.wal_autocheckpoint ?? 1000;
      db.exec("PRAGMA wal_autocheckpoint = 0");
    });
  }

  async endBulk(): Promise<void> {
    if (--this.bulk > 0) return;
    await this.index.connection.exclusive((db) => db.exec(`PRAGMA wal_autocheckpoint = ${this.savedAutoCheckpoint}`));
    if (this.checkpointTimer) clearTimeout(this.checkpointTimer);
    this.checkpointTimer = setTimeout(() => {
      this.checkpointTimer = undefined;
      if (this.bulk > 0) return; // another large ingest started: it schedules its own
      this.index.connection
        .exclusive((db) => db.exec("PRAGMA wal_checkpoint(PASSIVE)"))
        .catch((err) => {
          // the index was closed in the meantime (server stopped): the next open checkpoints
          this.log?.debug(`metric store: deferred checkpoint skipped: ${(err as Error).message}`);
        });
    }, CHECKPOINT_DELAY_MS);
    this.checkpointTimer.unref?.();
  }
}
