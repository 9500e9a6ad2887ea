// GET /api/compare/series grouped form (issue 16): a Python SDK sweep grouped by config fields, every
// aggregate checked against a direct computation from the events files; bucketing, time axis, bad input.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { startTestServer, type TestServer, waitFor } from "../helpers/server.ts";
import { type FileRun, filesRuns, numeric, writeSweep } from "./sweep.ts";

const RUNS = 18;
let server: TestServer;
let runs: FileRun[];

beforeAll(async () => {
  server = await startTestServer();
  writeSweep(server.root, join(server.dir, "xdg"), RUNS);
  await waitFor(async () => (await server.api("/api/runs")).body.length === RUNS, 15000, "the sweep in the index");
  runs = filesRuns(server.root);
}, 60000);

afterAll(async () => {
  await server?.close();
});

const q = (params: Record<string, string>) => `/api/compare/series?${new URLSearchParams(params)}`;

/** Per step: the finite values of `key` of these runs (a step's value is the run's mean there). */
function expectedByStep(group: FileRun[], key: string): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const r of group) {
    const perStep = new Map<number, number[]>();
    for (const row of r.events.get(key) ?? []) {
      const v = numeric(row.value);
      if (v === undefined) continue;
      if (!perStep.has(row.step)) perStep.set(row.step, []);
      perStep.get(row.step)!.push(v);
    }
    for (const [step, vs] of perStep) {
      if (!out.has(step)) out.set(step, []);
      out.get(step)!.push(vs.reduce((a, b) => a + b, 0) / vs.length);
    }
  }
  return out;
}

function checkGroup(g: any, group: FileRun[], key: string) {
  expect([...g.runs].sort()).toEqual(group.map((r) => r.id).sort());
  const want = expectedByStep(group, key);
  const steps = [...want.keys()].sort((a, b) => a - b);
  expect(g.x).toEqual(steps);
  steps.forEach((s, i) => {
    const vs = want.get(s)!;
    const mean = vs.reduce((a, b) => a + b, 0) / vs.length;
    const std = Math.sqrt(vs.reduce((a, b) => a + (b - mean) ** 2, 0) / vs.length);
    expect(g.count[i]).toBe(vs.length);
    expect(g.mean[i]).toBeCloseTo(mean, 10);
    expect(g.std[i]).toBeCloseTo(std, 10);
    expect(g.min[i]).toBe(Math.min(...vs));
    expect(g.max[i]).toBe(Math.max(...vs));
  });
}

