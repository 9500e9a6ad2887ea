import { afterEach, describe, expect, it } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type RunningServer, serveCommand, startServer } from "../../src/cli/serve.ts";
import { UsageError } from "../../src/cli/args.ts";
import { loadConfig } from "../../src/config/config.ts";
import { fsKindFromMountinfo, isNetworkFsType } from "../../src/index/fs-kind.ts";
import { isolatedEnv, startTestServer, tempDir, type TestServer, waitFor } from "../helpers/server.ts";

/** Writes `n` runs (meta.json + status.json, as the SDK does at init) under ROOT/runs/team<k>/exp<k>. */
function writeRuns(root: string, n: number, prefix = "20250101_000000_"): void {
  for (let i = 0; i < n; i++) {
    const path = `team${i % 4}/exp${i % 40}`;
    const id = prefix + i.toString(16).padStart(6, "0");
    const dir = join(root, "runs", path, id);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "meta.json"), JSON.stringify({ id, path, alias: null, created_at: 1700000000 + i, hostname: "elsewhere", pid: 1 }));
    writeFileSync(join(dir, "status.json"), JSON.stringify({ status: "finished", started_at: 1700000000 + i, ended_at: 1700000100 + i }));
  }
}

async function getJson(url: string): Promise<{ headers: Headers; body: any }> {
  const r = await fetch(url);
  return { headers: r.headers, body: await r.json() };
}

