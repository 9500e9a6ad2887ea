// The same metric answers from a team server (PostgreSQL) as from the file mode for the same events:
// runs written by the original SDK (fixtures, one with a NaN, sent as the SDK wrote its lines) and a generated
// run with merges, out-of-order steps and strings.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES, type TestServer, waitFor } from "../helpers/server.ts";
import { call, type Replica, sdkEvent, startTeamCluster, type TeamCluster } from "./team-server.ts";

const GEN_ID = "20260103_000000_abcdef";

/** 20,000 SDK-style lines: a stage string, a step logged again (merged), steps out of order, a NaN-free tail. */
function generatedLines(): string[] {
  const lines: string[] = [];
  for (let s = 1; s <= 20000; s++) {
    lines.push(JSON.stringify(sdkEvent(s, { stage: s < 10000 ? "warmup" : "train", lr: 0.1 / Math.sqrt(s) })));
    if (s % 1000 === 0) lines.push(JSON.stringify({ ts: 1767300000 + s, type: "metrics", data: { global_step: s, val_loss: 1 / s } }));
    if (s % 4500 === 0) lines.push(JSON.stringify({ ts: 1767300000 + s, type: "metrics", data: { global_step: s - 2500, late: true } }));
  }
  return lines;
}

const QUERIES = ["/metrics_step", "/metrics_step?downsample=100", "/metrics_step?downsample=1000", "/keys", "/series", "/series?points=50", "/series?points=200&mode=minmax", "/series?x=time&points=100", "/series?keys=loss&from=100&to=300"];

describe("team mode answers metric queries as the file mode does", () => {
  let c: TeamCluster;
  let file: TestServer;
  let team: Replica;
  let token: string;
  const runs: { id: string; path: string; lines: string[] }[] = [];
  beforeAll(async () => {
    c = await startTeamCluster("parity", { file: { fixture: "rn-data2" } });
    ({ file, team, token } = c);
    const genDir = join(file.root, "runs", "gen", GEN_ID);
    mkdirSync(genDir, { recursive: true });
    writeFileSync(join(genDir, "meta.json"), JSON.stringify({ id: GEN_ID, created_at: 1767225600 }));
    writeFileSync(join(genDir, "status.json"), JSON.stringify({ status: "finished" }));
    writeFileSync(join(genDir, "events.jsonl"), `${generatedLines().join("\n")}\n`);
    runs.push({ id: GEN_ID, path: "gen", lines: generatedLines() });
    const fx = "20261129_031719_94b4ef";
    runs.push({ id: fx, path: "cv/yolo", lines: readFileSync(join(FIXTURES, "rn-data2", "runs", "cv", "yolo", fx, "events.jsonl"), "utf8").split("\n").filter(Boolean) });
    // rn-data's run logs a NaN: its lines travel as the original SDK wrote them (Python's NaN token included)
    const nan = "20261129_031703_34b3d6";
    cpSync(join(FIXTURES, "rn-data", "runs", "demo", "exp1", nan), join(file.root, "runs", "demo", "exp1", nan), { recursive: true });
    runs.push({ id: nan, path: "demo/exp1", lines: readFileSync(join(FIXTURES, "rn-data", "runs", "demo", "exp1", nan, "events.jsonl"), "utf8").split("\n").filter(Boolean) });
    for (const run of runs) {
      await call(team.url, token, "POST", "/api/ingest/runs", { run_id: run.id, path: run.path, meta: {}, status: { status: "finished" } });
      for (let i = 0, seq = 1; i < run.lines.length; i += 700, seq++) {
        const body = `{"seq": ${seq}, "events": [${run.lines.slice(i, i + 700).join(", ")}]}`;
        const res = await fetch(`${team.url}/api/ingest/runs/${run.id}/batches`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body });
        if (res.status !== 200) throw new Error(`ingest failed: ${await res.text()}`);
      }
    }
    await waitFor(async () => (await file.api(`/api/runs/${nan}`)).status === 200, 20_000, "the copied fixture run indexed");
  }, 120_000);
  afterAll(async () => {
    await c?.close();
  });

  it("gives identical metrics_step, keys and series bodies for every run and query", async () => {
    for (const run of runs) {
      for (const q of QUERIES) {
        const path = `/api/runs/${run.id}${q}`;
        const [fromFile, fromTeam] = await Promise.all([file.api(path), call(team.url, token, "GET", path)]);
        expect({ path, status: fromTeam.status }).toEqual({ path, status: 200 });
        expect({ path, body: fromTeam.body }).toEqual({ path, body: fromFile.body });
      }
    }
  }, 120_000);
});
