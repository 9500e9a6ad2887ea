// metric.<key>.last|min|max|count (issue 16): a sweep written by the Python SDK, filtered and sorted through
// GET /api/runs and checked against the events files; include=metrics; runs not ingested yet; live runs.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer, waitFor } from "../helpers/server.ts";
import { type FileRun, filesRuns, metricStat, writeSweep } from "./sweep.ts";

const RUNS = 20;
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  writeSweep(server.root, join(server.dir, "xdg"), RUNS);
  await waitFor(async () => (await server.api("/api/runs")).body.length === RUNS, 15000, "the sweep in the index");
}, 60000);

afterAll(async () => {
  await server?.close();
});

const ids = (body: any[]) => body.map((r) => r.id).sort();

/** Lists with a metric filter until no run's metrics are pending any more. */
async function settled(query: string): Promise<Awaited<ReturnType<TestServer["api"]>>> {
  const res = await waitFor(async () => {
    const r = await server.api(`/api/runs?${query}`);
    return r.headers.get("x-metrics-pending") === "0" ? r : undefined;
  }, 20000, "metric fields of every run");
  return res!;
}

describe("runs whose metrics are not ingested yet", () => {
  it("are counted in X-Metrics-Pending and ingested in the background until it reads 0", async () => {
    const first = await server.api(`/api/runs?filter=${encodeURIComponent("metric.loss.count > 0")}`);
    expect(first.status).toBe(200);
    expect(Number(first.headers.get("x-metrics-pending"))).toBeGreaterThanOrEqual(0);
    expect(Number(first.headers.get("x-metrics-pending"))).toBeLessThanOrEqual(RUNS);
    const res = await settled(`filter=${encodeURIComponent("metric.loss.count > 0")}`);
    expect(res.body.length).toBe(RUNS);
  }, 30000);
});

describe("GET /api/runs?filter= with metric fields", () => {
  const n = (v: number | null | undefined) => (typeof v === "number" ? v : undefined);
  const cases: [string, (r: FileRun) => boolean][] = [
    ['metric.loss.min < 0.5 and status == "finished"', (r) => (n(metricStat(r, "loss", "min")) ?? Infinity) < 0.5 && r.status === "finished"],
    ["metric.loss.min < 0.02", (r) => (n(metricStat(r, "loss", "min")) ?? Infinity) < 0.02],
    ["metric.loss.last > 0.05", (r) => (n(metricStat(r, "loss", "last")) ?? -Infinity) > 0.05],
    ["metric.loss.last == null", (r) => metricStat(r, "loss", "last") == null],
    ["metric.loss.max >= 0.5", (r) => (n(metricStat(r, "loss", "max")) ?? -Infinity) >= 0.5],
    ["metric.loss.count == 30", (r) => metricStat(r, "loss", "count") === 30],
    ["metric.loss.count in [15, 20]", (r) => [15, 20].includes(metricStat(r, "loss", "count") as number)],
    ["metric.acc.max > 0.8 or metric.acc.count < 8", (r) => (n(metricStat(r, "acc", "max")) ?? -1) > 0.8 || (n(metricStat(r, "acc", "count")) ?? Infinity) < 8],
    ["not (metric.acc.last >= 0.7)", (r) => metricStat(r, "acc", "last") !== undefined && metricStat(r, "acc", "last") !== null && !((metricStat(r, "acc", "last") as number) >= 0.7)],
    ["metric.flag.count > 0", (r) => (n(metricStat(r, "flag", "count")) ?? 0) > 0],
    ["metric.flag.max == 1", (r) => metricStat(r, "flag", "max") === 1],
    ["config.lr == 0.01 and metric.loss.min < 0.05 and summary.final_acc > 0.6", (r) => r.config.lr === 0.01 && (n(metricStat(r, "loss", "min")) ?? Infinity) < 0.05 && (r.summary.final_acc ?? -1) > 0.6],
    ["config.lr <= 0.001 and metric.acc.max > 0.75", (r) => r.config.lr <= 0.001 && (n(metricStat(r, "acc", "max")) ?? -1) > 0.75],
    ['config.optimizer == "adam" and metric.loss.last < 0.1', (r) => r.config.optimizer === "adam" && (n(metricStat(r, "loss", "last")) ?? Infinity) < 0.1],
    ["metric.nope.min < 1", () => false],
    ["metric.loss.min != null", (r) => metricStat(r, "loss", "min") != null],
  ];
  for (const [expr, want] of cases) {
    it(`selects exactly the runs the events files say for: ${expr}`, async () => {
      const res = await settled(`filter=${encodeURIComponent(expr)}`);
      expect(res.status).toBe(200);
      const expected = filesRuns(server.root).filter(want).map((r) => r.id).sort();
      expect(ids(res.body)).toEqual(expected);
      expect(res.headers.get("x-total-count")).toBe(String(expected.length));
    }, 30000);
  }

  it("lists a metric no run logged in X-Unknown-Fields once every run is ingested", async () => {
    const res = await settled(`filter=${encodeURIComponent("metric.nope.min < 1 or metric.loss.min > 0")}`);
    expect(res.headers.get("x-unknown-fields")).toBe("metric.nope.min");
    expect(res.body.length).toBe(RUNS);
  });

  it("treats metric.<key> without a statistic as an unknown field", async () => {
    const res = await settled(`filter=${encodeURIComponent("metric.loss > 0")}`);
    expect(res.status).toBe(200);
    expect(res.body.length).toBe(0);
    expect(res.headers.get("x-unknown-fields")).toBe("metric.loss");
  });
});

