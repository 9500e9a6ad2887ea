// The whole run list (GET /api/runs without parameters) kept as one JSON string until the index changes.
import { sql } from "kysely";
import type { IndexDb } from "./db.ts";

/** How long an unchanged list is reused; also bounds how stale a time-derived field could get. */
const MAX_AGE_MS = 10_000;

/**
 * Reading ~100,000 pre-serialised items and joining them costs hundreds of milliseconds; the UI asks for
 * the whole list on every visit and poll. The cached text is reused while the run rows are unchanged:
 * same open index, same `rowWrites()` (the indexer's count of run-table transactions; metric writes do
 * not count) and no commit by another connection (`PRAGMA data_version`), and for at most MAX_AGE_MS.
 * It is dropped when it expires, so an idle server does not hold it.
 */
export class RunListCache {
  private entry?: { idx: IndexDb; key: string; json: string; total: number; at: number };
  private timer?: ReturnType<typeof setTimeout>;

  /** The cached list of `idx`, or the one `build` makes (then cached). */
  async get(idx: IndexDb, rowWrites: () => number, build: () => Promise<{ json: string; total: number }>): Promise<{ json: string; total: number }> {
    const key = await changeKey(idx, rowWrites);
    const e = this.entry;
    if (e && e.idx === idx && e.key === key && Date.now() - e.at <= MAX_AGE_MS) return e;
    const built = await build();
    // a write between reading the key and the list would make the entry stale: key it on what came before
    if ((await changeKey(idx, rowWrites)) === key) this.keep({ idx, key, ...built, at: Date.now() });
    else this.drop();
    return built;
  }

  /** Forgets the cached list. */
  drop(): void {
    this.entry = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private keep(entry: NonNullable<RunListCache["entry"]>): void {
    this.drop();
    this.entry = entry;
    this.timer = setTimeout(() => this.drop(), MAX_AGE_MS + 1000);
    this.timer.unref?.();
  }
}

/** Changes whenever the run rows may have changed since the last call. */
async function changeKey(idx: IndexDb, rowWrites: () => number): Promise<string> {
  const version = await sql<{ data_version: number }>`pragma data_version`.execute(idx.db);
  return `${rowWrites()}:${version.rows[0]?.data_version}`;
}