describe("the first index build", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  });

  it("makes an early list request wait for the first build, so a root built within the wait is never listed partially", async () => {
    const t = tempDir();
    cleanups.push(() => t.cleanup());
    const root = join(t.dir, "root");
    const N = 4000;
    writeRuns(root, N);
    const config = loadConfig({ root, host: "127.0.0.1", port: 0, logLevel: "error", sweepSeconds: 60, firstAnswerWaitMs: 120_000 }, isolatedEnv(t.dir));
    const server: RunningServer = await startServer(config);
    cleanups.push(() => server.stop());
    const list = await getJson(`${server.url}/api/runs`);
    expect(list.headers.get("x-index-state")).toBe("ready");
    expect(list.body.length).toBe(N);
  });

  it("answers at once while a large root is indexed, reports progress in health and the list header, and fills the list in", async () => {
    const t = tempDir();
    cleanups.push(() => t.cleanup());
    const root = join(t.dir, "root");
    const N = 10000;
    writeRuns(root, N);
    // firstAnswerWaitMs 0: answer at once (by default early requests wait up to 2 s for the build)
    const config = loadConfig({ root, host: "127.0.0.1", port: 0, logLevel: "error", sweepSeconds: 60, firstAnswerWaitMs: 0 }, isolatedEnv(t.dir));
    const server: RunningServer = await startServer(config);
    cleanups.push(() => server.stop());

    const first = await getJson(`${server.url}/api/health`);
    expect(first.body.status).toBe("ok");
    expect(first.body.index.state).toBe("building");
    expect(first.body.index.runs_indexed).toBeLessThan(N);
    expect(Object.keys(first.body.index)).toEqual(
      expect.arrayContaining(["state", "runs_indexed", "runs_found", "runs_total", "elapsed_s", "reconciling", "fs_type", "fs_events_reliable", "full_sweep_s", "metrics"]),
    );
    // every key the original's clients read is still there
    expect(Object.keys(first.body)).toEqual(expect.arrayContaining(["status", "storage", "version", "cache"]));

    const partial = await getJson(`${server.url}/api/runs`);
    expect(partial.headers.get("x-index-state")).toBe("building");
    const m = /^(\d+)\/(\d+|\?)$/.exec(partial.headers.get("x-index-progress") ?? "");
    expect(m).not.toBeNull();
    expect(partial.body.length).toBeLessThan(N);
    // the list holds at least what the header says was indexed when it was read
    expect(partial.body.length).toBeGreaterThanOrEqual(Number(m![1]));

    const seen: number[] = [];
    await waitFor(
      async () => {
        const h = (await getJson(`${server.url}/api/health`)).body.index;
        seen.push(h.runs_indexed);
        return h.state === "ready";
      },
      90_000,
      "index ready",
    );
    // progress only moves forward
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    const done = await getJson(`${server.url}/api/runs`);
    expect(done.headers.get("x-index-state")).toBe("ready");
    expect(done.headers.get("x-index-progress")).toBe(`${N}/${N}`);
    expect(done.body.length).toBe(N);
    const health = (await getJson(`${server.url}/api/health`)).body.index;
    expect(health).toMatchObject({ state: "ready", runs_indexed: N, runs_found: N, runs_total: N, reconciling: false });
    expect(health.elapsed_s).toBeGreaterThan(0);
  });

  it("listens without waiting for a first build that has found more runs than it can read within the wait", async () => {
    const t = tempDir();
    cleanups.push(() => t.cleanup());
    const root = join(t.dir, "root");
    const N = 6000;
    writeRuns(root, N);
    const config = loadConfig({ root, host: "127.0.0.1", port: 0, logLevel: "error", sweepSeconds: 60, firstAnswerWaitMs: 0 }, isolatedEnv(t.dir));
    const server: RunningServer = await startServer(config);
    cleanups.push(() => server.stop());
    // start stopped waiting once the folders listed held over 2,000 runs: their files are still being read
    const first = (await getJson(`${server.url}/api/health`)).body.index;
    expect(first.state).toBe("building");
    expect(first.runs_found).toBeGreaterThanOrEqual(2000);
    expect(first.runs_indexed).toBeLessThan(N);
    await waitFor(async () => (await getJson(`${server.url}/api/health`)).body.index.state === "ready", 90_000, "index ready");
    expect((await getJson(`${server.url}/api/runs`)).body.length).toBe(N);
  });

  it("is ready at the first answer for a small root, and after a restart the index is not rebuilt", async () => {
    const s = await startTestServer({ fixture: "rn-data" });
    cleanups.push(() => s.close());
    const h = (await s.api("/api/health")).body.index;
    expect(h.state).toBe("ready");
    expect((await s.api("/api/runs")).headers.get("x-index-state")).toBe("ready");
    await s.stop();
    const again = await startServer(s.ctx.config);
    cleanups.push(() => again.stop());
    const h2 = (await getJson(`${again.url}/api/health`)).body.index;
    expect(h2.state).toBe("ready");
    // built by the earlier process: no build time of its own
    expect(h2.elapsed_s).toBeNull();
  });

  it("resumes a build that was interrupted: still building until every run is in", async () => {
    const t = tempDir();
    cleanups.push(() => t.cleanup());
    const root = join(t.dir, "root");
    writeRuns(root, 6000);
    const config = loadConfig({ root, host: "127.0.0.1", port: 0, logLevel: "error", sweepSeconds: 60 }, isolatedEnv(t.dir));
    const first = await startServer(config);
    await waitFor(async () => (await getJson(`${first.url}/api/health`)).body.index.runs_indexed > 0, 30_000, "some runs indexed");
    await first.stop();
    const second = await startServer(config);
    cleanups.push(() => second.stop());
    const h = (await getJson(`${second.url}/api/health`)).body.index;
    if (h.state === "ready") expect(h.runs_indexed).toBe(6000);
    await waitFor(async () => (await getJson(`${second.url}/api/health`)).body.index.state === "ready", 90_000, "ready");
    expect((await getJson(`${second.url}/api/runs`)).body.length).toBe(6000);
  });
});

