// Crash detection on a team server: a running run whose SDK heartbeat is more than a minute old is marked failed
// (heartbeat_lost) by POST /api/status/check on any replica; fresh or heartbeat-less runs stay running.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { call, type Replica, startTeamCluster, type TeamCluster } from "./team-server.ts";

const LOST = "20260113_000000_1057aa";
const FRESH = "20260113_000000_f2e5aa";
const SILENT = "20260113_000000_5113aa";
const DONE = "20260113_000000_d0e0aa";

describe("crash detection on a team server", () => {
  let c: TeamCluster;
  let a: Replica;
  let b: Replica;
  let token: string;
  const now = Date.now() / 1000;
  beforeAll(async () => {
    c = await startTeamCluster("live", { replicas: 2 });
    token = c.token;
    [a, b] = c.replicas;
    const runs: [string, Record<string, unknown>][] = [
      [LOST, { status: "running", started_at: now - 600, heartbeat_at: now - 300 }],
      [FRESH, { status: "running", started_at: now - 600, heartbeat_at: now - 2 }],
      [SILENT, { status: "running", started_at: now - 600 }],
      [DONE, { status: "finished", started_at: now - 600, heartbeat_at: now - 300, ended_at: now - 300 }],
    ];
    for (const [id, status] of runs) await call(a.url, token, "POST", "/api/ingest/runs", { run_id: id, path: "live", meta: {}, status });
  }, 120_000);
  afterAll(async () => {
    await c?.close();
  });

  it("marks only the running run with a lost heartbeat failed, and every replica lists it so", async () => {
    const before = await call(b.url, token, "GET", "/api/runs?path=live");
    expect(before.body.find((r: { id: string }) => r.id === LOST).status).toBe("running");
    const res = await call(a.url, token, "POST", "/api/status/check");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ checked: 3, updated: 1, message: "Checked 3 running experiments, updated 1 statuses" });
    const list = (await call(b.url, token, "GET", "/api/runs?path=live")).body as { id: string; status: string }[];
    expect(Object.fromEntries(list.map((r) => [r.id, r.status]))).toEqual({ [LOST]: "failed", [FRESH]: "running", [SILENT]: "running", [DONE]: "finished" });
    const detail = (await call(b.url, token, "GET", `/api/runs/${LOST}`)).body;
    expect(detail.exit_reason).toBe("heartbeat_lost");
    expect(detail.ended_at).toBeGreaterThanOrEqual(now - 300);
    expect(detail.ended_at).toBeLessThanOrEqual(Date.now() / 1000);
  });

  it("changes nothing when checked again", async () => {
    const res = await call(b.url, token, "POST", "/api/status/check");
    expect(res.body).toMatchObject({ checked: 2, updated: 0 });
  });
});