describe("include=metrics and sort", () => {
  it("adds each run's per-key last/min/max/count, equal to the files", async () => {
    const res = await settled("include=metrics,config");
    const byId = new Map(filesRuns(server.root).map((r) => [r.id, r]));
    expect(res.body.length).toBe(RUNS);
    for (const item of res.body) {
      const f = byId.get(item.id)!;
      const keys = [...f.events.keys()].filter((k) => metricStat(f, k, "count") !== undefined).sort();
      expect(Object.keys(item.metrics).sort()).toEqual(keys);
      for (const k of keys) {
        for (const stat of ["last", "min", "max", "count"] as const) {
          const want = metricStat(f, k, stat);
          if (typeof want === "number") expect(item.metrics[k][stat]).toBeCloseTo(want, 12);
          else expect(item.metrics[k][stat]).toBeNull();
        }
      }
      expect(item.config.lr).toBe(f.config.lr);
    }
  });

  it("sorts by metric.loss.min in either order", async () => {
    const asc = (await settled("sort=metric.loss.min&order=asc&include=metrics")).body.map((r: any) => r.metrics.loss.min);
    expect(asc.length).toBe(RUNS);
    expect(asc).toEqual([...asc].sort((a: number, b: number) => a - b));
    const desc = (await settled("sort=metric.loss.min&order=desc&include=metrics")).body.map((r: any) => r.metrics.loss.min);
    expect(desc).toEqual([...asc].reverse());
  });

  it("pages a filtered, sorted list exactly as slices of the whole list, with the total before paging", async () => {
    const f = encodeURIComponent("metric.loss.count >= 15");
    for (const sort of ["", "&sort=metric.loss.min&order=asc", "&sort=config.lr&order=desc", "&sort=summary.final_acc&order=asc"]) {
      const all = (await settled(`filter=${f}${sort}`)).body.map((r: any) => r.id);
      for (const [limit, offset] of [[5, 0], [5, 5], [7, 10], [50, 0], [3, 100]]) {
        const page = await settled(`filter=${f}${sort}&limit=${limit}&offset=${offset}&include=metrics`);
        expect(page.body.map((r: any) => r.id)).toEqual(all.slice(offset, offset + limit));
        expect(page.headers.get("x-total-count")).toBe(String(all.length));
        for (const item of page.body) expect(item.metrics.loss.count).toBeGreaterThanOrEqual(15);
      }
    }
  });

  it("refuses a sort on metric.<key> without a statistic", async () => {
    const res = await server.api("/api/runs?sort=metric.loss");
    expect(res.status).toBe(400);
    expect(res.body.detail).toContain("metric.loss");
  });
});

describe("a run that keeps logging", () => {
  it("has its metric fields follow new lines of its events file", async () => {
    const run = filesRuns(server.root).find((r) => r.events.has("loss"))!;
    const before = (await settled(`filter=${encodeURIComponent(`run_id == "${run.id}"`)}&include=metrics`)).body[0].metrics.loss;
    const step = 10_000;
    appendFileSync(join(run.dir, "events.jsonl"), JSON.stringify({ ts: Date.now() / 1000, type: "metrics", data: { loss: -5, global_step: step, time: Date.now() / 1000 } }) + "\n");
    // a chart read (the UI's live path) or the watcher brings the rows in; the fields follow in the same commit
    await server.api(`/api/runs/${run.id}/series?keys=loss`);
    const after = await waitFor(async () => {
      const res = await server.api(`/api/runs?filter=${encodeURIComponent("metric.loss.min == -5")}&include=metrics`);
      return res.body.length === 1 ? res.body[0] : undefined;
    }, 10000, "the new minimum");
    expect(after.id).toBe(run.id);
    expect(after.metrics.loss).toEqual({ last: -5, min: -5, max: before.max, count: before.count + 1 });
  });
});
