// Thread entry of the ingest worker: parses slices of events.jsonl into ParsedBatch (an extra entry point of the compiled binary; see ingest-pool.ts).
import { LineReader, parseSlice } from "./events.ts";
import { CLAIM_FREE, CLAIM_WORKER, type ParseReply, type ParseRequest } from "./ingest-pool.ts";

declare const self: Worker;

// one reader for every slice: its scanner keeps the key layout of the lines it saw last
const reader = new LineReader();

self.onmessage = (e: MessageEvent<ParseRequest>) => {
  const { id, bytes, length, claim } = e.data;
  let reply: ParseReply;
  let transfer: ArrayBuffer[] = [];
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
