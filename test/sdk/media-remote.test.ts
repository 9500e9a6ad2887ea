// The TS SDK sending a run to a server (RUNICORN_SERVER): histograms, tables with their image cells and audio arrive while the run is open.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PROJECT, startTestServer, type TestServer, waitFor } from "../helpers/server.ts";

const TS_SDK = join(PROJECT, "src", "sdk", "runicorn.ts");
const PX = "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c63f8cfc0f01f0005000201a5f1d6e40000000049454e44ae426082";
let srv: TestServer;
let child: ReturnType<typeof Bun.spawn> | undefined;
let go = "";

beforeAll(async () => {
  srv = await startTestServer();
  go = join(srv.dir, "go");
  const script = join(srv.dir, "remote-media.ts");
  writeFileSync(
    script,
    `import { existsSync } from "node:fs";
import { init, Histogram, Table, Image, Audio } from ${JSON.stringify(TS_SDK)};
const run = init({ path: "remote/media", runId: "remote-media", systemMetrics: false, handleSignals: false });
for (let s = 0; s < 3; s++) run.log({ w: new Histogram([s, s + 1, s + 2, s + 3], { bins: 2 }) }, { step: s });
run.log({ preds: new Table(["id", "img"], [[1, new Image(Buffer.from("${PX}", "hex"), { caption: "px" })]]) }, { step: 3 });
run.log({ clip: new Audio([0, 0.5, -0.5], { sampleRate: 8000 }) }, { step: 4 });
while (!existsSync(${JSON.stringify(go)})) await Bun.sleep(50);
run.finish();
console.log("uploaded=" + (await (run as any).uploaded));
`,
  );
  child = Bun.spawn([process.execPath, script], {
    cwd: srv.dir,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: join(srv.dir, "home"), XDG_CACHE_HOME: join(srv.dir, "cache"), RUNICORN_SERVER: srv.url },
    stdout: "pipe",
    stderr: "pipe",
  });
}, 60000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    writeFileSync(go, "");
    await child.exited;
  }
  await srv?.close();
});

describe("rich values of a TS SDK run sent to a server", () => {
  it("are served before the run finishes: histogram bins, the table with its image cell, the audio clip", async () => {
    const tables = await waitFor(async () => {
      const r = await srv.api("/api/runs/remote-media/tables");
      return r.status === 200 && r.body.tables.length === 1 ? r.body.tables : undefined;
    }, 20000, "the table on the server");
    const data = await waitFor(async () => {
      const r = await srv.api(`/api/runs/remote-media/tables/data?path=${encodeURIComponent(tables[0].path)}`);
      return r.status === 200 ? r.body : undefined;
    }, 10000, "the table's rows");
    const img = data.rows[0][1];
    expect(img).toMatchObject({ _type: "image", caption: "px" });
    // the image cell travelled with its table, while the run is still open
    expect(existsSync(go)).toBe(false);
    const png = await fetch(srv.url + img.url);
    expect(png.status).toBe(200);
    expect(Buffer.from(await png.arrayBuffer()).equals(Buffer.from(PX, "hex"))).toBe(true);
    const h = await waitFor(async () => {
      const r = await srv.api("/api/runs/remote-media/histograms?key=w");
      return r.status === 200 && r.body.total === 3 ? r.body : undefined;
    }, 10000, "the histograms on the server");
    expect(h.steps.map((s: any) => [s.step, s.counts])).toEqual([[0, [2, 2]], [1, [2, 2]], [2, [2, 2]]]);
    const audio = await waitFor(async () => {
      const r = await srv.api("/api/runs/remote-media/audio");
      return r.status === 200 && r.body.audio.length === 1 ? r.body.audio : undefined;
    }, 10000, "the audio on the server");
    expect(audio[0]).toMatchObject({ key: "clip", step: 4, sample_rate: 8000 });
    expect((await fetch(srv.url + audio[0].url)).status).toBe(200);
    writeFileSync(go, "");
    const out = await new Response(child!.stdout as ReadableStream).text();
    expect(await child!.exited).toBe(0);
    expect(out).toContain("uploaded=true");
  }, 60000);
});
