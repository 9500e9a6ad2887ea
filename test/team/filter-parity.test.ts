// The filter language, sort and include= on a team server (compiled to PostgreSQL) select and order the same
// runs as the file mode (compiled to SQLite) for the same runs, sent to both through the one ingest route.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { type TestServer, waitFor } from "../helpers/server.ts";
import { type Replica, startTeamCluster, type TeamCluster } from "./team-server.ts";

/** Twelve runs with config, summary, tags, aliases, statuses and metrics of several shapes. */
const RUNS = Array.from({ length: 12 }, (_, i) => ({
  run_id: `20260107_0000${String(i).padStart(2, "0")}_f11e00`,
  path: ["vision/cnn", "vision/vit", "nlp", ""][i % 4],
  meta: { created_at: 1767225600 + i * 60, alias: i % 3 === 0 ? `run-${i}` : undefined, tags: i % 2 ? ["best", `t${i}`] : [`t${i}`], hostname: `gpu${i % 2}` },
  status: { status: "running", started_at: 1767225600 + i * 60 },
  assets: {
    config: {
      args: { lr: [0.1, 0.01, 0.001][i % 3], seed: i, optimizer: i % 2 ? "adam" : "sgd", flag: i % 4 === 0 },
      extra: i % 5 === 0 ? { "optim.beta": 0.9, note: null } : { deep: { x: i } },
    },
  },
  events: Array.from({ length: 5 + i }, (_, s) => ({ ts: 1767225600 + s, type: "metrics", data: { global_step: s, loss: 1 / (s + 1 + i), acc: (s * i) % 7 } })),
  summary: i % 6 === 5 ? { final_acc: "n/a" } : { final_acc: i / 12, best: i % 4 === 1 ? true : i },
  finish: i % 4 !== 3 ? { status: i % 5 === 2 ? "failed" : "finished", ended_at: 1767225600 + i * 60 + 30 + i } : undefined,
}));

const FILTERS = [
  "config.lr <= 0.01",
  "config.lr == 0.1 and summary.final_acc > 0.3",
  "not (config.seed in [0, 1, 2])",
  'config.optimizer == "adam" or tags contains "t4"',
  'path ~ "vision/*"',
  "path == null",
  'path != "nlp"',
  'tags ~ "t1*"',
  'alias == null',
  'alias != null',
  'summary.final_acc == "n/a"',
  "summary.final_acc < 2",
  "summary.best == true",
  "summary.best != true",
  "config.flag == false",
  "config.optim.beta == 0.9",
  "config.note == null",
  "config.deep.x >= 6",
  'status in ["failed", "running"]',
  'status != "finished"',
  "metric.loss.min < 0.06",
  "metric.acc.max == 6",
  "metric.loss.count > 10",
  "duration > 35",
  'host == "gpu1" and created_at > 1767226000',
  'run_id ~ "*_000003_*"',
  "config.missing == 1",
  "config.missing != 1",
  'notes contains "x"',
  // a string where a number is compared: never equal, never ordered, and never a cast error
  'config.optimizer in [1, "adam"]',
  "config.optimizer == 1",
  "config.optimizer < 3",
  "summary.final_acc in [0.5, true, null]",
];

const SORTS = ["created_time", "config.lr", "summary.final_acc", "metric.loss.last", "alias", "path", "duration", "config.seed"];

