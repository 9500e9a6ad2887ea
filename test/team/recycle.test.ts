// The recycle bin on a team server: soft delete, the bin, restore and permanent deletion (with media blobs),
// with the file mode's request and answer shapes, seen by every replica.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { call, type Replica, sdkEvent, startTeamCluster, type TeamCluster } from "./team-server.ts";

const IDS = ["20260110_000000_b1b001", "20260110_000000_b1b002", "20260110_000000_b1b003"];
const UNKNOWN = "20260110_000000_000000";

describe("the recycle bin on a team server", () => {
  let c: TeamCluster;
  let a: Replica;
  let b: Replica;
  let token: string;
  let root: string;
  beforeAll(async () => {
    c = await startTeamCluster("bin", { replicas: 2 });
    ({ token, root } = c);
    [a, b] = c.replicas;
    for (const id of IDS) {
      await call(a.url, token, "POST", "/api/ingest/runs", { run_id: id, path: "bin/x", meta: { alias: `a-${id.slice(-1)}` }, status: { status: "running" } });
      await call(a.url, token, "POST", `/api/ingest/runs/${id}/batches`, { seq: 1, events: [sdkEvent(1)], status: { status: "finished" } });
      const put = await fetch(`${a.url}/api/ingest/runs/${id}/media/img.png`, {
        method: "PUT",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
        body: new Uint8Array(100),
      });
      expect(put.status).toBe(200);
    }
  }, 120_000);
  afterAll(async () => {
    await c?.close();
  });

  const listed = async (url: string) => ((await call(url, token, "GET", "/api/runs?path=bin")).body as { id: string }[]).map((r) => r.id).sort();

  it("soft-deletes runs: they leave every replica's list and enter the bin with their reason and status", async () => {
    const res = await call(a.url, token, "POST", "/api/runs/soft-delete", { run_ids: [IDS[0], IDS[1], UNKNOWN] });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      deleted_count: 2,
      results: { [IDS[0]]: { success: true }, [IDS[1]]: { success: true }, [UNKNOWN]: { success: false, error: "run not found" } },
      message: "Soft deleted 2 of 3 runs",
    });
    expect((await call(a.url, token, "POST", "/api/runs/soft-delete", { run_ids: [IDS[0]] })).body.results[IDS[0]]).toEqual({ success: false, error: "already deleted" });
    expect(await listed(b.url)).toEqual([IDS[2]]);
    const bin = await call(b.url, token, "GET", "/api/recycle-bin");
    const items = (bin.body.deleted_runs as Record<string, unknown>[]).sort((x, y) => String(x.id).localeCompare(String(y.id)));
    expect(items.map((i) => ({ id: i.id, path: i.path, alias: i.alias, reason: i.delete_reason, status: i.original_status }))).toEqual([
      { id: IDS[0], path: "bin/x", alias: "a-1", reason: "user_deleted", status: "finished" },
      { id: IDS[1], path: "bin/x", alias: "a-2", reason: "user_deleted", status: "finished" },
    ]);
    expect(typeof items[0].deleted_at).toBe("number");
  });

  it("restores a run into every replica's list; a run not in the bin is reported, not changed", async () => {
    const res = await call(b.url, token, "POST", "/api/recycle-bin/restore", { run_ids: [IDS[1], IDS[2]] });
    expect(res.body).toEqual({
      restored_count: 1,
      results: { [IDS[1]]: { success: true }, [IDS[2]]: { success: false, error: "run not deleted" } },
      message: "Restored 1 of 2 runs",
    });
    expect(await listed(a.url)).toEqual([IDS[1], IDS[2]]);
  });

  it("previews and then performs a permanent delete with its media; an unknown run is a 404", async () => {
    const dry = await call(a.url, token, "POST", "/api/runs/permanent-delete", { run_ids: [IDS[1]], dry_run: true });
    expect(dry.body).toMatchObject({ deleted_count: 1, total_blobs_deleted: 1, total_bytes_freed: 100, dry_run: true });
    expect(existsSync(join(root, "blobs", IDS[1], "media", "img.png"))).toBe(true);
    const done = await call(a.url, token, "POST", "/api/runs/permanent-delete", { run_ids: [IDS[1], UNKNOWN] });
    expect(done.body).toMatchObject({ deleted_count: 1, total_runs: 2, total_blobs_deleted: 1, total_bytes_freed: 100, dry_run: false });
    expect(done.body.results[UNKNOWN]).toMatchObject({ success: false, errors: [`Run not found: ${UNKNOWN}`] });
    expect(existsSync(join(root, "blobs", IDS[1]))).toBe(false);
    expect((await call(b.url, token, "GET", `/api/runs/${IDS[1]}`)).status).toBe(404);
    const single = await call(b.url, token, "DELETE", `/api/runs/${UNKNOWN}/permanent`);
    expect(single.status).toBe(404);
    expect(single.body.detail).toBe(`Run not found: ${UNKNOWN}`);
  });

  it("empties the bin only with confirm=true", async () => {
    expect((await call(a.url, token, "POST", "/api/recycle-bin/empty", {})).status).toBe(400);
    const res = await call(a.url, token, "POST", "/api/recycle-bin/empty", { confirm: true });
    expect(res.body).toMatchObject({ permanently_deleted: 1, blobs_deleted: 1, bytes_freed: 100, errors: [] });
    expect((await call(b.url, token, "GET", "/api/recycle-bin")).body).toEqual({ deleted_runs: [] });
    expect(existsSync(join(root, "blobs", IDS[0]))).toBe(false);
    expect(await listed(b.url)).toEqual([IDS[2]]);
  });
});
