// The whole run list (GET /api/runs without parameters), kept as encoded segments that a change re-reads one at a time.
import { sql } from "kysely";
import { compareCodePoints } from "./metric-run.ts";
import type { IndexDb } from "./db.ts";
import { wholeListRange } from "./run-queries.ts";

/**
 * An unused list is dropped after this long, so a server nobody looks at does not hold it (~32 MB at
 * 100,000 runs); reading it whole again costs ~0.7 s there, so a user back after a pause must not pay it.
 */
const IDLE_MS = 300_000;
/** Items per segment when a list is built; a segment that grows past twice this is cut in two. */
const SEGMENT_ITEMS = 1024;
/** Changed runs up to which the list is patched segment by segment (more: read whole again). */
const MAX_PATCH = 20_000;

/** What the cache needs of the indexer: its log of changed rows (by list order key). */
export interface ListChanges {
  /** The position at the end of the change log now. */
  changePosition(): number;
  /** Order keys of the rows written or removed since `pos`; null when the log no longer reaches back that far. */
  changesSince(pos: number): readonly string[] | null;
}

/** Rows of the list with order keys in [lo, next segment's lo): where their items are in the list's bytes. */
interface Segment {
  /** The lowest order key the segment holds (the first segment's is "": everything below the second). */
  lo: string;
  count: number;
  /** `item,item,…` at [start, end) of the entry's blob (start = end when empty). */
  start: number;
  end: number;
}

/** A segment just read: its items encoded, not yet placed in a blob. */
interface FreshSegment {
  lo: string;
  count: number;
  bytes: Uint8Array<ArrayBuffer>;
}

interface Entry {
  idx: IndexDb;
  /** `PRAGMA data_version` when read: another connection's commit makes the entry stale. */
  version: number;
  /** Change-log position the segments are current to. */
  pos: number;
  segments: Segment[];
  /** The JSON array: `[`, the non-empty segments joined by commas, `]` (one copy of the bytes in memory). */
  blob: Blob;
  total: number;
}

/** The whole list as the route serves it. */
export interface WholeList {
  total: number;
  /** Bytes of the JSON array. */
  size: number;
  /**
   * The JSON array. `edit` changes this answer only: each segment holding some of `runs` (order key and
   * run dir) is shown as `text` returns it, given the segment's `item,item,…` and the dirs of those runs in it.
   */
  body(edit?: { runs: readonly { key: string; dir: string }[]; text: (segment: string, dirs: string[]) => string }): Promise<Blob>;
}

const OPEN = Buffer.from("[");
const COMMA = Buffer.from(",");
const CLOSE = Buffer.from("]");

/**
 * Reading ~100,000 pre-serialised items, joining and encoding them costs hundreds of milliseconds (most
 * of it first touches of fresh memory). The list is kept as one Blob of UTF-8 items in list order, cut
 * into segments of ~1,000 items by order-key range; a change to some runs (the indexer's change log gives
 * their order keys) re-reads only the segments those keys fall into, and the new Blob is made of the old
 * one's unchanged stretches and the re-read segments. Another connection's commit (`PRAGMA data_version`),
 * a log that no longer reaches back, or a burst of changes reads the list whole again. Dropped after
 * IDLE_MS unused.
 */
export class RunListCache {
  /** Lists read whole, and segments read again for a change (tests and diagnostics). */
  readonly stats = { wholeReads: 0, segmentReads: 0 };
  private entry?: Entry;
  private timer?: ReturnType<typeof setTimeout>;
  /** One refresh at a time: concurrent requests share it. */
  private busy?: Promise<Entry>;

  /** The whole list of `idx`, current to the indexer's last committed change. */
  async get(idx: IndexDb, changes: ListChanges): Promise<WholeList> {
    while (this.busy) await this.busy.catch(() => {});
    const run = this.refresh(idx, changes);
    this.busy = run;
    let e: Entry;
    try {
      e = await run;
    } finally {
      this.busy = undefined;
    }
    this.touch();
    return view(e);
  }

  /** Forgets the cached list. */
  drop(): void {
    this.entry = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async refresh(idx: IndexDb, changes: ListChanges): Promise<Entry> {
    const version = await dataVersion(idx);
    // a position taken before reading: changes committed later are patched in by the next request
    const pos = changes.changePosition();
    let e = this.entry;
    if (e && (e.idx !== idx || e.version !== version)) e = undefined;
    if (e) {
      const changed = changes.changesSince(e.pos);
      if (changed === null || changed.length > MAX_PATCH) e = undefined;
      else if (changed.length) {
        const dirty = new Set(changed.map((k) => segmentOf(e!.segments, k)));
        this.stats.segmentReads += dirty.size;
        e = { ...e, ...(await patched(e, dirty)) };
      }
    }
    if (!e) {
      this.stats.wholeReads++;
      this.entry = undefined;
      e = { idx, version, pos, ...assemble(await readSegments(idx, "", null)) };
    }
    e.pos = pos;
    // another connection committed meanwhile: answer, but read it whole next time
    this.entry = (await dataVersion(idx)) === version ? e : undefined;
    return e;
  }

  private touch(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.drop(), IDLE_MS);
    this.timer.unref?.();
  }
}

