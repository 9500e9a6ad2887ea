// The histogram offset index in the index db (issue 17): where each (key, step) of a run's histograms.jsonl is, kept across restarts.
// Indexing reads only keys and steps from each line's head; a query reads and parses only the lines it returns.
// The file mark (device, inode, size, mtime, the bytes before the offset) says whether the stored index still
// describes the file: unchanged → used as is; appended to → only the new bytes are indexed; replaced, shrunk or
// rewritten → rebuilt from byte 0.
import { fstatSync, readSync, type BigIntStats } from "node:fs";
import { join } from "node:path";
import type { Kysely } from "kysely";
import type { HistogramStep } from "../wire/media.ts";
import { FileRefusedError, openChecked } from "../store/safe-read.ts";
import type { Database } from "./schema.ts";

/** Largest histograms.jsonl indexed (bins are small: this is millions of histograms). */
export const MAX_HISTOGRAM_FILE = 256 << 20;
/** Bytes read per slice while indexing (bounds memory on a first read of a large file). */
const SLICE = 8 << 20;
const TAIL = 64;
/** Rows per INSERT (5 values each, far below SQLite's variable limit). */
const BATCH = 2000;

/** The stored position of one (key, step) line. */
export interface HistogramSlot {
  step: number;
  off: number;
  len: number;
}

/** Why a run's histograms cannot be indexed: not a regular file, or too large. */
export class HistogramFileError extends Error {
  constructor(
    readonly reason: "not_regular" | "too_large",
    message: string,
  ) {
    super(message);
  }
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const numList = (v: unknown): number[] | null => (Array.isArray(v) && v.every((x) => typeof x === "number") ? (v as number[]) : null);

/** Parses one line; undefined for lines that are not a well-formed histogram (torn, foreign or bad shape). */
export function parseHistogramLine(line: string): { key: string; entry: HistogramStep } | undefined {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line);
  } catch {
    return undefined; // a foreign or broken line is not a histogram; the index leaves it out
  }
  return histogramEntryOf(o);
}

/** A decoded histogram line (file or team batch) as its key and entry, or undefined when it is not a well-formed one. */
export function histogramEntryOf(o: Record<string, unknown>): { key: string; entry: HistogramStep } | undefined {
  if (typeof o !== "object" || o === null || typeof o.key !== "string") return undefined;
  const step = num(o.step);
  const edges = numList(o.edges);
  const counts = numList(o.counts);
  if (step === null || !Number.isInteger(step) || !edges || !counts) return undefined;
  if (counts.length && edges.length !== counts.length + 1) return undefined;
  const count = num(o.count) ?? counts.reduce((a, b) => a + b, 0);
  return { key: o.key, entry: { step, ts: num(o.ts), edges, counts, count, sum: num(o.sum), min: num(o.min), max: num(o.max) } };
}

const HEAD = /"step":\s*(-?\d+)\s*[,}]/;
const KEY = /"key":\s*"([^"\\]*)"/;

/** Key and step of a line from its first bytes (the SDKs write them before the bins), else from the whole line. */
function keyStep(buf: Buffer, from: number, to: number): { key: string; step: number } | undefined {
  for (const span of [160, 1024]) {
    const head = buf.toString("utf8", from, Math.min(to, from + span));
    const st = HEAD.exec(head);
    const k = KEY.exec(head);
    if (st && k && head.indexOf('"edges"') > Math.max(st.index, k.index)) return { key: k[1], step: Number(st[1]) };
    if (to - from <= span) break;
  }
  const p = parseHistogramLine(buf.toString("utf8", from, to)); // another field order, a long or escaped key
  return p && { key: p.key, step: p.entry.step };
}

function readAt(fd: number, len: number, pos: number): Buffer {
  const buf = Buffer.allocUnsafe(len);
  let got = 0;
  while (got < len) {
    const n = readSync(fd, buf, got, len - got, pos + got);
    if (n <= 0) break;
    got += n;
  }
  return got === len ? buf : buf.subarray(0, got);
}

/**
 * Opens `runDir`'s histograms.jsonl by the one safe-read rule (inside `root`, regular, no links): its descriptor
 * (the caller closes it), or undefined when there is none. Throws HistogramFileError for a file that is not
 * regular or is larger than MAX_HISTOGRAM_FILE.
 */