describe("reading run folders safely", () => {
  let s: TestServer | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  it("never blocks on a FIFO and never follows a symlinked meta.json out of the root", async () => {
    const t = tempDir();
    const root = join(t.dir, "root");
    const fifoRun = join(root, "runs", "odd", "20250101_000000_f1f0f1");
    const linkRun = join(root, "runs", "odd", "20250101_000000_11111a");
    const okRun = join(root, "runs", "odd", "20250101_000000_0c0c0c");
    for (const d of [fifoRun, linkRun, okRun]) mkdirSync(d, { recursive: true });
    writeFileSync(join(fifoRun, "status.json"), JSON.stringify({ status: "finished" }));
    expect(spawnSync("mkfifo", [join(fifoRun, "meta.json")]).status).toBe(0);
    writeFileSync(join(t.dir, "secret.json"), JSON.stringify({ alias: "leaked", path: "outside" }));
    symlinkSync(join(t.dir, "secret.json"), join(linkRun, "meta.json"));
    writeFileSync(join(linkRun, "status.json"), JSON.stringify({ status: "finished" }));
    writeFileSync(join(okRun, "meta.json"), JSON.stringify({ id: "20250101_000000_0c0c0c", path: "odd", alias: "fine" }));
    const config = loadConfig({ root, host: "127.0.0.1", port: 0, logLevel: "error", sweepSeconds: 60 }, isolatedEnv(t.dir));
    const server = await startServer(config);
    try {
      await waitFor(async () => (await getJson(`${server.url}/api/health`)).body.index.state === "ready", 10_000, "ready");
      const items = (await getJson(`${server.url}/api/runs`)).body as any[];
      const byId = Object.fromEntries(items.map((x) => [x.id, x]));
      expect(byId["20250101_000000_0c0c0c"].alias).toBe("fine");
      // status.json alone still makes a run (spec §1.3); the FIFO and the link read as absent
      expect(byId["20250101_000000_f1f0f1"]).toMatchObject({ status: "finished", alias: null, path: "odd" });
      expect(byId["20250101_000000_11111a"]).toMatchObject({ alias: null, path: "odd" });
      expect(JSON.stringify(items)).not.toContain("leaked");
    } finally {
      await server.stop();
      t.cleanup();
    }
  });
});

describe("changes without sweeps", () => {
  let s: TestServer | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  it("follows a run from creation to finish and removal through fs events alone (no sweeps)", async () => {
    s = await startTestServer({ fixture: "rn-probe", sweepSeconds: 3600, flags: { fullSweepSeconds: 0 } });
    expect((await s.api("/api/health")).body.index.full_sweep_s).toBe(0);
    const dir = join(s.root, "runs", "fresh", "deep", "20250303_000000_abcdef");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "meta.json"), JSON.stringify({ id: "20250303_000000_abcdef", path: "fresh/deep", hostname: "elsewhere", pid: 1 }));
    writeFileSync(join(dir, "status.json"), JSON.stringify({ status: "running", started_at: 1, heartbeat_at: Date.now() / 1000 }));
    await waitFor(async () => (await s!.api("/api/runs/20250303_000000_abcdef")).body.status === "running", 5000, "new run");
    // a non-atomic rewrite in place, as the original SDK does it
    writeFileSync(join(dir, "status.json"), JSON.stringify({ status: "finished", started_at: 1, ended_at: 2 }));
    await waitFor(async () => (await s!.api("/api/runs/20250303_000000_abcdef")).body.status === "finished", 5000, "finished");
    writeFileSync(join(dir, "meta.json"), JSON.stringify({ id: "20250303_000000_abcdef", path: "fresh/deep", alias: "edited" }));
    await waitFor(async () => (await s!.api("/api/runs/20250303_000000_abcdef")).body.alias === "edited", 5000, "recently changed run edited");
    spawnSync("rm", ["-rf", join(s.root, "runs", "fresh")]);
    await waitFor(async () => (await s!.api("/api/runs/20250303_000000_abcdef")).status === 404, 5000, "removal");
  });

  it("misses no run started and finished in a new folder while its watch is being set up", async () => {
    s = await startTestServer({ fixture: "rn-probe", sweepSeconds: 3600, flags: { fullSweepSeconds: 0 } });
    const before = (await s.api("/api/runs")).body.length;
    // several writers at once, each run as the SDK writes it: folders first, meta.json by rename, then
    // status running and finished at once; any file written between a folder's first look and its
    // watch is seen by nothing but a sweep, and there is none here
    const writer = `
import json, os, sys
root, w = sys.argv[1], int(sys.argv[2])
def put(p, obj):
    t = os.path.join(os.path.dirname(p), ".tmp_" + os.path.basename(p))
    with open(t, "w") as f: f.write(json.dumps(obj))
    os.replace(t, p)
for i in range(25):
    rid = "20250404_000000_%02x%04x" % (w, i)
    d = os.path.join(root, "runs", "race%d" % w, "sub%d" % i, "deep", rid)
    os.makedirs(os.path.join(d, "media"))
    put(os.path.join(d, "meta.json"), {"id": rid, "path": "race%d/sub%d/deep" % (w, i), "hostname": "elsewhere", "pid": 1})
    put(os.path.join(d, "status.json"), {"status": "running", "started_at": 1})
    put(os.path.join(d, "status.json"), {"status": "finished", "started_at": 1, "ended_at": 2})
`;
    const procs = Array.from({ length: 8 }, (_, w) => Bun.spawn(["python3", "-c", writer, s!.root, String(w)], { stderr: "inherit" }));
    for (const p of procs) expect(await p.exited).toBe(0);
    await waitFor(
      async () => {
        const runs = (await s!.api("/api/runs")).body as { id: string; status: string }[];
        return runs.filter((r) => r.id.startsWith("20250404_") && r.status === "finished").length === 200;
      },
      10_000,
      "all 200 runs indexed as finished",
    );
    expect((await s.api("/api/runs")).body.length).toBe(before + 200);
  }, 30_000);

  it("finds a whole new experiment folder copied in while running", async () => {
    s = await startTestServer({ fixture: "rn-probe", sweepSeconds: 3600, flags: { fullSweepSeconds: 0 } });
    const before = (await s.api("/api/runs")).body.length;
    const staging = join(s.dir, "staging");
    writeRuns(staging, 30, "20250202_000000_");
    spawnSync("mv", [join(staging, "runs", "team0"), join(s.root, "runs", "copied")]);
    // team0 holds every fourth run of the 30, in ten sub-folders
    await waitFor(async () => (await s!.api("/api/runs")).body.length === before + 8, 5000, "copied runs");
    const copied = (await s.api("/api/runs")).body.filter((x: any) => x.run_dir.includes("/runs/copied/"));
    expect(copied.length).toBe(8);
  });
});

