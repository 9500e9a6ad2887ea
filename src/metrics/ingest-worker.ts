// Thread entry of the ingest worker: parses slices of events.jsonl into ParsedBatch, and builds byte ranges into chunks (an extra entry point of the compiled binary; see ingest-pool.ts).
import { LineReader, parseSlice } from "./events.ts";
import { CLAIM_FREE, CLAIM_WORKER, type ParseReply, type WorkerRequest } from "./ingest-pool.ts";
import { buildRange, rangeToWire, readFd, type WireRange } from "./range-build.ts";
import { syntheticLines } from "./warm-lines.ts";

declare const self: Worker;

// one reader for every slice: its scanner keeps the key layout of the lines it saw last
const reader = new LineReader();

self.onmessage = (e: MessageEvent<WorkerRequest>) => {
  const msg = e.data;
  let reply: ParseReply;
  let transfer: ArrayBuffer[] = [];
  if (msg.op === "pieces" || msg.op === "warm") {
    try {
      if (msg.op === "warm") {
        const bytes = syntheticLines(msg.from, msg.count, msg.total);
        buildRange(readBytes(bytes), 0, bytes.length);
        reply = { id: msg.id };
      } else {
        const read = readFd(msg.fd);
        const pieces: [number, WireRange][] = [];
        const arrays: ArrayBufferView[] = [];
        for (;;) {
          const k = Atomics.add(msg.next, 0, 1);
          if (k >= msg.bounds.length - 1) break;
          pieces.push([k, rangeToWire(buildRange(read, msg.bounds[k], msg.bounds[k + 1]), arrays)]);
        }
        // every array has a buffer of its own (a transfer list may not name one twice)
        transfer = [...new Set(arrays.map((a) => a.buffer as ArrayBuffer))];
        reply = { id: msg.id, pieces };
      }
    } catch (err) {
      // a read that fails (the file went away under it): the sender builds the pieces itself
      reply = { id: msg.id, error: (err as Error).stack ?? String(err), soft: true };
      transfer = [];
    }
    self.postMessage(reply, transfer);
    return;
  }
  const { id, bytes, length, claim } = msg;
  if (Atomics.compareExchange(claim, 0, CLAIM_FREE, CLAIM_WORKER) !== CLAIM_FREE) {
    // the sender parses this slice itself
    reply = { id, bytes, skipped: true };
  } else {
    try {
      const parsed = parseSlice(reader, Buffer.from(bytes, 0, length), 0, length);
      reply = { id, bytes, batch: parsed.batch };
      transfer = parsed.transfer;
    } catch (err) {
      reply = { id, bytes, error: (err as Error).stack ?? String(err) };
    }
  }
  self.postMessage(reply, [...transfer, bytes]);
};

/** A ReadAt over bytes in memory (the warm-up's synthetic lines). */
function readBytes(bytes: Uint8Array) {
  return (buf: Buffer, length: number, position: number): number => {
    const n = Math.max(0, Math.min(length, bytes.length - position));
    buf.set(bytes.subarray(position, position + n), 0);
    return n;
  };
}
