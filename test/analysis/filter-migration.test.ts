// An index written before the filter fields (migration 0005) is upgraded: its rows are read again, so old runs filter by config.
import { afterAll, expect, it } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/config.ts";
import { startServer } from "../../src/cli/serve.ts";
import { INDEX_FILE } from "../../src/index/db.ts";
import { isolatedEnv, tempDir } from "../helpers/server.ts";

const tmp = tempDir("rn-filter-migration-");
afterAll(() => tmp.cleanup());

it("re-reads the runs of an index made before the filter fields, so config filters match old runs", async () => {
  const root = join(tmp.dir, "root");
  const dir = join(root, "runs", "old", "20250101_000000_abcdef");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "meta.json"), JSON.stringify({ id: "20250101_000000_abcdef", path: "old", alias: null, created_at: 1735689600 }));
  writeFileSync(join(dir, "status.json"), JSON.stringify({ status: "finished", started_at: 1735689600, ended_at: 1735689660 }));
  writeFileSync(join(dir, "summary.json"), '{"acc": NaN, "loss": 0.25}');
  writeFileSync(join(dir, "assets.json"), JSON.stringify({ code: {}, config: { args: { lr: 0.01 } }, datasets: [], pretrained: [], outputs: [] }));
  const config = loadConfig({ root, host: "127.0.0.1", port: 0, logLevel: "error" }, isolatedEnv(tmp.dir));
  let server = await startServer(config);
  await server.stop();
  // make the index look like one written before 0005: no filter columns, rows without config
  const db = new Database(join(root, "index", INDEX_FILE));
  db.exec("DROP INDEX run_filter_idx");
  for (const c of ["config_b", "summary_b", "config", "notes"]) db.exec(`ALTER TABLE run DROP COLUMN ${c}`);
  db.exec("DELETE FROM migration WHERE name IN ('0005_run_filter_fields', '0007_run_filter_index')");
  expect((db.query("SELECT count(*) n FROM run").get() as { n: number }).n).toBe(1);
  db.close();
  server = await startServer(config);
  try {
    const res = await fetch(`${server.url}/api/runs?filter=${encodeURIComponent("config.lr == 0.01 and summary.acc == null and summary.loss < 0.5")}`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { id: string }[]).map((r) => r.id)).toEqual(["20250101_000000_abcdef"]);
  } finally {
    await server.stop();
  }
});
