// `runicorn import --mlflow`: an MLflow file store laid out as MLflow writes it (meta.yaml with numeric
// status and ms times, one file per metric with `timestamp value step` lines, params, tags, nested
// keys) is imported through the real CLI and read back value by value through a real server.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { PROJECT, startTestServer, tempDir, waitFor, type TestServer } from "../helpers/server.ts";

function put(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

function cli(args: string[], home: string): { code: number; out: string; err: string } {
  const p = Bun.spawnSync([process.execPath, join(PROJECT, "src/cli/main.ts"), ...args], {
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home },
  });
  return { code: p.exitCode ?? -1, out: p.stdout.toString(), err: p.stderr.toString() };
}

const RUN_A = "0123456789abcdef0123456789abcdef";
const RUN_B = "fedcba9876543210fedcba9876543210";
const RUN_DEL = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/** An mlruns tree: experiment 0 (Default, empty), experiment 1 "lr sweep" with two runs and a deleted one. */
function writeMlruns(dir: string): { lossA: [number, number, number][]; accA: [number, number, number][] } {
  put(join(dir, ".trash", "x"), "");
  put(join(dir, "0", "meta.yaml"), "artifact_location: file:///tmp/mlruns/0\nexperiment_id: '0'\nlifecycle_stage: active\nname: Default\n");
  put(join(dir, "1", "meta.yaml"), "artifact_location: file:///tmp/mlruns/1\ncreation_time: 1700000000000\nexperiment_id: '1'\nlast_update_time: 1700000000000\nlifecycle_stage: active\nname: lr sweep\n");
  const a = join(dir, "1", RUN_A);
  put(
    join(a, "meta.yaml"),
    `artifact_uri: file:///tmp/mlruns/1/${RUN_A}/artifacts\nend_time: 1700000100000\nentry_point_name: ''\nexperiment_id: '1'\nlifecycle_stage: active\nrun_id: ${RUN_A}\nrun_name: brave-owl-42\nrun_uuid: ${RUN_A}\nsource_name: ''\nsource_type: 4\nsource_version: ''\nstart_time: 1700000000000\nstatus: 3\ntags: []\nuser_id: alice\n`,
  );
  const lossA: [number, number, number][] = [];
  const accA: [number, number, number][] = [];
  let loss = "";
  let acc = "";
  for (let s = 0; s < 50; s++) {
    const ts = 1700000000000 + s * 1000;
    const l = 1 / (s + 1) + 0.123456789;
    lossA.push([s, l, ts]);
    loss += `${ts} ${l} ${s}\n`;
    if (s % 10 === 0) {
      const v = s / 100;
      accA.push([s, v, ts + 5]);
      acc += `${ts + 5} ${v} ${s}\n`;
    }
  }
  put(join(a, "metrics", "loss"), loss);
  put(join(a, "metrics", "val", "acc"), acc); // a key with a slash is a nested file
  put(join(a, "params", "lr"), "0.001");
  put(join(a, "params", "optimizer"), "adam");
  put(join(a, "params", "layers"), "4");
  put(join(a, "params", "use_bn"), "True");
  put(join(a, "tags", "mlflow.runName"), "brave-owl-42");
  put(join(a, "tags", "mlflow.user"), "alice");
  put(join(a, "tags", "team"), "vision");
  put(join(a, "tags", "mlflow.note.content"), "baseline with **adam**");
  const b = join(dir, "1", RUN_B);
  put(join(b, "meta.yaml"), `experiment_id: '1'\nlifecycle_stage: active\nrun_id: ${RUN_B}\nstart_time: 1700000200000\nend_time: 1700000300000\nstatus: 4\nuser_id: bob\n`);
  put(join(b, "metrics", "loss"), "1700000200000 nan 0\n1700000201000 0.5 1\n1700000202000 0.25 2\n");
  put(join(b, "tags", "mlflow.runName"), "failed-run");
  const d = join(dir, "1", RUN_DEL);
  put(join(d, "meta.yaml"), `experiment_id: '1'\nlifecycle_stage: deleted\nrun_id: ${RUN_DEL}\nstart_time: 1700000000000\nstatus: 3\n`);
  return { lossA, accA };
}

