// System metrics, images, compare and CSV export on a team server: the same runs sent to a file-mode server and to a
// team server through the one ingest route give byte-identical keys, series (sys/… keys included), compare
// series, image lists and CSV answers.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { type TestServer, waitFor } from "../helpers/server.ts";
import { type Replica, startTeamCluster, type TeamCluster } from "./team-server.ts";

const A = "20260109_000000_5e5a01";
const B = "20260109_000000_5e5a02";

function metrics(run: number, from: number, n: number) {
  return Array.from({ length: n }, (_, i) => {
    const step = from + i;
    const data: Record<string, unknown> = { global_step: step, time: 1767225600 + step, loss: 1 / (step + 1 + run), epoch: Math.floor(step / 50) };
    if (step % 10 === 0) data.stage = step < 100 ? "warmup" : "train";
    if (step % 25 === 0) data.flag = step % 50 === 0;
    return { ts: 1767225600 + step, type: "metrics", data };
  });
}

/** System samples as the SDK writes them to system.jsonl: the row key `step` is the sample's time in ms. */
function system(from: number, n: number) {
  return Array.from({ length: n }, (_, i) => {
    const ts = 1767225600 + (from + i) * 2;
    return { ts, type: "system", data: { step: ts * 1000, time: ts, "sys/cpu": ((from + i) * 7) % 100, "sys/gpu0_util": ((from + i) * 13) % 100 } };
  });
}

const QUERIES = [
  `/api/runs/${A}/keys`,
  `/api/runs/${A}/series?keys=loss,sys/cpu`,
  `/api/runs/${A}/series?keys=sys/cpu,sys/gpu0_util&x=time&points=20`,
  `/api/runs/${A}/series?keys=sys/none`,
  `/api/runs/${A}/series?keys=loss&columns=epoch&points=30`,
  `/api/runs/${B}/series?keys=sys/cpu`,
  `/api/compare/series?runs=${A},${B},20260109_000000_000000&keys=loss,sys/cpu&points=50`,
  `/api/compare/series?runs=${A},${B}`,
  `/api/export/${A}/csv`,
  `/api/runs/${A}/images`,
  `/api/export/${B}/csv`,
];

describe("system series, compare and CSV export on a team server", () => {
  let c: TeamCluster;
  let file: TestServer;
  let team: Replica;
  let token: string;
  beforeAll(async () => {
    c = await startTeamCluster("series", { file: true });
    ({ file, team, token } = c);
    // the same requests to both modes (the one ingest contract)
    for (const [n, id] of [A, B].entries()) {
      await c.postBoth("/api/ingest/runs", { run_id: id, path: "series", meta: {}, status: { status: "running" } });
      // three batches: system lines arrive over several, as an SDK sends them
      for (let seq = 1; seq <= 3; seq++) {
        await c.postBoth(`/api/ingest/runs/${id}/batches`, {
          seq,
          events: [
            ...metrics(n, (seq - 1) * 100, 100),
            { ts: 1767225700 + seq, type: "image", data: { key: "samples", path: `media/s${seq}.png`, step: seq * 100, caption: seq === 2 ? null : `c${seq}` } },
          ],
          ...(n === 0 ? { system: system((seq - 1) * 40, 40) } : {}),
          ...(seq === 3 ? { status: { status: "finished", ended_at: 1767226000 } } : {}),
        });
      }
    }
    await waitFor(async () => (await file.api(`/api/runs/${B}`)).body?.status === "finished", 20_000, "file mode indexed the runs");
  }, 120_000);
  afterAll(async () => {
    await c?.close();
  });

  it("gives byte-identical keys, series, compare series and CSV bodies in both modes", async () => {
    for (const q of QUERIES) {
      const [a, b] = await Promise.all([fetch(file.url + q), fetch(team.url + q, { headers: { authorization: `Bearer ${token}` } })]);
      const [ta, tb] = [await a.text(), await b.text()];
      expect({ q, status: b.status }).toEqual({ q, status: a.status });
      expect({ q, body: tb }).toEqual({ q, body: ta });
    }
  });

  it("serves the system metrics of a run stored over several batches", async () => {
    const res = await fetch(`${team.url}/api/runs/${A}/series?keys=sys/cpu&points=1000`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as { x: number[]; series: Record<string, (number | null)[]> };
    expect(body.x.length).toBe(120);
    expect(body.series["sys/cpu"].slice(0, 3)).toEqual([0, 7, 14]);
  });

  it("lists the run's image events with their media URLs", async () => {
    const res = await fetch(`${team.url}/api/runs/${A}/images`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as { images: { key: string; step: number; caption: string | null; url: string }[] };
    expect(body.images.map((i) => [i.step, i.caption, i.url])).toEqual([
      [100, "c1", `/api/runs/${A}/media/s1.png`],
      [200, null, `/api/runs/${A}/media/s2.png`],
      [300, "c3", `/api/runs/${A}/media/s3.png`],
    ]);
  });

});
