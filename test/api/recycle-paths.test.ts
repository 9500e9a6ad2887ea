import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const YOLO = "20261129_032935_bfa7ab";
const DELETED = "20261129_032935_21171f";
const BERT = "20261129_032935_5321f2";

describe("recycle bin", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ fixture: "rn-probe" });
  });
  afterAll(() => s.close());

  it("lists the fixture's soft-deleted run with its marker data", async () => {
    const r = await s.api("/api/recycle-bin");
    expect(r.body.deleted_runs).toHaveLength(1);
    expect(r.body.deleted_runs[0]).toMatchObject({ id: DELETED, path: "cv/yolo", alias: "tobedeleted", original_status: "failed" });
    expect(Object.keys(r.body.deleted_runs[0])).toEqual(["id", "path", "alias", "created_time", "deleted_at", "delete_reason", "original_status", "run_dir"]);
  });

  it("soft-deletes and restores with per-run results and the original's messages", async () => {
    const del = await s.api("/api/runs/soft-delete", { method: "POST", json: { run_ids: [BERT, "20990101_000000_abcdef", DELETED] } });
    expect(del.body).toEqual({
      deleted_count: 1,
      results: {
        [BERT]: { success: true },
        "20990101_000000_abcdef": { success: false, error: "run not found" },
        [DELETED]: { success: false, error: "already deleted" },
      },
      message: "Soft deleted 1 of 3 runs",
    });
    const marker = JSON.parse(readFileSync(join(s.root, "runs/nlp/bert", BERT, ".deleted"), "utf8"));
    expect(marker).toMatchObject({ reason: "user_deleted" });
    expect((await s.api(`/api/runs/${BERT}`)).status).toBe(404);
    expect((await s.api("/api/runs")).body.map((x: any) => x.id)).not.toContain(BERT);
    const res = await s.api("/api/recycle-bin/restore", { method: "POST", json: { run_ids: [BERT, YOLO] } });
    expect(res.body).toEqual({
      restored_count: 1,
      results: { [BERT]: { success: true }, [YOLO]: { success: false, error: "run not deleted" } },
      message: "Restored 1 of 2 runs",
    });
    expect(existsSync(join(s.root, "runs/nlp/bert", BERT, ".deleted"))).toBe(false);
    expect((await s.api(`/api/runs/${BERT}`)).status).toBe(200);
  });

  it("validates batches before doing any work", async () => {
    const cases: [unknown, string][] = [
      [{ run_ids: [] }, "run_ids is required and must be a list"],
      [{}, "run_ids is required and must be a list"],
      [{ run_ids: "x" }, "run_ids is required and must be a list"],
      [{ run_ids: [YOLO, "bad"] }, "Invalid run_id format: bad"],
      [{ run_ids: [YOLO, 5] }, "Invalid run_id format: 5"],
      [{ run_ids: Array(101).fill(YOLO) }, "Cannot delete more than 100 runs at once"],
    ];
    for (const [body, detail] of cases) {
      const r = await s.api("/api/runs/soft-delete", { method: "POST", json: body });
      expect(r.status).toBe(400);
      expect(r.body).toEqual({ detail });
    }
    expect((await s.api(`/api/runs/${YOLO}`)).status).toBe(200);
    const r = await s.api("/api/recycle-bin/restore", { method: "POST", json: { run_ids: Array(101).fill(YOLO) } });
    expect(r.body).toEqual({ detail: "Cannot restore more than 100 runs at once" });
  });
});

describe("paths and projects", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ fixture: "rn-probe" });
  });
  afterAll(() => s.close());

  it("lists paths and the tree as the original", async () => {
    const r = await s.api("/api/paths");
    expect(r.body).toEqual({
      paths: ["cv/resnet", "cv/yolo", "legacyproj/legacyname", "nlp/bert"],
      tree: { cv: { resnet: {}, yolo: {} }, legacyproj: { legacyname: {} }, nlp: { bert: {} } },
    });
    expect((await s.api("/api/paths/tree")).body).toEqual({ tree: r.body.tree });
  });

  it("adds ancestors and per-path status counts with include_stats", async () => {
    const r = await s.api("/api/paths?include_stats=true");
    expect(r.body.paths).toEqual(["cv", "cv/resnet", "cv/yolo", "legacyproj", "legacyproj/legacyname", "nlp", "nlp/bert"]);
    expect(r.body.stats["cv/yolo"]).toEqual({ total: 1, running: 0, finished: 1, failed: 0 });
    expect(r.body.stats.cv.total).toBe(2);
    expect(r.body.stats.legacyproj).toEqual({ total: 1, running: 0, finished: 1, failed: 0 });
    // leaf paths in scan order, then their ancestors, as the original
    expect(Object.keys(r.body.stats)).toEqual(["cv/resnet", "cv/yolo", "nlp/bert", "legacyproj/legacyname", "cv", "nlp", "legacyproj"]);
    expect((await s.api("/api/paths?include_stats=yes")).body.stats).toBeDefined();
    const bad = await s.api("/api/paths?include_stats=maybe");
    expect(bad.status).toBe(422);
    expect(bad.body.detail[0]).toMatchObject({ type: "bool_parsing", loc: ["query", "include_stats"] });
  });

  it("lists runs under a prefix with entry paths, real tags and asset counts", async () => {
    const r = await s.api("/api/paths/runs?path=cv");
    expect(r.body.map((x: any) => x.path).sort()).toEqual(["cv/resnet", "cv/yolo"]);
    expect(r.body.find((x: any) => x.id === YOLO).assets_count).toBe(3);
    expect((await s.api("/api/paths/runs?path=cv&exact=true")).body).toEqual([]);
    expect((await s.api("/api/paths/runs?path=c")).body).toEqual([]);
    expect((await s.api("/api/paths/runs?path=../../etc")).body).toEqual([]);
  });

  it("answers the legacy projects endpoints", async () => {
    expect((await s.api("/api/projects")).body).toEqual({ projects: ["cv", "legacyproj", "nlp"] });
    expect((await s.api("/api/projects/cv/names")).body).toEqual({ names: ["resnet", "yolo"] });
    const runs = await s.api("/api/projects/cv/names/yolo/runs");
    expect(runs.body).toEqual([{ run_id: YOLO, path: "cv/yolo", alias: "baseline", status: "finished", start_time: 1795922975.0364296 }]);
    expect((await s.api("/api/projects/zzz/names")).body).toEqual({ names: [] });
  });

  it("soft-deletes a whole path and requires one", async () => {
    expect((await s.api("/api/paths/soft-delete", { method: "POST", json: {} })).body).toEqual({ detail: "path is required" });
    expect((await s.api("/api/paths/soft-delete", { method: "POST", json: { path: "" } })).status).toBe(400);
    const r = await s.api("/api/paths/soft-delete", { method: "POST", json: { path: "nlp" } });
    expect(r.body).toEqual({ path: "nlp", deleted_count: 1, errors: null, message: "Moved 1 runs to recycle bin" });
    const bin = await s.api("/api/recycle-bin");
    expect(bin.body.deleted_runs.find((x: any) => x.id === BERT).delete_reason).toBe("path_batch_delete");
    expect((await s.api("/api/paths")).body.paths).not.toContain("nlp/bert");
  });
});
