// `runicorn import --tensorboard`: event files written by a protobuf writer built from TensorBoard's
// message definitions (test/importers/tb-writer, Debian's protoc + python3-protobuf) are imported
// through the real CLI, then read back value by value through a real server.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PROJECT, startTestServer, tempDir, waitFor, type TestServer } from "../helpers/server.ts";

const WRITER = join(import.meta.dir, "tb-writer");
const PY = "/usr/bin/python3"; // Debian's python3-protobuf installs for the system interpreter

type Manifest = Record<string, { scalars: [number, string, number | string | null][]; histograms: [number, string, number[], number[]][]; images: [number, string][]; texts: [number, string, string][]; hparams: Record<string, unknown> }>;

let t: ReturnType<typeof tempDir>;
let protoOut: string;

function write(logdir: string, first: number, last: number, torn = false): Manifest {
  const args = [PY, join(WRITER, "tb_write.py"), protoOut, logdir, String(first), String(last), ...(torn ? ["--torn"] : [])];
  const p = Bun.spawnSync(args, { stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`tb_write.py failed: ${p.stderr.toString()}`);
  return JSON.parse(p.stdout.toString());
}

function cli(args: string[], home: string): { code: number; out: string; err: string } {
  const p = Bun.spawnSync([process.execPath, join(PROJECT, "src/cli/main.ts"), ...args], {
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home },
  });
  return { code: p.exitCode ?? -1, out: p.stdout.toString(), err: p.stderr.toString() };
}

