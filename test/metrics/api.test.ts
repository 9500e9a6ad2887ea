// The metric endpoints over HTTP on a real server: compatible shapes (spec §3.3), series, keys, images, bad input.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { mediaFile } from "../../src/api/metrics.ts";
import { copyFixture, tempDir } from "../helpers/server.ts";
import { type MetricsServer, sdkLine, startMetricsServer } from "./harness.ts";

const YOLO = "20261129_032935_bfa7ab"; // 300 steps, stages, NaN/Infinity, strings, an image
const YOLO_DIR = "runs/cv/yolo/20261129_032935_bfa7ab";
const DELETED = "20261129_032935_21171f";
const LEGACY = "20240101_120000_abcdef";
const BIG = "20261129_040000_abcdef";
const BIG_STEPS = 50000;

/** A deterministic 5-metric series with one spike and one dip per metric at odd places. */
function bigValue(key: number, i: number): number {
  if (i === 7919 * (key + 1)) return 1000 + key;
  if (i === 4409 * (key + 2)) return -1000 - key;
  return Math.sin(i / (50 + key * 13)) + ((i * (key + 3) * 7919) % 997) / 2000;
}
const BIG_KEYS = ["acc", "grad_norm", "loss", "lr", "val_loss"];

let srv: MetricsServer;
let tmp: { dir: string; cleanup(): void };

beforeAll(async () => {
  tmp = tempDir("rn-metrics-api-");
  const root = join(tmp.dir, "root");
  copyFixture("rn-probe", root);
  const big = join(root, "runs/bench/big", BIG);
  mkdirSync(big, { recursive: true });
  writeFileSync(join(big, "meta.json"), JSON.stringify({ id: BIG, path: "bench/big", created_at: 1795922975 }));
  writeFileSync(join(big, "status.json"), JSON.stringify({ status: "finished" }));
  const parts: string[] = [];
  for (let i = 1; i <= BIG_STEPS; i++) {
    const data: Record<string, number | string> = {};
    BIG_KEYS.forEach((k, j) => (data[k] = bigValue(j, i)));
    data.stage = i <= 1000 ? "warmup" : "train";
    parts.push(sdkLine(i, data));
  }
  writeFileSync(join(big, "events.jsonl"), parts.join(""));
  srv = await startMetricsServer({ root, dir: tmp.dir });
});

afterAll(async () => {
  await srv.stop();
});