describe("the filter language on a team server", () => {
  let c: TeamCluster;
  let file: TestServer;
  let team: Replica;
  let token: string;
  const teamGet = (path: string) => fetch(team.url + path, { headers: { authorization: `Bearer ${token}` } });

  beforeAll(async () => {
    c = await startTeamCluster("filter", { file: true });
    ({ file, team, token } = c);
    // the same requests to both modes (the one ingest contract)
    for (const r of RUNS) {
      await c.postBoth("/api/ingest/runs", { run_id: r.run_id, path: r.path, meta: r.meta, status: r.status, assets: r.assets });
      await c.postBoth(`/api/ingest/runs/${r.run_id}/batches`, { seq: 1, events: r.events, summary: r.summary, ...(r.finish ? { status: r.finish } : {}) });
    }
    // the file mode indexes what the ingest wrote, and its metric fields, in the background
    await waitFor(async () => {
      const res = await file.api("/api/runs?filter=metric.loss.count%20%3E%200");
      return res.status === 200 && res.body.length === RUNS.length && res.headers.get("x-metrics-pending") === "0";
    }, 30_000, "file mode indexed the runs and their metrics");
  }, 120_000);
  afterAll(async () => {
    await c?.close();
  });

  const ids = (body: { id: string }[]) => body.map((r) => r.id);

  it("selects the same runs as the file mode for every filter, and the same total", async () => {
    for (const f of FILTERS) {
      const q = `/api/runs?filter=${encodeURIComponent(f)}&sort=id&order=asc`;
      const [a, b] = [await file.api(q), await teamGet(q)];
      const body = (await b.json()) as { id: string }[];
      expect({ f, status: b.status, ids: ids(body) }).toEqual({ f, status: 200, ids: ids(a.body) });
      expect({ f, total: b.headers.get("x-total-count") }).toEqual({ f, total: a.headers.get("x-total-count") });
    }
  });

  it("orders by list columns and by filter fields as the file mode does, both ways, with paging", async () => {
    for (const sort of SORTS) {
      for (const order of ["asc", "desc"]) {
        for (const page of ["", "&limit=5&offset=3"]) {
          const q = `/api/runs?sort=${sort}&order=${order}${page}`;
          const [a, b] = [await file.api(q), await teamGet(q)];
          expect({ q, status: b.status, ids: ids((await b.json()) as { id: string }[]) }).toEqual({ q, status: 200, ids: ids(a.body) });
        }
      }
    }
  });

  it("adds config, summary and metrics to each item with include=", async () => {
    const q = "/api/runs?include=config,summary,metrics&sort=id&order=asc";
    const [a, b] = [await file.api(q), await teamGet(q)];
    const teamBody = (await b.json()) as Record<string, unknown>[];
    const pick = (rows: Record<string, unknown>[]) => rows.map((r) => ({ id: r.id, config: r.config, summary: r.summary, metrics: r.metrics }));
    expect(pick(teamBody)).toEqual(pick(a.body));
    expect(teamBody[1].config).toMatchObject({ lr: 0.01, seed: 1 });
  });

  it("groups and aggregates runs in the grouped compare as the file mode does", async () => {
    const ids = RUNS.map((r) => r.run_id).join(",");
    const queries = [
      `run_ids=${ids}&key=loss`,
      `run_ids=${ids}&key=loss&group_by=config.lr&points=20`,
      `run_ids=${ids},20260107_009999_000000&keys=loss,acc&group_by=config.optimizer,status&agg=mean,max`,
      `run_ids=${ids}&key=acc&group_by=metric.loss.count&x=time&points=10`,
      `run_ids=${ids}&key=loss&group_by=tags`,
      `run_ids=${ids}&key=loss&group_by=nope`,
      `run_ids=${ids}&key=loss&agg=median`,
      "key=loss",
    ];
    for (const qs of queries) {
      const q = `/api/compare/series?${qs}`;
      const [a, b] = [await file.api(q), await teamGet(q)];
      expect({ q, status: b.status, body: await b.json() }).toEqual({ q, status: a.status, body: a.body });
    }
  });

  it("counts runs by status as the file mode does", async () => {
    const [a, b] = [await file.api("/api/stats/runs"), await teamGet("/api/stats/runs")];
    expect(await b.json()).toEqual(a.body);
  });

  it("refuses a malformed filter and an unknown sort key with a 400 naming the problem, as the file mode does", async () => {
    for (const q of ["/api/runs?filter=config.lr%20%3C%3D", "/api/runs?filter=(a", "/api/runs?sort=nope"]) {
      const [a, b] = [await file.api(q), await teamGet(q)];
      expect({ q, status: b.status, body: await b.json() }).toEqual({ q, status: 400, body: a.body });
    }
  });

  it("names filter fields no run has in X-Unknown-Fields", async () => {
    const res = await teamGet(`/api/runs?filter=${encodeURIComponent("config.missing == 1 or summary.final_acc > 0")}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-unknown-fields")).toBe("config.missing");
  });
});
