// Real Python SDK processes log rn.Table, rn.Audio and rn.Histogram; the API serves them back, values checked; bad input fails in the SDK.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { appendFileSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PROJECT, startTestServer, type TestServer, waitFor } from "../helpers/server.ts";

const SDK = join(PROJECT, "sdk", "python");
let srv: TestServer;
let runId = "";

async function py(code: string): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn(["python3", "-c", code], {
    cwd: srv.dir,
    env: { PATH: "/usr/bin:/bin", HOME: join(srv.dir, "home"), PYTHONPATH: SDK, RUNICORN_DIR: srv.root },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code: await p.exited, out, err };
}

const LOG = `
import math, runicorn as rn
run = rn.init(path="media/demo", run_id="media-1")
px = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c63f8cfc0f01f0005000201a5f1d6e40000000049454e44ae426082")
rows = [[i, "cat" if i % 2 else "dog", i / 10, i % 3 == 0, None if i == 4 else i * 2] for i in range(50)]
rows[0][4] = rn.Image(px, caption="first")
run.log({"loss": 0.5, "preds": rn.Table(["id", "label", "score", "flag", "extra"], rows)}, step=1)
run.log({"preds": rn.Table(["id"], [[7]])}, step=2)
tone = [math.sin(2 * math.pi * 440 * t / 8000) * 0.5 for t in range(8000)]
run.log({"tone": rn.Audio(tone, sample_rate=8000, caption="A4")}, step=1)
run.log({"stereo": rn.Audio([[0, 32767], [-32768, 100]], sample_rate=16000)}, step=2)
for s in range(5):
    run.log({"w": rn.Histogram([s + i / 100 for i in range(100)], bins=10)}, step=10 + s)
run.finish()
print(run.id)
`;

beforeAll(async () => {
  srv = await startTestServer();
  const r = await py(LOG);
  expect(r.err).not.toContain("Traceback");
  expect(r.code).toBe(0);
  runId = r.out.trim().split("\n").pop()!;
  await waitFor(async () => (await srv.api(`/api/runs/${runId}`)).status === 200, 15000, "the run in the index");
}, 60000);

afterAll(async () => {
  await srv?.close();
});

describe("the run's metrics", () => {
  it("are unchanged by the table and audio lines beside them in events.jsonl", async () => {
    const keys = await srv.api(`/api/runs/${runId}/keys`);
    expect(keys.status).toBe(200);
    expect(JSON.stringify(keys.body)).toContain('"loss"');
    expect(JSON.stringify(keys.body)).not.toContain('"preds"');
    expect(JSON.stringify(keys.body)).not.toContain('"tone"');
    const rows = await srv.api(`/api/runs/${runId}/metrics_step`);
    expect(rows.status).toBe(200);
    expect(rows.body.rows.find((r: any) => r.global_step === 1)).toMatchObject({ loss: 0.5 });
    expect(rows.body.rows.filter((r: any) => r.loss !== null && r.loss !== undefined).length).toBe(1);
    expect(rows.body.columns).not.toContain("preds");
  });
});

describe("tables", () => {
  it("lists each logged table with its key, step and row and column counts", async () => {
    const r = await srv.api(`/api/runs/${runId}/tables`);
    expect(r.status).toBe(200);
    expect(r.body.tables.map((t: any) => [t.key, t.step, t.rows, t.columns])).toEqual([
      ["preds", 1, 50, 5],
      ["preds", 2, 1, 1],
    ]);
    expect(r.body.tables[0].path).toMatch(/^media\/.*_preds\.table\.json$/);
  });

  it("returns every row with the logged values and image cells pointing at a served PNG", async () => {
    const list = (await srv.api(`/api/runs/${runId}/tables`)).body.tables;
    const r = await srv.api(`/api/runs/${runId}/tables/data?path=${encodeURIComponent(list[0].path)}`);
    expect(r.status).toBe(200);
    expect(r.body.key).toBe("preds");
    expect(r.body.step).toBe(1);
    expect(r.body.columns).toEqual(["id", "label", "score", "flag", "extra"]);
    expect(r.body.rows.length).toBe(50);
    expect(r.body.rows[3]).toEqual([3, "cat", 0.3, true, 6]);
    expect(r.body.rows[4][4]).toBeNull();
    const img = r.body.rows[0][4];
    expect(img._type).toBe("image");
    expect(img.caption).toBe("first");
    const png = await fetch(srv.url + img.url);
    expect(png.status).toBe(200);
    expect(png.headers.get("content-type")).toBe("image/png");
    expect(Buffer.from(await png.arrayBuffer()).subarray(1, 4).toString()).toBe("PNG");
  });

  it("refuses table paths outside media/ or of another kind with a clear 4xx", async () => {
    for (const p of ["../meta.json", "media/../meta.json", "media/x.png", "/etc/passwd"]) {
      const r = await srv.api(`/api/runs/${runId}/tables/data?path=${encodeURIComponent(p)}`);
      expect(r.status).toBe(400);
      expect(typeof r.body.detail).toBe("string");
    }
    const missing = await srv.api(`/api/runs/${runId}/tables/data?path=media%2Fnope.table.json`);
    expect(missing.status).toBe(404);
    expect(missing.body.detail).toBe("Table not found");
  });

  it("does not follow a table file that is a link out of the run", async () => {
    const runDir = (await srv.api(`/api/runs/${runId}`)).body.run_dir as string;
    writeFileSync(join(srv.dir, "secret.table.json"), JSON.stringify({ columns: ["s"], rows: [["secret"]] }));
    symlinkSync(join(srv.dir, "secret.table.json"), join(runDir, "media", "evil.table.json"));
    const r = await srv.api(`/api/runs/${runId}/tables/data?path=media%2Fevil.table.json`);
    expect(r.status).toBe(404);
    expect(JSON.stringify(r.body)).not.toContain("secret\"]");
  });
});

