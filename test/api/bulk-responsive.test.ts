// Bulk work over many runs (a path exported, moved to the bin, the bin emptied) give the event loop back as they
// go: other requests are answered meanwhile, and every run ends up where it should be.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer, waitFor } from "../helpers/server.ts";

const RUNS = 1500;
let server: TestServer;
const dirs: string[] = [];

beforeAll(async () => {
  server = await startTestServer();
  for (let i = 0; i < RUNS; i++) {
    const id = `20260101_${String(100000 + i).slice(-6)}_${i.toString(16).padStart(6, "0")}`;
    const dir = join(server.root, "runs", "bulk", `g${i % 10}`, id);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "meta.json"), JSON.stringify({ id, path: `bulk/g${i % 10}`, created_at: 1767225600 + i, hostname: "h", pid: 1 }));
    writeFileSync(join(dir, "status.json"), JSON.stringify({ status: "finished", started_at: 1767225600 + i, ended_at: 1767225700 + i }));
    dirs.push(dir);
  }
  await waitFor(async () => (await server.api("/api/runs?limit=1")).headers.get("x-total-count") === String(RUNS), 60000, "every run in the index");
}, 120000);

afterAll(async () => {
  await server?.close();
});

/** Runs `op` while asking /api/health over and over; how many health answers came back before `op` ended. */
async function answeredDuring<T>(op: () => Promise<T>): Promise<{ result: T; answers: number }> {
  let done = false;
  let answers = 0;
  const probe = (async () => {
    while (!done) {
      const r = await server.api("/api/health");
      if (!done && r.status === 200) answers++;
    }
  })();
  const result = await op();
  done = true;
  await probe;
  return { result, answers };
}

describe("bulk changes over many runs", () => {
  it("export a path of 1,500 runs as JSON while other requests are answered, each run once in scan order", async () => {
    const { result, answers } = await answeredDuring(() => server.api("/api/paths/export?path=bulk"));
    expect(result.status).toBe(200);
    expect(result.body.total_runs).toBe(RUNS);
    const ids = result.body.runs.map((r: { run_id: string }) => r.run_id);
    // scan order: folder by folder, ids sorted within each (spec §1.9)
    const expected = dirs.map((d) => d.split("/").slice(-2)).sort((a, b) => (a[0] + "/" + a[1] < b[0] + "/" + b[1] ? -1 : 1)).map((x) => x[1]);
    expect(ids).toEqual(expected);
    expect(answers).toBeGreaterThanOrEqual(3);
    const one = await server.api("/api/paths/export?path=bulk/g3&exact=true");
    expect(one.body.total_runs).toBe(RUNS / 10);
    expect(one.body.runs.every((r: { path: string }) => r.path === "bulk/g3")).toBe(true);
  }, 120000);

  it("move a path of 1,500 runs to the bin while other requests are answered, and list none of them afterwards", async () => {
    const { result, answers } = await answeredDuring(() => server.api("/api/paths/soft-delete", { method: "POST", json: { path: "bulk" } }));
    expect(result.status).toBe(200);
    expect(result.body.deleted_count).toBe(RUNS);
    expect(answers).toBeGreaterThanOrEqual(3);
    expect((await server.api("/api/runs?limit=1")).headers.get("x-total-count")).toBe("0");
    expect((await server.api("/api/recycle-bin")).body.deleted_runs.length).toBe(RUNS);
  }, 120000);

  it("empty a bin of 1,500 runs while other requests are answered, removing every folder and index row", async () => {
    const { result, answers } = await answeredDuring(() => server.api("/api/recycle-bin/empty", { method: "POST", json: { confirm: true } }));
    expect(result.status).toBe(200);
    expect(result.body.permanently_deleted).toBe(RUNS);
    expect(answers).toBeGreaterThanOrEqual(3);
    expect(dirs.filter((d) => existsSync(d))).toEqual([]);
    expect((await server.api("/api/recycle-bin")).body.deleted_runs.length).toBe(0);
  }, 120000);
});
