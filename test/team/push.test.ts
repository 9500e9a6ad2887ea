// `runicorn push --server` of runs the original SDK wrote (fixtures) to a team server: the team server then
// lists them as the file mode does and answers their metrics, keys, series and images byte for byte.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { copyFixture, type TestServer } from "../helpers/server.ts";
import { type Replica, runCli, startTeamCluster, type TeamCluster } from "./team-server.ts";

const FIXTURE = "rn-probe";

describe("runicorn push of original SDK runs to a team server", () => {
  let c: TeamCluster;
  let file: TestServer;
  let team: Replica;
  let token: string;
  let pushed: { code: number; stdout: string; stderr: string };
  const teamGet = (path: string) => fetch(team.url + path, { headers: { authorization: `Bearer ${token}` } });
  beforeAll(async () => {
    c = await startTeamCluster("push", { file: { fixture: FIXTURE } });
    ({ file, team, token } = c);
    const root = join(c.dir, "local-root");
    copyFixture(FIXTURE, root);
    pushed = runCli(["push", "--root", root, "--server", team.url], { RUNICORN_TOKEN: token, HOME: join(c.dir, "home") });
  }, 120_000);
  afterAll(async () => {
    await c?.close();
  });

  it("pushes every live run and lists them with the file mode's statuses, paths, aliases, tags and best metrics", async () => {
    expect({ code: pushed.code, stderr: pushed.stderr }).toEqual({ code: 0, stderr: "" });
    const fromFile = (await file.api("/api/runs")).body as Record<string, unknown>[];
    const fromTeam = (await (await teamGet("/api/runs")).json()) as Record<string, unknown>[];
    const pick = (rows: Record<string, unknown>[]) =>
      rows
        .map((r) => ({ id: r.id, status: r.status, path: r.path, alias: r.alias, tags: r.tags, best: r.best_metric_value, best_name: r.best_metric_name, created: r.created_time }))
        .sort((a, b) => String(a.id).localeCompare(String(b.id)));
    expect(fromFile.length).toBeGreaterThan(1);
    expect(pick(fromTeam)).toEqual(pick(fromFile));
  });

  it("answers the path tree, the bin and the stats of the pushed runs as the file mode does", async () => {
    for (const q of ["/api/paths?include_stats=true", "/api/paths/tree", "/api/projects", "/api/stats/runs"]) {
      const [a, b] = [await file.api(q), await teamGet(q)];
      expect({ q, body: await b.json() }).toEqual({ q, body: a.body });
    }
  });

  it("answers every pushed run's metrics_step, keys, series and images as the file mode does", async () => {
    const ids = ((await file.api("/api/runs")).body as { id: string }[]).map((r) => r.id);
    for (const id of ids) {
      for (const q of ["/metrics_step", "/metrics_step?downsample=100", "/keys", "/series", "/series?points=50&mode=minmax", "/images"]) {
        const path = `/api/runs/${id}${q}`;
        const [a, b] = await Promise.all([fetch(file.url + path).then((r) => r.text()), teamGet(path).then((r) => r.text())]);
        expect({ path, body: b }).toEqual({ path, body: a });
      }
    }
  });
});