export function openHistogramFile(root: string, runDir: string): number | undefined {
  try {
    return openChecked(join(runDir, "histograms.jsonl"), { root, maxBytes: MAX_HISTOGRAM_FILE }).fd;
  } catch (e) {
    if (!(e instanceof FileRefusedError)) throw e;
    if (e.reason === "missing") return undefined;
    if (e.reason === "too_large") throw new HistogramFileError("too_large", `histograms.jsonl is larger than ${MAX_HISTOGRAM_FILE} bytes`);
    throw new HistogramFileError("not_regular", "histograms.jsonl is not a regular file");
  }
}

/** Brings the stored index of `runDir` up to date with its open histograms.jsonl (`fd`, from openHistogramFile). */
export async function syncHistogramIndex(db: Kysely<Database>, runDir: string, fd: number): Promise<void> {
  const st = fstatSync(fd, { bigint: true }) as BigIntStats;
  const mark = { file_dev: String(st.dev), file_ino: String(st.ino), file_size: Number(st.size), file_mtime: String(st.mtimeNs) };
  const row = await db.selectFrom("histogram_file").selectAll().where("run_dir", "=", runDir).executeTakeFirst();
  if (row && row.file_dev === mark.file_dev && row.file_ino === mark.file_ino && row.file_size === mark.file_size && row.file_mtime === mark.file_mtime) {
    return;
  }
  // the same file grown, its indexed bytes' tail unchanged: an append. The same size with another mtime is a rewrite.
  let offset = 0;
  if (row && row.file_dev === mark.file_dev && row.file_ino === mark.file_ino && mark.file_size > row.file_size) {
    const tail = row.tail;
    const now = readAt(fd, tail.length, row.byte_offset - tail.length);
    if (Buffer.from(tail).equals(now)) offset = row.byte_offset; // appended to: index only the new bytes
  }
  // index the new complete lines, slice by slice; the last one logged for a (key, step) wins
  const slots = new Map<string, Map<number, { off: number; len: number }>>();
  let pos = offset;
  while (pos < mark.file_size) {
    const buf = readAt(fd, Math.min(SLICE, mark.file_size - pos), pos);
    const end = buf.lastIndexOf(10) + 1; // a torn last line waits for its newline
    if (end === 0) {
      if (buf.length < SLICE) break;
      throw new HistogramFileError("too_large", `histograms.jsonl has a line longer than ${SLICE} bytes`);
    }
    let at = 0;
    while (at < end) {
      const nl = buf.indexOf(10, at);
      const from = at;
      at = nl + 1;
      if (nl - from < 2) continue;
      const ks = keyStep(buf, from, nl);
      if (!ks || !Number.isSafeInteger(ks.step)) continue;
      let m = slots.get(ks.key);
      if (!m) slots.set(ks.key, (m = new Map()));
      m.set(ks.step, { off: pos + from, len: nl - from });
    }
    pos += end;
    if (end < buf.length && buf.length < SLICE) break;
  }
  const tail = new Uint8Array(readAt(fd, Math.min(TAIL, pos), pos - Math.min(TAIL, pos)));
  const rows: { run_dir: string; key: string; step: number; off: number; len: number }[] = [];
  for (const [key, m] of slots) for (const [step, s] of m) rows.push({ run_dir: runDir, key, step, off: s.off, len: s.len });
  await db.transaction().execute(async (trx) => {
    if (offset === 0) await trx.deleteFrom("histogram_slot").where("run_dir", "=", runDir).execute();
    for (let i = 0; i < rows.length; i += BATCH) {
      await trx
        .insertInto("histogram_slot")
        .values(rows.slice(i, i + BATCH))
        .onConflict((oc) => oc.columns(["run_dir", "key", "step"]).doUpdateSet((eb) => ({ off: eb.ref("excluded.off"), len: eb.ref("excluded.len") })))
        .execute();
    }
    const file = { ...mark, byte_offset: pos, tail };
    await trx
      .insertInto("histogram_file")
      .values({ run_dir: runDir, ...file })
      .onConflict((oc) => oc.column("run_dir").doUpdateSet(file))
      .execute();
  });
}

