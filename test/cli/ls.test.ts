// `runicorn ls`: the same status as the server (its liveness rule, before any server ran) and columns aligned for CJK text.
import { afterAll, describe, expect, it } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { runDataCommand } from "../../src/cli/data.ts";
import { startServer } from "../../src/cli/serve.ts";
import { loadConfig } from "../../src/config/config.ts";
import { createLogger } from "../../src/util/log.ts";
import { displayWidth } from "../../src/util/text-width.ts";
import { isolatedEnv, tempDir } from "../helpers/server.ts";

const tmp = tempDir("rn-ls-");
const env = isolatedEnv(tmp.dir);
const root = join(tmp.dir, "root");
const now = Date.now() / 1000;

/** A finished child process's pid: certainly not alive any more. */
function deadPid(): number {
  const p = Bun.spawnSync(["true"]);
  return p.pid;
}

function makeRun(path: string, id: string, meta: Record<string, unknown>, status: Record<string, unknown>): void {
  const dir = join(root, "runs", ...path.split("/"), id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "meta.json"), JSON.stringify({ id, path, created_at: now - 100, hostname: hostname(), ...meta }));
  writeFileSync(join(dir, "status.json"), JSON.stringify(status));
  writeFileSync(join(dir, "events.jsonl"), "");
}

makeRun("zh/实验", "20261201_000000_aaaaa1", { alias: "基线模型", pid: process.pid }, { status: "running", started_at: now - 50, heartbeat_at: now });
makeRun("zh/实验", "20261201_000000_aaaaa2", { alias: "killed", pid: deadPid() }, { status: "running", started_at: now - 500, heartbeat_at: now - 300 });
makeRun("en/exp", "20261201_000000_aaaaa3", { alias: "gone-quietly", pid: deadPid() }, { status: "running", started_at: now - 500 });
makeRun("en/exp", "20261201_000000_aaaaa5", { alias: "stuck", pid: process.pid }, { status: "running", started_at: now - 900, heartbeat_at: now - 300 });
makeRun("en/exp", "20261201_000000_aaaaa4", { alias: "ok", pid: 1 }, { status: "finished", started_at: now - 500, ended_at: now - 400 });

afterAll(() => tmp.cleanup());

async function ls(argv: string[]): Promise<string[]> {
  const out: string[] = [];
  const config = loadConfig({ root, logLevel: "error" }, env);
  const code = await runDataCommand("ls", argv, { config, log: createLogger("error"), out: (l) => out.push(l), err: () => {}, tty: false, ask: () => "y" });
  expect(code).toBe(0);
  return out;
}

describe("runicorn ls", () => {
  it("shows the status the server will show: dead runs as failed, with the reason, before any server ran", async () => {
    const rows = JSON.parse((await ls(["--json"])).join("\n")) as { id: string; status: string; exit_reason: string | null }[];
    const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
    expect(byId["20261201_000000_aaaaa1"]).toMatchObject({ status: "running", exit_reason: null });
    expect(byId["20261201_000000_aaaaa2"]).toMatchObject({ status: "failed", exit_reason: "heartbeat_lost" });
    expect(byId["20261201_000000_aaaaa3"]).toMatchObject({ status: "failed", exit_reason: "process_not_found" });
    expect(byId["20261201_000000_aaaaa4"]).toMatchObject({ status: "finished" });
    const server = await startServer(loadConfig({ root, host: "127.0.0.1", port: 0, logLevel: "error", sweepSeconds: 60 }, env));
    try {
      const api = (await (await fetch(`${server.url}/api/runs`)).json()) as { id: string; status: string }[];
      expect(Object.fromEntries(api.map((r) => [r.id, r.status]))).toEqual(Object.fromEntries(rows.map((r) => [r.id, r.status])));
    } finally {
      await server.stop();
    }
  });

  it("aligns every column when paths and aliases hold Chinese text (wide characters take two columns)", async () => {
    const lines = await ls([]);
    expect(lines).toHaveLength(6);
    const header = lines[0];
    const createdCol = header.indexOf("CREATED");
    for (const line of lines.slice(1)) {
      const m = /\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/.exec(line)!;
      expect(displayWidth(line.slice(0, m.index))).toBe(createdCol);
    }
    expect(lines.find((l) => l.includes("基线模型"))).toContain("running");
  });

  it("shows a run whose process lives but whose heartbeat is old as stalled, in ls and in every server answer", async () => {
    const stuck = "20261201_000000_aaaaa5";
    const rows = JSON.parse((await ls(["--json"])).join("\n")) as { id: string; status: string; stalled: boolean }[];
    // the status stays running (the original's UI knows no other); stalled is said beside it
    expect(rows.find((r) => r.id === stuck)).toMatchObject({ status: "running", stalled: true });
    expect(rows.find((r) => r.id === "20261201_000000_aaaaa1")).toMatchObject({ status: "running", stalled: false });
    expect((await ls([])).find((l) => l.includes("stuck"))).toMatch(/\bstalled\b/);
    const server = await startServer(loadConfig({ root, host: "127.0.0.1", port: 0, logLevel: "error", sweepSeconds: 60 }, env));
    try {
      const list = (await (await fetch(`${server.url}/api/runs`)).json()) as { id: string; status: string; stalled?: boolean }[];
      const byId = Object.fromEntries(list.map((r) => [r.id, r]));
      expect(byId[stuck]).toMatchObject({ status: "running", stalled: true });
      expect(byId["20261201_000000_aaaaa1"].stalled).toBeUndefined();
      expect(byId["20261201_000000_aaaaa4"].stalled).toBeUndefined();
      // paging and sorting keep the mark on the right item
      const page = (await (await fetch(`${server.url}/api/runs?sort=created_time&order=desc&limit=2&offset=0&path=en/exp`)).json()) as { id: string; stalled?: boolean }[];
      for (const r of page) expect(r.stalled === true).toBe(r.id === stuck);
      const stats = await (await fetch(`${server.url}/api/stats/runs`)).json();
      expect(stats.stalled).toBe(1);
      expect(stats.running).toBe(2);
      expect((await (await fetch(`${server.url}/api/runs/${stuck}`)).json()).stalled).toBe(true);
      expect((await (await fetch(`${server.url}/api/runs/20261201_000000_aaaaa1`)).json()).stalled).toBe(false);
    } finally {
      await server.stop();
    }
  });

  it("counts East Asian wide and fullwidth characters as two columns and combining marks as none", () => {
    expect(displayWidth("abc")).toBe(3);
    expect(displayWidth("实验")).toBe(4);
    expect(displayWidth("ｆｕｌｌ")).toBe(8);
    expect(displayWidth("한국어")).toBe(6);
    expect(displayWidth("e\u0301")).toBe(1);
    expect(displayWidth("🚀")).toBe(2);
  });
});
