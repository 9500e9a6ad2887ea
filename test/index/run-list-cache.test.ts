// The whole run list is reused only while the index is unchanged: every change (API, files, another connection) shows at once.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { Database } from "bun:sqlite";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openIndexDb, type IndexDb } from "../../src/index/db.ts";
import { RunListCache } from "../../src/index/run-list-cache.ts";
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

describe("RunListCache", () => {
  let dir: string;
  let idx: IndexDb;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "rn-list-cache-"));
    idx = await openIndexDb(join(dir, "viewer-index.sqlite"));
  });
  afterAll(async () => {
    await idx.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("builds the list again after the run rows are written or another connection commits, and not otherwise", async () => {
    const cache = new RunListCache();
    let builds = 0;
    let writes = 0;
    const build = async () => ({ json: `[${++builds}]`, total: builds });
    expect((await cache.get(idx, () => writes, build)).json).toBe("[1]");
    expect((await cache.get(idx, () => writes, build)).json).toBe("[1]");
    writes++;
    expect((await cache.get(idx, () => writes, build)).json).toBe("[2]");
    expect((await cache.get(idx, () => writes, build)).json).toBe("[2]");
    await idx.db.insertInto("index_state").values({ key: "list-cache-test", value: "1" }).execute();
    expect((await cache.get(idx, () => writes, build)).json).toBe("[2]");
    const other = new Database(idx.path);
    other.exec("PRAGMA busy_timeout = 5000");
    other.run("update index_state set value = '2' where key = 'list-cache-test'");
    other.close();
    expect((await cache.get(idx, () => writes, build)).json).toBe("[3]");
    cache.drop();
    expect((await cache.get(idx, () => writes, build)).json).toBe("[4]");
  });

  it("does not keep a list whose rows were written while it was read", async () => {
    const cache = new RunListCache();
    let writes = 0;
    let builds = 0;
    const racing = async () => ({ json: `[${++builds}]`, total: writes++ });
    expect((await cache.get(idx, () => writes, racing)).json).toBe("[1]");
    expect((await cache.get(idx, () => writes, racing)).json).toBe("[2]");
    cache.drop();
  });

  it("keeps the lists of two indexes apart", async () => {
    const second = await openIndexDb(join(dir, "second.sqlite"));
    try {
      const cache = new RunListCache();
      expect((await cache.get(idx, () => 0, async () => ({ json: "[\"a\"]", total: 1 }))).json).toBe("[\"a\"]");
      expect((await cache.get(second, () => 0, async () => ({ json: "[\"b\"]", total: 1 }))).json).toBe("[\"b\"]");
      cache.drop();
    } finally {
      await second.close();
    }
  });
});
