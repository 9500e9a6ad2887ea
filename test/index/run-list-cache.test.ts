// The whole run list is cached in segments and patched where runs change: every change (API, files, another connection) shows at once.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { Database } from "bun:sqlite";
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { startTestServer, type TestServer, waitFor } from "../helpers/server.ts";

const YOLO = "20261129_032935_bfa7ab";

describe("GET /api/runs, the whole list", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ fixture: "rn-probe" });
    await s.ctx.storage.runs.ready;
  });
  afterAll(() => s.close());

  const ids = async () => ((await s.api("/api/runs")).body as { id: string }[]).map((r) => r.id);

  it("answers the same list twice in a row, with its count header", async () => {
    const a = await s.api("/api/runs");
    const b = await s.api("/api/runs");
    expect(b.body).toEqual(a.body);
    expect(b.headers.get("x-total-count")).toBe(String(a.body.length));
    expect(a.body.length).toBe(5);
  });

  it("shows an alias set through the API in the very next list", async () => {
    await s.api("/api/runs");
    const r = await s.api(`/api/runs/${YOLO}`, { method: "PATCH", json: { alias: "cached-no-more" } });
    expect(r.status).toBe(200);
    const list = (await s.api("/api/runs")).body as { id: string; alias: string | null }[];
    expect(list.find((x) => x.id === YOLO)?.alias).toBe("cached-no-more");
  });

  it("drops a soft-deleted run from the next list and shows it again when restored", async () => {
    expect(await ids()).toContain(YOLO);
    const del = await s.api("/api/runs/soft-delete", { method: "POST", json: { run_ids: [YOLO] } });
    expect(del.status).toBe(200);
    expect(await ids()).not.toContain(YOLO);
    const back = await s.api("/api/recycle-bin/restore", { method: "POST", json: { run_ids: [YOLO] } });
    expect(back.status).toBe(200);
    expect(await ids()).toContain(YOLO);
  });

  it("lists a run copied into the root once the indexer has seen it", async () => {
    const before = await ids();
    const copy = "20261129_032935_c0ffee";
    cpSync(join(s.root, "runs/cv/yolo", YOLO), join(s.root, "runs/cv/yolo", copy), { recursive: true });
    await waitFor(async () => (await ids()).includes(copy), 15000, "the copied run in the list");
    expect((await ids()).length).toBe(before.length + 1);
  });

  it("still pages, filters and sorts on every request", async () => {
    const all = await ids();
    const page = await s.api("/api/runs?limit=2&offset=1");
    expect(page.body.map((r: { id: string }) => r.id)).toEqual(all.slice(1, 3));
    expect(page.headers.get("x-total-count")).toBe(String(all.length));
  });
});

/** Writes runs `from .. to - 1` as SDK 0.6 does (meta, status, summary), under paths that spread them through the list. */
function writeRuns(root: string, from: number, to: number, path = (i: number) => `team${i % 7}/exp${i % 13}`): string[] {
  const ids: string[] = [];
  for (let i = from; i < to; i++) {
    const id = `20260101_${String(100000 + i).slice(-6)}_${(i * 2654435761 >>> 8 & 0xffffff).toString(16).padStart(6, "0")}`;
    const dir = join(root, "runs", path(i), id);
    mkdirSync(dir, { recursive: true });
    const created = 1767225600 + i;
    writeFileSync(join(dir, "meta.json"), JSON.stringify({ id, path: path(i), alias: null, created_at: created, python: "3.11", platform: "Linux", hostname: "h", pid: 1 }));
    writeFileSync(join(dir, "status.json"), JSON.stringify({ status: "finished", started_at: created, ended_at: created + 5 }));
    writeFileSync(join(dir, "summary.json"), JSON.stringify({ best_metric_value: i / 10000 }));
    ids.push(id);
  }
  return ids;
}

