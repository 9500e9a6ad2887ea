// The Python client's analysis calls (issue 16) against a real server: list_runs(filter, include) as a pandas
// DataFrame with config.*/summary.*/metric.* columns, and compare_series (dict and DataFrame).
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { startTestServer, type TestServer, waitFor } from "../helpers/server.ts";
import { filesRuns, metricStat, writeSweep } from "./sweep.ts";

const REPO = join(import.meta.dir, "..", "..");
const RUNS = 12;
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  writeSweep(server.root, join(server.dir, "xdg"), RUNS);
  await waitFor(async () => (await server.api("/api/runs")).body.length === RUNS, 15000, "the sweep in the index");
  await waitFor(async () => (await server.api("/api/runs?include=metrics")).headers.get("x-metrics-pending") === "0", 20000, "metric fields");
}, 60000);

afterAll(async () => {
  await server?.close();
});

async function py(code: string): Promise<{ stdout: string; stderr: string; code: number }> {
  // Debian's python3 has pandas (.ci/run installs python3-pandas)
  const proc = Bun.spawn(["/usr/bin/python3", "-c", code, server.url], {
    env: { ...process.env, PYTHONPATH: join(REPO, "sdk", "python"), XDG_CONFIG_HOME: join(server.dir, "xdg"), RUNICORN_QUIET: "1" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { stdout, stderr, code: await proc.exited };
}

describe("Python client", () => {
  it("list_runs(filter=, include=) returns a DataFrame with config.*, summary.* and metric.* columns equal to the files", async () => {
    const p = await py(`import sys, json, runicorn.api as api
import pandas as pd
c = api.connect(sys.argv[1])
df = c.list_runs(filter="metric.loss.min < 0.1", include=["config", "summary", "metrics"])
assert isinstance(df, pd.DataFrame), type(df)
print(df[["id", "config.lr", "metric.loss.min", "metric.loss.count", "metric.acc.max"]].to_json(orient="records", double_precision=15))`);
    expect(p.stderr).toBe("");
    const rows = JSON.parse(p.stdout);
    const files = filesRuns(server.root);
    const want = files.filter((r) => (metricStat(r, "loss", "min") ?? Infinity) < 0.1);
    expect(rows.map((r: any) => r.id).sort()).toEqual(want.map((r) => r.id).sort());
    for (const row of rows) {
      const f = files.find((r) => r.id === row.id)!;
      expect(row["config.lr"]).toBe(f.config.lr);
      expect(row["metric.loss.min"]).toBeCloseTo(metricStat(f, "loss", "min") as number, 12);
      expect(row["metric.loss.count"]).toBe(metricStat(f, "loss", "count") as number);
      expect(row["metric.acc.max"]).toBeCloseTo(metricStat(f, "acc", "max") as number, 12);
    }
  });

  it("list_runs(as_dataframe=False) keeps the list of dicts, and flatten_run names metric columns like the filter", async () => {
    const p = await py(`import sys, json, runicorn.api as api
c = api.connect(sys.argv[1])
runs = c.list_runs(include=["metrics"], as_dataframe=False)
print(json.dumps({"type": type(runs).__name__, "cols": sorted(k for k in api.flatten_run(runs[0]) if k.startswith("metric."))}))`);
    expect(p.stderr).toBe("");
    const out = JSON.parse(p.stdout);
    expect(out.type).toBe("list");
    expect(out.cols).toContain("metric.loss.last");
    expect(out.cols).toContain("metric.loss.count");
  });

  it("compare_series groups by config.lr (dict and long DataFrame agree with the API)", async () => {
    const ids = filesRuns(server.root).map((r) => r.id);
    const p = await py(`import sys, json, runicorn.api as api
c = api.connect(sys.argv[1])
ids = ${JSON.stringify(ids)}
d = c.compare_series(ids, "loss", group_by="config.lr", agg=["mean", "std"])
df = c.compare_series(ids, "loss", group_by="config.lr", agg=["mean", "std"], as_dataframe=True)
print(json.dumps({"d": d, "cols": list(df.columns), "n": len(df), "means": df.sort_values(["config.lr", "x"])["mean"].tolist()}))`);
    expect(p.stderr).toBe("");
    const out = JSON.parse(p.stdout);
    const api = await server.api(`/api/compare/series?run_ids=${ids.join(",")}&keys=loss&group_by=config.lr&agg=mean,std`);
    expect(out.d).toEqual(api.body);
    expect(out.cols).toEqual(["key", "config.lr", "x", "mean", "std", "count", "runs"]);
    const groups = api.body.series[0].groups;
    expect(out.n).toBe(groups.reduce((a: number, g: any) => a + g.x.length, 0));
    expect(out.means).toEqual(groups.flatMap((g: any) => g.mean));
  });

  it("compare_series raises BadRequestError with the server's detail for an unknown agg", async () => {
    const p = await py(`import sys, runicorn.api as api
c = api.connect(sys.argv[1])
try:
    c.compare_series(["x"], "loss", agg=["median"])
except api.BadRequestError as e:
    print(e.status, e.detail)`);
    expect(p.stdout.trim()).toBe('400 Unknown agg "median": use mean, std, min, max');
  });
});
