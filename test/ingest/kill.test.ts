// The file sink under kill -9: a server killed mid-batch, restarted, and sent everything again stores each seq exactly once.
import { afterAll, describe, expect, test } from "bun:test";
import { appendFileSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { isolatedEnv, tempDir } from "../helpers/server.ts";
import { type ServerProc, spawnServe } from "../reliability/helpers.ts";

const t = tempDir("rn-ingest-kill-");
const root = join(t.dir, "root");
const env = isolatedEnv(t.dir);
const RID = "20261204_120000_00c0de";
const BATCHES = 60;
const ROWS = 3000;
let server: ServerProc | undefined;

afterAll(async () => {
  await server?.kill9();
  t.cleanup();
});

/** Batch `seq`: ROWS metric events whose steps say which batch and row they belong to, and one log line. */
function batchBody(seq: number): string {
  const events = Array.from({ length: ROWS }, (_, i) => ({ ts: seq + i / ROWS, type: "metrics", data: { global_step: seq * ROWS + i, loss: 1 / (seq + i) } }));
  return JSON.stringify({ seq, events, logs: [`batch ${seq}`], summary: { last_batch: seq } });
}

/** Sends batches from `from` on until one fails (the server died) or all are sent; returns the acknowledged seqs. */
async function sendFrom(url: string, from: number): Promise<{ acked: number[]; duplicates: number[] }> {
  const acked: number[] = [];
  const duplicates: number[] = [];
  for (let seq = from; seq <= BATCHES; seq++) {
    let res: Response;
    try {
      res = await fetch(`${url}/api/ingest/runs/${RID}/batches`, { method: "POST", headers: { "content-type": "application/json" }, body: batchBody(seq) });
    } catch {
      break; // the server died under us: this batch is not acknowledged
    }
    if (res.status !== 200) break;
    const ack = (await res.json()) as { duplicate: boolean };
    (ack.duplicate ? duplicates : acked).push(seq);
  }
  return { acked, duplicates };
}

/** True when events.jsonl holds more than ingest.json committed: the kill landed between writing and committing. */
function tornAfterKill(): boolean {
  const dir = join(root, "runs", "kill", RID);
  try {
    const committed = JSON.parse(readFileSync(join(dir, "ingest.json"), "utf8")).lengths["events.jsonl"] ?? 0;
    return statSync(join(dir, "events.jsonl")).size > committed;
  } catch {
    return false; // killed before the first batch: nothing written
  }
}

/**
 * What a kill between appending a batch and committing it leaves (the window is an fsync long, so random kills
 * rarely hit it): lines past the committed lengths, the last one torn. The next batch must cut them off.
 */
function leaveHalfBatch(): void {
  const dir = join(root, "runs", "kill", RID);
  appendFileSync(join(dir, "events.jsonl"), '{"ts": 1, "type": "metrics", "data": {"global_step": -1}}\n{"ts": 2, "type": "metr');
  appendFileSync(join(dir, "logs.txt"), "never acknowledged\n");
}

describe("ingest under kill -9", () => {
  test("killing the server at random points mid-batch loses no acknowledged batch and stores none twice", async () => {
    const everAcked = new Set<number>();
    let rounds = 0;
    let torn = 0;
    let resumeFrom = 1;
    while (resumeFrom <= BATCHES && rounds < 12) {
      rounds++;
      server = await spawnServe(root, env);
      const created = await server.call("/api/ingest/runs", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ run_id: RID, path: "kill", meta: {}, status: { status: "running" } }),
      });
      expect([200, 201]).toContain(created.status);
      const lastSeq = created.body.last_seq as number;
      // everything acknowledged before the kill is there
      for (const s of everAcked) expect(s).toBeLessThanOrEqual(lastSeq);
      // a sender that did not see its acknowledgement starts again a little earlier: the repeats are duplicates
      const from = Math.max(1, resumeFrom - 2);
      const sending = sendFrom(server.url, from);
      const last = rounds >= 8;
      if (!last) {
        await Bun.sleep(150 + Math.floor(Math.random() * 400));
        await server.kill9();
      }
      const { acked, duplicates } = await sending;
      if (!last) torn += tornAfterKill() ? 1 : 0;
      if (rounds === 4) leaveHalfBatch();
      for (const s of duplicates) expect(s).toBeLessThanOrEqual(lastSeq);
      for (const s of acked) everAcked.add(s);
      resumeFrom = Math.max(resumeFrom, ...acked.map((s) => s + 1), lastSeq + 1);
      if (last) await server.kill9();
      server = undefined;
    }
    expect(rounds).toBeGreaterThan(1);
    console.log(`kill rounds: ${rounds - 1}, of which left a half-written batch behind: ${torn}`);
    const dir = join(root, "runs", "kill", RID);
    const steps = readFileSync(join(dir, "events.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).data.global_step as number);
    const expected = Array.from({ length: BATCHES * ROWS }, (_, i) => ROWS + i);
    expect(steps.length).toBe(expected.length);
    expect(steps).toEqual(expected);
    const logs = readFileSync(join(dir, "logs.txt"), "utf8");
    expect(logs).toBe(Array.from({ length: BATCHES }, (_, i) => `batch ${i + 1}\n`).join(""));
    expect(JSON.parse(readFileSync(join(dir, "ingest.json"), "utf8")).last_seq).toBe(BATCHES);
  });
});
