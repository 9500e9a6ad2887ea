// A hostile data directory: FIFOs, devices, links out of ROOT and oversized files where run files belong. The real
// server keeps answering, lists the other runs, stays small, and serves nothing from outside ROOT.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/config.ts";
import { type RunningServer, startServer } from "../../src/cli/serve.ts";
import { readZipEntries } from "../../src/store/assets/zip-reader.ts";
import { copyFixture, isolatedEnv, tempDir } from "../helpers/server.ts";

const tmp = tempDir("rn-hostile-");
const root = join(tmp.dir, "root");
const outside = join(tmp.dir, "outside");
const SECRET = "TOP-SECRET-OUTSIDE-ROOT";
let server: RunningServer;
let rssBefore = 0;

const ID = {
  metaFifo: "20260301_000000_fifo01",
  statusFifo: "20260301_000000_fifo02",
  eventsFifo: "20260301_000000_fifo03",
  logsDevice: "20260301_000000_dev001",
  envZero: "20260301_000000_zero01",
  links: "20260301_000000_link01",
  huge: "20260301_000000_huge01",
  normal: "20260301_000000_norm01",
};

function mkfifo(path: string): void {
  const r = spawnSync("mkfifo", [path]);
  if (r.status !== 0) throw new Error(`mkfifo failed: ${r.stderr}`);
}

/** A character device (/dev/zero's numbers) when this machine lets us make one, else a FIFO (both must be refused). */
function mkdevice(path: string): void {
  if (spawnSync("mknod", [path, "c", "1", "5"]).status !== 0) mkfifo(path);
}

function run(id: string, files: Record<string, string> = {}): string {
  const dir = join(root, "runs", "hostile", id);
  mkdirSync(dir, { recursive: true });
  const base: Record<string, string> = {
    "meta.json": JSON.stringify({ id, path: "hostile", created_at: 1_767_000_000 }),
    "status.json": JSON.stringify({ status: "finished", ended_at: 1_767_000_100 }),
    "events.jsonl": '{"type":"metrics","data":{"global_step":1,"loss":0.5}}\n',
    "logs.txt": "hello from the run\n",
  };
  for (const [name, text] of Object.entries({ ...base, ...files })) writeFileSync(join(dir, name), text);
  return dir;
}

function replaceWith(dir: string, name: string, make: (p: string) => void): void {
  const p = join(dir, name);
  spawnSync("rm", ["-f", p]);
  make(p);
}

beforeAll(async () => {
  copyFixture("rn-data", root);
  mkdirSync(outside);
  writeFileSync(join(outside, "secret.txt"), SECRET);
  writeFileSync(join(outside, "environment.json"), JSON.stringify({ secret: SECRET }));
  replaceWith(run(ID.metaFifo), "meta.json", mkfifo);
  replaceWith(run(ID.statusFifo), "status.json", mkfifo);
  replaceWith(run(ID.eventsFifo), "events.jsonl", mkfifo);
  replaceWith(run(ID.logsDevice), "logs.txt", mkdevice);
  const zero = run(ID.envZero);
  symlinkSync("/dev/zero", join(zero, "environment.json"));
  const links = run(ID.links);
  symlinkSync(join(outside, "environment.json"), join(links, "environment.json"));
  replaceWith(links, "logs.txt", (p) => symlinkSync(join(outside, "secret.txt"), p));
  mkdirSync(join(links, "media"));
  symlinkSync(join(outside, "secret.txt"), join(links, "media", "leak.png"));
  symlinkSync(join(outside, "secret.txt"), join(links, "notes.txt"));
  mkfifo(join(links, "pipe.txt"));
  const huge = run(ID.huge, { "summary.json": "{}" });
  truncateSync(join(huge, "summary.json"), 64 * 1024 * 1024); // sparse: 64 MiB of NULs over the 16 MiB limit
  run(ID.normal);
  Bun.gc(true);
  rssBefore = process.memoryUsage().rss;
  server = await startServer(loadConfig({ root, host: "127.0.0.1", port: 0, logLevel: "error", sweepSeconds: 1 }, isolatedEnv(tmp.dir)));
});

afterAll(async () => {
  await server?.stop();
  tmp.cleanup();
});

