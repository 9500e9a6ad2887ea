// A run whose directory is removed leaves nothing behind in the index: metric columns, system samples and histogram offsets go, loaded or not.
import { Database } from "bun:sqlite";
import { afterEach, describe, expect, it } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type RunningServer, startServer } from "../../src/cli/serve.ts";
import { loadConfig } from "../../src/config/config.ts";
import { INDEX_FILE } from "../../src/index/db.ts";
import { isolatedEnv, tempDir, waitFor } from "../helpers/server.ts";
import { sdkLine } from "./harness.ts";

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

const ID = "20260101_000000_aaaaaa";

/** Rows the index holds for a run directory, per table. */
function rowsFor(indexPath: string, runDir: string): Record<string, number> {
  const db = new Database(indexPath, { readonly: true });
  try {
    const count = (sql: string) => (db.query(sql).get(runDir) as { n: number }).n;
    return {
      metric_run: count("SELECT count(*) AS n FROM metric_run WHERE run_dir = ?"),
      system: count("SELECT count(*) AS n FROM metric_run WHERE run_dir = ? || '/system.jsonl'"),
      histogram_file: count("SELECT count(*) AS n FROM histogram_file WHERE run_dir = ?"),
      histogram_slot: count("SELECT count(*) AS n FROM histogram_slot WHERE run_dir = ?"),
    };
  } finally {
    db.close();
  }
}

describe("removing a run's directory", () => {
  it("drops its metric, system and histogram rows from the index even when the run was not loaded since the start", async () => {
    const t = tempDir("rn-forget-");
    cleanups.push(() => t.cleanup());
    const root = join(t.dir, "root");
    const runDir = join(root, "runs", "p", ID);
    mkdirSync(runDir, { recursive: true });
    writeFileSync(join(runDir, "meta.json"), JSON.stringify({ id: ID, path: "p", created_at: 1767225600, hostname: "h", pid: 1 }));
    writeFileSync(join(runDir, "status.json"), JSON.stringify({ status: "finished", started_at: 1767225600, ended_at: 1767225700 }));
    let events = "";
    for (let i = 1; i <= 50; i++) events += sdkLine(i, { loss: 1 / i });
    writeFileSync(join(runDir, "events.jsonl"), events);
    const sysLine = (t: number, cpu: number) => JSON.stringify({ ts: t, type: "system", data: { "sys/cpu_percent": cpu, step: Math.round(t * 1000), time: t } }) + "\n";
    writeFileSync(join(runDir, "system.jsonl"), sysLine(1767225601, 12.5) + sysLine(1767225611, 20));
    writeFileSync(join(runDir, "histograms.jsonl"), JSON.stringify({ ts: 1, step: 1, key: "w", edges: [0, 1, 2], counts: [3, 1], count: 4, sum: 2, min: 0, max: 2 }) + "\n");
    const config = loadConfig({ root, host: "127.0.0.1", port: 0, logLevel: "error", sweepSeconds: 60 }, isolatedEnv(t.dir));

    // first start: the run's metrics, system samples and histograms are read into the index
    const first: RunningServer = await startServer(config);
    try {
      expect((await fetch(`${first.url}/api/runs/${ID}/metrics_step`)).status).toBe(200);
      expect((await fetch(`${first.url}/api/runs/${ID}/series?keys=sys/cpu_percent`)).status).toBe(200);
      const h = await fetch(`${first.url}/api/runs/${ID}/histograms`);
      expect(h.status).toBe(200);
    } finally {
      await first.stop();
    }
    const indexPath = join(root, "index", INDEX_FILE);
    const before = rowsFor(indexPath, runDir);
    expect(before.metric_run).toBe(1);
    expect(before.system).toBe(1);
    expect(before.histogram_file).toBe(1);
    expect(before.histogram_slot).toBe(1);

    // second start: nothing of the run is in memory; its directory goes away
    const second: RunningServer = await startServer(config);
    cleanups.push(() => second.stop());
    await waitFor(async () => ((await (await fetch(`${second.url}/api/runs`)).json()) as { id: string }[]).some((r) => r.id === ID), 10_000, "the run listed");
    rmSync(runDir, { recursive: true, force: true });
    await waitFor(async () => !((await (await fetch(`${second.url}/api/runs`)).json()) as { id: string }[]).some((r) => r.id === ID), 10_000, "the run gone from the list");
    const after = await waitFor(() => {
      const rows = rowsFor(indexPath, runDir);
      return Object.values(rows).every((n) => n === 0) ? rows : undefined;
    }, 10_000, "the run's index rows dropped");
    expect(after).toEqual({ metric_run: 0, system: 0, histogram_file: 0, histogram_slot: 0 });
  });
});
