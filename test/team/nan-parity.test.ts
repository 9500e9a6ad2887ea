// NaN and ±Infinity over the ingest contract: the same Python script logged to a file root and to a team
// server (RUNICORN_SERVER) gives byte-identical metric answers (docs/TEAM.md, "NaN and Infinity").
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { isolatedEnv, type TestServer, waitFor } from "../helpers/server.ts";
import { PY_SDK } from "../reliability/helpers.ts";
import { type Replica, startTeamCluster, type TeamCluster } from "./team-server.ts";

const RUN_ID = "20260104_000000_a0a0a0";

/** Logs NaN, ±Infinity, a NaN-only column and plain values; the SDK's clock is fixed so both runs log the same bytes. */
const SCRIPT = `
import runicorn as rn, runicorn.sdk as sdk
clock = [1767225600.0]
def fixed():
    clock[0] += 0.25
    return clock[0]
run = rn.init(path="nan/check", run_id="${RUN_ID}")
sdk._time = fixed
for i in range(300):
    v = float("nan") if i % 7 == 3 else float("inf") if i % 11 == 5 else float("-inf") if i % 13 == 6 else 1.0 / (i + 1)
    run.log({"loss": v, "acc": i / 300.0, "never": float("nan"), "big": 1e308 * 10 if i == 42 else i}, step=i)
run.summary({"best": float("inf"), "worst": float("nan")})
run.finish()
`;

const QUERIES = [
  "/metrics_step",
  "/metrics_step?downsample=100",
  "/keys",
  "/series",
  "/series?points=50",
  "/series?points=60&mode=minmax",
  "/series?keys=loss,never&from=10&to=120",
  "/series?x=time&points=40",
];

async function python(env: Record<string, string>): Promise<void> {
  const p = Bun.spawn(["python3", "-c", SCRIPT], { env: { ...env, PYTHONPATH: PY_SDK, RUNICORN_QUIET: "1" }, stdout: "pipe", stderr: "pipe" });
  const stderr = await new Response(p.stderr).text();
  if ((await p.exited) !== 0) throw new Error(`python failed: ${stderr}`);
}

describe("NaN and Infinity logged by the Python SDK", () => {
  let c: TeamCluster;
  let file: TestServer;
  let team: Replica;
  let token: string;
  beforeAll(async () => {
    c = await startTeamCluster("nan", { file: true });
    ({ file, team, token } = c);
    await python({ ...isolatedEnv(join(c.dir, "to-file")), RUNICORN_DIR: file.root });
    await python({ ...isolatedEnv(join(c.dir, "to-team")), RUNICORN_SERVER: team.url, RUNICORN_TOKEN: token });
    await waitFor(async () => (await file.api(`/api/runs/${RUN_ID}`)).body?.status === "finished", 20_000, "the file run indexed");
  }, 120_000);
  afterAll(async () => {
    await c?.close();
  });

  it("gives byte-identical metrics_step, keys and series bodies from a file root and from a team server", async () => {
    const auth = { authorization: `Bearer ${token}` };
    for (const q of QUERIES) {
      const path = `/api/runs/${RUN_ID}${q}`;
      const [fromFile, fromTeam] = await Promise.all([fetch(file.url + path), fetch(team.url + path, { headers: auth })]);
      const [a, b] = [await fromFile.text(), await fromTeam.text()];
      expect({ path, status: fromTeam.status }).toEqual({ path, status: fromFile.status });
      expect({ path, body: b }).toEqual({ path, body: a });
    }
  }, 60_000);

  it("answers the non-finite values as null and keeps the finite ones", async () => {
    const res = await fetch(`${team.url}/api/runs/${RUN_ID}/metrics_step`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as { rows: Record<string, unknown>[] };
    const row = (step: number) => body.rows.find((r) => r.global_step === step)!;
    expect(body.rows.length).toBe(300);
    expect(row(3).loss).toBeNull();
    expect(row(5).loss).toBeNull();
    expect(row(6).loss).toBeNull();
    expect(row(42).big).toBeNull();
    expect(row(2).loss as number).toBeCloseTo(1 / 3, 12);
    expect(row(2).never).toBeNull();
  });

  it("stores the run's summary with its non-finite values as null in both modes", async () => {
    const [a, b] = await Promise.all([
      file.api(`/api/runs/${RUN_ID}`),
      fetch(`${team.url}/api/runs/${RUN_ID}`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.json() as Promise<{ summary: unknown }>),
    ]);
    expect(b.summary).toEqual(a.body.summary);
    expect(b.summary).toEqual({ best: null, worst: null });
  });
});