/** The segment whose key range holds `key` (binary search on the segments' lowest keys). */
function segmentOf(segments: readonly { lo: string }[], key: string): number {
  let lo = 0;
  let hi = segments.length;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (compareCodePoints(segments[mid].lo, key) <= 0) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * The entry's segments and blob with the `dirty` segments read again (a segment that grew is cut, an
 * emptied one left out; the first always stays, its lowest key "": new rows below every key land in it).
 */
async function patched(e: Entry, dirty: Set<number>): Promise<{ segments: Segment[]; blob: Blob; total: number }> {
  const parts: (FreshSegment | (Segment & { blob: Blob }))[] = [];
  for (let i = 0; i < e.segments.length; i++) {
    const seg = e.segments[i];
    if (!dirty.has(i)) {
      parts.push({ ...seg, blob: e.blob.slice(seg.start, seg.end) });
      continue;
    }
    const next = i + 1 < e.segments.length ? e.segments[i + 1].lo : null;
    const fresh = await readSegments(e.idx, seg.lo, next);
    parts.push(...(parts.length === 0 ? fresh : fresh.filter((x) => x.count > 0)));
  }
  return assemble(parts);
}

/** One blob of `[`, the non-empty segments joined by commas, `]`, and where each segment lies in it. */
function assemble(parts: readonly (FreshSegment | (Segment & { blob: Blob }))[]): { segments: Segment[]; blob: Blob; total: number } {
  const pieces: BlobPart[] = [OPEN];
  const segments: Segment[] = [];
  let at = OPEN.length;
  let total = 0;
  for (const p of parts) {
    const size = "bytes" in p ? p.bytes.length : p.blob.size;
    if (p.count > 0) {
      if (total > 0) {
        pieces.push(COMMA);
        at += COMMA.length;
      }
      pieces.push("bytes" in p ? p.bytes : p.blob);
    }
    segments.push({ lo: p.lo, count: p.count, start: at, end: p.count > 0 ? at + size : at });
    if (p.count > 0) at += size;
    total += p.count;
  }
  pieces.push(CLOSE);
  return { segments, blob: new Blob(pieces, { type: "application/json" }), total };
}

/** The rows with order keys in [lo, hi) (hi null: no end) cut into segments; the first starts at `lo`. */
async function readSegments(idx: IndexDb, lo: string, hi: string | null): Promise<FreshSegment[]> {
  const rows = await wholeListRange(idx.db, lo, hi);
  const segments: FreshSegment[] = [];
  let start = 0;
  while (start < rows.length || segments.length === 0) {
    let end = Math.min(rows.length, start + SEGMENT_ITEMS);
    // rows sharing an order key stay in one segment (a range read finds them all)
    while (end < rows.length && end > start && rows[end].order_key === rows[end - 1].order_key) end++;
    // no short last segment: it joins the one before
    if (rows.length - end < SEGMENT_ITEMS / 2) end = rows.length;
    const items: string[] = [];
    for (let r = start; r < end; r++) items.push(rows[r].list_json);
    segments.push({ lo: segments.length === 0 ? lo : rows[start].order_key, count: end - start, bytes: Buffer.from(items.join(",")) });
    start = end;
  }
  return segments;
}

/** The entry as a WholeList. */
function view(e: Entry): WholeList {
  return {
    total: e.total,
    size: e.blob.size,
    async body(edit) {
      const dirs = new Map<number, string[]>();
      for (const r of edit?.runs ?? []) {
        const i = segmentOf(e.segments, r.key);
        const list = dirs.get(i);
        if (list) list.push(r.dir);
        else dirs.set(i, [r.dir]);
      }
      if (dirs.size === 0) return e.blob;
      // this answer only: the segments holding the runs to edit, as `text` shows them, between the blob's other stretches
      const pieces: BlobPart[] = [];
      let at = 0;
      for (const [i, list] of [...dirs].sort((a, b) => a[0] - b[0])) {
        const seg = e.segments[i];
        if (seg.count === 0) continue;
        pieces.push(e.blob.slice(at, seg.start), edit!.text(await e.blob.slice(seg.start, seg.end).text(), list));
        at = seg.end;
      }
      pieces.push(e.blob.slice(at));
      return new Blob(pieces, { type: "application/json" });
    },
  };
}

async function dataVersion(idx: IndexDb): Promise<number> {
  const r = await sql<{ data_version: number }>`pragma data_version`.execute(idx.db);
  return Number(r.rows[0]?.data_version);
}
