// Reliability: a storage root on a read-only filesystem and on a disk that fills up (real tmpfs mounts; skipped where mount is not permitted).
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { execFileSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { copyFixture, isolatedEnv, tempDir, waitFor } from "../helpers/server.ts";
import { apiRows, lossAt, metricsLine, rowsChecksum, rowsFromFile, type ServerProc, spawnServe, writeRun } from "./helpers.ts";

/** Mounts a tmpfs of `mb` MiB at `dir`. */
function mountTmpfs(dir: string, mb: number): void {
  mkdirSync(dir, { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${mb}m`, "tmpfs", dir], { stdio: "pipe" });
}
/** Unmounts `dir` if it is mounted (lazily when still busy). */
function unmount(dir: string): void {
  try {
    execFileSync("umount", [dir], { stdio: "pipe" });
  } catch {
    execFileSync("umount", ["-l", dir], { stdio: "ignore" });
  }
}

/** Whether this process may mount filesystems (root in a privileged container, say). */
const canMount = (() => {
  const probe = tempDir("rn-rel-mount-");
  try {
    mountTmpfs(join(probe.dir, "m"), 1);
    execFileSync("mount", ["-o", "remount,ro", join(probe.dir, "m")], { stdio: "pipe" });
    unmount(join(probe.dir, "m"));
    return true;
  } catch {
    return false;
  } finally {
    probe.cleanup();
  }
})();
if (!canMount) console.warn("skipping the read-only and disk-full tests: mounting a tmpfs is not permitted here (needs root/CAP_SYS_ADMIN)");

describe.skipIf(!canMount)("a storage root on a read-only filesystem", () => {
  const t = tempDir("rn-rel-ro-");
  const root = join(t.dir, "root");
  const env: Record<string, string> = isolatedEnv(t.dir);
  delete env.XDG_CACHE_HOME; // the documented fallback: ~/.cache/runicorn/index/
  let server: ServerProc;
  let runDir = "";
  const RUN = "20261129_031703_34b3d6";

  beforeAll(async () => {
    mountTmpfs(root, 32);
    copyFixture("rn-data", root);
    runDir = join(root, "runs/demo/exp1", RUN);
    execFileSync("mount", ["-o", "remount,ro", root], { stdio: "pipe" });
    server = await spawnServe(root, env);
  });
  afterAll(async () => {
    await server?.stop();
    unmount(root);
    t.cleanup();
  });

  it("keeps its index in ~/.cache/runicorn/index/ instead of ROOT/index/", () => {
    const cache = join(t.dir, "home", ".cache", "runicorn", "index");
    expect(readdirSync(cache).some((f) => f.endsWith("-viewer-index.sqlite"))).toBe(true);
    expect(existsSync(join(root, "index", "viewer-index.sqlite"))).toBe(false);
  });

  it("lists the runs and serves their metrics from the read-only files", async () => {
    const runs = await server.call("/api/runs");
    expect(runs.status).toBe(200);
    expect(runs.body.map((r: { id: string }) => r.id)).toEqual([RUN]);
    const res = await server.call(`/api/runs/${RUN}/metrics_step`);
    expect(res.status).toBe(200);
    const expected = rowsFromFile(join(runDir, "events.jsonl"));
    expect(res.body.total).toBe(expected.size);
    const keys = (res.body.columns as string[]).filter((c) => c !== "global_step");
    expect(keys).toContain("loss");
    expect(rowsChecksum(apiRows(res.body), keys)).toBe(rowsChecksum(expected, keys));
  });

  it("answers a rename with the compatible error naming the read-only filesystem", async () => {
    const res = await server.call(`/api/runs/${RUN}`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ alias: "renamed" }),
    });
    expect(res.status).toBe(500);
    expect(res.body.detail).toStartWith("Failed to update run: ");
    expect(res.body.detail).toContain("read-only file system");
    expect((await server.call("/api/health")).status).toBe(200);
  });

  it("answers a soft delete with an error that names the read-only filesystem, not an anonymous 500", async () => {
    const res = await server.call("/api/runs/soft-delete", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ run_ids: [RUN] }),
    });
    expect(JSON.stringify(res.body)).toMatch(/read-only/i);
  });

  it("keeps answering status checks (nothing can be marked, nothing crashes)", async () => {
    const res = await server.call("/api/status/check", { method: "POST" });
    expect(res.status).toBe(200);
    expect((await server.call("/api/runs")).status).toBe(200);
  });
});

describe.skipIf(!canMount)("a storage root on a disk that fills up", () => {
  const t = tempDir("rn-rel-full-");
  const root = join(t.dir, "root");
  const env = isolatedEnv(t.dir);
  const RUN = "20260101_000004_d15cf0";
  let server: ServerProc;
  let file = "";
  let step = 0;
  let fullError = "";

  beforeAll(async () => {
    mountTmpfs(root, 12);
    const dir = writeRun(root, "rel/full", RUN, { status: "finished" });
    file = join(dir, "events.jsonl");
    writeFileSync(file, "");
    // space to give back later, as a user would by deleting something
    writeFileSync(join(root, "ballast"), Buffer.alloc(2 << 20, 1));
    server = await spawnServe(root, env);
  });
  afterAll(async () => {
    await server?.stop();
    unmount(root);
    t.cleanup();
  });

  it("keeps serving reads while a writer fills the disk with metrics", async () => {
    // a training script logging until the disk is full; the server ingests as it goes
    for (let batch = 0; !fullError; batch++) {
      let text = "";
      for (let i = 0; i < 500; i++) {
        step++;
        text += metricsLine(step, 1767225600 + step, { loss: lossAt(step) });
      }
      try {
        appendFileSync(file, text);
      } catch (e) {
        fullError = (e as NodeJS.ErrnoException).code ?? String(e);
      }
      if (batch % 20 === 0) await server.call(`/api/runs/${RUN}/metrics_step?downsample=100`);
      await Bun.sleep(1);
    }
    expect(fullError).toBe("ENOSPC");
    await Bun.sleep(300); // let the watcher try to ingest the last bytes into the full disk
    for (const path of ["/api/health", "/api/runs", `/api/runs/${RUN}`, "/api/paths", "/api/recycle-bin"]) {
      const res = await server.call(path);
      expect(`${path} ${res.status}`).toBe(`${path} 200`);
    }
  }, 60000);

  it("serves the metrics already on disk (or says the disk is full) while the index cannot grow", async () => {
    const res = await server.call(`/api/runs/${RUN}/metrics_step`);
    if (res.status === 200) expect(res.body.total).toBe(rowsFromFile(file).size);
    else expect(JSON.stringify(res.body)).toMatch(/space|full/i);
  });

  it("reports the full disk clearly in its log and in the error of a write request", async () => {
    const res = await server.call(`/api/runs/${RUN}`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ alias: "x".repeat(200) }),
    });
    expect(res.status).toBe(500);
    expect(res.body.detail).toContain("no space left on device");
    await waitFor(() => /no space left|disk is full|SQLITE_FULL/i.test(server.log()), 5000, "the log to name the full disk");
    expect(server.log()).not.toContain("cannot rollback");
  });

  it("loses no point once space is freed: every complete line of the file is served", async () => {
    rmSync(join(root, "ballast"));
    // the writer resumes; its torn last line becomes one garbage line that is skipped
    let text = "\n";
    for (let i = 0; i < 1000; i++) {
      step++;
      text += metricsLine(step, 1767225600 + step, { loss: lossAt(step) });
    }
    appendFileSync(file, text);
    const expected = rowsFromFile(file);
    const res = await server.call(`/api/runs/${RUN}/metrics_step`);
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(expected.size);
    expect(rowsChecksum(apiRows(res.body), ["loss"])).toBe(rowsChecksum(expected, ["loss"]));
  });

  it("answers every read again once space is freed", async () => {
    rmSync(join(root, "ballast"), { force: true });
    for (const path of ["/api/health", "/api/runs", `/api/runs/${RUN}`]) expect((await server.call(path)).status).toBe(200);
    const check = await server.call("/api/status/check", { method: "POST" });
    expect(check.status).toBe(200);
  });
});
