// GET /api/assets: the asset library over runs written by the Python SDK and the 0.6 fixture, and downloads through the run download route.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { writeSdkAssets } from "../helpers/sdk-assets.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let srv: TestServer;
let ids: string[];

beforeAll(async () => {
  srv = await startTestServer({ fixture: "rn-probe" });
  ids = writeSdkAssets(srv.root, srv.dir);
});

afterAll(async () => {
  await srv?.close();
});

interface Asset {
  id: string;
  kind: string;
  name: string;
  identity: string;
  fingerprint: string | null;
  archived: boolean;
  size_bytes: number | null;
  run_count: number;
  runs: { run_id: string }[];
  download: { run_id: string; path: string; filename: string } | null;
  content?: unknown;
}

/** The library once the indexer has seen both SDK runs. */
async function library(): Promise<{ assets: Asset[]; [k: string]: any }> {
  for (let i = 0; i < 100; i++) {
    const { body } = await srv.api("/api/assets");
    if (ids.every((id) => body.assets.some((a: Asset) => a.runs.some((r) => r.run_id === id)))) return body;
    await Bun.sleep(100);
  }
  throw new Error("the SDK runs never appeared in /api/assets");
}

describe("GET /api/assets", () => {
  it("lists each shared dataset, pretrained model and config once, with every run that uses it", async () => {
    const lib = await library();
    const digits = lib.assets.filter((a) => a.kind === "dataset" && a.name === "digits");
    expect(digits.length).toBe(1);
    expect(digits[0]).toMatchObject({ archived: true, size_bytes: 9, run_count: 2 });
    expect(digits[0].runs.map((r) => r.run_id).sort()).toEqual([...ids].sort());
    const backbone = lib.assets.filter((a) => a.kind === "pretrained" && a.name === "backbone");
    expect(backbone).toHaveLength(1);
    expect(backbone[0]).toMatchObject({ archived: true, size_bytes: 4096, run_count: 2 });
    const configs = lib.assets.filter((a) => a.kind === "config" && a.runs.some((r) => ids.includes(r.run_id)));
    expect(configs).toHaveLength(1);
    expect(configs[0].content).toEqual({ args: { lr: 0.01, epochs: 3 } });
    // an unarchived model is identified by its source (spec §7.4: fingerprint → archive path → source → name)
    const hub = lib.assets.find((a) => a.name === "hub-model");
    expect(hub).toMatchObject({ archived: false, identity: "bert-base-uncased", download: null, run_count: 2 });
  });

  it("keeps each run's rolling output and code snapshot with its size and fingerprint", async () => {
    const lib = await library();
    const outputs = lib.assets.filter((a) => a.kind === "output" && a.runs.some((r) => ids.includes(r.run_id)));
    expect(outputs).toHaveLength(2);
    for (const o of outputs) expect(o).toMatchObject({ archived: true, size_bytes: 800, run_count: 1 });
    const code = lib.assets.filter((a) => a.kind === "code" && a.runs.some((r) => ids.includes(r.run_id)));
    expect(code.length).toBeGreaterThanOrEqual(1);
    for (const c of code) {
      expect(c.fingerprint).toMatch(/^[0-9a-f]{64}$/);
      expect(c.size_bytes).toBeGreaterThan(0);
    }
  });

  it("counts the fixture's assets recorded under an old root, and reports the space deduplication saved", async () => {
    const lib = await library();
    const ds1 = lib.assets.find((a) => a.kind === "dataset" && a.name === "ds1");
    expect(ds1).toMatchObject({ archived: true, size_bytes: 8 });
    // digits (9 B) and backbone (4096 B) are stored once for two runs each
    expect(lib.dedupe_saved_bytes).toBeGreaterThanOrEqual(9 + 4096);
    expect(lib.referenced_bytes).toBeGreaterThan(lib.archived_bytes);
    expect(lib.distinct_assets).toBe(lib.assets.length);
    expect(lib.total_runs).toBeGreaterThanOrEqual(lib.runs_with_assets);
  });

  it("downloads an archived dataset as a zip of its manifest and a pretrained blob as the file", async () => {
    const lib = await library();
    const digits = lib.assets.find((a) => a.name === "digits")!;
    const d = digits.download!;
    const res = await fetch(`${srv.url}/api/runs/${d.run_id}/assets/download?path=${encodeURIComponent(d.path)}&filename=${encodeURIComponent(d.filename)}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/zip");
    expect(res.headers.get("content-disposition")).toContain("digits.zip");
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect([...bytes.slice(0, 4)]).toEqual([0x50, 0x4b, 0x03, 0x04]);
    const b = lib.assets.find((a) => a.name === "backbone")!.download!;
    const blob = await fetch(`${srv.url}/api/runs/${b.run_id}/assets/download?path=${encodeURIComponent(b.path)}&filename=${encodeURIComponent(b.filename)}`);
    expect(blob.status).toBe(200);
    expect((await blob.arrayBuffer()).byteLength).toBe(4096);
  });

  it("leaves out the runs in the recycle bin", async () => {
    const del = await srv.api("/api/runs/soft-delete", { method: "POST", json: { run_ids: [ids[1]] } });
    expect(del.status).toBe(200);
    let digits: Asset | undefined;
    for (let i = 0; i < 100 && digits?.run_count !== 1; i++) {
      digits = ((await srv.api("/api/assets")).body.assets as Asset[]).find((a) => a.name === "digits");
      await Bun.sleep(50);
    }
    expect(digits?.runs.map((r) => r.run_id)).toEqual([ids[0]]);
  });
});