beforeAll(() => {
  t = tempDir("rn-tb-");
  protoOut = join(t.dir, "proto");
  mkdirSync(protoOut);
  const p = Bun.spawnSync(["protoc", `--proto_path=${WRITER}`, `--python_out=${protoOut}`, join(WRITER, "tb_event.proto")], { stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`protoc failed (apt: protobuf-compiler): ${p.stderr.toString()}`);
});
afterAll(() => t.cleanup());

/** Every metric value of a run through the compatible endpoint, as step → key → value. */
async function metricsByStep(server: TestServer, id: string): Promise<Map<number, Record<string, unknown>>> {
  const r = await server.api(`/api/runs/${id}/metrics_step`);
  expect(r.status).toBe(200);
  const out = new Map<number, Record<string, unknown>>();
  for (const row of r.body.rows) out.set(row.global_step, row);
  return out;
}

/** The last value written for each (step, tag) in the manifest. */
function expected(m: Manifest[string]): Map<string, number | string | null> {
  const out = new Map<string, number | string | null>();
  for (const [step, tag, v] of m.scalars) out.set(`${step}\0${tag}`, v);
  return out;
}

describe("runicorn import --tensorboard", () => {
  let server: TestServer;
  let logdir: string;
  let first: Manifest;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    server = await startTestServer({ sweepSeconds: 1 });
    logdir = join(t.dir, "tb", "my_logs");
    mkdirSync(logdir, { recursive: true });
    first = write(logdir, 0, 40, true);
  });
  afterAll(async () => server?.close());

  it("turns each folder of event files into a run under the folder's name", async () => {
    const r = cli(["import", "--tensorboard", logdir, "--root", server.root, "--json"], t.dir);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.out);
    expect(result.runs.map((x: { path: string }) => x.path).sort()).toEqual(["my_logs/exp1/eval", "my_logs/exp1/train"]);
    for (const x of result.runs) ids[x.path.split("/").pop()] = x.id;
    expect(ids.train).toMatch(/^\d{8}_\d{6}_[0-9a-f]{6}$/);
    const list = await waitFor(async () => {
      const l = await server.api("/api/runs");
      return l.body.length === 2 ? l.body : undefined;
    }, 15000, "the imported runs in the list");
    const train = list.find((x: { id: string }) => x.id === ids.train);
    expect(train).toMatchObject({ path: "my_logs/exp1/train", alias: "exp1/train", status: "finished", created_time: 1700000000 });
  });

  it("serves every scalar of every run with the value that was written (float32 exact)", async () => {
    for (const name of ["train", "eval"]) {
      const rows = await metricsByStep(server, ids[name]);
      const want = expected(first[`exp1/${name}`]);
      let checked = 0;
      for (const [k, v] of want) {
        const [stepText, tag] = k.split("\0");
        const step = Number(stepText);
        if (step >= 40) continue; // the torn record is not complete yet
        const got = rows.get(step)?.[tag];
        if (typeof v === "number") {
          expect(typeof got).toBe("number");
          expect(Math.fround(got as number)).toBe(Math.fround(v));
          if (tag === "lr") expect(got).toBe(v); // doubles stay doubles
        } else expect(got).toBeNull(); // NaN and ±Infinity are null in metrics_step (spec §3.3)
        checked++;
      }
      expect(checked).toBeGreaterThan(name === "train" ? 100 : 5);
    }
  });

  it("writes floats with the fewest digits and keeps NaN and infinities in the file", () => {
    const dir = join(server.root, "runs/my_logs/exp1/eval", ids.eval);
    const text = readFileSync(join(dir, "events.jsonl"), "utf8");
    expect(text).toContain('"val_loss": Infinity');
    expect(text).toContain('"val_loss": -Infinity');
    expect(text).toContain('"val_loss": NaN');
    const train = readFileSync(join(server.root, "runs/my_logs/exp1/train", ids.train, "events.jsonl"), "utf8");
    expect(train).toContain('"loss/train": 1.1,');
    expect(train).not.toContain("1.100000023841858");
  });

  it("imports histograms as bins, images as media, text into the log and hparams into the config", async () => {
    const dir = join(server.root, "runs/my_logs/exp1/train", ids.train);
    const hist = readFileSync(join(dir, "histograms.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    const want = first["exp1/train"].histograms;
    expect(hist.length).toBe(want.length);
    for (let i = 0; i < want.length; i++) {
      expect(hist[i]).toMatchObject({ step: want[i][0], key: want[i][1], edges: want[i][2], counts: want[i][3] });
    }
    const api = await server.api(`/api/runs/${ids.train}/histograms?key=weights`);
    expect(api.status).toBe(200);
    expect(api.body.steps.map((x: { step: number; counts: number[] }) => [x.step, x.counts])).toEqual(
      want.filter((h) => h[1] === "weights").map((h) => [h[0], h[3]]),
    );
    const images = await server.api(`/api/runs/${ids.train}/images`);
    expect(images.status).toBe(200);
    const got = images.body.images.map((x: { key: string; step: number }) => [x.step, x.key]).sort();
    expect(got).toEqual([...first["exp1/train"].images].sort());
    const media = await fetch(server.url + images.body.images[0].url);
    expect(media.status).toBe(200);
    expect(new Uint8Array(await media.arrayBuffer()).slice(0, 4)).toEqual(new Uint8Array([0x89, 0x50, 0x4e, 0x47]));
    const log = readFileSync(join(dir, "logs.txt"), "utf8");
    for (const [step, tag, text] of first["exp1/train"].texts) expect(log).toContain(`[${tag} @ step ${step}] ${text}`);
    const detail = await server.api(`/api/runs/${ids.train}`);
    expect(detail.body.assets.config.extra).toEqual({ lr: 0.001, optimizer: "adam", use_bn: true });
    expect(detail.body.hostname).toBe("gpu1");
  });

  it("imports only what is new when run again, finishing a record that was torn", async () => {
    const again = cli(["import", "--tensorboard", logdir, "--root", server.root, "--json"], t.dir);
    expect(JSON.parse(again.out).scalars).toBe(0);
    // the writer finishes its half-written record, then logs steps 41..59
    appendFileSync(readFileSync(join(logdir, "torn.file"), "utf8"), readFileSync(join(logdir, "torn.rest")));
    const more = write(logdir, 41, 60);
    const r = cli(["import", "--tensorboard", logdir, "--root", server.root, "--json"], t.dir);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.out);
    const newScalars = more["exp1/train"].scalars.length + more["exp1/eval"].scalars.length + 1;
    expect(result.scalars).toBe(newScalars);
    expect(result.runs.every((x: { created: boolean }) => !x.created)).toBe(true);
    const rows = (await waitFor(async () => {
      const m = await metricsByStep(server, ids.train);
      return m.has(59) ? m : undefined;
    }, 15000, "the new steps"))!;
    expect(rows.get(40)?.["loss/train"]).toBe(0.5);
    for (let s = 0; s < 60; s++) expect(rows.has(s)).toBe(true);
    const lines = readFileSync(join(server.root, "runs/my_logs/exp1/train", ids.train, "events.jsonl"), "utf8").trim().split("\n");
    const steps = lines.filter((l) => l.includes('"metrics"')).map((l) => JSON.parse(l.replace(/NaN|-?Infinity/g, "null")).data.global_step);
    expect(new Set(steps).size).toBe(steps.length); // no step written twice
  });

  it("reports a corrupt file and imports the rest", () => {
    const bad = join(t.dir, "tb", "corrupt");
    mkdirSync(join(bad, "ok"), { recursive: true });
    mkdirSync(join(bad, "broken"), { recursive: true });
    write(join(bad, "ok"), 0, 5);
    const src = join(bad, "ok", "exp1", "eval");
    const name = readdirSync(src)[0];
    const bytes = new Uint8Array(readFileSync(join(src, name)));
    bytes[bytes.length - 30] ^= 0xff; // flip a byte inside the last record's data
    mkdirSync(join(bad, "broken", "run"), { recursive: true });
    writeFileSync(join(bad, "broken", "run", name), bytes);
    const root = join(t.dir, "corrupt-root");
    const r = cli(["import", "--tensorboard", bad, "--root", root], t.dir);
    expect(r.code).toBe(0);
    expect(r.err).toContain("bad data checksum");
    expect(r.out).toContain("corrupt/broken/run");
  });

  it("says clearly when the folder is missing or holds no event files", () => {
    const missing = cli(["import", "--tensorboard", join(t.dir, "nope"), "--root", join(t.dir, "r2")], t.dir);
    expect(missing.code).toBe(1);
    expect(missing.err.trim().split("\n").at(-1)).toMatch(/^Import failed: cannot read .*nope/);
    mkdirSync(join(t.dir, "empty"));
    const empty = cli(["import", "--tensorboard", join(t.dir, "empty"), "--root", join(t.dir, "r2")], t.dir);
    expect(empty.code).toBe(1);
    expect(empty.err).toContain("no TensorBoard event files");
  });

  it("never writes through a symlinked folder inside the storage root", () => {
    const root = join(t.dir, "evil-root");
    const outside = join(t.dir, "outside");
    mkdirSync(join(root, "runs"), { recursive: true });
    mkdirSync(outside);
    symlinkSync(outside, join(root, "runs", "my_logs"));
    const r = cli(["import", "--tensorboard", logdir, "--root", root], t.dir);
    expect(r.code).toBe(1);
    expect(r.err).toContain("outside the storage root");
    expect(readdirSync(outside)).toEqual([]);
  });

  it("lets --path choose where the runs go", () => {
    const root = join(t.dir, "path-root");
    const r = cli(["import", "--tensorboard", logdir, "--root", root, "--path", "imported/tb v1"], t.dir);
    expect(r.code).toBe(0);
    expect(existsSync(join(root, "runs", "imported", "tb_v1", "exp1", "train"))).toBe(true);
  });
});
