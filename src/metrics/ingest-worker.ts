// Thread entry of the ingest worker: parses slices of events.jsonl into ParsedBatch, and builds first reads whole (an extra entry point of the compiled binary; see ingest-pool.ts).
import { buildRows, builtTransfer, readFd } from "../index/metric-build.ts";
import { LineReader, parseSlice } from "./events.ts";
import { type BuildRequest, CLAIM_FREE, CLAIM_WORKER, type ParseReply, type ParseRequest } from "./ingest-pool.ts";
import { syntheticLines } from "./warm-lines.ts";

declare const self: Worker;

// one reader for every slice: its scanner keeps the key layout of the lines it saw last
const reader = new LineReader();
/** Set by the first request: the warm-up stops. */
let asked = false;

self.onmessage = (e: MessageEvent<ParseRequest | BuildRequest>) => {
  asked = true;
  const msg = e.data;
  if ("build" in msg) {
    const { id, build } = msg;
    try {
      const built = buildRows(readFd(build.fd), build.start, build.end);
      self.postMessage({ id, built } satisfies ParseReply, builtTransfer(built));
    } catch (err) {
      self.postMessage({ id, error: (err as Error).stack ?? String(err) } satisfies ParseReply);
    }
    return;
  }
  const { id, bytes, length, claim } = msg;
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

/**
 * Builds synthetic runs of 2,000 lines (parse, rows, summaries, digests, encoding) until the first
 * request arrives, yielding between them: a fresh thread runs its first 100k lines several times slower
 * than compiled code, and this thread starts with the server, before any chart is asked for.
 */
async function warmUp(lines = 40000, per = 2000): Promise<void> {
  for (let from = 1; from <= lines && !asked; from += per) {
    const buf = syntheticLines(from, per, lines);
    buildRows((b, len, pos) => buf.copy(b, 0, pos, pos + len), 0, buf.length);
    await new Promise<void>((res) => setTimeout(res, 0));
  }
}

void warmUp();