describe("where fs events cannot be trusted", () => {
  const MOUNTINFO = [
    "22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw",
    "40 22 0:35 / /mnt/lab rw,relatime shared:20 - nfs4 server:/export rw,vers=4.2",
    "41 40 0:36 / /mnt/lab/local\\040disk rw - ext4 /dev/vdb rw",
    "42 22 0:37 / /home/me/remote rw,nosuid - fuse.sshfs me@gpu:/data rw",
    "43 22 0:38 / /data rw - 9p data rw",
  ].join("\n");

  it("tells network and FUSE filesystems from local ones by the mount that holds the root", () => {
    expect(fsKindFromMountinfo(MOUNTINFO, "/mnt/lab/runicorn")).toMatchObject({ type: "nfs4", network: true, mountPoint: "/mnt/lab" });
    // a local disk mounted inside the NFS tree (escaped space in its name) is local
    expect(fsKindFromMountinfo(MOUNTINFO, "/mnt/lab/local disk/x")).toMatchObject({ type: "ext4", network: false });
    expect(fsKindFromMountinfo(MOUNTINFO, "/home/me/remote/runs")).toMatchObject({ type: "fuse.sshfs", network: true });
    expect(fsKindFromMountinfo(MOUNTINFO, "/data")).toMatchObject({ type: "9p", network: true });
    expect(fsKindFromMountinfo(MOUNTINFO, "/mnt/labx")).toMatchObject({ type: "ext4", network: false });
    for (const type of ["cifs", "smb3", "nfs", "fuse", "ceph", "virtiofs"]) expect(isNetworkFsType(type)).toBe(true);
    for (const type of ["ext4", "xfs", "btrfs", "tmpfs", "overlay", "zfs"]) expect(isNetworkFsType(type)).toBe(false);
  });

  it("sweeps every run each 10 minutes on a local filesystem with working watches, or as configured with --full-sweep", async () => {
    const s = await startTestServer({ fixture: "rn-probe" });
    try {
      const h = (await s.api("/api/health")).body.index;
      expect(h.fs_events_reliable).toBe(!h.fs_type || !isNetworkFsType(h.fs_type));
      expect(h.full_sweep_s).toBe(h.fs_events_reliable ? 600 : 300);
    } finally {
      await s.close();
    }
    const c = await startTestServer({ fixture: "rn-probe", flags: { fullSweepSeconds: 120 } });
    try {
      expect((await c.api("/api/health")).body.index.full_sweep_s).toBe(120);
    } finally {
      await c.close();
    }
  });

  it("rejects a --full-sweep value that is not a whole number of seconds", async () => {
    for (const bad of ["abc", "-5", "1.5", "9999999"]) {
      await expect(serveCommand(["--full-sweep", bad], {})).rejects.toThrow(UsageError);
    }
  });
});
