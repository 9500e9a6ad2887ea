// Filling the metric.* fields of many runs in the background (a runs table asked for metrics on a fresh
// index) leaves the server answering: the work gives the event loop back between short slices.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer, waitFor } from "../helpers/server.ts";
import { sdkLine } from "./harness.ts";

const RUNS = 1500;
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  for (let i = 0; i < RUNS; i++) {
    const id = `20260101_${String(100000 + i).slice(-6)}_${i.toString(16).padStart(6, "0")}`;
    const dir = join(server.root, "runs", `sweep${i % 10}`, id);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "meta.json"), JSON.stringify({ id, path: `sweep${i % 10}`, created_at: 1767225600 + i, hostname: "h", pid: 1 }));
    writeFileSync(join(dir, "status.json"), JSON.stringify({ status: "finished", started_at: 1767225600 + i, ended_at: 1767225700 + i }));
    let events = "";
    for (let s = 1; s <= 20; s++) events += sdkLine(s, { loss: 1 / (s + i) });
    writeFileSync(join(dir, "events.jsonl"), events);
  }
  await waitFor(async () => (await server.api("/api/runs?limit=1")).headers.get("x-total-count") === String(RUNS), 60000, "every run in the index");
}, 120000);

afterAll(async () => {
  await server?.close();
});

describe("metric fields of many runs filled in the background", () => {
  it("keep the server answering while they fill: health reports the queue shrinking, step by step, until it is empty", async () => {
    const first = await server.api("/api/runs?limit=50&include=metrics");
    expect(first.status).toBe(200);
    expect(Number(first.headers.get("x-metrics-pending"))).toBe(RUNS);
    const seen = new Set<number>();
    await waitFor(
      async () => {
        const pending = (await server.api("/api/health")).body.index.metrics.fields_pending as number;
        seen.add(pending);
        return pending === 0;
      },
      90000,
      "the metric fields of every run",
    );
    // answered mid-way several times: a queue worked through without yielding would show at most one value before 0
    expect([...seen].filter((n) => n > 0 && n < RUNS).length).toBeGreaterThanOrEqual(3);
    const done = await server.api("/api/runs?limit=1&include=metrics");
    expect(done.headers.get("x-metrics-pending")).toBe("0");
    expect(done.body[0].metrics.loss.count).toBe(20);
  }, 120000);
});
