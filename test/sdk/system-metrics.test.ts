// Per-run system metrics from real TS SDK processes under bun (a fake nvidia-smi on PATH), read back through the API.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer, waitFor } from "../helpers/server.ts";

const CHILD = join(import.meta.dir, "system-child.ts");
/** Two GPUs; `--query-compute-apps` names the caller (the SDK process: nvidia-smi's parent) on GPU 0. */
const FAKE_SMI = `#!/bin/sh
case "$1" in
  --query-gpu=*) printf '0, GPU-aaaa, 42, 2048, 8192, 120.5, 66\\n1, GPU-bbbb, 3, 10, 8192, 30, 35\\n' ;;
  --query-compute-apps=*) printf '%s, GPU-aaaa\\n' "$PPID" ;;
  *) exit 2 ;;
esac
`;

let srv: TestServer;
const ids: Record<string, string> = {};

async function train(path: string, env: Record<string, string>): Promise<string> {
  const p = Bun.spawn([process.execPath, CHILD, srv.root, path], {
    env: { HOME: srv.dir, XDG_CONFIG_HOME: join(srv.dir, "xdg"), ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  if ((await p.exited) !== 0) throw new Error(`TS training script failed: ${err}`);
  expect(err).toBe(""); // a missing tool is silent
  return out.trim();
}

beforeAll(async () => {
  srv = await startTestServer();
  const bin = join(srv.dir, "fakebin");
  mkdirSync(bin);
  writeFileSync(join(bin, "nvidia-smi"), FAKE_SMI);
  chmodSync(join(bin, "nvidia-smi"), 0o755);
  ids.gpu = await train("ts/gpu", { PATH: `${bin}:/usr/local/bin:/usr/bin:/bin` });
  ids.noGpu = await train("ts/none", { PATH: "/usr/local/bin:/usr/bin:/bin" });
  ids.off = await train("ts/off", { PATH: `${bin}:/usr/bin:/bin`, RUNICORN_SYSTEM_METRICS: "0" });
  await waitFor(async () => (await srv.api("/api/runs")).body.length >= 3, 20000, "the three runs in the list");
}, 120000);

afterAll(async () => {
  await srv?.close();
});

const keysOf = async (id: string): Promise<string[]> => (await srv.api(`/api/runs/${id}/keys`)).body.keys.map((k: { key: string }) => k.key);

describe("per-run system metrics written by the TypeScript SDK", () => {
  it("writes system lines in the Python SDK's shape", () => {
    const lines = readFileSync(join(srv.root, "runs", "ts", "gpu", ids.gpu, "system.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const l of lines) {
      expect(l.type).toBe("system");
      expect(l.data.time).toBe(l.ts);
      expect(l.data["sys/proc_rss_mb"]).toBeGreaterThan(1);
      expect(l.data["sys/gpu0/power_w"]).toBe(120.5);
    }
  });

  it("serves the process, host and used-GPU keys, and the values over time", async () => {
    const keys = await keysOf(ids.gpu);
    expect(keys).toEqual(expect.arrayContaining(["loss", "sys/cpu_percent", "sys/proc_rss_mb", "sys/host_cpu_percent", "sys/host_mem_percent"]));
    expect(keys).toEqual(expect.arrayContaining(["sys/gpu0/util", "sys/gpu0/mem_used_mb", "sys/gpu0/power_w", "sys/gpu0/temp_c"]));
    expect(keys.some((k) => k.startsWith("sys/gpu1/"))).toBe(false);
    const r = await srv.api(`/api/runs/${ids.gpu}/series?keys=sys/gpu0/util,sys/gpu0/temp_c&x=time`);
    expect(r.status).toBe(200);
    expect(new Set(r.body.series["sys/gpu0/util"].filter((v: number | null) => v !== null))).toEqual(new Set([42]));
    expect(new Set(r.body.series["sys/gpu0/temp_c"].filter((v: number | null) => v !== null))).toEqual(new Set([66]));
  });

  it("records no GPU keys and no error without nvidia-smi", async () => {
    const keys = await keysOf(ids.noGpu);
    expect(keys).toContain("sys/proc_rss_mb");
    expect(keys.some((k) => k.includes("gpu"))).toBe(false);
  });

  it("writes nothing with RUNICORN_SYSTEM_METRICS=0, and metrics_step stays as before", async () => {
    expect(existsSync(join(srv.root, "runs", "ts", "off", ids.off, "system.jsonl"))).toBe(false);
    const step = await srv.api(`/api/runs/${ids.gpu}/metrics_step`);
    expect(step.body.columns.some((c: string) => c.startsWith("sys/"))).toBe(false);
    const opted = await srv.api(`/api/runs/${ids.gpu}/metrics_step?include_system=1`);
    expect(opted.body.columns).toContain("sys/gpu0/util");
  });
});