describe("audio", () => {
  it("lists audio with sample rate, duration and caption", async () => {
    const r = await srv.api(`/api/runs/${runId}/audio`);
    expect(r.status).toBe(200);
    const [tone, stereo] = r.body.audio;
    expect([tone.key, tone.step, tone.sample_rate, tone.duration, tone.caption]).toEqual(["tone", 1, 8000, 1, "A4"]);
    expect([stereo.key, stereo.step, stereo.sample_rate]).toEqual(["stereo", 2, 16000]);
    expect(tone.url).toMatch(new RegExp(`^/api/runs/${runId}/audio/.*_tone\\.wav$`));
  });

  it("serves a 16-bit PCM WAV with audio/wav whose samples are the ones logged", async () => {
    const stereo = (await srv.api(`/api/runs/${runId}/audio`)).body.audio[1];
    const res = await fetch(srv.url + stereo.url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("audio/wav");
    const b = Buffer.from(await res.arrayBuffer());
    expect(b.toString("ascii", 0, 4)).toBe("RIFF");
    expect(b.toString("ascii", 8, 12)).toBe("WAVE");
    expect(b.readUInt16LE(20)).toBe(1); // PCM
    expect(b.readUInt16LE(22)).toBe(2); // channels
    expect(b.readUInt32LE(24)).toBe(16000);
    expect(b.readUInt16LE(34)).toBe(16); // bits per sample
    const data = b.indexOf("data");
    expect(b.readUInt32LE(data + 4)).toBe(8);
    expect([0, 1, 2, 3].map((i) => b.readInt16LE(data + 8 + 2 * i))).toEqual([0, 32767, -32768, 100]);
  });

  it("serves only audio files of the run's media folder", async () => {
    const list = (await srv.api(`/api/runs/${runId}/audio`)).body.audio;
    const tableName = (await srv.api(`/api/runs/${runId}/tables`)).body.tables[0].path.slice(6);
    for (const f of [encodeURIComponent("../meta.json"), "..%2Fmeta.wav", encodeURIComponent(tableName), "missing.wav"]) {
      const r = await fetch(`${srv.url}/api/runs/${runId}/audio/${f}`);
      expect(r.status).toBe(404);
      expect((await r.json()).detail).toBeString();
    }
    expect(list.length).toBe(2);
  });
});

describe("histograms", () => {
  it("serves the bins logged by rn.Histogram per step", async () => {
    const keys = await srv.api(`/api/runs/${runId}/histograms`);
    expect(keys.body.keys).toEqual([{ key: "w", steps: 5, first_step: 10, last_step: 14 }]);
    const r = await srv.api(`/api/runs/${runId}/histograms?key=w`);
    expect(r.body.steps.map((s: any) => s.step)).toEqual([10, 11, 12, 13, 14]);
    expect(r.body.steps[2].counts).toEqual(Array(10).fill(10));
    expect(r.body.steps[2].min).toBe(2);
    expect(r.body.steps[2].max).toBeCloseTo(2.99, 10);
  });

  it("sees histograms appended after the first query, and a torn last line only once it is complete", async () => {
    const runDir = (await srv.api(`/api/runs/${runId}`)).body.run_dir as string;
    const file = join(runDir, "histograms.jsonl");
    const before = readFileSync(file, "utf8").split("\n").filter(Boolean).length;
    expect(before).toBe(5);
    const line = JSON.stringify({ ts: 1, step: 20, key: "w", edges: [0, 1, 2], counts: [3, 4], count: 7, sum: 7, min: 0, max: 2 });
    appendFileSync(file, line.slice(0, 30));
    let r = await srv.api(`/api/runs/${runId}/histograms?key=w`);
    expect(r.body.total).toBe(5);
    appendFileSync(file, line.slice(30) + "\n");
    r = await srv.api(`/api/runs/${runId}/histograms?key=w`);
    expect(r.body.total).toBe(6);
    expect(r.body.steps[5]).toMatchObject({ step: 20, counts: [3, 4] });
    // a step logged again replaces the earlier one
    appendFileSync(file, JSON.stringify({ ts: 2, step: 11, key: "w", edges: [0, 1], counts: [9] }) + "\n");
    r = await srv.api(`/api/runs/${runId}/histograms?key=w`);
    expect(r.body.steps.map((s: any) => s.step)).toEqual([10, 11, 12, 13, 14, 20]);
    expect(r.body.steps[1].counts).toEqual([9]);
    // a line with the key and step but no valid bins is left out, and so is a key written after the bins
    appendFileSync(file, '{"ts": 3, "step": 21, "key": "w", "edges": "bad", "counts": [1]}\n');
    appendFileSync(file, JSON.stringify({ edges: [0, 1], counts: [5], step: 22, key: "w" }) + "\n");
    r = await srv.api(`/api/runs/${runId}/histograms?key=w`);
    expect(r.body.steps.map((s: any) => s.step)).toEqual([10, 11, 12, 13, 14, 20, 22]);
    expect(r.body.total).toBe(7);
    expect((await srv.api(`/api/runs/${runId}/histograms`)).body.keys).toEqual([{ key: "w", steps: 7, first_step: 10, last_step: 22 }]);
  });

  it("returns the chosen range of steps and samples them evenly", async () => {
    const r = await srv.api(`/api/runs/${runId}/histograms?key=w&from=11&to=13`);
    expect(r.body.steps.map((s: any) => s.step)).toEqual([11, 12, 13]);
    const s = await srv.api(`/api/runs/${runId}/histograms?key=w&points=2`);
    expect(s.body.steps.map((x: any) => x.step)).toEqual([10, 22]);
    expect(s.body.sampled).toBe(true);
    const bad = await srv.api(`/api/runs/${runId}/histograms?key=w&points=1`);
    expect(bad.status).toBe(422);
  });
});

describe("numpy input", () => {
  const hasNumpy = Bun.spawnSync(["python3", "-c", "import numpy"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
  it.skipIf(!hasNumpy)("turns float and int16 arrays into the same 16-bit WAV samples as lists, and refuses NaN and bad shapes", async () => {
    const r = await py(`
import io, wave, numpy as np, runicorn as rn
def frames(a):
    w = wave.open(io.BytesIO(a.data)); return (w.getnchannels(), w.getframerate(), list(w.readframes(w.getnframes())))
print(frames(rn.Audio(np.array([0.5, -1.0, 0.0], dtype=np.float32), sample_rate=8000)) == frames(rn.Audio([0.5, -1.0, 0.0], sample_rate=8000)))
print(frames(rn.Audio(np.array([[0, 1000], [-32768, 32767]], dtype=np.int16), sample_rate=16000)))
for bad in (np.zeros((2, 2, 2)), np.array([0.1, np.nan]), np.array([0.1, 1.5])):
    try:
        rn.Audio(bad, sample_rate=8000); print("accepted")
    except ValueError as e:
        print("ValueError", e)
print(rn.Table(["a", "b"], np.array([[1.5, 2], [3, 4]])).rows)
`);
    expect(r.err).toBe("");
    const lines = r.out.trim().split("\n");
    expect(lines[0]).toBe("True");
    expect(lines[1]).toBe("(2, 16000, [0, 0, 232, 3, 0, 128, 255, 127])");
    expect(lines[2]).toContain("ValueError Audio samples must have shape (frames,) or (frames, channels)");
    expect(lines[3]).toBe("ValueError Audio sample 1 is nan; samples must be finite");
    expect(lines[4]).toContain("ValueError Audio float sample 1 is 1.5, outside [-1, 1]");
    expect(lines[5]).toBe("[[1.5, 2.0], [3.0, 4.0]]");
  });
});

describe("the SDK refuses bad media with clear errors", () => {
  const cases: [string, string, RegExp][] = [
    ["too many rows", `rn.Table(["a"], [[1]] * 10001)`, /ValueError: Table has 10001 rows; at most 10000/],
    ["a row of the wrong width", `rn.Table(["a", "b"], [[1, 2], [3]])`, /ValueError: Table row 1 has 1 cells; the table has 2 columns/],
    ["a NaN cell", `rn.Table(["a"], [[float("nan")]])`, /ValueError: Table cell \(row 0, column 'a'\) is nan/],
    ["an object cell", `rn.Table(["a"], [[object()]])`, /TypeError: Table cell \(row 0, column 'a'\) is a object/],
    ["duplicate columns", `rn.Table(["a", "a"], [])`, /ValueError: Table column names must be unique/],
    ["NaN audio", `rn.Audio([0.1, float("nan")], sample_rate=8000)`, /ValueError: Audio sample 1 is nan/],
    ["audio out of range", `rn.Audio([0.1, 1.5], sample_rate=8000)`, /ValueError: Audio float sample 1 is 1.5, outside \[-1, 1\]/],
    ["ragged audio", `rn.Audio([[0.1, 0.2], [0.3]], sample_rate=8000)`, /ValueError: Audio frame 1 has 1 channels, the first has 2/],
    ["no sample rate", `rn.Audio([0.1])`, /ValueError: Audio sample_rate must be an integer/],
    ["an unsupported audio file", `rn.Audio("notes.txt")`, /ValueError: Audio file notes.txt: only .wav, .mp3, .ogg, .flac/],
  ];
  for (const [what, expr, msg] of cases) {
    it(`rejects ${what}`, async () => {
      const r = await py(`import runicorn as rn\n${expr}`);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(msg);
    });
  }
});
