import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const YOLO = "20261129_032935_bfa7ab";
const ROOTRUN = "20261129_032935_b2e5a5";

describe("experiment management (dead in the original, working here)", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ fixture: "rn-probe" });
  });
  afterAll(() => s.close());

  it("appends tags by default and replaces them with append=false", async () => {
    expect((await s.api("/api/experiments/tag", { method: "POST", json: { run_id: YOLO, tags: ["a", "b"] } })).body).toEqual({ success: true, tags: ["a", "b"] });
    expect((await s.api("/api/experiments/tag", { method: "POST", json: { run_id: YOLO, tags: ["b", "c"] } })).body.tags).toEqual(["a", "b", "c"]);
    expect((await s.api("/api/experiments/tag", { method: "POST", json: { run_id: YOLO, tags: ["z"], append: false } })).body.tags).toEqual(["z"]);
    expect((await s.api(`/api/runs/${YOLO}`)).body.tags).toEqual(["z"]);
  });

  it("answers the original's errors for a missing id and an unknown run", async () => {
    expect((await s.api("/api/experiments/tag", { method: "POST", json: { tags: ["x"] } })).body).toEqual({ detail: "run_id is required" });
    expect((await s.api("/api/experiments/tag", { method: "POST", json: { run_id: "20990101_000000_abcdef", tags: ["x"] } })).body).toEqual({ success: false });
    expect((await s.api("/api/experiments/tag", { method: "POST", json: { run_id: YOLO, tags: "x" } })).status).toBe(422);
  });

  it("searches by project prefix, tags and text", async () => {
    await s.api("/api/experiments/tag", { method: "POST", json: { run_id: YOLO, tags: ["best"], append: false } });
    const byProject = (await s.api("/api/experiments/search?project=cv")).body.experiments.map((e: any) => e.run_id);
    expect(byProject).toContain(YOLO);
    expect(byProject).not.toContain(ROOTRUN);
    expect((await s.api("/api/experiments/search?tags=best")).body.experiments.map((e: any) => e.run_id)).toEqual([YOLO]);
    expect((await s.api("/api/experiments/search?text=BASELINE")).body.experiments.map((e: any) => e.run_id)).toEqual([YOLO]);
    const archived = (await s.api("/api/experiments/search?archived=true")).body.experiments;
    expect(archived.some((e: any) => e.archived)).toBe(true);
  });

  it("deletes permanently and validates the batch", async () => {
    expect((await s.api("/api/experiments/delete", { method: "DELETE", json: {} })).body).toEqual({ detail: "run_ids are required" });
    expect((await s.api("/api/experiments/delete", { method: "DELETE", json: { run_ids: ["bad"] } })).body).toEqual({ detail: "Invalid run_id format: bad" });
    const r = await s.api("/api/experiments/delete", { method: "DELETE", json: { run_ids: [ROOTRUN, "20990101_000000_abcdef"] } });
    expect(r.body).toEqual({ results: { [ROOTRUN]: true, "20990101_000000_abcdef": false } });
    expect(existsSync(join(s.root, "runs", ROOTRUN))).toBe(false);
    expect((await s.api(`/api/runs/${ROOTRUN}`)).status).toBe(404);
  });
});