/** Forgets a run's histogram index (its file is gone). */
export async function dropHistogramIndex(db: Kysely<Database>, runDir: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom("histogram_slot").where("run_dir", "=", runDir).execute();
    await trx.deleteFrom("histogram_file").where("run_dir", "=", runDir).execute();
  });
}

/** The indexed keys of a run with their step counts and first and last steps, by key. */
export async function listHistogramKeys(db: Kysely<Database>, runDir: string): Promise<{ key: string; steps: number; first_step: number; last_step: number }[]> {
  const rows = await db
    .selectFrom("histogram_slot")
    .select((eb) => ["key", eb.fn.countAll<number>().as("steps"), eb.fn.min<number>("step").as("first_step"), eb.fn.max<number>("step").as("last_step")])
    .where("run_dir", "=", runDir)
    .groupBy("key")
    .orderBy("key")
    .execute();
  return rows.map((r) => ({ key: r.key, steps: Number(r.steps), first_step: Number(r.first_step), last_step: Number(r.last_step) }));
}

/** The slots of one key with steps in [from, to], by step. */
export async function listHistogramSlots(db: Kysely<Database>, runDir: string, key: string, from: number, to: number): Promise<HistogramSlot[]> {
  let q = db.selectFrom("histogram_slot").select(["step", "off", "len"]).where("run_dir", "=", runDir).where("key", "=", key);
  if (from > -Infinity) q = q.where("step", ">=", Math.ceil(from));
  if (to < Infinity) q = q.where("step", "<=", Math.floor(to));
  return q.orderBy("step").execute();
}

/** Reads of picked lines closer together than this are one read of the span. */
const SPAN_READ = 4 << 20;

/**
 * Reads and parses the lines of `slots` from the open file (one read of their span when it is small, else one
 * read each). A line that is no longer a histogram of `key` at its step (a hand edit the mark did not catch) is
 * left out and removed from the index; returns the entries and how many were removed.
 */
export async function readHistogramSlots(
  db: Kysely<Database>,
  runDir: string,
  fd: number,
  key: string,
  slots: HistogramSlot[],
): Promise<{ entries: HistogramStep[]; dropped: number }> {
  const entries: HistogramStep[] = [];
  const bad: number[] = [];
  if (slots.length) {
    let lo = Infinity;
    let hi = 0;
    for (const s of slots) {
      if (s.off < lo) lo = s.off;
      if (s.off + s.len > hi) hi = s.off + s.len;
    }
    const span = hi - lo <= SPAN_READ ? readAt(fd, hi - lo, lo) : undefined;
    for (const s of slots) {
      const b = span ? span.subarray(s.off - lo, s.off - lo + s.len) : readAt(fd, s.len, s.off);
      const p = b.length === s.len ? parseHistogramLine(b.toString("utf8")) : undefined;
      if (p && p.key === key && p.entry.step === s.step) entries.push(p.entry);
      else bad.push(s.step);
    }
  }
  if (bad.length) {
    await db.deleteFrom("histogram_slot").where("run_dir", "=", runDir).where("key", "=", key).where("step", "in", bad).execute();
  }
  return { entries, dropped: bad.length };
}

/**
 * Runs the query code once (its queries for a run that cannot exist: the SQL is compiled and prepared, nothing
 * is read) and the line parser over a synthetic line, so the first histogram query after a start is quick.
 */
export async function warmUpHistogramCode(db: Kysely<Database>): Promise<void> {
  const runDir = "\0warm-up";
  await db.selectFrom("histogram_file").selectAll().where("run_dir", "=", runDir).executeTakeFirst();
  await listHistogramSlots(db, runDir, "k", -Infinity, Infinity);
  await listHistogramKeys(db, runDir);
  const edges = Array.from({ length: 65 }, (_, i) => i / 64 - 0.5 + 1e-9 * i);
  const counts = Array.from({ length: 64 }, (_, i) => i);
  const line = JSON.stringify({ key: "k", step: 1, ts: 1.5, edges, counts, count: 2016, sum: 0.5, min: -0.5, max: 0.5 });
  const buf = Buffer.from(line);
  for (let i = 0; i < 300; i++) {
    if (!parseHistogramLine(buf.toString("utf8")) || !keyStep(buf, 0, buf.length)) throw new Error("histogram parser warm-up line rejected");
  }
}
