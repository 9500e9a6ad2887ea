// A TS SDK process and a Python SDK process log the same Histogram/Table/Audio values: same files, same API answers (real server).
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PROJECT, startTestServer, type TestServer, waitFor } from "../helpers/server.ts";

const PY_SDK = join(PROJECT, "sdk", "python");
const TS_SDK = join(PROJECT, "src", "sdk", "runicorn.ts");
let srv: TestServer;
const dirs: Record<string, string> = {};

// 1x1 PNG. Values are never integral floats: Python writes 1.0 where a JS number can only be 1 (docs/SDK.md).
const PX = "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c63f8cfc0f01f0005000201a5f1d6e40000000049454e44ae426082";

const PY = `
import math, runicorn as rn
run = rn.init(path="parity", run_id="py-run", system_metrics=False)
px = bytes.fromhex("${PX}")
vals = [math.sin(i * 0.37) * (1 + i % 7) / 3 for i in range(1000)] + [float("nan"), float("inf")]
for s in range(4):
    run.log({"loss": 1.0 / (s + 2), "w": rn.Histogram([v * (s + 1) for v in vals], bins=32)}, step=s)
run.log({"flat": rn.Histogram([2.5, 2.5, 2.5])}, step=4)
run.log({"pre": rn.Histogram(([3, 0, 5], [-1.5, 0.25, 1, 4]))}, step=4)
run.log({"empty": rn.Histogram([float("nan")])}, step=4)
rows = [[i, "cat" if i % 2 else "dog", i / 10 + 0.05, i % 3 == 0, None] for i in range(20)]
rows[2][4] = rn.Image(px, caption="px")
run.log({"preds": rn.Table(["id", "label", "score", "flag", "img"], rows)}, step=5)
tone = [math.sin(2 * math.pi * 440 * t / 8000) * 0.5 for t in range(4000)]
run.log({"tone": rn.Audio(tone, sample_rate=8000, caption="A4")}, step=6)
run.log({"stereo": rn.Audio([[0, 32767], [-32768, 100], [5, -5]], sample_rate=16000)}, step=7)
run.log({"copied": rn.Audio("in.wav")}, step=8)
run.finish()
`;

const TS = `
import { init, Histogram, Table, Image, Audio } from ${JSON.stringify(TS_SDK)};
const run = init({ path: "parity", runId: "ts-run", systemMetrics: false });
const px = Buffer.from("${PX}", "hex");
const vals = [];
for (let i = 0; i < 1000; i++) vals.push((Math.sin(i * 0.37) * (1 + (i % 7))) / 3);
vals.push(NaN, Infinity);
for (let s = 0; s < 4; s++) run.log({ loss: 1.0 / (s + 2), w: new Histogram(vals.map((v) => v * (s + 1)), { bins: 32 }) }, { step: s });
run.log({ flat: new Histogram([2.5, 2.5, 2.5]) }, { step: 4 });
run.log({ pre: new Histogram({ counts: [3, 0, 5], edges: [-1.5, 0.25, 1, 4] }) }, { step: 4 });
run.log({ empty: new Histogram([NaN]) }, { step: 4 });
const rows = [];
for (let i = 0; i < 20; i++) rows.push([i, i % 2 ? "cat" : "dog", i / 10 + 0.05, i % 3 === 0, null]);
rows[2][4] = new Image(px, { caption: "px" });
run.log({ preds: new Table(["id", "label", "score", "flag", "img"], rows) }, { step: 5 });
const tone = [];
for (let t = 0; t < 4000; t++) tone.push(Math.sin((2 * Math.PI * 440 * t) / 8000) * 0.5);
run.log({ tone: new Audio(tone, { sampleRate: 8000, caption: "A4" }) }, { step: 6 });
run.log({ stereo: new Audio([[0, 32767], [-32768, 100], [5, -5]], { sampleRate: 16000 }) }, { step: 7 });
run.log({ copied: new Audio("in.wav") }, { step: 8 });
run.finish();
`;

