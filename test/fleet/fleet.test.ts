// Fleet mode over three real viewers (fixture data, a copy with colliding ids, a generated root): merged list, ids, routing, live, compare, faults.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { copyFixture, tempDir, waitFor } from "../helpers/server.ts";
import { appendMetric, startFleetServer, Viewer, writeRun } from "./helpers.ts";

const PROBE_ID = "20261129_032935_5321f2";
const GEN_IDS = ["20250101_000001_aaaaa1", "20250101_000002_aaaaa2"];

let tmp: ReturnType<typeof tempDir>;
let a: Viewer;
let b: Viewer;
let c: Viewer;
let genDir: string;
let fleet: Awaited<ReturnType<typeof startFleetServer>>;

beforeAll(async () => {
  tmp = tempDir("rn-fleet-");
  a = await new Viewer(copyFixture("rn-probe", join(tmp.dir, "a")), join(tmp.dir, "a-env")).start();
  b = await new Viewer(copyFixture("rn-probe", join(tmp.dir, "b")), join(tmp.dir, "b-env"), "secret-b").start();
  const cRoot = join(tmp.dir, "c");
  genDir = writeRun(cRoot, "gen/exp", GEN_IDS[0], { created: 1900000000 });
  writeRun(cRoot, "gen/exp", GEN_IDS[1], { created: 1900000001, status: "running" });
  c = await new Viewer(cRoot, join(tmp.dir, "c-env")).start();
  fleet = await startFleetServer([
    { label: "gpu-a", baseUrl: a.url },
    { label: "user@gpu-b:2222", baseUrl: b.url, token: "secret-b" },
    { label: "gpu-c", baseUrl: c.url },
  ]);
  await waitFor(() => fleet.fleet.hosts.every((h) => h.online), 15000, "every host online");
});

afterAll(async () => {
  await fleet?.server.stop();
  await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
  tmp?.cleanup();
});

async function listed() {
  const r = await fleet.api("/api/runs");
  expect(r.status).toBe(200);
  return r.body as { id: string; host: string; status: string; created_time: number }[];
}