describe("GET /api/runs/{id}/metrics_step (compatible)", () => {
  it("answers the original's body and headers for a fixture run", async () => {
    const r = await srv.get(`/api/runs/${YOLO}/metrics_step`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("application/json");
    expect(r.headers.get("x-row-count")).toBe("300");
    expect(r.headers.get("x-total-count")).toBe("300");
    expect(r.headers.get("x-last-step")).toBe("300");
    expect(r.body.columns).toEqual(["global_step", "loss", "lr", "note", "stage", "time", "val_acc"]);
    expect(r.body.total).toBe(300);
    expect(r.body.sampled).toBe(300);
    expect(r.body.rows[0]).toEqual({ global_step: 1, loss: 2, lr: 0.001, note: null, stage: "warmup", time: 1795922975.044536, val_acc: null });
    expect(r.body.rows[99]).toMatchObject({ global_step: 100, loss: null, lr: 0.001, note: "checkpoint-100", stage: "train", val_acc: 0.3333333333333333 });
    expect(r.body.rows[100]).toMatchObject({ global_step: 101, loss: null, note: null, val_acc: null });
    const same = await srv.get(`/api/runs/${YOLO}/metrics`);
    expect(same.text).toBe(r.text);
  });

  it("serves legacy runs (data.step) like the original", async () => {
    const r = await srv.get(`/api/runs/${LEGACY}/metrics_step`);
    expect(r.body).toEqual({ columns: ["global_step", "acc"], rows: [{ global_step: 1, acc: 0.5 }, { global_step: 2, acc: 0.6 }], total: 2, sampled: 2 });
    expect(r.headers.get("x-last-step")).toBe("2");
  });

  it("downsamples to the union of every metric's own selection: extremes kept, last row once", async () => {
    const full = (await srv.get(`/api/runs/${YOLO}/metrics_step`)).body.rows as Record<string, any>[];
    const r = await srv.get(`/api/runs/${YOLO}/metrics_step?downsample=100`);
    expect(r.status).toBe(200);
    const steps = (r.body.rows as any[]).map((x) => x.global_step);
    expect(r.headers.get("x-row-count")).toBe(String(steps.length));
    expect(r.headers.get("x-total-count")).toBe("300");
    expect(r.headers.get("x-last-step")).toBe("300");
    expect(r.body.sampled).toBe(steps.length);
    expect(steps.length).toBeLessThan(300);
    expect(new Set(steps).size).toBe(steps.length);
    for (let i = 1; i < steps.length; i++) expect(steps[i]).toBeGreaterThan(steps[i - 1]);
    for (const key of ["loss", "val_acc"]) {
      const pts = full.filter((row) => typeof row[key] === "number");
      const lo = pts.reduce((a, b) => (b[key] < a[key] ? b : a));
      const hi = pts.reduce((a, b) => (b[key] > a[key] ? b : a));
      for (const p of [pts[0], pts[pts.length - 1], lo, hi]) expect(steps).toContain(p.global_step);
    }
    // every kept row is complete and equal to the full row
    for (const row of r.body.rows) expect(row).toEqual(full[row.global_step - 1]);
  });

  it("keeps every metric's spikes on a 50,000-step run (digest level), in metrics_step and series", async () => {
    const ds = await srv.get(`/api/runs/${BIG}/metrics_step?downsample=500`);
    expect(ds.status).toBe(200);
    expect(ds.body.total).toBe(BIG_STEPS);
    const kept = new Set((ds.body.rows as any[]).map((x) => x.global_step));
    const series = (await srv.get(`/api/runs/${BIG}/series?points=500`)).body;
    expect(series.sampled).toBe(true);
    expect(Object.keys(series.series)).toEqual(BIG_KEYS);
    BIG_KEYS.forEach((key, j) => {
      const spike = 7919 * (j + 1);
      const dip = 4409 * (j + 2);
      for (const step of [1, BIG_STEPS, spike, dip]) expect(kept.has(step)).toBe(true);
      const xs: number[] = series.x;
      const ys: (number | null)[] = series.series[key];
      const points = xs.filter((_, i) => ys[i] !== null);
      for (const step of [1, BIG_STEPS, spike, dip]) expect(points).toContain(step);
      expect(points.length).toBeLessThanOrEqual(502);
      expect(ys[xs.indexOf(spike)]).toBe(1000 + j);
      expect(ys[xs.indexOf(dip)]).toBe(-1000 - j);
    });
  });

  it("answers an empty body for a run without events.jsonl", async () => {
    const dir = join(srv.root, "runs/nlp/bert/20261129_032935_5321f2");
    const saved = readFileSync(join(dir, "events.jsonl"));
    require("node:fs").rmSync(join(dir, "events.jsonl"));
    const r = await srv.get(`/api/runs/20261129_032935_5321f2/metrics_step`);
    writeFileSync(join(dir, "events.jsonl"), saved);
    expect(r.body).toEqual({ columns: [], rows: [], total: 0, sampled: 0 });
    expect(r.headers.get("x-row-count")).toBe("0");
    expect(r.headers.get("x-last-step")).toBeNull();
  });

  it("rejects downsample outside 100..50000 or not an integer with 422 and a detail list", async () => {
    for (const [q, type] of [
      ["50", "greater_than_equal"],
      ["10", "greater_than_equal"],
      ["50001", "less_than_equal"],
      ["abc", "int_parsing"],
      ["1.5", "int_parsing"],
      ["", "int_parsing"],
    ]) {
      const r = await srv.get(`/api/runs/${YOLO}/metrics_step?downsample=${q}`);
      expect(r.status).toBe(422);
      expect(r.body.detail[0]).toMatchObject({ type, loc: ["query", "downsample"] });
      expect(typeof r.body.detail[0].msg).toBe("string");
    }
  });

  it("answers 404 Run not found for unknown and soft-deleted runs", async () => {
    for (const id of ["20990101_000000_000000", DELETED, "x%2F..%2Fy", "%2E%2E%2F"]) {
      for (const path of ["metrics_step", "metrics", "series", "keys", "images"]) {
        const r = await srv.get(`/api/runs/${id}/${path}`);
        expect(r.status).toBe(404);
        expect(r.body).toEqual({ detail: "Run not found" });
      }
    }
  });

  it("reports the store's counters in the original's shape", async () => {
    const r = await srv.get("/api/metrics/cache/stats");
    expect(r.status).toBe(200);
    for (const k of ["size", "max_size", "hits", "misses", "incremental_updates", "hit_rate", "incremental_rate"]) {
      expect(typeof r.body[k]).toBe("number");
    }
    expect(r.body.max_size).toBe(100);
    expect(r.body.size).toBeGreaterThanOrEqual(3);
    expect(r.body.hits).toBeGreaterThan(0);
    const all = r.body.hits + r.body.misses + r.body.incremental_updates;
    expect(r.body.hit_rate).toBeCloseTo(r.body.hits / all, 10);
    expect(r.body.lines_parsed).toBeGreaterThanOrEqual(BIG_STEPS + 300);
  });
});

describe("GET /api/runs/{id}/series", () => {
  it("returns every numeric metric at full resolution on one shared x axis, null where a key has no point", async () => {
    const r = await srv.get(`/api/runs/${YOLO}/series`);
    expect(r.status).toBe(200);
    expect(r.body.run_id).toBe(YOLO);
    expect(r.body.x_key).toBe("step");
    expect(r.body.total).toBe(300);
    expect(r.body.sampled).toBe(false);
    expect(Object.keys(r.body.series)).toEqual(["loss", "lr", "val_acc"]);
    expect(r.body.x).toEqual([...Array(300).keys()].map((i) => i + 1));
    expect(r.body.series.loss[0]).toBe(2);
    expect(r.body.series.loss[99]).toBeNull(); // NaN
    expect(r.body.series.loss[100]).toBeNull(); // Infinity
    expect(r.body.series.val_acc.filter((v: unknown) => v !== null).length).toBe(30);
  });

  it("selects keys, zooms into a window at full resolution, and lays out by time", async () => {
    const r = await srv.get(`/api/runs/${YOLO}/series?keys=val_acc,loss&from=95&to=105`);
    expect(Object.keys(r.body.series)).toEqual(["val_acc", "loss"]);
    expect(r.body.x).toEqual([95, 96, 97, 98, 99, 100, 102, 103, 104, 105]);
    expect(r.body.total).toBe(11);
    const t = await srv.get(`/api/runs/${YOLO}/series?x=time&keys=loss&points=50`);
    expect(t.body.x_key).toBe("time");
    expect(t.body.sampled).toBe(true);
    expect(t.body.x[0]).toBe(1795922975.044536);
    for (let i = 1; i < t.body.x.length; i++) expect(t.body.x[i]).toBeGreaterThan(t.body.x[i - 1]);
    const mm = await srv.get(`/api/runs/${BIG}/series?keys=loss&points=100&mode=minmax&from=10000&to=30000`);
    expect(mm.body.total).toBe(20001);
    expect(mm.body.x[0]).toBe(10000);
    expect(mm.body.x[mm.body.x.length - 1]).toBe(30000);
    expect(mm.body.x).toContain(7919 * 3); // loss spike
    expect(mm.body.x.length).toBeLessThanOrEqual(102);
  });

  it("keeps the extremes of a zoom window that cuts chunks", async () => {
    const from = 3000;
    const to = 9500;
    const r = await srv.get(`/api/runs/${BIG}/series?keys=acc,lr&points=200&from=${from}&to=${to}`);
    expect(r.body.total).toBe(to - from + 1);
    for (const [key, j] of [
      ["acc", 0],
      ["lr", 3],
    ] as const) {
      let lo = from;
      let hi = from;
      for (let i = from; i <= to; i++) {
        if (bigValue(j, i) < bigValue(j, lo)) lo = i;
        if (bigValue(j, i) > bigValue(j, hi)) hi = i;
      }
      const xs = r.body.x.filter((_: number, i: number) => r.body.series[key][i] !== null);
      for (const step of [from, to, lo, hi]) expect(xs).toContain(step);
    }
  });

  it("rejects bad parameters with 422", async () => {
    for (const [q, name] of [
      ["x=epoch", "x"],
      ["points=5", "points"],
      ["points=lots", "points"],
      ["mode=avg", "mode"],
      ["from=abc", "from"],
      ["to=Infinity", "to"],
      ["from=10&to=5", "to"],
    ]) {
      const r = await srv.get(`/api/runs/${YOLO}/series?${q}`);
      expect(r.status).toBe(422);
      expect(r.body.detail[0].loc).toEqual(["query", name]);
    }
  });

  it("returns all-null arrays for keys the run does not have", async () => {
    const r = await srv.get(`/api/runs/${YOLO}/series?keys=nope,lr&from=1&to=3`);
    expect(r.body.series).toEqual({ nope: [null, null, null], lr: [0.001, 0.001, 0.001] });
  });
});

describe("GET /api/compare/series", () => {
  it("returns one series body per run and lists unknown runs as missing", async () => {
    const r = await srv.get(`/api/compare/series?runs=${YOLO},${LEGACY},20990101_000000_000000&points=50`);
    expect(r.status).toBe(200);
    expect(Object.keys(r.body.runs)).toEqual([YOLO, LEGACY]);
    expect(r.body.missing).toEqual(["20990101_000000_000000"]);
    expect(r.body.runs[LEGACY].series).toEqual({ acc: [0.5, 0.6], epoch: [0, null] });
    expect(r.body.runs[YOLO].sampled).toBe(true);
  });

  it("requires runs and validates the series options", async () => {
    const none = await srv.get("/api/compare/series");
    expect(none.status).toBe(422);
    expect(none.body.detail[0].loc).toEqual(["query", "runs"]);
    const bad = await srv.get(`/api/compare/series?runs=${YOLO}&x=bogus`);
    expect(bad.status).toBe(422);
    const many = await srv.get(`/api/compare/series?runs=${[...Array(51).keys()].map((i) => `r${i}`).join(",")}`);
    expect(many.status).toBe(400);
  });
});

describe("GET /api/runs/{id}/keys", () => {
  it("summarises every key and the stage segments", async () => {
    const r = await srv.get(`/api/runs/${YOLO}/keys`);
    expect(r.status).toBe(200);
    expect(r.body.run_id).toBe(YOLO);
    expect(r.body.keys.map((k: any) => k.key)).toEqual(["loss", "lr", "note", "stage", "time", "val_acc"]);
    expect(r.body.keys[0]).toEqual({ key: "loss", count: 300, numeric: true, min: 0.006666666666666667, max: 2, last: 0.006666666666666667, last_step: 300 });
    expect(r.body.keys[2]).toMatchObject({ key: "note", count: 3, numeric: false, min: null, max: null, last: "checkpoint-300" });
    expect(r.body.stages.map((s: any) => s.stage)).toEqual(["warmup", "train", "eval"]);
    expect(r.body.last_step).toBe(300);
    expect(r.body.total_steps).toBe(300);
  });
});

describe("images and media", () => {
  it("lists image events with a URL that serves the file with its content type", async () => {
    const r = await srv.get(`/api/runs/${YOLO}/images`);
    expect(r.body.images).toEqual([
      {
        key: "pred",
        step: 5,
        caption: "pred@5",
        path: "media/1795922975062_ff0bad_pred.png",
        ts: 1795922975.0625265,
        url: `/api/runs/${YOLO}/media/1795922975062_ff0bad_pred.png`,
      },
    ]);
    const res = await fetch(srv.url + r.body.images[0].url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/png");
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect(bytes).toEqual(new Uint8Array(readFileSync(join(srv.root, YOLO_DIR, "media/1795922975062_ff0bad_pred.png"))));
  });

  it("serves nothing outside the run's media folder: traversal, separators, symlinks, missing files", async () => {
    const media = join(srv.root, YOLO_DIR, "media");
    symlinkSync(join(srv.root, YOLO_DIR, "meta.json"), join(media, "link.png"));
    symlinkSync("/etc/hostname", join(media, "abs.png"));
    // "." and ".." never reach the route over HTTP (clients normalise the path): checked directly
    for (const name of [".", "..", "", "../meta.json", "a/../../meta.json"]) expect(mediaFile(join(srv.root, YOLO_DIR), name)).toBeUndefined();
    for (const name of ["..%2Fmeta.json", "%2E%2E%2Fmeta.json", "..%5Cmeta.json", "link.png", "abs.png", "nope.png", "%00.png", "x%2F..%2F..%2Fmeta.json"]) {
      const r = await srv.get(`/api/runs/${YOLO}/media/${name}`);
      expect([name, r.status]).toEqual([name, 404]);
    }
    const other = await srv.get(`/api/runs/20990101_000000_000000/media/1795922975062_ff0bad_pred.png`);
    expect(other.status).toBe(404);
    expect(other.body).toEqual({ detail: "Run not found" });
  });
});
