// A byte-bounded LRU of decoded metric chunks, keyed by run, level and chunk id.
import type { Chunk } from "../metrics/chunk.ts";

/** Least-recently-used cache of chunks; evicts the oldest entries beyond `maxBytes`. */
export class ChunkCache {
  private readonly map = new Map<string, { chunk: Chunk; bytes: number; sid: number }>();
  /** Bytes held now (estimated from the typed arrays). */
  bytes = 0;

  constructor(readonly maxBytes: number) {}

  /** The cached chunk, marked as most recently used. */
  get(sid: number, level: number, id: number): Chunk | undefined {
    const key = `${sid}:${level}:${id}`;
    const e = this.map.get(key);
    if (!e) return undefined;
    this.map.delete(key);
    this.map.set(key, e);
    return e.chunk;
  }

  /** Stores (or replaces) a chunk and evicts beyond the budget. */
  put(sid: number, level: number, id: number, chunk: Chunk): void {
    const key = `${sid}:${level}:${id}`;
    const old = this.map.get(key);
    if (old) {
      this.bytes -= old.bytes;
      this.map.delete(key);
    }
    const bytes = chunk.bytes();
    this.map.set(key, { chunk, bytes, sid });
    this.bytes += bytes;
    for (const [k, e] of this.map) {
      if (this.bytes <= this.maxBytes || k === key) break;
      this.map.delete(k);
      this.bytes -= e.bytes;
    }
  }

  /** Drops every chunk of a run. */
  dropRun(sid: number): void {
    for (const [k, e] of this.map) {
      if (e.sid !== sid) continue;
      this.map.delete(k);
      this.bytes -= e.bytes;
    }
  }

  /** Number of cached chunks. */
  get size(): number {
    return this.map.size;
  }
}
