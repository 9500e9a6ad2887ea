// Per-run system metrics from real Python SDK processes (a fake nvidia-smi on PATH), read back through the API.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer, waitFor } from "../helpers/server.ts";

const SDK = join(import.meta.dir, "..", "..", "sdk", "python");
/** Two GPUs; `--query-compute-apps` names the caller (the SDK process: nvidia-smi's parent) on GPU 1 unless FAKE_SMI_APPS=none. */
const FAKE_SMI = `#!/bin/sh
case "$1" in
  --query-gpu=*) printf '0, GPU-aaaa, 37, 1024, 8192, 55.5, 61\\n1, GPU-bbbb, 88, 4096, 8192, [N/A], 70\\n' ;;
  --query-compute-apps=*) [ "$FAKE_SMI_APPS" = none ] || printf '%s, GPU-bbbb\\n' "$PPID" ;;
  *) exit 2 ;;
esac
`;

let srv: TestServer;
const ids: Record<string, string> = {};
let runsDir = "";

/** Runs a training script with system metrics every 0.2 s; returns its run id. */
async function train(path: string, env: Record<string, string>, extra = ""): Promise<string> {
  const code = `import runicorn as rn, time
r = rn.init(path=${JSON.stringify(path)}, storage=${JSON.stringify(srv.root)}, system_interval=0.2${extra})
for i in range(12):
    r.log({"loss": 1.0 / (i + 1)}, step=i)
    time.sleep(0.1)
r.finish()
print(r.id)`;
  const p = Bun.spawn(["python3", "-c", code], {
    env: { HOME: srv.dir, PYTHONPATH: SDK, RUNICORN_QUIET: "1", XDG_CONFIG_HOME: join(srv.dir, "xdg"), ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  if ((await p.exited) !== 0) throw new Error(`training script failed: ${err}`);
  expect(err).toBe(""); // a missing tool is silent
  return out.trim();
}

beforeAll(async () => {
  srv = await startTestServer();
  const bin = join(srv.dir, "fakebin");
  mkdirSync(bin);
  writeFileSync(join(bin, "nvidia-smi"), FAKE_SMI);
  chmodSync(join(bin, "nvidia-smi"), 0o755);
  const withSmi = `${bin}:/usr/local/bin:/usr/bin:/bin`;
  ids.gpu = await train("sys/gpu", { PATH: withSmi });
  ids.allGpus = await train("sys/all", { PATH: withSmi, FAKE_SMI_APPS: "none" });
  ids.noGpu = await train("sys/none", { PATH: "/usr/local/bin:/usr/bin:/bin" });
  ids.off = await train("sys/off", { PATH: withSmi, RUNICORN_SYSTEM_METRICS: "0" });
  runsDir = join(srv.root, "runs");
  await waitFor(async () => (await srv.api("/api/runs")).body.length >= 4, 20000, "the four runs in the list");
}, 120000);

afterAll(async () => {
  await srv?.close();
});

const keysOf = async (id: string): Promise<string[]> => (await srv.api(`/api/runs/${id}/keys`)).body.keys.map((k: { key: string }) => k.key);

describe("per-run system metrics written by the Python SDK", () => {
  it("writes system.jsonl beside events.jsonl with time-stamped system lines", () => {
    const file = join(runsDir, "sys", "gpu", ids.gpu, "system.jsonl");
    const lines = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const l of lines) {
      expect(l.type).toBe("system");
      expect(typeof l.ts).toBe("number");
      expect(l.data.time).toBe(l.ts);
      expect(l.data["sys/proc_rss_mb"]).toBeGreaterThan(1);
      expect(l.data["sys/host_mem_percent"]).toBeGreaterThan(0);
    }
  });

  it("serves the system keys in /keys next to the run's own metrics, only for the GPU the process uses", async () => {
    const keys = await keysOf(ids.gpu);
    expect(keys).toContain("loss");
    expect(keys).toEqual(expect.arrayContaining(["sys/cpu_percent", "sys/proc_rss_mb", "sys/host_cpu_percent", "sys/host_mem_used_mb"]));
    expect(keys).toEqual(expect.arrayContaining(["sys/gpu1/util", "sys/gpu1/mem_used_mb", "sys/gpu1/mem_percent", "sys/gpu1/temp_c"]));
    expect(keys.some((k) => k.startsWith("sys/gpu0/"))).toBe(false);
    // "[N/A]" power is left out rather than stored as a value
    expect(keys).not.toContain("sys/gpu1/power_w");
    expect(keys).not.toContain("step");
  });

  it("records every GPU when the process is not listed among nvidia-smi's compute apps", async () => {
    const keys = await keysOf(ids.allGpus);
    expect(keys).toEqual(expect.arrayContaining(["sys/gpu0/util", "sys/gpu0/power_w", "sys/gpu1/util"]));
  });

  it("records no GPU keys and no error without nvidia-smi", async () => {
    const keys = await keysOf(ids.noGpu);
    expect(keys).toContain("sys/cpu_percent");
    expect(keys.some((k) => k.includes("gpu"))).toBe(false);
  });

  it("writes nothing with RUNICORN_SYSTEM_METRICS=0", async () => {
    expect(existsSync(join(runsDir, "sys", "off", ids.off, "system.jsonl"))).toBe(false);
    expect((await keysOf(ids.off)).some((k) => k.startsWith("sys/"))).toBe(false);
  });

  it("serves a system series over the run's time axis with the values nvidia-smi printed", async () => {
    const r = await srv.api(`/api/runs/${ids.gpu}/series?keys=sys/gpu1/util,sys/gpu1/mem_used_mb,loss&x=time`);
    expect(r.status).toBe(200);
    const body = r.body;
    expect(body.x_key).toBe("time");
    const util = body.series["sys/gpu1/util"].filter((v: number | null) => v !== null);
    expect(util.length).toBeGreaterThanOrEqual(3);
    expect(new Set(util)).toEqual(new Set([88]));
    expect(new Set(body.series["sys/gpu1/mem_used_mb"].filter((v: number | null) => v !== null))).toEqual(new Set([4096]));
    const loss = body.series.loss.filter((v: number | null) => v !== null);
    expect(loss.length).toBe(12);
    // one time axis: x rises, and the samples fall within the run's logging time (± a sample interval)
    for (let i = 1; i < body.x.length; i++) expect(body.x[i]).toBeGreaterThan(body.x[i - 1]);
    const lossTimes = body.x.filter((_: number, i: number) => body.series.loss[i] !== null);
    const utilTimes = body.x.filter((_: number, i: number) => body.series["sys/gpu1/util"][i] !== null);
    expect(utilTimes[0]).toBeGreaterThan(lossTimes[0] - 1);
    expect(utilTimes[utilTimes.length - 1]).toBeLessThan(lossTimes[lossTimes.length - 1] + 1);
  });

  it("leaves system keys out of metrics_step unless include_system=1", async () => {
    const plain = await srv.api(`/api/runs/${ids.gpu}/metrics_step`);
    expect(plain.status).toBe(200);
    expect(plain.body.columns.some((c: string) => c.startsWith("sys/"))).toBe(false);
    expect(plain.body.rows.length).toBe(12);
    const opted = await srv.api(`/api/runs/${ids.gpu}/metrics_step?include_system=1`);
    expect(opted.status).toBe(200);
    const cols: string[] = opted.body.columns;
    expect(cols.slice(0, plain.body.columns.length)).toEqual(plain.body.columns);
    expect(cols).toContain("sys/gpu1/util");
    expect(opted.body.rows.length).toBe(12);
    // rows after the first sample carry the sample taken at or before them
    const last = opted.body.rows[opted.body.rows.length - 1];
    expect(last["sys/gpu1/util"]).toBe(88);
    expect(last.loss).toBe(plain.body.rows[11].loss);
    expect(opted.body.rows.every((r: Record<string, unknown>) => cols.every((c) => c in r))).toBe(true);
  });

  it("refuses a bad include_system with a clear 422", async () => {
    const r = await srv.api(`/api/runs/${ids.gpu}/metrics_step?include_system=yes`);
    expect(r.status).toBe(422);
    expect(r.body.detail[0].loc).toEqual(["query", "include_system"]);
  });

  it("compares system series across runs", async () => {
    const r = await srv.api(`/api/compare/series?runs=${ids.gpu},${ids.noGpu}&keys=sys/cpu_percent,sys/gpu1/util&x=time`);
    expect(r.status).toBe(200);
    const a = r.body.runs[ids.gpu];
    const b = r.body.runs[ids.noGpu];
    expect(a.series["sys/cpu_percent"].filter((v: number | null) => v !== null).length).toBeGreaterThanOrEqual(3);
    expect(b.series["sys/cpu_percent"].filter((v: number | null) => v !== null).length).toBeGreaterThanOrEqual(3);
    expect(b.series["sys/gpu1/util"].every((v: number | null) => v === null)).toBe(true);
  });

  it("serves no system series for a run without system.jsonl (the keys answer null throughout)", async () => {
    const r = await srv.api(`/api/runs/${ids.off}/series?keys=sys/cpu_percent,loss&x=time`);
    expect(r.status).toBe(200);
    expect(r.body.series.loss.filter((v: number | null) => v !== null).length).toBe(12);
    expect(r.body.series["sys/cpu_percent"].every((v: number | null) => v === null)).toBe(true);
  });
});