describe("fleet mode", () => {
  it("lists the runs of every host, each with its host label, and counts them all", async () => {
    const single = (await fetch(`${a.url}/api/runs`).then((r) => r.json())) as unknown[];
    const runs = await listed();
    expect(runs.length).toBe(single.length * 2 + 2);
    expect(new Set(runs.map((r) => r.host))).toEqual(new Set(["gpu-a", "user@gpu-b:2222", "gpu-c"]));
    const r = await fleet.api("/api/runs?limit=2");
    expect(r.headers.get("x-total-count")).toBe(String(runs.length));
    expect(r.body.length).toBe(2);
  });

  it("qualifies only the ids two hosts share, as host-slug--id, and keeps unique ids plain", async () => {
    const runs = await listed();
    const ids = runs.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toContain(`gpu-a--${PROBE_ID}`);
    expect(ids).toContain(`user-gpu-b-2222--${PROBE_ID}`);
    expect(ids).not.toContain(PROBE_ID);
    expect(ids).toContain(GEN_IDS[0]);
    for (const id of ids) expect(encodeURIComponent(id)).toBe(id);
  });

  it("answers every per-run endpoint for a qualified id from the right host, with the fleet id in the answer", async () => {
    const id = `user-gpu-b-2222--${PROBE_ID}`;
    const detail = await fleet.api(`/api/runs/${id}`);
    expect(detail.status).toBe(200);
    expect(detail.body.id).toBe(id);
    expect(detail.body.run_dir.startsWith(b.root)).toBe(true);
    const direct = await fetch(`${b.url}/api/runs/${PROBE_ID}/metrics_step`, { headers: { authorization: "Bearer secret-b" } }).then((r) => r.json());
    for (const path of ["metrics", "metrics_step", "series", "keys", "images", "assets", "config"]) {
      const r = await fleet.api(`/api/runs/${id}/${path}`);
      expect(r.status, path).toBeLessThan(500);
      expect([200, 404]).toContain(r.status);
    }
    const steps = await fleet.api(`/api/runs/${id}/metrics_step`);
    expect(steps.status).toBe(200);
    expect(steps.body.rows).toEqual(direct.rows);
    const env = await fleet.api(`/api/environment/${id}`);
    expect(env.status).toBe(200);
    const csv = await fleet.api(`/api/export/${id}/csv`);
    expect(csv.status).toBe(200);
    expect(String(csv.headers.get("content-type"))).toContain("csv");
  });

  it("serves a host's media with the host's own stricter policy (an SVG stays sandboxed)", async () => {
    writeFileSync(join(genDir, "media", "plot.svg"), '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
    const r = await fetch(`${fleet.url}/api/runs/${GEN_IDS[0]}/media/plot.svg`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("image/svg+xml");
    expect(r.headers.get("content-security-policy")).toContain("sandbox");
    expect((await fleet.api(`/api/runs/${GEN_IDS[0]}/media/..%2Fmeta.json`)).status).toBe(404);
  });

  it("routes a plain unique id and refuses a shared plain id with a 409 naming both qualified forms", async () => {
    expect((await fleet.api(`/api/runs/${GEN_IDS[0]}`)).body.id).toBe(GEN_IDS[0]);
    const r = await fleet.api(`/api/runs/${PROBE_ID}`);
    expect(r.status).toBe(409);
    expect(r.body.detail).toContain(`gpu-a--${PROBE_ID}`);
    const missing = await fleet.api("/api/runs/20200101_000000_ffffff");
    expect(missing.status).toBe(404);
    expect(missing.body.detail).toBe("Run not found");
    // a dot segment as the host's id would climb out of /api/runs/ on the host (to its config, here)
    for (const path of ["/api/runs/gpu-a--../config", "/api/runs/gpu-a--./config", "/api/environment/gpu-a--.."]) {
      const r = await fleet.api(path);
      expect(r.status, path).toBe(404);
      expect(r.body.detail, path).toBe("Run not found");
    }
    const traversal = await fleet.api(`/api/runs/gpu-a--..%2F..%2Fetc/metrics`);
    expect(traversal.status).toBeGreaterThanOrEqual(400);
    expect(traversal.status).toBeLessThan(500);
  });

  it("pages and sorts across hosts", async () => {
    const all = await fleet.api("/api/runs?sort=created_time&order=desc");
    const times = (all.body as { created_time: number }[]).map((r) => r.created_time);
    expect(times).toEqual([...times].sort((x, y) => y - x));
    expect(all.body[0].id).toBe(GEN_IDS[1]);
    const page2 = await fleet.api("/api/runs?sort=created_time&order=desc&limit=3&offset=3");
    expect(page2.body.map((r: { id: string }) => r.id)).toEqual(all.body.slice(3, 6).map((r: { id: string }) => r.id));
    const running = await fleet.api("/api/runs?status=running");
    expect(running.body.every((r: { status: string }) => r.status === "running")).toBe(true);
    const q = await fleet.api("/api/runs?path=gen");
    expect(q.headers.get("x-total-count")).toBe("2");
    expect((await fleet.api("/api/runs?sort=nope")).status).toBe(400);
  });

  it("builds the path tree and per-path counts over every host", async () => {
    const r = await fleet.api("/api/paths?include_stats=true");
    expect(r.status).toBe(200);
    expect(r.body.paths).toContain("gen");
    expect(r.body.paths).toContain("gen/exp");
    expect(r.body.stats["gen/exp"]).toEqual({ total: 2, running: 1, finished: 1, failed: 0 });
    const single = await fetch(`${a.url}/api/paths?include_stats=true`).then((x) => x.json());
    expect(r.body.stats.cv.total).toBe(single.stats.cv.total * 2);
    expect((await fleet.api("/api/paths?include_stats=maybe")).status).toBe(422);
  });

  it("compares runs of two hosts on one chart", async () => {
    const ids = [`gpu-a--${PROBE_ID}`, GEN_IDS[0], "nope"];
    const r = await fleet.api(`/api/compare/series?runs=${ids.join(",")}`);
    expect(r.status).toBe(200);
    expect(Object.keys(r.body.runs)).toEqual(ids.slice(0, 2));
    expect(r.body.missing).toEqual(["nope"]);
    expect((await fleet.api("/api/compare/series")).status).toBe(422);
  });

  it("relays live metric rows and run-list changes from a host over one page socket", async () => {
    const ws = new WebSocket(fleet.url.replace("http", "ws") + "/api/live");
    const got: any[] = [];
    ws.onmessage = (ev) => got.push(JSON.parse(String(ev.data)));
    await new Promise((r) => (ws.onopen = r));
    ws.send(JSON.stringify({ op: "subscribe_runs" }));
    ws.send(JSON.stringify({ op: "subscribe", run_ids: [GEN_IDS[0]] }));
    await Bun.sleep(300);
    appendMetric(genDir, 4, 0.25);
    await waitFor(() => got.some((m) => m.type === "metrics" && m.run_id === GEN_IDS[0] && m.rows.some((row: { step: number }) => row.step === 4)), 5000, "metric row relayed");
    writeRun(c.root, "gen/new", "20250101_000003_aaaaa3");
    await waitFor(() => got.some((m) => m.type === "run_changed" && m.run_id === "20250101_000003_aaaaa3"), 5000, "run_changed relayed");
    expect((await listed()).some((r) => r.id === "20250101_000003_aaaaa3")).toBe(true);
    ws.close();
  });

  it("streams a run's log over the logs WebSocket from its host", async () => {
    const ws = new WebSocket(fleet.url.replace("http", "ws") + `/api/runs/${GEN_IDS[0]}/logs/ws`);
    const lines: string[] = [];
    ws.onmessage = (ev) => lines.push(String(ev.data));
    await waitFor(() => lines.includes(`hello from ${GEN_IDS[0]}`), 5000, "log line");
    ws.close();
  });

  it("shows every host in GPU telemetry, the system pages and the fleet list", async () => {
    const tel = await fleet.api("/api/gpu/telemetry");
    expect(tel.status).toBe(200);
    expect(tel.body.hosts.map((h: { host: string }) => h.host)).toEqual(["gpu-a", "user@gpu-b:2222", "gpu-c"]);
    for (const path of ["/api/system/monitor", "/api/system/temperatures", "/api/storage/stats", "/api/gpu/history?since=0"]) {
      const r = await fleet.api(path);
      expect(r.status, path).toBe(200);
      expect(r.body.hosts.map((h: { host: string }) => h.host), path).toEqual(["gpu-a", "user@gpu-b:2222", "gpu-c"]);
    }
    const f = await fleet.api("/api/fleet");
    expect(f.body.hosts.map((h: { state: string }) => h.state)).toEqual(["online", "online", "online"]);
    expect(typeof f.body.hosts[0].latency_ms).toBe("number");
    expect(f.body.hosts[2].runs).toBeGreaterThanOrEqual(2);
  });

  it("drops a killed host's runs within 5 s, keeps answering for the others, and takes it back within 15 s of a restart", async () => {
    await c.stop();
    const t0 = Date.now();
    await waitFor(async () => !(await listed()).some((r) => r.host === "gpu-c"), 5000, "host c out of the list");
    expect(Date.now() - t0).toBeLessThan(5000);
    const f = await fleet.api("/api/fleet");
    expect(["offline", "reconnecting"]).toContain(f.body.hosts[2].state);
    expect(f.body.hosts[2].reason).toBeTruthy();
    const r = await fleet.api(`/api/runs/gpu-c--${GEN_IDS[0]}`);
    expect(r.status).toBe(503);
    expect(r.body.detail).toContain("gpu-c");
    expect((await fleet.api(`/api/runs/gpu-a--${PROBE_ID}`)).status).toBe(200);
    await c.start();
    const t1 = Date.now();
    await waitFor(async () => (await listed()).some((x) => x.host === "gpu-c"), 15000, "host c back");
    expect(Date.now() - t1).toBeLessThan(15000);
  });
});
