// rn.Table and rn.Audio on a team server: the same Python script logged to a file root and through RUNICORN_SERVER
// gives the same /tables, /tables/data, /audio and audio-file answers (byte ranges included); a run logged while the
// server is down waits in the spool and `runicorn sync` delivers its tables and audio later.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { createServer } from "node:net";
import { join } from "node:path";
import { isolatedEnv, PROJECT, type TestServer, waitFor } from "../helpers/server.ts";
import { PY_SDK } from "../reliability/helpers.ts";
import { call, type Replica, runCli, startReplica, startTeamCluster, type TeamCluster } from "./team-server.ts";

const RUN_ID = "20260105_000000_b1b1b1";
const LATE_ID = "20260105_000000_c2c2c2";
const BASE = Math.floor(Date.now() / 1000);

/** Logs tables (with image cells) and audio with a fixed clock and deterministic media names, so both modes log the same bytes. */
const SCRIPT = (runId: string) => `
import itertools, re, time
import runicorn as rn, runicorn.sdk as sdk, runicorn._media as media
clock = [${BASE}.0]
def fixed():
    clock[0] += 0.25
    return clock[0]
time.time = fixed
sdk._time = fixed
names = itertools.count()
media._media_name = lambda key, ext: "%04d_%s.%s" % (next(names), re.sub(r"[^A-Za-z0-9_.-]", "_", key)[:100], ext)
run = rn.init(path="media/check", run_id="${runId}")
png = media.encode_png(bytes([255, 0, 0] * 4), 2, 2, 3)
for i in range(3):
    rows = [[j, "row %d" % j, rn.Image(png, caption="cell %d" % j), j * 0.5, j % 2 == 0, None] for j in range(4)]
    run.log({"loss": 1.0 / (i + 1),
             "eval/preds": rn.Table(["id", "label", "img", "score", "even", "none"], rows),
             "voice": rn.Audio([0, 12000, -12000, 0] * (50 * (i + 1)), sample_rate=8000, caption="take %d" % i)}, step=i)
run.finish()
`;

async function python(runId: string, env: Record<string, string>): Promise<void> {
  const p = Bun.spawn(["python3", "-c", SCRIPT(runId)], { env: { ...env, PYTHONPATH: PY_SDK, RUNICORN_QUIET: "1" }, stdout: "pipe", stderr: "pipe" });
  const stderr = await new Response(p.stderr).text();
  if ((await p.exited) !== 0) throw new Error(`python failed: ${stderr}`);
}

