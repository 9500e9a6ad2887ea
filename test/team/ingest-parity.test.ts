// One ingest route (src/api/ingest.ts) in both modes: the same requests get the same status codes and bodies
// from a file-mode server and from a team server, and a retried batch is stored once in both.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { type TestServer } from "../helpers/server.ts";
import { type Replica, sdkEvent, startTeamCluster, type TeamCluster } from "./team-server.ts";

const ID = "20260105_000000_c0ffee";

interface Step {
  method: string;
  path: string;
  /** A JSON value, or raw text sent as application/json, or bytes for a media PUT. */
  body?: unknown;
  raw?: string;
  bytes?: Uint8Array;
}

/** Good and bad requests, in order (later ones depend on the run the first one creates). */
const STEPS: Step[] = [
  { method: "POST", path: "/api/ingest/runs", body: { run_id: "../x", path: "", meta: {}, status: {} } },
  { method: "POST", path: "/api/ingest/runs", body: { run_id: ID, path: "../up", meta: {}, status: {} } },
  { method: "POST", path: "/api/ingest/runs", body: { run_id: ID, path: "a/b" } },
  { method: "POST", path: "/api/ingest/runs", raw: "{not json" },
  { method: "POST", path: "/api/ingest/runs", body: { run_id: ID, path: "a/b", meta: { alias: "x" }, status: { status: "running" } } },
  { method: "POST", path: "/api/ingest/runs", body: { run_id: ID, path: "a/b", meta: {}, status: {} } },
  { method: "POST", path: "/api/ingest/runs", body: { run_id: ID, path: "a/c", meta: {}, status: {} } },
  { method: "POST", path: `/api/ingest/runs/${ID}/batches`, body: { seq: 0 } },
  { method: "POST", path: `/api/ingest/runs/${ID}/batches`, body: { seq: "7" } },
  { method: "POST", path: `/api/ingest/runs/${ID}/batches`, body: { seq: 1.5 } },
  { method: "POST", path: `/api/ingest/runs/${ID}/batches`, body: { seq: 1, logs: ["two\nlines"] } },
  { method: "POST", path: `/api/ingest/runs/${ID}/batches`, body: { seq: 1, events: [{ ts: 1, type: "metrics" }] } },
  { method: "POST", path: `/api/ingest/runs/${ID}/batches`, body: { seq: 1, events: [sdkEvent(1), sdkEvent(2)], logs: ["hello"] } },
  { method: "POST", path: `/api/ingest/runs/${ID}/batches`, body: { seq: 1, events: [sdkEvent(1), sdkEvent(2)], logs: ["hello"] } },
  { method: "POST", path: `/api/ingest/runs/${ID}/batches`, raw: '{"seq": 2, "events": [{"ts": 2, "type": "metrics", "data": {"global_step": 3, "loss": NaN, "acc": Infinity}}]}' },
  { method: "POST", path: `/api/ingest/runs/${ID}/batches`, body: { seq: 3, status: { status: "finished", ended_at: 5 } } },
  { method: "POST", path: `/api/ingest/runs/20260105_000000_000000/batches`, body: { seq: 1 } },
  // (a bare ".." segment never reaches a server: fetch normalises it away)
  { method: "PUT", path: `/api/ingest/runs/${ID}/media/..%2Fescape`, bytes: new Uint8Array([1]) },
  { method: "PUT", path: `/api/ingest/runs/${ID}/media/.hidden`, bytes: new Uint8Array([1]) },
  { method: "PUT", path: `/api/ingest/runs/${ID}/media/a.png`, bytes: new Uint8Array([137, 80, 78, 71]) },
  { method: "PUT", path: `/api/ingest/runs/${ID}/media/a.png`, bytes: new Uint8Array([137, 80, 78, 71]) },
  { method: "PUT", path: `/api/ingest/runs/20260105_000000_000000/media/a.png`, bytes: new Uint8Array([1]) },
];

async function send(base: string, token: string | null, s: Step): Promise<{ status: number; body: string }> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  let body: BodyInit | undefined;
  if (s.bytes) {
    headers["content-type"] = "application/octet-stream";
    body = s.bytes as Uint8Array<ArrayBuffer>;
  } else if (s.raw !== undefined || s.body !== undefined) {
    headers["content-type"] = "application/json";
    body = s.raw ?? JSON.stringify(s.body);
  }
  const res = await fetch(base + s.path, { method: s.method, headers, body });
  return { status: res.status, body: await res.text() };
}

describe("the one ingest route in file mode and in team mode", () => {
  let c: TeamCluster;
  let file: TestServer;
  let team: Replica;
  let token: string;
  beforeAll(async () => {
    c = await startTeamCluster("ingest", { file: true });
    ({ file, team, token } = c);
  }, 120_000);
  afterAll(async () => {
    await c?.close();
  });

  it("answers every good and bad ingest request with the same status and body in both modes", async () => {
    for (const s of STEPS) {
      const [a, b] = [await send(file.url, null, s), await send(team.url, token, s)];
      const label = `${s.method} ${s.path} ${s.raw ?? JSON.stringify(s.body) ?? ""}`;
      expect({ label, status: b.status, body: b.body }).toEqual({ label, status: a.status, body: a.body });
      expect({ label, ok: a.status < 500 }).toEqual({ label, ok: true });
    }
  });

  it("stores each batch once in both modes: a retried seq 1 left its two rows once", async () => {
    const auth = { authorization: `Bearer ${token}` };
    const [a, b] = await Promise.all([
      fetch(`${file.url}/api/runs/${ID}/metrics_step`).then((r) => r.text()),
      fetch(`${team.url}/api/runs/${ID}/metrics_step`, { headers: auth }).then((r) => r.text()),
    ]);
    expect(b).toBe(a);
    expect((JSON.parse(b) as { total: number }).total).toBe(3);
    const run = (await (await fetch(`${team.url}/api/runs/${ID}`, { headers: auth })).json()) as { status: string; path: string };
    expect(run).toMatchObject({ status: "finished", path: "a/b" });
  });
});
