// TS SDK catch-up with Python: logImage, logConfig, logDataset, logPretrained written by a real run, read back through the API.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Database } from "bun:sqlite";
import { init, Run } from "../../src/sdk/runicorn.ts";
import { startTestServer, type TestServer, waitFor } from "../helpers/server.ts";

/** A 1×1 PNG. */
const PNG = Uint8Array.from(atob("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="), (c) => c.charCodeAt(0));
const JPEG = Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46, 0, 1, 0xff, 0xd9]);

let srv: TestServer;
let run: Run;

beforeAll(async () => {
  srv = await startTestServer();
  const data = join(srv.dir, "data", "cifar");
  mkdirSync(data, { recursive: true });
  writeFileSync(join(data, "a.bin"), "12345");
  writeFileSync(join(data, "b.bin"), "123");
  writeFileSync(join(srv.dir, "pic.jpg"), JPEG);
  const r = init({ storage: srv.root, path: "ts/assets", env: {}, systemMetrics: false, config: { lr: 0.1 } });
  if (!(r instanceof Run)) throw new Error("tracking is off");
  run = r;
  run.log({ loss: 1 }, { step: 1 });
  run.logImage("samples", PNG, { step: 1, caption: "first" });
  run.logImage("photo", join(srv.dir, "pic.jpg"));
  run.logConfig({ args: { epochs: 3 }, extra: { optimizer: "adamw" }, configFiles: ["configs/base.yaml"] });
  run.logDataset("cifar10", data, { context: "train", description: "the small one" });
  run.logDataset("remote", "s3://bucket/x", { context: "val" });
  run.logPretrained("resnet50", { pathOrUri: "weights/r50.pth", sourceType: "local" });
  run.finish();
  await waitFor(async () => (await srv.api("/api/runs")).body.length >= 1, 20000, "the run in the list");
});

afterAll(async () => {
  await srv?.close();
});

describe("the TypeScript SDK's images and assets, in the Python SDK's shapes", () => {
  it("writes its run row into ROOT/index/runicorn.db at init and its status and end time at finish, like the Python SDK", () => {
    const db = new Database(join(srv.root, "index", "runicorn.db"), { readonly: true });
    try {
      const row = db.query("SELECT * FROM runs WHERE run_id = ?").get(run.id) as Record<string, unknown>;
      expect(row).toMatchObject({ run_id: run.id, path: "ts/assets", alias: null, status: "finished", run_dir: run.runDir });
      expect(row.created_at).toBeGreaterThan(1.7e9);
      expect(row.ended_at as number).toBeGreaterThanOrEqual(row.created_at as number);
      const cols = (db.query("PRAGMA table_info(runs)").all() as { name: string }[]).map((c) => c.name);
      expect(cols).toEqual(["run_id", "path", "alias", "created_at", "ended_at", "status", "run_dir", "workspace_root"]);
    } finally {
      db.close();
    }
  });

  it("stores PNG bytes and a JPEG file in media/ and lists them as images with key, step and caption", async () => {
    const r = await srv.api(`/api/runs/${run.id}/images`);
    expect(r.status).toBe(200);
    const imgs = r.body.images as { key: string; step: number | null; caption: string | null; path: string; url: string }[];
    expect(imgs.map((i) => i.key).sort()).toEqual(["photo", "samples"]);
    const s = imgs.find((i) => i.key === "samples")!;
    expect(s.step).toBe(1);
    expect(s.caption).toBe("first");
    expect(s.path).toMatch(/^media\/\d+_[0-9a-f]{6}_samples\.png$/);
    expect(imgs.find((i) => i.key === "photo")!.path).toMatch(/\.jpg$/);
    const got = await fetch(srv.url + s.url);
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(PNG);
  });

  it("refuses data that is neither PNG nor JPEG with a TypeError, writing nothing", () => {
    const r2 = init({ storage: srv.root, path: "ts/bad", env: {}, systemMetrics: false }) as Run;
    expect(() => r2.logImage("x", new Uint8Array([1, 2, 3]))).toThrow(TypeError);
    r2.finish();
    expect(existsSync(join(r2.runDir, "events.jsonl"))).toBe(false);
    expect(readdirSync(join(r2.runDir, "media"))).toEqual([]);
  });

  it("records config args, merged extra and config files, datasets with a stat fingerprint and pretrained weights", async () => {
    const r = await srv.api(`/api/runs/${run.id}/assets`);
    expect(r.status).toBe(200);
    const a = r.body.assets;
    expect(a.config.args).toEqual({ epochs: 3 });
    expect(a.config.extra).toEqual({ lr: 0.1, optimizer: "adamw" });
    expect(a.config.config_files).toEqual(["configs/base.yaml"]);
    expect(a.datasets).toHaveLength(2);
    expect(a.datasets[0]).toMatchObject({ name: "cifar10", context: "train", description: "the small one", saved: false });
    expect(a.datasets[0].fingerprint).toMatchObject({ file_count: 2, total_size_bytes: 8 });
    expect(a.datasets[1]).toMatchObject({ name: "remote", uri: "s3://bucket/x", context: "val", fingerprint: null });
    expect(a.pretrained).toEqual([{ name: "resnet50", source_type: "local", path_or_uri: "weights/r50.pth", description: null, saved: false }]);
  });
});