/** A port nothing listens on right now. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((res) => srv.listen(0, "127.0.0.1", () => res()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((res) => srv.close(() => res()));
  return port;
}

describe("tables and audio on a team server", () => {
  let c: TeamCluster;
  let file: TestServer;
  let team: Replica;
  let token: string;
  const auth = () => ({ authorization: `Bearer ${token}` });
  beforeAll(async () => {
    c = await startTeamCluster("media", { file: true });
    ({ file, team, token } = c);
    await python(RUN_ID, { ...isolatedEnv(join(c.dir, "to-file")), RUNICORN_DIR: file.root });
    await python(RUN_ID, { ...isolatedEnv(join(c.dir, "to-team")), RUNICORN_SERVER: team.url, RUNICORN_TOKEN: token });
    await waitFor(async () => (await file.api(`/api/runs/${RUN_ID}`)).body?.status === "finished", 20_000, "the file run indexed");
  }, 120_000);
  afterAll(async () => {
    await c?.close();
  });

  it("gives byte-identical tables, table data and audio lists in both modes", async () => {
    const tables = (await file.api(`/api/runs/${RUN_ID}/tables`)).body as { tables: { path: string }[] };
    expect(tables.tables.length).toBe(3);
    const audio = (await file.api(`/api/runs/${RUN_ID}/audio`)).body as { audio: { url: string }[] };
    expect(audio.audio.length).toBe(3);
    const queries = [
      `/api/runs/${RUN_ID}/tables`,
      `/api/runs/${RUN_ID}/audio`,
      ...tables.tables.map((x) => `/api/runs/${RUN_ID}/tables/data?path=${encodeURIComponent(x.path)}`),
      // bad input: not a table path, traversal, a table that is not there, an unknown run
      `/api/runs/${RUN_ID}/tables/data?path=media/0000_voice.wav`,
      `/api/runs/${RUN_ID}/tables/data?path=${encodeURIComponent("media/../meta.json")}`,
      `/api/runs/${RUN_ID}/tables/data?path=${encodeURIComponent("../../x.table.json")}`,
      `/api/runs/${RUN_ID}/tables/data?path=media/9999_nope.table.json`,
      `/api/runs/${RUN_ID}/tables/data`,
      `/api/runs/20260105_000000_000000/tables`,
      `/api/runs/20260105_000000_000000/audio`,
      `/api/runs/20260105_000000_000000/tables/data?path=media/x.table.json`,
    ];
    for (const q of queries) {
      const [a, b] = await Promise.all([fetch(file.url + q), fetch(team.url + q, { headers: auth() })]);
      const [ta, tb] = [await a.text(), await b.text()];
      expect({ q, status: b.status, type: b.headers.get("content-type") }).toEqual({ q, status: a.status, type: a.headers.get("content-type") });
      expect({ q, body: tb }).toEqual({ q, body: ta });
    }
    const data = (await call(team.url, token, "GET", `/api/runs/${RUN_ID}/tables/data?path=${encodeURIComponent(tables.tables[0].path)}`)).body;
    expect(data.columns).toEqual(["id", "label", "img", "score", "even", "none"]);
    expect(data.rows[1].slice(0, 2)).toEqual([1, "row 1"]);
    expect(data.rows[1][2].url).toMatch(new RegExp(`^/api/runs/${RUN_ID}/media/`));
  });

  it("serves audio files and a table's image cells with the file mode's bytes, types and byte ranges", async () => {
    const audio = (await call(team.url, token, "GET", `/api/runs/${RUN_ID}/audio`)).body as { audio: { url: string }[] };
    const data = (await call(team.url, token, "GET", `/api/runs/${RUN_ID}/tables`)).body as { tables: { path: string }[] };
    const cells = (await call(team.url, token, "GET", `/api/runs/${RUN_ID}/tables/data?path=${encodeURIComponent(data.tables[2].path)}`)).body as { rows: { url: string }[][] };
    const urls = [...audio.audio.map((a) => a.url), cells.rows[3][2].url, `/api/runs/${RUN_ID}/audio/nope.wav`, `/api/runs/${RUN_ID}/audio/0001_x.txt`];
    for (const u of urls) {
      for (const range of [undefined, "bytes=0-43", "bytes=-10", "bytes=100000-"]) {
        const headers: Record<string, string> = range ? { range } : {};
        const [a, b] = await Promise.all([fetch(file.url + u, { headers }), fetch(team.url + u, { headers: { ...headers, ...auth() } })]);
        const [ba, bb] = [new Uint8Array(await a.arrayBuffer()), new Uint8Array(await b.arrayBuffer())];
        // a whole file is streamed in the file mode (no Content-Length on the wire); a range carries its length in both
        const pick = (r: Response) => ["content-type", "content-range", "accept-ranges", ...(r.status === 206 ? ["content-length"] : [])].map((h) => r.headers.get(h));
        expect({ u, range, status: b.status, headers: pick(b) }).toEqual({ u, range, status: a.status, headers: pick(a) });
        expect({ u, range, same: Buffer.from(bb).equals(Buffer.from(ba)) }).toEqual({ u, range, same: true });
      }
    }
    const wav = await fetch(team.url + audio.audio[0].url, { headers: auth() });
    expect(wav.headers.get("content-type")).toBe("audio/wav");
    expect(new TextDecoder().decode((await wav.arrayBuffer()).slice(0, 4))).toBe("RIFF");
  });

  it("receives the TypeScript SDK's tables (with image cells) and audio through RUNICORN_SERVER", async () => {
    const id = "20260105_000000_e4e4e4";
    const script = join(c.dir, "ts-media.ts");
    await Bun.write(
      script,
      `import { Audio, Image, Table, init } from ${JSON.stringify(join(PROJECT, "src/sdk/runicorn.ts"))};
const run = init({ path: "media/ts", runId: ${JSON.stringify(id)}, handleSignals: false });
const img = new Uint8Array(await Bun.file(${JSON.stringify(join(c.dir, "cell.png"))}).arrayBuffer());
for (let i = 0; i < 2; i++) {
  run.log({ loss: 1 / (i + 1), preds: new Table(["id", "img"], [[i, new Image(img, { caption: "c" })]]), voice: new Audio([0, 0.5, -0.5, 0], { sampleRate: 4 }) }, { step: i });
}
run.finish();
console.log("uploaded=" + (await (run as any).uploaded));
`,
    );
    // a 1x1 PNG
    const png = Buffer.from("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360f8cf00000301010018dd8db40000000049454e44ae426082", "hex");
    await Bun.write(join(c.dir, "cell.png"), png);
    const p = Bun.spawn([process.execPath, script], { env: { ...isolatedEnv(join(c.dir, "ts")), RUNICORN_SERVER: team.url, RUNICORN_TOKEN: token }, stdout: "pipe", stderr: "pipe" });
    const [out, err] = [await new Response(p.stdout).text(), await new Response(p.stderr).text()];
    expect({ code: await p.exited, err }).toEqual({ code: 0, err: "" });
    expect(out).toContain("uploaded=true");
    const tables = (await call(team.url, token, "GET", `/api/runs/${id}/tables`)).body as { tables: { path: string; rows: number }[] };
    expect(tables.tables.map((x) => x.rows)).toEqual([1, 1]);
    const data = (await call(team.url, token, "GET", `/api/runs/${id}/tables/data?path=${encodeURIComponent(tables.tables[1].path)}`)).body;
    expect(data.rows[0][0]).toBe(1);
    const cell = await fetch(team.url + data.rows[0][1].url, { headers: auth() });
    expect({ status: cell.status, type: cell.headers.get("content-type"), same: png.equals(Buffer.from(await cell.arrayBuffer())) }).toEqual({ status: 200, type: "image/png", same: true });
    const audio = (await call(team.url, token, "GET", `/api/runs/${id}/audio`)).body as { audio: { url: string; sample_rate: number; duration: number }[] };
    expect(audio.audio.map((a) => [a.sample_rate, a.duration])).toEqual([[4, 1], [4, 1]]);
    expect((await fetch(team.url + audio.audio[0].url, { headers: auth() })).status).toBe(200);
  }, 60_000);

  it("answers an uploaded media file with the file mode's guarded headers: SVG sandboxed, HTML never sniffed", async () => {
    const put = (name: string, body: string) => fetch(`${team.url}/api/ingest/runs/${RUN_ID}/media/${name}`, { method: "PUT", headers: { ...auth(), "content-type": "application/octet-stream" }, body });
    expect((await put("evil.svg", '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')).status).toBe(200);
    expect((await put("page.html", "<script>alert(1)</script>")).status).toBe(200);
    expect((await put("..%2Fescape.png", "x")).status).toBe(400);
    const svg = await fetch(`${team.url}/api/runs/${RUN_ID}/media/evil.svg`, { headers: auth() });
    expect(svg.headers.get("content-type")).toBe("image/svg+xml");
    expect(svg.headers.get("content-security-policy")).toContain("sandbox");
    const html = await fetch(`${team.url}/api/runs/${RUN_ID}/media/page.html`, { headers: auth() });
    expect({ type: html.headers.get("content-type"), sniff: html.headers.get("x-content-type-options"), frame: html.headers.get("x-frame-options") }).toEqual({
      type: "application/octet-stream",
      sniff: "nosniff",
      frame: "DENY",
    });
    expect((await call(team.url, token, "GET", "/api/runs")).headers.get("content-security-policy")).toContain("default-src 'self'");
  });

  it("stores a retried batch's table and audio events once", async () => {
    const id = "20260105_000000_d3d3d3";
    const event = (type: string, path: string) => ({ ts: BASE, type, data: { key: "k", path, step: 1, rows: 1, columns: 1, sample_rate: 8000, duration: 0.5, caption: null } });
    expect((await call(team.url, token, "POST", "/api/ingest/runs", { run_id: id, path: "media/retry", meta: {}, status: { status: "running" } })).status).toBe(201);
    const batch = { seq: 1, events: [event("table", "media/t.table.json"), event("audio", "media/a.wav"), { ts: BASE, type: "table", data: { key: 5 } }] };
    for (let i = 0; i < 3; i++) expect((await call(team.url, token, "POST", `/api/ingest/runs/${id}/batches`, batch)).status).toBe(200);
    expect(((await call(team.url, token, "GET", `/api/runs/${id}/tables`)).body.tables as unknown[]).length).toBe(1);
    expect(((await call(team.url, token, "GET", `/api/runs/${id}/audio`)).body.audio as unknown[]).length).toBe(1);
    // the event names a file that never arrived: the table answers 404, nothing else breaks
    expect((await call(team.url, token, "GET", `/api/runs/${id}/tables/data?path=media/t.table.json`)).status).toBe(404);
  });

  it("keeps a run logged while the server is down in the spool, and runicorn sync delivers its tables and audio", async () => {
    const port = await freePort();
    const env = { ...isolatedEnv(join(c.dir, "late")), RUNICORN_SERVER: `http://127.0.0.1:${port}`, RUNICORN_TOKEN: token, RUNICORN_FINISH_TIMEOUT: "0" };
    await python(LATE_ID, env);
    const late = await startReplica(c.db, join(c.dir, "team-root"), port);
    try {
      expect((await call(late.url, token, "GET", `/api/runs/${LATE_ID}`)).status).toBe(404);
      const sync = runCli(["sync"], env);
      expect({ code: sync.code, err: sync.stderr }).toMatchObject({ code: 0 });
      const tables = (await call(late.url, token, "GET", `/api/runs/${LATE_ID}/tables`)).body as { tables: { path: string }[] };
      expect(tables.tables.length).toBe(3);
      const body = (await call(late.url, token, "GET", `/api/runs/${LATE_ID}/tables/data?path=${encodeURIComponent(tables.tables[1].path)}`)).body;
      expect(body.rows.length).toBe(4);
      const audio = (await call(late.url, token, "GET", `/api/runs/${LATE_ID}/audio`)).body as { audio: { url: string; duration: number }[] };
      expect(audio.audio.map((a) => a.duration)).toEqual([0.025, 0.05, 0.075]);
      expect((await fetch(late.url + audio.audio[2].url, { headers: auth() })).status).toBe(200);
    } finally {
      await late.stop();
    }
  }, 60_000);
});
