// The assets, permanent-delete and export/import routes on a real server over copies of the SDK's roots.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readZipEntries } from "../../src/store/assets/zip-reader.ts";
import { type DataServer, startDataServer } from "./data-server.ts";

const YOLO = "20261129_032935_bfa7ab";
const DELETED = "20261129_032935_21171f";
const CODE = "e8b2379f3779a1d88bf0277abc094168fe298c00a2de950714a45c1a2da40433";
const MANIFEST = "/data/rn-probe/archive/manifests/datasets/79/79a886294e4415c709da7d38391f26fec9d8662353b4154da14dae7933dd3b7d.json";

async function zipNames(res: Response): Promise<string[]> {
  const entries = await readZipEntries(new Blob([await res.arrayBuffer()]), 10_000);
  return entries.map((e) => e.name);
}

describe("assets routes", () => {
  let s: DataServer;
  beforeAll(async () => {
    s = await startDataServer("rn-probe");
  });
  afterAll(() => s.close());

  it("returns a run's assets.json with its count", async () => {
    const r = await s.api(`/api/runs/${YOLO}/assets`);
    expect(r.status).toBe(200);
    expect(r.body.assets_count).toBe(3);
    expect(r.body.assets.code.snapshot.fingerprint).toBe(CODE);
    expect((await s.api("/api/runs/20990101_000000_abcdef/assets")).body).toEqual({ detail: "Run not found" });
  });

  it("lists asset references like the original, and 400/404 for bad or unknown ids", async () => {
    const r = await s.api(`/api/runs/${YOLO}/assets/refs`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ run_id: YOLO, orphaned_count: 3, shared_count: 0, shared_assets: [] });
    expect(r.body.orphaned_assets[0]).toEqual({
      asset_id: "0dad14aa-1970-4ba9-8fe7-42a3a77de31f",
      asset_type: "code_snapshot",
      name: "code_snapshot.zip",
      fingerprint: CODE,
      role: "code",
      ref_count: 1,
    });
    expect((await s.api(`/api/runs/${DELETED}/assets/refs`)).status).toBe(200);
    expect(await s.api("/api/runs/bad-id/assets/refs")).toMatchObject({ status: 400, body: { detail: "Invalid run_id format: bad-id" } });
    expect(await s.api("/api/runs/20990101_000000_abcdef/assets/refs")).toMatchObject({ status: 404, body: { detail: "Run not found" } });
  });

  it("downloads a blob recorded under the old root, mapped onto the current one", async () => {
    const res = await s.raw(`/api/runs/${YOLO}/assets/download?path=/data/rn-probe/archive/blobs/e8/${CODE}&filename=code.zip`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="code.zip"');
    expect(res.headers.get("content-type")).toBe("application/zip");
    expect((await res.arrayBuffer()).byteLength).toBe(934);
  });

  it("re-assembles a manifest as a zip named after its source folder", async () => {
    const res = await s.raw(`/api/runs/${YOLO}/assets/download?path=${encodeURIComponent(MANIFEST)}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="ds1.zip"');
    expect(await zipNames(res)).toEqual(["a.csv", "b.csv"]);
  });

  it("zips a directory", async () => {
    const dir = join(s.root, "runs", "cv", "yolo", YOLO, "media");
    const res = await s.raw(`/api/runs/${YOLO}/assets/download?path=${encodeURIComponent(dir)}`);
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="media.zip"');
    expect(await zipNames(res)).toEqual(["1795922975062_ff0bad_pred.png"]);
  });

  it("refuses paths outside the root, traversal and symlinks that leave it (403), and missing files (404)", async () => {
    const link = join(s.root, "runs", "cv", "yolo", YOLO, "escape");
    symlinkSync("/etc", link);
    for (const p of ["/etc/passwd", `${s.root}/../../etc/passwd`, `${link}/passwd`, link]) {
      expect(await s.api(`/api/runs/${YOLO}/assets/download?path=${encodeURIComponent(p)}`)).toMatchObject({ status: 403, body: { detail: "Unsafe path" } });
    }
    expect((await s.api(`/api/runs/${YOLO}/assets/download?path=${encodeURIComponent(join(s.root, "nope"))}`)).body).toEqual({ detail: "File not found" });
    expect((await s.api(`/api/runs/${YOLO}/assets/download`)).status).toBe(422);
    expect((await s.api(`/api/runs/20990101_000000_abcdef/assets/download?path=/x`)).status).toBe(404);
  });
});

describe("permanent deletion routes", () => {
  let s: DataServer;
  beforeAll(async () => {
    s = await startDataServer("rn-probe");
  });
  afterAll(() => s.close());

  it("answers 404 for an unknown run (the original's 500) and 400 for a bad id", async () => {
    expect(await s.api("/api/runs/20990101_000000_abcdef/permanent", { method: "DELETE" })).toMatchObject({
      status: 404,
      body: { detail: "Run not found: 20990101_000000_abcdef" },
    });
    expect((await s.api("/api/runs/nope/permanent", { method: "DELETE" })).status).toBe(400);
    expect((await s.api(`/api/runs/${YOLO}/permanent?dry_run=maybe`, { method: "DELETE" })).status).toBe(422);
  });

  it("previews with dry_run and leaves the run in place", async () => {
    const r = await s.api(`/api/runs/${YOLO}/permanent?dry_run=true`, { method: "DELETE" });
    expect(r.body).toMatchObject({ success: true, run_dir_deleted: true, blobs_deleted: 3, manifests_deleted: 1, errors: [] });
    expect((await s.api(`/api/runs/${YOLO}`)).status).toBe(200);
    expect(existsSync(join(s.root, "archive", "blobs", "e8", CODE))).toBe(true);
  });

  it("validates batches like the original", async () => {
    expect((await s.api("/api/runs/permanent-delete", { method: "POST", json: { run_ids: "x" } })).body).toEqual({ detail: "run_ids is required and must be a list" });
    const many = Array.from({ length: 51 }, (_, i) => `20260101_000000_${String(i).padStart(6, "0")}`);
    expect((await s.api("/api/runs/permanent-delete", { method: "POST", json: { run_ids: many } })).body).toEqual({ detail: "Cannot delete more than 50 runs at once" });
    expect((await s.api("/api/runs/permanent-delete", { method: "POST", json: { run_ids: ["../x"] } })).body).toEqual({ detail: "Invalid run_id format: ../x" });
  });

  it("deletes a batch, drops the runs from the list and reports totals", async () => {
    const r = await s.api("/api/runs/permanent-delete", { method: "POST", json: { run_ids: [YOLO, "20990101_000000_abcdef"] } });
    expect(r.body).toMatchObject({ deleted_count: 1, total_runs: 2, total_blobs_deleted: 3, dry_run: false });
    expect(r.body.results["20990101_000000_abcdef"].errors).toEqual(["Run not found: 20990101_000000_abcdef"]);
    expect((await s.api(`/api/runs/${YOLO}`)).status).toBe(404);
    expect(existsSync(join(s.root, "archive", "blobs", "e8", CODE))).toBe(false);
  });

  it("empties the recycle bin only with confirm, cleaning index rows too", async () => {
    expect(await s.api("/api/recycle-bin/empty", { method: "POST", json: {} })).toMatchObject({ status: 400, body: { detail: "Must set confirm=true to permanently delete" } });
    const r = await s.api("/api/recycle-bin/empty", { method: "POST", json: { confirm: true } });
    expect(r.body).toMatchObject({ permanently_deleted: 1, message: "Permanently deleted 1 runs", errors: [] });
    expect((await s.api("/api/recycle-bin")).body.deleted_runs).toEqual([]);
    const { Database } = await import("bun:sqlite");
    const db = new Database(join(s.root, "index", "runicorn.db"), { readonly: true });
    expect(db.query("SELECT run_id FROM runs WHERE run_id = ?").get(DELETED)).toBeNull();
    db.close();
  });
});

describe("export and import routes", () => {
  let s: DataServer;
  let empty: DataServer;
  beforeAll(async () => {
    s = await startDataServer("rn-probe");
    empty = await startDataServer();
  });
  afterAll(async () => {
    await s.close();
    await empty.close();
  });

  it("exports a path as JSON and as the original's zip layout", async () => {
    const j = await s.api("/api/paths/export?path=cv/yolo");
    expect(j.body).toMatchObject({ path: "cv/yolo", exact: false, total_runs: 1 });
    expect(j.body.runs[0]).toMatchObject({ run_id: YOLO, path: "cv/yolo", alias: "baseline", status: "finished" });
    const res = await s.raw("/api/paths/export?path=cv/yolo&format=zip");
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="runicorn_export_cv_yolo.zip"');
    const names = await zipNames(res);
    expect(names[0]).toBe("index.json");
    expect(names).toContain(`${YOLO}/events.jsonl.lock`);
    expect(names).toContain(`${YOLO}/media/1795922975062_ff0bad_pred.png`);
  });

  it("answers the original's errors for path export", async () => {
    expect((await s.api("/api/paths/export?path=cv&format=xml")).body).toEqual({ detail: "Unsupported format: xml" });
    expect(await s.api("/api/paths/export?path=zzz&format=zip")).toMatchObject({ status: 404, body: { detail: "No runs found for this path" } });
    expect((await s.api("/api/paths/export")).status).toBe(422);
    expect((await s.api("/api/paths/export?path=")).body).toEqual({ detail: "path is required" });
  });

  it("imports the original's path-export zip into an empty root", async () => {
    const zip = await (await s.raw("/api/paths/export?path=cv&format=zip")).blob();
    const form = new FormData();
    form.append("file", new File([zip], "runicorn_export_cv.zip"));
    const r = await empty.api("/api/import/archive", { method: "POST", body: form });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ok: true, format: "paths-export", new_run_ids: [YOLO, "20261129_032935_01576c"].sort() });
    const detail = await empty.api(`/api/runs/${YOLO}`);
    expect(detail.status).toBe(200);
    expect(detail.body.path).toBe("cv/yolo");
    const again = await empty.api("/api/import/archive", { method: "POST", body: form });
    expect(again.body.skipped_run_ids).toEqual([YOLO, "20261129_032935_01576c"].sort());
  });

  it("rejects uploads that are missing, corrupt or unsafe", async () => {
    expect((await empty.api("/api/import/archive", { method: "POST", body: new FormData() })).status).toBe(422);
    const junk = new FormData();
    junk.append("file", new File(["not an archive"], "x.zip"));
    expect((await empty.api("/api/import/archive", { method: "POST", body: junk })).body.detail).toStartWith("Unsupported or corrupted archive: ");
    const { ZipWriter } = await import("../../src/store/assets/zip-writer.ts");
    const { MemorySink } = await import("../../src/store/assets/byte-sink.ts");
    const sink = new MemorySink();
    const z = new ZipWriter(sink);
    await z.addBytes("../../evil.txt", new TextEncoder().encode("x"));
    await z.finish();
    const evil = new FormData();
    evil.append("file", new File([sink.bytes() as Uint8Array<ArrayBuffer>], "evil.zip"));
    const r = await empty.api("/api/import/archive", { method: "POST", body: evil });
    expect(r.status).toBe(400);
    expect(r.body.detail).toStartWith("Archive rejected: path traversal");
  });

  it("exports metrics as CSV, one row per step", async () => {
    const res = await s.raw(`/api/export/${YOLO}/csv`);
    expect(res.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    const lines = (await res.text()).trimEnd().split("\r\n");
    expect(lines[0]).toBe("global_step,loss,lr,note,stage,time,val_acc");
    expect(lines.length).toBe(301);
    expect((await s.api("/api/export/20990101_000000_abcdef/csv")).status).toBe(404);
  });

  it("writes Markdown and HTML reports with a chart per main metric", async () => {
    const md = await (await s.raw(`/api/export/${YOLO}/report`)).text();
    expect(md).toContain(`# Run report: ${YOLO}`);
    expect(md).toContain("data:image/svg+xml;base64,");
    const html = await s.raw(`/api/export/${YOLO}/report?format=html`);
    expect(html.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(await html.text()).toContain("<svg");
    expect((await s.api(`/api/export/${YOLO}/report?format=pdf`)).body).toEqual({ detail: "Unsupported format: pdf" });
  });

  it("exports many runs as JSON or an importable zip", async () => {
    const j = await s.api("/api/export?format=json&path=cv");
    expect(j.body.total_runs).toBe(2);
    expect((await s.api("/api/export?format=rar")).status).toBe(400);
    expect((await s.api("/api/export?format=zip&path=zzz")).status).toBe(404);
    const names = await zipNames(await s.raw(`/api/export?format=zip&run_ids=${YOLO}`));
    expect(names[0]).toBe("runicorn-export.json");
    expect(names).toContain(`runs/cv/yolo/${YOLO}/meta.json`);
    expect(names).toContain(`archive/blobs/e8/${CODE}`);
    expect(names.filter((n) => n.endsWith(".lock"))).toEqual([]);
  });
});
