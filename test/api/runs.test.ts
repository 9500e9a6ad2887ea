import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const YOLO = "20261129_032935_bfa7ab";
const RESNET = "20261129_032935_01576c";
const ROOTRUN = "20261129_032935_b2e5a5";
const LEGACY = "20240101_120000_abcdef";
const DELETED = "20261129_032935_21171f";

describe("runs API on rn-probe", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ fixture: "rn-probe" });
    await s.ctx.storage.runs.ready;
  });
  afterAll(() => s.close());

  it("lists the five live runs in scan order with the original's item keys", async () => {
    const r = await s.api("/api/runs");
    expect(r.status).toBe(200);
    expect(r.body.map((x: any) => x.id)).toEqual([ROOTRUN, RESNET, YOLO, "20261129_032935_5321f2", LEGACY]);
    expect(Object.keys(r.body[0])).toEqual([
      "id", "run_dir", "created_time", "status", "pid", "best_metric_value", "best_metric_name", "path", "alias", "tags", "assets_count",
    ]);
    const yolo = r.body.find((x: any) => x.id === YOLO);
    expect(yolo).toMatchObject({ path: "cv/yolo", alias: "baseline", best_metric_value: 0.99, best_metric_name: "val_acc", assets_count: 3, status: "finished" });
    expect(yolo.run_dir).toBe(join(s.root, "runs/cv/yolo", YOLO));
    expect(r.body.find((x: any) => x.id === ROOTRUN).path).toBeNull();
  });

  it("answers GET /api/fleet with no hosts and its own run count: a server of its own root is no fleet", async () => {
    const r = await s.api("/api/fleet");
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ hosts: [], total_runs: 5 });
  });

  it("keeps a legacy run's full path (fix of §10.7)", async () => {
    const r = await s.api("/api/runs");
    expect(r.body.find((x: any) => x.id === LEGACY)).toMatchObject({ path: "legacyproj/legacyname", created_time: 1704110400 });
  });

  it("marks a running run whose process is gone on this host as failed", async () => {
    const r = await s.api(`/api/runs/${RESNET}`);
    expect(r.body.status).toBe("failed");
    expect(r.body.exit_reason).toBe("process_not_found");
    const status = JSON.parse(readFileSync(join(s.root, "runs/cv/resnet", RESNET, "status.json"), "utf8"));
    expect(status).toMatchObject({ status: "failed", exit_reason: "process_not_found" });
    expect(typeof status.ended_at).toBe("number");
  });

  it("returns the detail with the original's keys plus created_time, tags and duration", async () => {
    const r = await s.api(`/api/runs/${YOLO}`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      id: YOLO,
      status: "finished",
      path: "cv/yolo",
      alias: "baseline",
      assets_count: 3,
      logs: join(s.root, "runs/cv/yolo", YOLO, "logs.txt"),
      metrics: join(s.root, "runs/cv/yolo", YOLO, "events.jsonl"),
      metrics_step: join(s.root, "runs/cv/yolo", YOLO, "events.jsonl"),
      tags: [],
      created_time: 1795922975.0364296,
    });
    expect(r.body.assets.datasets[0].name).toBe("ds1");
    const st = JSON.parse(readFileSync(join(s.root, "runs/cv/yolo", YOLO, "status.json"), "utf8"));
    expect(r.body.duration).toBeCloseTo(st.ended_at - st.started_at, 6);
  });

  it("answers 404 Run not found for unknown and soft-deleted runs", async () => {
    for (const id of ["nonexistent", DELETED, "..%2F..%2Fetc", "x".repeat(500)]) {
      const r = await s.api(`/api/runs/${id}`);
      expect(r.status).toBe(404);
      expect(r.body).toEqual({ detail: "Run not found" });
    }
  });

  it("renames and tags a run, trimming as the original does, and persists it in meta.json", async () => {
    const r = await s.api(`/api/runs/${YOLO}`, { method: "PATCH", json: { alias: "  renamed  ", tags: ["a", " b ", ""] } });
    expect(r.body).toEqual({ ok: true, alias: "renamed", tags: ["a", "b"] });
    const meta = JSON.parse(readFileSync(join(s.root, "runs/cv/yolo", YOLO, "meta.json"), "utf8"));
    expect(meta).toMatchObject({ alias: "renamed", tags: ["a", "b"], id: YOLO });
    const list = await s.api("/api/runs");
    expect(list.body.find((x: any) => x.id === YOLO)).toMatchObject({ alias: "renamed", tags: ["a", "b"] });
    const cleared = await s.api(`/api/runs/${YOLO}`, { method: "PATCH", json: { alias: "" } });
    expect(cleared.body.alias).toBeNull();
  });

  it("rejects bad PATCH input with 400, 404 and 422", async () => {
    expect((await s.api("/api/runs/bad-id", { method: "PATCH", json: { alias: "x" } })).body).toEqual({ detail: "Invalid run_id format: bad-id" });
    expect((await s.api("/api/runs/20990101_000000_abcdef", { method: "PATCH", json: { alias: "x" } })).status).toBe(404);
    expect((await s.api(`/api/runs/${YOLO}`, { method: "PATCH", json: { tags: "notalist" } })).status).toBe(422);
    expect((await s.api(`/api/runs/${YOLO}`, { method: "PATCH", json: { alias: 5 } })).status).toBe(422);
    const bad = await s.api(`/api/runs/${YOLO}`, { method: "PATCH", body: "{not json", headers: { "content-type": "application/json" } });
    expect(bad.status).toBe(422);
    expect(Array.isArray(bad.body.detail)).toBe(true);
  });

  it("answers the progress stub and a missing environment", async () => {
    expect((await s.api(`/api/runs/${YOLO}/progress`)).body).toEqual({ available: false, status: "unknown" });
    expect((await s.api(`/api/environment/${YOLO}`)).body).toEqual({ available: false });
    expect((await s.api("/api/environment/nope")).body).toEqual({ detail: "Run nope not found" });
  });

  it("pages, filters, searches and sorts the list, with X-Total-Count", async () => {
    const page = await s.api("/api/runs?limit=2&offset=1");
    expect(page.body.map((x: any) => x.id)).toEqual([RESNET, YOLO]);
    expect(page.headers.get("x-total-count")).toBe("5");
    const cv = await s.api("/api/runs?path=cv");
    expect(cv.body.map((x: any) => x.id).sort()).toEqual([RESNET, YOLO].sort());
    const failed = await s.api("/api/runs?status=failed");
    expect(failed.body.every((x: any) => x.status === "failed")).toBe(true);
    expect(failed.headers.get("x-total-count")).toBe(String(failed.body.length));
    const q = await s.api("/api/runs?q=LEGACYNAME");
    expect(q.body.map((x: any) => x.id)).toEqual([LEGACY]);
    const sorted = await s.api("/api/runs?sort=created_time&order=asc");
    const times = sorted.body.map((x: any) => x.created_time);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    const bySummary = await s.api("/api/runs?sort=summary.best_metric_value&order=desc&include=summary&limit=1");
    expect(bySummary.body[0].id).toBe(YOLO);
    expect(bySummary.body[0].summary.best_metric_value).toBe(0.99);
  });

  it("rejects bad list parameters", async () => {
    expect((await s.api("/api/runs?limit=-1")).status).toBe(422);
    expect((await s.api("/api/runs?limit=abc")).status).toBe(422);
    expect((await s.api("/api/runs?order=sideways")).status).toBe(422);
    const sort = await s.api("/api/runs?sort=pid;drop table run");
    expect(sort.status).toBe(400);
    expect((await s.api("/api/runs?q=%25_%5C")).status).toBe(200);
  });

  it("counts runs by status", async () => {
    const r = await s.api("/api/stats/runs");
    expect(r.body.total).toBe(5);
    expect(r.body.running + r.body.finished + r.body.failed + r.body.interrupted + r.body.other).toBe(5);
  });

  it("answers unknown API paths with the original's 404", async () => {
    const r = await s.api("/api/nonexistent");
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ detail: "Not Found" });
  });

  it("reports health with the compatible version and the storage root", async () => {
    const r = await s.api("/api/health");
    expect(r.body).toMatchObject({ status: "ok", storage: s.root, version: "0.6.0" });
  });
});

describe("health cache counters", () => {
  it("reports the metric store's real counters in the original's shape", async () => {
    const s = await startTestServer({ fixture: "rn-probe" });
    try {
      await s.api(`/api/runs/${YOLO}/metrics_step`);
      await s.api(`/api/runs/${YOLO}/metrics_step`);
      const { cache } = (await s.api("/api/health")).body;
      expect(Object.keys(cache)).toEqual(["enabled", "type", "hit_rate", "hits", "misses", "incremental_updates", "size", "max_size"]);
      expect(cache.hits + cache.misses + cache.incremental_updates).toBeGreaterThanOrEqual(2);
      expect(cache.hit_rate).toMatch(/^\d+\.\d%$/);
      expect(cache.size).toBeGreaterThanOrEqual(1);
    } finally {
      await s.close();
    }
  });
});