async function get(path: string): Promise<{ status: number; body: any; text: string }> {
  const res = await fetch(server.url + path, { signal: AbortSignal.timeout(20_000) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: kept as text
  }
  return { status: res.status, body, text };
}

describe("a data directory with FIFOs, devices and links", () => {
  it("keeps /api/health answering and lists the normal runs next to the bad ones", async () => {
    expect((await get("/api/health")).status).toBe(200);
    const runs = await get("/api/runs");
    expect(runs.status).toBe(200);
    const ids = runs.body.map((r: { id: string }) => r.id);
    expect(ids).toContain(ID.normal);
    expect(ids).toContain("20261129_031703_34b3d6"); // the fixture's own run
    for (const id of Object.values(ID)) expect(ids).toContain(id);
    // a run whose meta.json is a FIFO is still listed, from its status.json
    const bad = runs.body.find((r: { id: string }) => r.id === ID.metaFifo);
    expect(bad.status).toBe("finished");
    await Bun.sleep(2500); // two more sweeps over the same files
    expect((await get("/api/health")).status).toBe(200);
  });

  it("stays small: environment.json -> /dev/zero and a 64 MiB summary.json are not read", async () => {
    const env = await get(`/api/environment/${ID.envZero}`);
    expect(env.status).toBe(200);
    expect(env.body).toEqual({ available: false });
    const detail = await get(`/api/runs/${ID.huge}`);
    expect(detail.status).toBe(200);
    expect(detail.body.summary).toEqual({});
    Bun.gc(true);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(400 * 1024 * 1024);
  });

  it("answers metrics of a run whose events.jsonl is a FIFO as empty, without blocking", async () => {
    const r = await get(`/api/runs/${ID.eventsFifo}/metrics_step`);
    expect(r.status).toBe(200);
    const csv = await get(`/api/export/${ID.eventsFifo}/csv`);
    expect(csv.status).toBe(400);
    expect(csv.body.detail).toContain("FIFO");
  });

  it("serves nothing from outside ROOT: environment, media, downloads", async () => {
    const env = await get(`/api/environment/${ID.links}`);
    expect(env.body).toEqual({ available: false });
    const media = await get(`/api/runs/${ID.links}/media/leak.png`);
    expect(media.status).toBeGreaterThanOrEqual(400);
    expect(media.text).not.toContain(SECRET);
    const dl = await get(`/api/runs/${ID.links}/assets/download?path=${encodeURIComponent(`runs/hostile/${ID.links}/notes.txt`)}`);
    expect(dl.status).toBe(403);
    expect(dl.text).not.toContain(SECRET);
    const fifo = await get(`/api/runs/${ID.links}/assets/download?path=${encodeURIComponent(`runs/hostile/${ID.links}/pipe.txt`)}`);
    expect(fifo.status).toBe(400);
    expect(fifo.body.detail).toContain("FIFO");
  });

  it("sends no log lines from a logs.txt that is a device or a link out of ROOT", async () => {
    for (const id of [ID.logsDevice, ID.links]) {
      const ws = new WebSocket(`${server.url.replace("http", "ws")}/api/runs/${id}/logs/ws`);
      const got: string[] = [];
      ws.onmessage = (m) => got.push(String(m.data));
      await new Promise<void>((ok, fail) => {
        ws.onopen = () => ok();
        ws.onerror = () => fail(new Error("websocket failed"));
      });
      await Bun.sleep(1200);
      ws.close();
      expect(got.join("\n")).not.toContain(SECRET);
      expect(got.join("").length).toBeLessThan(10_000);
    }
    expect((await get("/api/health")).status).toBe(200);
  });

  it("exports a zip that leaves out links and FIFOs and lists them in runicorn-export-skipped.json", async () => {
    const res = await fetch(`${server.url}/api/export?format=zip&run_ids=${ID.links},${ID.normal}`);
    expect(res.status).toBe(200);
    const blob = await res.blob();
    const entries = await readZipEntries(blob, 1000);
    const names = entries.map((e) => e.name);
    expect(names).toContain(`runs/hostile/${ID.normal}/logs.txt`);
    expect(names).not.toContain(`runs/hostile/${ID.links}/notes.txt`);
    expect(names).not.toContain(`runs/hostile/${ID.links}/pipe.txt`);
    expect(names).toContain("runicorn-export-skipped.json");
    const bytes = new Uint8Array(await blob.arrayBuffer());
    expect(Buffer.from(bytes).includes(SECRET)).toBe(false);
    const { extractZipEntry } = await import("../../src/store/assets/zip-reader.ts");
    const { MemorySink } = await import("../../src/store/assets/byte-sink.ts");
    const sink = new MemorySink();
    await extractZipEntry(blob, entries.find((e) => e.name === "runicorn-export-skipped.json")!, sink);
    const skipped = JSON.parse(new TextDecoder().decode(sink.bytes())).skipped.map((x: { path: string; reason: string }) => `${x.path}: ${x.reason}`);
    expect(skipped.some((l: string) => l.includes("notes.txt") && l.includes("outside the storage root"))).toBe(true);
    expect(skipped.some((l: string) => l.includes("pipe.txt") && l.includes("FIFO"))).toBe(true);
  });
});
