// A team-mode run's metric columns in a replica's memory: the same RunState, row builder, chunk codec,
// per-chunk stats and digest levels as the file mode's metric store, so the same query functions
// (src/metrics/query.ts) give the same answers. Chunks live in PostgreSQL's team_metric_chunk.
import type { SQL } from "bun";
import { Chunk } from "../metrics/chunk.ts";
import { digestPositions } from "../metrics/downsample.ts";
import { emptyCounts, type ImageEvent, RowBuilder } from "../metrics/events.ts";
import type { ChunkRef } from "../metrics/run-data.ts";
import { chunkStats } from "../metrics/stats.ts";
import { decodeChunk, encodeChunk } from "../index/metric-codec.ts";
import { type ChunkSource, RunState, type Slot } from "../index/metric-run.ts";
import type { IngestEvent } from "../ingest/contract.ts";

/** One team_metric_chunk row to upsert. */
export interface ChunkRow {
  run_id: string;
  level: number;
  id: number;
  rows: number;
  first_step: number;
  last_step: number;
  min_time: number | null;
  max_time: number | null;
  stats: string | null;
  data: Buffer;
}

/** A run's metric state and its decoded chunks (level → chunk id → chunk), as of batch `lastSeq`. */
export class TeamRun implements ChunkSource {
  readonly state: RunState;
  readonly chunks = [new Map<number, Chunk>(), new Map<number, Chunk>(), new Map<number, Chunk>(), new Map<number, Chunk>()];
  images: ImageEvent[] = [];

  constructor(
    readonly runId: string,
    public lastSeq: number,
  ) {
    this.state = new RunState(this, runId);
  }

  loadChunk(_state: RunState, ref: ChunkRef, level: number): Chunk {
    const c = this.chunks[level].get(ref.id);
    if (!c) throw new Error(`chunk ${ref.id} level ${level} of run ${this.runId} is not loaded`);
    return c;
  }

  prefetch(): void {}

  /** Reads every chunk of the run (inside the caller's transaction or pool). */
  static async load(sql: SQL, runId: string, lastSeq: number): Promise<TeamRun> {
    const run = new TeamRun(runId, lastSeq);
    const rows = (await sql`select level, id as chunk_id, rows, first_step, last_step, min_time, max_time, stats, data
      from team_metric_chunk where run_id = ${runId} order by level, first_step, id`) as (ChunkRow & { chunk_id: number })[];
    let next = 1;
    for (const r of rows) {
      run.chunks[r.level].set(r.chunk_id, decodeChunk(new Uint8Array(r.data)));
      if (r.chunk_id >= next) next = r.chunk_id + 1;
    }
    run.state.applyCatalogue(rows.map((r) => ({ ...r, data: undefined })) as never);
    run.state.nextChunkId = next;
    return run;
  }

  /**
   * Builds the rows of `events` into the run's chunks; returns the chunk rows to write and commits them to
   * memory through `commit()` once the database transaction has succeeded (until then nothing is visible).
   */
  apply(events: readonly IngestEvent[]): { rows: ChunkRow[]; changedSteps: number[]; images: ImageEvent[]; commit(): void } {
    const state = this.state;
    const builder = new RowBuilder<Slot>(state);
    const images: ImageEvent[] = [];
    const out: ChunkRow[] = [];
    const staged: [number, number, Chunk][] = [];
    if (events.length) {
      const buf = Buffer.from(`${events.map((e) => JSON.stringify(e)).join("\n")}\n`);
      builder.ingest(buf, 0, buf.length, images, emptyCounts());
    }
    for (const slot of builder.dirty) {
      const chunk = state.pinned.get(slot.id)!;
      const stats = chunkStats(chunk);
      slot.stats = stats;
      slot.rows = chunk.n;
      slot.firstStep = chunk.steps[0];
      slot.lastStep = chunk.steps[chunk.n - 1];
      slot.minTime = stats.minTime ?? NaN;
      slot.maxTime = stats.maxTime ?? NaN;
      const common = { run_id: this.runId, id: slot.id, first_step: slot.firstStep, last_step: slot.lastStep, min_time: stats.minTime, max_time: stats.maxTime };
      out.push({ ...common, level: 0, rows: chunk.n, stats: JSON.stringify(stats), data: Buffer.from(encodeChunk(chunk)) });
      staged.push([0, slot.id, chunk]);
      digestPositions(chunk).forEach((pos, i) => {
        const d = chunk.subset(pos);
        slot.levelRows[i] = d.n;
        out.push({ ...common, level: i + 1, rows: d.n, stats: null, data: Buffer.from(encodeChunk(d)) });
        staged.push([i + 1, slot.id, d]);
      });
    }
    const changes = builder.takeChanges();
    return {
      rows: out,
      changedSteps: changes.steps,
      images,
      commit: () => {
        for (const [level, id, c] of staged) this.chunks[level].set(id, c);
        state.pinned.clear();
        builder.clearDirty();
        if (staged.length) {
          state.gen++;
          state.refresh();
        }
        this.images.push(...images);
      },
    };
  }
}

/** A replica's recently used runs (bounded), each valid for the batch sequence number it was built at. */
export class TeamRunCache {
  private readonly runs = new Map<string, TeamRun>();
  private readonly locks = new Map<string, Promise<unknown>>();
  constructor(private readonly max = 256) {}

  get(runId: string, lastSeq: number): TeamRun | undefined {
    const run = this.runs.get(runId);
    if (!run || run.lastSeq !== lastSeq) return undefined;
    // most recently used last
    this.runs.delete(runId);
    this.runs.set(runId, run);
    return run;
  }

  put(run: TeamRun): void {
    this.runs.delete(run.runId);
    this.runs.set(run.runId, run);
    while (this.runs.size > this.max) this.runs.delete(this.runs.keys().next().value!);
  }

  /** The cached run whatever batch it was built at (to bring it up to date), or undefined. */
  latest(runId: string): TeamRun | undefined {
    return this.runs.get(runId);
  }

  drop(runId: string): void {
    this.runs.delete(runId);
  }

  /** Runs `fn` after every earlier call for the same run has finished (one writer or loader per run per replica). */
  async exclusive<T>(runId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(runId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(runId, tail);
    try {
      return await next;
    } finally {
      if (this.locks.get(runId) === tail) this.locks.delete(runId);
    }
  }
}