describe("grouped series", () => {
  it("groups by config.lr and matches mean/std/min/max/count computed from the files at every step", async () => {
    const res = await server.api(q({ run_ids: runs.map((r) => r.id).join(","), key: "loss", group_by: "config.lr", agg: "mean,std,min,max" }));
    expect(res.status).toBe(200);
    const lrs = [...new Set(runs.map((r) => r.config.lr))].sort((a, b) => a - b);
    const groups = res.body.series[0].groups;
    expect(res.body.series[0].key).toBe("loss");
    expect(groups.map((g: any) => g.key)).toEqual(lrs.map((lr) => ({ "config.lr": lr })));
    for (const g of groups) checkGroup(g, runs.filter((r) => r.config.lr === g.key["config.lr"]), "loss");
    expect(res.body.missing_runs).toEqual([]);
  });

  it("groups by two fields and aggregates a sparse key (acc is logged every 2nd–4th step)", async () => {
    const res = await server.api(q({ run_ids: runs.map((r) => r.id).join(","), keys: "acc", group_by: "config.lr,config.optimizer" }));
    expect(res.status).toBe(200);
    const groups = res.body.series[0].groups;
    const combos = new Set(runs.map((r) => JSON.stringify([r.config.lr, r.config.optimizer])));
    expect(groups.length).toBe(combos.size);
    for (const g of groups) {
      checkGroup(g, runs.filter((r) => r.config.lr === g.key["config.lr"] && r.config.optimizer === g.key["config.optimizer"]), "acc");
    }
  });

  it("without group_by puts every run in one group with an empty key", async () => {
    const pick = runs.slice(0, 7);
    const res = await server.api(q({ run_ids: pick.map((r) => r.id).join(","), key: "loss" }));
    expect(res.body.series[0].groups.length).toBe(1);
    expect(res.body.series[0].groups[0].key).toEqual({});
    checkGroup(res.body.series[0].groups[0], pick, "loss");
  });

  it("returns only the aggregates asked for, and count always", async () => {
    const res = await server.api(q({ run_ids: runs[0].id, key: "loss", agg: "max" }));
    const g = res.body.series[0].groups[0];
    expect(Object.keys(g).sort()).toEqual(["count", "key", "max", "runs", "x"]);
  });

  it("downsamples into at most `points` buckets whose mean lies between min and max", async () => {
    const res = await server.api(q({ run_ids: runs.map((r) => r.id).join(","), key: "loss", points: "10" }));
    const g = res.body.series[0].groups[0];
    expect(g.x.length).toBeLessThanOrEqual(10);
    expect(g.x.length).toBeGreaterThan(1);
    for (let i = 0; i < g.x.length; i++) {
      expect(g.min[i]).toBeLessThanOrEqual(g.mean[i] + 1e-12);
      expect(g.mean[i]).toBeLessThanOrEqual(g.max[i] + 1e-12);
      expect(g.count[i]).toBeLessThanOrEqual(RUNS);
      if (i) expect(g.x[i]).toBeGreaterThan(g.x[i - 1]);
    }
  });

  it("on the time axis gives seconds since each run's first row, starting at 0", async () => {
    const res = await server.api(q({ run_ids: runs[0].id, key: "loss", x: "time", points: "1000" }));
    expect(res.status).toBe(200);
    const g = res.body.series[0].groups[0];
    expect(g.x[0]).toBeCloseTo(0, 6);
    expect(g.x.length).toBeGreaterThan(1);
    expect(res.body.x).toBe("time");
  });

  it("lists unknown run ids in missing_runs and still answers for the others", async () => {
    const res = await server.api(q({ run_ids: `${runs[0].id},nope_1,${runs[1].id}`, key: "loss", group_by: "config.seed" }));
    expect(res.status).toBe(200);
    expect(res.body.missing_runs).toEqual(["nope_1"]);
    expect(res.body.series[0].groups.flatMap((g: any) => g.runs).sort()).toEqual([runs[0].id, runs[1].id].sort());
  });

  it("puts runs missing a group field into a group keyed null, listed last", async () => {
    const res = await server.api(q({ run_ids: runs.map((r) => r.id).join(","), key: "loss", group_by: "summary.final_acc" }));
    const groups = res.body.series[0].groups;
    const last = groups[groups.length - 1];
    expect(last.key).toEqual({ "summary.final_acc": null });
    expect(last.runs).toEqual(runs.filter((r) => r.summary.final_acc === undefined).map((r) => r.id));
  });

  it("keeps the plain compare (runs=…) answering as before", async () => {
    const res = await server.api(`/api/compare/series?runs=${runs[0].id}&keys=loss`);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body.runs)).toEqual([runs[0].id]);
  });
});

describe("bad input", () => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ["an unknown agg", { run_ids: "a", key: "loss", agg: "mean,median" }, /Unknown agg "median"/],
    ["no key", { run_ids: "a" }, /key is required/],
    ["no run_ids", { key: "loss", group_by: "config.lr" }, /run_ids is required/],
    ["too many runs", { run_ids: Array.from({ length: 1001 }, (_, i) => `r${i}`).join(","), key: "loss" }, /more than 1000 runs/],
    ["a bad x", { run_ids: "a", key: "loss", x: "epoch" }, /x must be step or time/],
    ["points out of range", { run_ids: "a", key: "loss", points: "1" }, /points must be an integer/],
    ["points not a number", { run_ids: "a", key: "loss", points: "12abc" }, /points must be an integer/],
    ["a malformed group_by field", { run_ids: "a", key: "loss", group_by: "config.(" }, /Invalid group_by field/],
    ["an unknown group_by field", { run_ids: "a", key: "loss", group_by: "bogus" }, /Unknown group_by field "bogus"/],
  ];
  for (const [what, params, detail] of cases) {
    it(`answers ${what} with 400 and a clear detail`, async () => {
      const res = await server.api(q(params));
      expect(res.status).toBe(400);
      expect(res.body.detail).toMatch(detail);
    });
  }
});