async function exec(cmd: string[], env: Record<string, string>): Promise<void> {
  const p = Bun.spawn(cmd, {
    cwd: srv.dir,
    env: { PATH: `${process.env.PATH}:/usr/bin:/bin`, HOME: join(srv.dir, "home"), RUNICORN_DIR: srv.root, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited ${code}: ${out}\n${err}`);
}

/** What differs by nature between two runs (ids, times, random file names) is replaced by placeholders. */
function neutral(v: unknown): unknown {
  return JSON.parse(
    JSON.stringify(v)
      .replaceAll(/(py|ts)-run/g, "RUN")
      .replaceAll(/\d{13}_[0-9a-f]{6}_/g, "NAME_")
      .replaceAll(/"ts":[0-9.e+]+/g, '"ts":0'),
  );
}

beforeAll(async () => {
  srv = await startTestServer();
  // a WAV written by Python's wave module, copied by both SDKs
  await exec(["python3", "-c", "import wave\nw = wave.open('in.wav', 'wb'); w.setnchannels(1); w.setsampwidth(2); w.setframerate(11025); w.writeframes(bytes(2205 * 2)); w.close()"], {});
  await exec(["python3", "-c", PY], { PYTHONPATH: PY_SDK });
  writeFileSync(join(srv.dir, "parity.ts"), TS);
  await exec([process.execPath, "run", join(srv.dir, "parity.ts")], {});
  for (const id of ["py-run", "ts-run"]) {
    await waitFor(async () => (await srv.api(`/api/runs/${id}`)).status === 200, 15000, `run ${id} in the index`);
    dirs[id] = (await srv.api(`/api/runs/${id}`)).body.run_dir;
  }
}, 60000);

afterAll(async () => {
  await srv?.close();
});

describe("the TS SDK's Histogram, Table and Audio", () => {
  it("write histograms.jsonl lines equal to Python's, byte for byte apart from the time", () => {
    const lines = (id: string) => readFileSync(join(dirs[id], "histograms.jsonl"), "utf8").replaceAll(/"ts": [0-9.e+]+/g, '"ts": 0');
    const py = lines("py-run");
    expect(py.split("\n").length).toBe(8);
    expect(lines("ts-run")).toBe(py);
  });

  it("write the same table/audio event lines and metrics lines into events.jsonl", () => {
    const shape = (id: string) =>
      readFileSync(join(dirs[id], "events.jsonl"), "utf8")
        .replaceAll(/\d{13}_[0-9a-f]{6}_/g, "NAME_")
        .replaceAll(/"(ts|time)": [0-9.e+]+/g, '"$1": 0')
        .split("\n");
    const py = shape("py-run");
    expect(py.filter((l) => l.includes('"type": "table"')).length).toBe(1);
    expect(py.filter((l) => l.includes('"type": "audio"')).length).toBe(3);
    expect(shape("ts-run")).toEqual(py);
  });

  it("write the same WAV bytes and the same table file", async () => {
    for (const key of ["tone", "stereo", "copied"]) {
      const clip = async (id: string) => {
        const a = (await srv.api(`/api/runs/${id}/audio`)).body.audio.find((x: any) => x.key === key);
        return Buffer.from(await (await fetch(srv.url + a.url)).arrayBuffer());
      };
      const py = await clip("py-run");
      expect(py.length).toBeGreaterThan(44);
      expect((await clip("ts-run")).equals(py)).toBe(true);
    }
    const table = (id: string) => {
      const ev = readFileSync(join(dirs[id], "events.jsonl"), "utf8").split("\n").find((l) => l.includes('"type": "table"'))!;
      return readFileSync(join(dirs[id], JSON.parse(ev).data.path), "utf8").replaceAll(/\d{13}_[0-9a-f]{6}_/g, "NAME_");
    };
    expect(table("ts-run")).toBe(table("py-run"));
  });

  it("get the same answers from the histograms, tables and audio endpoints", async () => {
    const answers = async (id: string) => {
      const out: unknown[] = [];
      const keys = (await srv.api(`/api/runs/${id}/histograms`)).body;
      out.push(keys);
      for (const k of keys.keys) out.push((await srv.api(`/api/runs/${id}/histograms?key=${k.key}`)).body);
      const tables = (await srv.api(`/api/runs/${id}/tables`)).body;
      out.push(tables);
      for (const t of tables.tables) out.push((await srv.api(`/api/runs/${id}/tables/data?path=${encodeURIComponent(t.path)}`)).body);
      out.push((await srv.api(`/api/runs/${id}/audio`)).body);
      out.push((await srv.api(`/api/runs/${id}/metrics_step`)).body.rows.map((r: any) => [r.global_step, r.loss]));
      out.push((await srv.api(`/api/runs/${id}/keys`)).body.keys.map((k: any) => k.key ?? k));
      return neutral(out);
    };
    const py = await answers("py-run");
    expect(JSON.stringify(py)).toContain('"key":"w","steps":4');
    expect(JSON.stringify(py)).toContain('"duration":0.5');
    expect(await answers("ts-run")).toEqual(py);
  });

  it("refuse bad values with clear errors before anything is written", async () => {
    const { Histogram, Table, Audio, Image } = await import(TS_SDK);
    expect(() => new Histogram([1, 2], { bins: 0 })).toThrow(/bins must be an integer from 1 to 512/);
    expect(() => new Histogram(["a"])).toThrow(TypeError);
    expect(() => new Histogram({ counts: [1, 2], edges: [0, 1] })).toThrow(/edges.length === counts.length \+ 1/);
    expect(() => new Histogram({ counts: [1], edges: [1, 0] })).toThrow(/edges finite and increasing/);
    expect(() => new Table(["a"], Array(10001).fill([1]))).toThrow(/10001 rows; at most 10000/);
    expect(() => new Table(["a", "b"], [[1, 2], [3]])).toThrow(/row 1 has 1 cells; the table has 2 columns/);
    expect(() => new Table(["a"], [[NaN]])).toThrow(/is NaN; cells must be finite/);
    expect(() => new Table(["a"], [[{}]])).toThrow(TypeError);
    expect(() => new Table(["a", "a"], [])).toThrow(/unique/);
    expect(() => new Image(new Uint8Array([1, 2, 3]))).toThrow(/neither/);
    expect(() => new Audio([0.1, NaN], { sampleRate: 8000 })).toThrow(/sample 1 is NaN/);
    expect(() => new Audio([0.1, 1.5], { sampleRate: 8000 })).toThrow(/outside \[-1, 1\]/);
    expect(() => new Audio([[0.1, 0.2], [0.3]], { sampleRate: 8000 })).toThrow(/frame 1 has 1 channels, the first has 2/);
    expect(() => new Audio([0.1])).toThrow(/sampleRate must be an integer/);
    expect(() => new Audio("notes.txt")).toThrow(/only .wav, .mp3, .ogg, .flac/);
  });
});
