// Cross test: Python training scripts write runs with sdk/python, our server reads them, runicorn.api queries them.
import { afterAll, describe, expect, it } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const REPO = join(import.meta.dir, "..", "..");
const SDK = join(REPO, "sdk", "python");
const root = mkdtempSync(join(tmpdir(), "rn-cross-"));
const env = { ...process.env, PYTHONPATH: SDK, XDG_CONFIG_HOME: join(root, "xdg"), RUNICORN_DIR: "" };

/** Runs a Python snippet to completion; returns exit code and output. */
async function py(code: string, extraEnv: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn(["python3", "-c", code], { cwd: root, env: { ...env, ...extraEnv }, stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code: await p.exited, out, err };
}

let server: { kill(): void; exited: Promise<number> } | undefined;
let url = "";
const ids: Record<string, string> = {};

/** Writes the runs, starts `runicorn serve` on port 0 and returns its URL. */
async function setup(): Promise<void> {
  const store = JSON.stringify(join(root, "data"));
  // 1. a normal run, 2. a crashed script, 3. two processes in one run, 4. a run killed with SIGKILL mid-run.
  const normal = await py(`import runicorn as rn
r = rn.init(path="cross/ok", storage=${store}, alias="good")
r.set_primary_metric("acc", mode="max")
for i in range(1, 201):
    r.log({"loss": 1.0 / i, "acc": i / 200.0}, stage="train" if i <= 150 else "eval")
r.log({"loss": float("nan"), "acc": 0.5})
r.log_text("done")
r.finish()
print(r.id)`);
  expect(normal.code).toBe(0);
  ids.ok = normal.out.trim();

  const crashed = await py(`import runicorn as rn
r = rn.init(path="cross/crash", storage=${store})
print(r.id, flush=True)
r.log({"loss": 1.0})
raise ValueError("diverged")`);
  expect(crashed.code).toBe(1);
  ids.crash = crashed.out.trim();

  const shared = `import runicorn as rn, sys
r = rn.init(path="cross/ddp", storage=${store}, run_id="20260101_000000_dd0001")
for i in range(1000):
    r.log({"rank": int(sys.argv[1]), "i": i})
r.finish()`;
  const ranks = [0, 1].map((rank) =>
    Bun.spawn(["python3", "-c", shared, String(rank)], { cwd: root, env, stdout: "ignore", stderr: "inherit" }));
  expect(await Promise.all(ranks.map((p) => p.exited))).toEqual([0, 0]);
  ids.ddp = "20260101_000000_dd0001";

  const victim = Bun.spawn(["python3", "-u", "-c", `import runicorn as rn, time
r = rn.init(path="cross/killed", storage=${store})
for i in range(50): r.log({"loss": i})
print(r.id, flush=True)
time.sleep(1.5)
print("flushed", flush=True)
time.sleep(60)`], { cwd: root, env, stdout: "pipe", stderr: "inherit" });
  const reader = victim.stdout.getReader();
  let text = "";
  while (!text.includes("flushed")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  victim.kill(9);
  await victim.exited;
  ids.killed = text.split("\n")[0].trim();
  // Pretend the kill happened two minutes ago, so that the heartbeat is stale for the server.
  const statusPath = join(root, "data", "runs", "cross", "killed", ids.killed, "status.json");
  const st = JSON.parse(readFileSync(statusPath, "utf8"));
  st.heartbeat_at -= 120;
  writeFileSync(statusPath, JSON.stringify(st, null, 2));

  const srv = Bun.spawn([process.execPath, join(REPO, "src", "cli", "main.ts"), "serve", "--root", join(root, "data"), "--port", "0"], {
    cwd: REPO, stdout: "pipe", stderr: "inherit",
  });
  server = srv;
  const sr = srv.stdout.getReader();
  let banner = "";
  while (!/listening on (http:\/\/\S+)/.test(banner)) {
    const { value, done } = await sr.read();
    if (done) throw new Error(`server exited: ${banner}`);
    banner += new TextDecoder().decode(value);
  }
  url = /listening on (http:\/\/\S+)/.exec(banner)![1];
}

await setup();

afterAll(async () => {
  server?.kill();
  await server?.exited;
  rmSync(root, { recursive: true, force: true });
});

/** Runs a runicorn.api snippet against the server; the snippet prints one JSON document. */
async function client(code: string): Promise<any> {
  const res = await py(`import json, runicorn.api as api\nc = api.connect(${JSON.stringify(url)})\n${code}`);
  if (res.code !== 0) throw new Error(res.err);
  return JSON.parse(res.out);
}

describe("Python SDK runs read by the server through runicorn.api", () => {
  it("connects with api.connect() and lists every run with its status", async () => {
    const runs: any[] = await client(`print(json.dumps(c.list_runs()))`);
    const byId = Object.fromEntries(runs.map((r) => [r.id, r]));
    expect(byId[ids.ok].status).toBe("finished");
    expect(byId[ids.ok].alias).toBe("good");
    expect(byId[ids.ok].best_metric_value).toBe(1);
    expect(byId[ids.crash].status).toBe("failed");
    expect(byId[ids.ddp].status).toBe("finished");
  });

  it("declares a SIGKILLed run with a stale heartbeat failed with heartbeat_lost", async () => {
    const run = await client(`print(json.dumps(c.get_run(${JSON.stringify(ids.killed)})))`);
    expect(run.status).toBe("failed");
    const st = JSON.parse(readFileSync(join(root, "data", "runs", "cross", "killed", ids.killed, "status.json"), "utf8"));
    expect(st.exit_reason).toBe("heartbeat_lost");
    const lines = readFileSync(join(root, "data", "runs", "cross", "killed", ids.killed, "events.jsonl"), "utf8").trim().split("\n");
    expect(lines.length).toBe(50); // everything logged a second before the kill survived
  });

  it("serves the metrics of the killed run up to the kill", async () => {
    const m = await client(`print(json.dumps(c.get_metrics(${JSON.stringify(ids.killed)})))`);
    expect(m.total).toBe(50);
  });

  it("serves the metrics written by the SDK, NaN as null, stages as a column", async () => {
    const m = await client(`print(json.dumps(c.get_metrics(${JSON.stringify(ids.ok)})))`);
    expect(m.columns).toEqual(["global_step", "acc", "loss", "stage", "time"]);
    expect(m.total).toBe(201);
    expect(m.rows[0].stage).toBe("train");
    expect(m.rows[199].stage).toBe("eval");
    expect(m.rows[200].loss).toBeNull();
  });

  it("keeps every line of two processes that logged into one run", () => {
    const lines = readFileSync(join(root, "data", "runs", "cross", "ddp", ids.ddp, "events.jsonl"), "utf8").trim().split("\n");
    expect(lines.length).toBe(2000);
    expect(lines.map((l) => JSON.parse(l).data.rank).filter((r) => r === 1).length).toBe(1000);
  });

  it("merges the two processes' shared steps into one row each", async () => {
    const m = await client(`print(json.dumps(c.get_metrics(${JSON.stringify(ids.ddp)})))`);
    expect(m.total).toBe(1000); // one row per step: the ranks share steps 1..1000
  });

  it("exports a path as JSON and as a zip through the client", async () => {
    const zipPath = JSON.stringify(join(root, "export.zip"));
    const out = await client(`e = c.export("cross/ok", format="json")
z = c.export("cross/ok", format="zip", out=${zipPath})
import zipfile
names = zipfile.ZipFile(z).namelist()
print(json.dumps({"exported": e["total_runs"], "run": e["runs"][0]["run_id"], "paths": c.list_paths()["paths"],
                  "zip_has_events": any(n.endswith("events.jsonl") for n in names)}))`);
    expect(out).toEqual({ exported: 1, run: ids.ok, paths: ["cross/crash", "cross/ddp", "cross/killed", "cross/ok"], zip_has_events: true });
  });

  it("soft-deletes and restores through the client and maps 404 to NotFoundError", async () => {
    const id = JSON.stringify(ids.crash);
    const out = await client(`d = c.soft_delete([${id}])
hidden = ${id} not in [r["id"] for r in c.list_runs()]
try:
    c.get_run(${id}); nf = False
except api.NotFoundError:
    nf = True
r = c.restore([${id}])
back = ${id} in [r["id"] for r in c.list_runs()]
print(json.dumps({"deleted": d["deleted_count"], "hidden": hidden, "nf": nf, "restored": r["restored_count"], "back": back}))`);
    expect(out).toEqual({ deleted: 1, hidden: true, nf: true, restored: 1, back: true });
  });

  it("rejects bad input with the typed errors", async () => {
    const out = await client(`res = {}
for name, call in [("bad_id", lambda: c.soft_delete(["../etc"])), ("missing", lambda: c.get_run("20990101_000000_ffffff"))]:
    try:
        call(); res[name] = None
    except api.RunicornError as e:
        res[name] = [type(e).__name__, e.status]
print(json.dumps(res))`);
    expect(out).toEqual({ bad_id: ["BadRequestError", 400], missing: ["NotFoundError", 404] });
  });
});
