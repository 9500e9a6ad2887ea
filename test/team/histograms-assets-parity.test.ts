// Histograms and assets on a team server: the same run sent to a file-mode server and to a team server through
// the one ingest route gives byte-identical /histograms answers and equal /assets answers.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { type TestServer, waitFor } from "../helpers/server.ts";
import { type Replica, startTeamCluster, type TeamCluster } from "./team-server.ts";

const ID = "20260111_000000_415700";

/** rn.Histogram records as the SDK writes them to histograms.jsonl, with a re-logged step and malformed lines. */
function histograms(from: number, n: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (let s = from; s < from + n; s++) {
    out.push({ key: "weights", step: s, ts: 1767225600 + s, edges: [0, 1, 2, 3], counts: [s, s + 1, 2], count: 2 * s + 3, sum: s * 1.5, min: 0, max: 3 });
    if (s % 3 === 0) out.push({ key: "grads/layer.0", step: s * 10, edges: [-1, 0, 1], counts: [1, s] });
  }
  return out;
}

const ASSETS = { config: { args: { lr: 0.1 } }, code: { snapshot: { path: "archives/x.zip" } }, outputs: [{ name: "model.pt" }] };

const QUERIES = [
  `/api/runs/${ID}/histograms`,
  `/api/runs/${ID}/histograms?key=weights`,
  `/api/runs/${ID}/histograms?key=weights&points=7`,
  `/api/runs/${ID}/histograms?key=weights&from=10&to=30&points=5`,
  `/api/runs/${ID}/histograms?key=grads/layer.0`,
  `/api/runs/${ID}/histograms?key=nope`,
  `/api/runs/${ID}/histograms?key=weights&points=1`,
  `/api/runs/${ID}/histograms?key=weights&from=x`,
  `/api/runs/${ID}/assets`,
  `/api/runs/${ID}/assets/refs`,
  `/api/runs/20260111_000000_000000/histograms`,
  `/api/runs/20260111_000000_000000/assets`,
];

describe("histograms and assets on a team server", () => {
  let c: TeamCluster;
  let file: TestServer;
  let team: Replica;
  let token: string;
  beforeAll(async () => {
    c = await startTeamCluster("hist", { file: true });
    ({ file, team, token } = c);
    // the same requests to both modes (the one ingest contract)
    await c.postBoth("/api/ingest/runs", { run_id: ID, path: "hist", meta: {}, status: { status: "running" }, assets: { config: {} } });
    await c.postBoth(`/api/ingest/runs/${ID}/batches`, { seq: 1, histograms: histograms(0, 25) });
    // step 5 logged again (the last one wins), a line with bad bins for step 7, a line of another shape
    const again = [
      { key: "weights", step: 5, edges: [0, 10], counts: [99] },
      { key: "weights", step: 7, edges: [0, 1], counts: [1, 2, 3] },
      { note: "not a histogram" },
    ];
    await c.postBoth(`/api/ingest/runs/${ID}/batches`, { seq: 2, histograms: [...histograms(25, 25), ...again], assets: ASSETS, status: { status: "finished" } });
    await waitFor(async () => (await file.api(`/api/runs/${ID}`)).body?.status === "finished", 20_000, "file mode indexed the run");
  }, 120_000);
  afterAll(async () => {
    await c?.close();
  });

  it("gives byte-identical histogram answers and equal assets answers in both modes", async () => {
    for (const q of QUERIES) {
      const [a, b] = await Promise.all([fetch(file.url + q), fetch(team.url + q, { headers: { authorization: `Bearer ${token}` } })]);
      const [ta, tb] = [await a.text(), await b.text()];
      expect({ q, status: b.status }).toEqual({ q, status: a.status });
      // jsonb keeps an object's keys in its own order (docs/TEAM.md): assets.json compares as JSON
      if (q.endsWith("/assets")) expect({ q, body: JSON.parse(tb) }).toEqual({ q, body: JSON.parse(ta) });
      else expect({ q, body: tb }).toEqual({ q, body: ta });
    }
  });

  it("keeps the last histogram logged for a step and leaves out a step whose last line is malformed", async () => {
    const res = await fetch(`${team.url}/api/runs/${ID}/histograms?key=weights&points=100`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as { steps: { step: number; counts: number[] }[]; total: number };
    expect(body.steps.find((s) => s.step === 5)?.counts).toEqual([99]);
    expect(body.steps.some((s) => s.step === 7)).toBe(false);
    expect(body.total).toBe(49);
  });
});
