// The whole run list (GET /api/runs without parameters), kept as encoded segments that a change re-reads one at a time.
import { sql } from "kysely";
import { compareCodePoints } from "./metric-run.ts";
import type { IndexDb } from "./db.ts";
import { wholeListRange } from "./run-queries.ts";

/** An unused list is dropped after this long, so an idle server does not hold it. */
const IDLE_MS = 10_000;
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

/** Rows of the list with order keys in [lo, next segment's lo), as one encoded stretch of items. */
interface Segment {
  /** The lowest order key the segment holds (the first segment's is "": everything below the second). */
  lo: string;
  count: number;
  /** `item,item,…` in UTF-8. */
  bytes: Uint8Array<ArrayBuffer>;
}

interface Entry {
  idx: IndexDb;
  /** `PRAGMA data_version` when read: another connection's commit makes the entry stale. */
  version: number;
  /** Change-log position the segments are current to. */
  pos: number;
  segments: Segment[];
  /** The segments as one Blob, made on first use after a change (a repeat sends the same bytes again). */
  blob?: Blob;
}

/** The whole list as the route serves it. */
export interface WholeList {
  total: number;
  /** Bytes of the JSON array. */
  size: number;
  /**
   * The JSON array as a Blob of the cached segments. `edit` changes this answer only: each segment
   * holding some of `runs` (order key and run dir) is shown as `text` returns it, given the segment's
   * `item,item,…` and the dirs of those runs in it.
   */
  body(edit?: { runs: readonly { key: string; dir: string }[]; text: (segment: string, dirs: string[]) => string }): Blob;
}

const OPEN = Buffer.from("[");
const COMMA = Buffer.from(",");
const CLOSE = Buffer.from("]");

/**
 * Reading ~100,000 pre-serialised items, joining and encoding them costs hundreds of milliseconds (most
 * of it first touches of fresh memory). The list is kept as encoded segments of ~1,000 items in list
 * order; a change to some runs (the indexer's change log gives their order keys) re-reads only the
 * segments those keys fall into. Another connection's commit (`PRAGMA data_version`), a log that no
 * longer reaches back, or a burst of changes reads the list whole again. Dropped after IDLE_MS unused.
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
        this.stats.segmentReads += await patch(e, changed);
        e.blob = undefined;
      }
    }
    if (!e) {
      this.stats.wholeReads++;
      this.entry = undefined;
      e = { idx, version, pos, segments: await readSegments(idx, "", null) };
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
function segmentOf(segments: readonly Segment[], key: string): number {
  let lo = 0;
  let hi = segments.length;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (compareCodePoints(segments[mid].lo, key) <= 0) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** Re-reads the segments the changed keys fall into (a segment that grew is cut, an emptied one left out); how many. */
async function patch(e: Entry, keys: readonly string[]): Promise<number> {
  const dirty = new Set<number>();
  for (const k of keys) dirty.add(segmentOf(e.segments, k));
  const out: Segment[] = [];
  for (let i = 0; i < e.segments.length; i++) {
    const seg = e.segments[i];
    if (!dirty.has(i)) {
      out.push(seg);
      continue;
    }
    const next = i + 1 < e.segments.length ? e.segments[i + 1].lo : null;
    const fresh = await readSegments(e.idx, seg.lo, next);
    // the first segment always stays, with its lowest key "": new rows below every key land in it
    out.push(...(out.length === 0 ? fresh : fresh.filter((s) => s.count > 0)));
  }
  e.segments = out;
  return dirty.size;
}

/** The rows with order keys in [lo, hi) (hi null: no end) cut into segments; the first starts at `lo`. */
async function readSegments(idx: IndexDb, lo: string, hi: string | null): Promise<Segment[]> {
  const rows = await wholeListRange(idx.db, lo, hi);
  const segments: Segment[] = [];
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

/** The entry as a WholeList (its segments as they are now: a later patch makes new ones). */
function view(e: Entry): WholeList {
  const all = e.segments;
  const segments = all.filter((s) => s.count > 0);
  let total = 0;
  let size = 2 + Math.max(0, segments.length - 1);
  for (const s of segments) {
    total += s.count;
    size += s.bytes.length;
  }
  return {
    total,
    size,
    body(edit) {
      const dirs = new Map<Segment, string[]>();
      for (const r of edit?.runs ?? []) {
        const seg = segments[segmentOf(segments, r.key)];
        if (!seg) continue;
        const list = dirs.get(seg);
        if (list) list.push(r.dir);
        else dirs.set(seg, [r.dir]);
      }
      if (dirs.size === 0 && e.blob && e.segments === all) return e.blob;
      const edited = new Map<Segment, Uint8Array<ArrayBuffer>>();
      for (const [seg, list] of dirs) edited.set(seg, Buffer.from(edit!.text(Buffer.from(seg.bytes).toString("utf8"), list)));
      const parts: Uint8Array<ArrayBuffer>[] = [OPEN];
      segments.forEach((s, i) => {
        if (i) parts.push(COMMA);
        parts.push(edited.get(s) ?? s.bytes);
      });
      parts.push(CLOSE);
      const blob = new Blob(parts, { type: "application/json" });
      if (dirs.size === 0 && e.segments === all) e.blob = blob;
      return blob;
    },
  };
}

async function dataVersion(idx: IndexDb): Promise<number> {
  const r = await sql<{ data_version: number }>`pragma data_version`.execute(idx.db);
  return Number(r.rows[0]?.data_version);
}