describe("GET /api/runs, the whole list of thousands of runs, patched where runs change", () => {
  let s: TestServer;
  let ids: string[];
  beforeAll(async () => {
    s = await startTestServer({ prepare: (root) => void (ids = writeRuns(root, 0, 3000)) });
    await s.ctx.storage.runs.ready;
  });
  afterAll(() => s.close());

  type Item = { id: string; alias: string | null; path: string };
  const whole = async () => (await s.api("/api/runs")).body as Item[];
  /** The same list read by the paged query, which never goes through the cache. */
  const uncached = async () => (await s.api("/api/runs?offset=0")).body as Item[];

  it("has the list read once the first build is done, before anyone asks for it", async () => {
    const cache = s.ctx.storage.runList;
    await waitFor(() => cache.stats.wholeReads === 1, 10000, "the list read ahead");
    expect((await whole()).length).toBe(3000);
    expect(cache.stats.wholeReads).toBe(1);
  });

  it("serves the list the paged query reads, in the same order", async () => {
    const a = await whole();
    expect(a.length).toBe(3000);
    expect(a).toEqual(await uncached());
    const r = await s.api("/api/runs");
    expect(r.headers.get("content-type")).toContain("application/json");
    expect(r.headers.get("x-total-count")).toBe("3000");
    // an API answer, not a file: no ranges
    expect(r.headers.get("content-range")).toBeNull();
    const ranged = await fetch(`${s.url}/api/runs`, { headers: { range: "bytes=0-10" } });
    expect(ranged.status).toBe(200);
    expect(((await ranged.json()) as unknown[]).length).toBe(3000);
  });

  it("re-reads only the stretches where runs were added, changed, soft-deleted or removed", async () => {
    const cache = s.ctx.storage.runList;
    await whole();
    const before = { ...cache.stats };
    expect((await s.api(`/api/runs/${ids[1500]}`, { method: "PATCH", json: { alias: "patched" } })).status).toBe(200);
    expect((await s.api("/api/runs/soft-delete", { method: "POST", json: { run_ids: [ids[10], ids[2990]] } })).status).toBe(200);
    // new runs before the first path, among the others, and after the last
    const added = [
      ...writeRuns(s.root, 5000, 5001, () => "aaa/first"),
      ...writeRuns(s.root, 5001, 5002, () => "team3/exp5"),
      ...writeRuns(s.root, 5002, 5003, () => "zzz/last"),
    ];
    const gone = (await whole()).find((r) => r.id === ids[700])!;
    rmSync(join(s.root, "runs", gone.path, ids[700]), { recursive: true });
    await waitFor(async () => {
      const list = await uncached();
      return added.every((id) => list.some((r) => r.id === id)) && !list.some((r) => r.id === ids[700]);
    }, 20000, "the new and the removed runs indexed");
    const got = await whole();
    expect(got).toEqual(await uncached());
    expect(got.length).toBe(3000 - 2 - 1 + 3);
    expect(got[0].id).toBe(added[0]);
    expect(got[got.length - 1].id).toBe(added[2]);
    expect(got.find((r) => r.id === ids[1500])?.alias).toBe("patched");
    expect(got.some((r) => r.id === ids[10])).toBe(false);
    // patched, not read whole again
    expect(cache.stats.wholeReads).toBe(before.wholeReads);
    expect(cache.stats.segmentReads).toBeGreaterThan(before.segmentReads);
    expect(cache.stats.segmentReads - before.segmentReads).toBeLessThan(12);
  });

  it("keeps the order when a stretch fills up with new runs, and restores soft-deleted ones", async () => {
    writeRuns(s.root, 6000, 8500, () => "team3/exp5");
    await waitFor(async () => (await uncached()).length >= 5500, 30000, "2,500 new runs indexed");
    expect((await s.api("/api/recycle-bin/restore", { method: "POST", json: { run_ids: [ids[10]] } })).status).toBe(200);
    const got = await whole();
    expect(got).toEqual(await uncached());
    expect(got.some((r) => r.id === ids[10])).toBe(true);
  });

  it("marks stalled runs in the segments that hold them, for that answer only", async () => {
    // a run whose process (this one) lives but whose heartbeat is old, in two stretches of the list
    const now = Date.now() / 1000;
    const stuck: string[] = [];
    for (const [i, path] of [[9001, "team2/exp4"], [9002, "team6/exp11"]] as const) {
      const [id] = writeRuns(s.root, i, i + 1, () => path);
      writeFileSync(join(s.root, "runs", path, id, "meta.json"), JSON.stringify({ id, path, alias: null, created_at: now - 900, hostname: hostname(), pid: process.pid }));
      writeFileSync(join(s.root, "runs", path, id, "status.json"), JSON.stringify({ status: "running", started_at: now - 900, heartbeat_at: now - 300 }));
      stuck.push(id);
    }
    await waitFor(async () => {
      const list = (await uncached()) as (Item & { stalled?: boolean })[];
      return stuck.every((id) => list.find((r) => r.id === id)?.stalled === true);
    }, 20000, "the stalled runs indexed and marked");
    const got = (await whole()) as (Item & { stalled?: boolean })[];
    expect(got).toEqual(await uncached());
    expect(got.filter((r) => r.stalled).map((r) => r.id).sort()).toEqual([...stuck].sort());
  });

  it("reads the whole list again after another connection commits", async () => {
    const cache = s.ctx.storage.runList;
    await whole();
    const before = cache.stats.wholeReads;
    const other = new Database(s.ctx.index().path);
    other.exec("PRAGMA busy_timeout = 5000");
    other.run(`update run set list_json = replace(list_json, '"alias":null', '"alias":"elsewhere"') where id = '${ids[20]}'`);
    other.close();
    const got = await whole();
    expect(got.find((r) => r.id === ids[20])?.alias).toBe("elsewhere");
    expect(cache.stats.wholeReads).toBe(before + 1);
  });
});