describe("runicorn import --mlflow", () => {
  let t: ReturnType<typeof tempDir>;
  let server: TestServer;
  let mlruns: string;
  let written: ReturnType<typeof writeMlruns>;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    t = tempDir("rn-mlflow-");
    mlruns = join(t.dir, "project", "mlruns");
    written = writeMlruns(mlruns);
    server = await startTestServer({ sweepSeconds: 1 });
  });
  afterAll(async () => {
    await server?.close();
    t.cleanup();
  });

  it("imports every live run of every experiment under mlflow/<experiment>", async () => {
    // the project folder that holds mlruns/ is accepted too
    const r = cli(["import", "--mlflow", join(t.dir, "project"), "--root", server.root, "--json"], t.dir);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.out);
    expect(result.runs.length).toBe(2);
    expect(result.skipped.map((s: { reason: string }) => s.reason)).toEqual(["run is deleted in MLflow"]);
    for (const x of result.runs) ids[x.mlflow_run_id] = x.id;
    expect(result.runs.every((x: { path: string }) => x.path === "mlflow/lr_sweep")).toBe(true);
    const list = await waitFor(async () => {
      const l = await server.api("/api/runs");
      return l.body.length === 2 ? l.body : undefined;
    }, 15000, "the imported runs");
    const a = list.find((x: { id: string }) => x.id === ids[RUN_A]);
    expect(a).toMatchObject({ alias: "brave-owl-42", status: "finished", created_time: 1700000000, tags: ["team:vision"] });
    const b = list.find((x: { id: string }) => x.id === ids[RUN_B]);
    expect(b).toMatchObject({ alias: "failed-run", status: "failed" });
  });

  it("serves every metric point with its step, value and time", async () => {
    const r = await server.api(`/api/runs/${ids[RUN_A]}/metrics_step`);
    expect(r.status).toBe(200);
    const rows = new Map<number, Record<string, number>>();
    for (const row of r.body.rows) rows.set(row.global_step, row);
    for (const [step, v, ts] of written.lossA) {
      expect(rows.get(step)?.loss).toBe(v);
      expect(rows.get(step)!.time).toBeGreaterThanOrEqual(ts / 1000);
    }
    for (const [step, v] of written.accA) expect(rows.get(step)?.["val/acc"]).toBe(v);
    expect(rows.size).toBe(50);
    const b = await server.api(`/api/runs/${ids[RUN_B]}/metrics_step`);
    expect(b.body.rows.map((x: { loss: number | null }) => x.loss)).toEqual([null, 0.5, 0.25]);
  });

  it("puts params in the config (typed), the note in meta.json and times in status.json", async () => {
    const d = await server.api(`/api/runs/${ids[RUN_A]}`);
    expect(d.body.assets.config.extra).toEqual({ lr: 0.001, optimizer: "adam", layers: 4, use_bn: true });
    expect(d.body).toMatchObject({ start_time: 1700000000, ended_at: 1700000100, duration: 100 });
    const meta = JSON.parse(readFileSync(join(d.body.run_dir, "meta.json"), "utf8"));
    expect(meta.notes).toBe("baseline with **adam**");
    expect(meta.imported_from).toMatchObject({ kind: "mlflow", source_id: RUN_A });
  });

  it("imports only new points when run again", async () => {
    const again = cli(["import", "--mlflow", mlruns, "--root", server.root, "--json"], t.dir);
    expect(JSON.parse(again.out).points).toBe(0);
    appendFileSync(join(mlruns, "1", RUN_A, "metrics", "loss"), "1700000050000 0.05 50\n1700000051000 0.04 51\n1700000052000 0.03");
    const r = cli(["import", "--mlflow", mlruns, "--root", server.root, "--json"], t.dir);
    expect(JSON.parse(r.out).points).toBe(2); // the last line has no newline yet: it waits
    const rows = await waitFor(async () => {
      const m = await server.api(`/api/runs/${ids[RUN_A]}/metrics_step`);
      return m.body.rows.length === 52 ? m.body.rows : undefined;
    }, 15000, "two new steps");
    expect(rows.at(-1)).toMatchObject({ global_step: 51, loss: 0.04 });
  });

  it("says clearly when the folder is not an MLflow store", () => {
    mkdirSync(join(t.dir, "not-mlflow"));
    const r = cli(["import", "--mlflow", join(t.dir, "not-mlflow"), "--root", join(t.dir, "r")], t.dir);
    expect(r.code).toBe(1);
    expect(r.err).toContain("no MLflow experiments");
    const both = cli(["import", "--mlflow", mlruns, "--tensorboard", mlruns, "--root", join(t.dir, "r")], t.dir);
    expect(both.code).toBe(2);
  });
});
