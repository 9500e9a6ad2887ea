// The PostgreSQL IngestSink against a real, throwaway PostgreSQL: runs, sequenced idempotent batches, media, tokens.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import type { SQL } from "bun";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildMetricsStep, buildSeries } from "../../src/metrics/query.ts";
import { FileBlobStore } from "../../src/team/blob-store.ts";
import { TeamRun, TeamRunCache } from "../../src/team/metric-state.ts";
import { openTeamDb, TEAM_SCHEMA_VERSION } from "../../src/team/schema.ts";
import { PgIngestSink } from "../../src/team/sink.ts";
import { createToken, listTokens, revokeTokens, TokenVerifier } from "../../src/team/tokens.ts";
import { startPostgres, type TestPostgres } from "../helpers/postgres.ts";

const metricsEvent = (step: number) => ({ ts: 1700000000 + step, type: "metrics", data: { global_step: step, time: 1700000000 + step, loss: 1 / step, acc: step / 1000, stage: "train" } });

describe("the PostgreSQL ingest sink", () => {
  let pg: TestPostgres;
  let sql: SQL;
  let root: string;
  let sink: PgIngestSink;
  beforeAll(async () => {
    pg = await startPostgres();
    sql = await openTeamDb(await pg.createDatabase("sink_test"));
    root = mkdtempSync(join(tmpdir(), "rn-team-blobs-"));
    sink = new PgIngestSink(sql, new TeamRunCache(), new FileBlobStore(root));
  }, 60_000);
  afterAll(async () => {
    await sql?.close();
    await pg?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("migrates a database once, even when several replicas open it at the same time", async () => {
    const url = await pg.createDatabase("migrate_race");
    const pools = await Promise.all([openTeamDb(url), openTeamDb(url), openTeamDb(url)]);
    const rows = (await pools[0]`select version from team_schema`) as { version: number }[];
    expect(rows).toEqual([{ version: TEAM_SCHEMA_VERSION }]);
    await Promise.all(pools.map((p) => p.close()));
  });

  it("creates a run once, records who created it, and refuses the same id under another path", async () => {
    const req = { run_id: "20260101_000000_aaaaaa", path: "exp/a", meta: { alias: "first", tags: ["x"] }, status: { status: "running", started_at: 1 } };
    expect(await sink.createRun(req, "alice")).toEqual({ run_id: req.run_id, created: true, last_seq: 0 });
    expect(await sink.createRun(req, "alice")).toEqual({ run_id: req.run_id, created: false, last_seq: 0 });
    await expect(sink.createRun({ ...req, path: "exp/b" }, "bob")).rejects.toMatchObject({ status: 409 });
    const rows = (await sql`select created_by, path, meta from team_run where run_id = ${req.run_id}`) as { created_by: string; path: string; meta: unknown }[];
    expect(rows[0]).toEqual({ created_by: "alice", path: "exp/a", meta: { alias: "first", tags: ["x"] } });
  });

  it("stores each batch once: a retried or older sequence number is acknowledged as a duplicate", async () => {
    const id = "20260101_000000_bbbbbb";
    await sink.createRun({ run_id: id, path: "", meta: {}, status: { status: "running" } }, "alice");
    const b1 = { seq: 1, events: [1, 2, 3].map(metricsEvent), logs: ["hello", "world"] };
    expect(await sink.appendBatch(id, b1)).toEqual({ run_id: id, seq: 1, duplicate: false });
    expect(await sink.appendBatch(id, b1)).toEqual({ run_id: id, seq: 1, duplicate: true });
    const b2 = { seq: 2, events: [4, 5].map(metricsEvent), logs: ["again"], status: { status: "finished", ended_at: 9 }, summary: { best: 0.2 } };
    expect((await sink.appendBatch(id, b2)).duplicate).toBe(false);
    expect((await sink.appendBatch(id, { seq: 1, events: [metricsEvent(99)] })).duplicate).toBe(true);
    const run = (await sql`select last_seq, status, summary, total_rows from team_run where run_id = ${id}`) as Record<string, unknown>[];
    expect(run[0]).toEqual({ last_seq: "2", status: { status: "finished", ended_at: 9 }, summary: { best: 0.2 }, total_rows: "5" });
    const logs = (await sql`select line from team_log_line where run_id = ${id} order by seq, n`) as { line: string }[];
    expect(logs.map((l) => l.line)).toEqual(["hello", "world", "again"]);
    // what another replica reads from the database is what this one holds in memory
    const loaded = await TeamRun.load(sql, id, 2);
    expect(loaded.state.totalRows).toBe(5);
    const body = JSON.parse(buildMetricsStep(loaded.state).json);
    expect(body.rows.map((r: { global_step: number }) => r.global_step)).toEqual([1, 2, 3, 4, 5]);
    expect(body.columns).toEqual(["global_step", "acc", "loss", "stage", "time"]);
  });

  it("keeps many steps from concurrent batches of several runs, each step once, with digests for charts", async () => {
    const ids = ["20260101_000000_cccccc", "20260101_000000_dddddd"];
    for (const id of ids) await sink.createRun({ run_id: id, path: "p", meta: {}, status: {} }, "bob");
    const sends: Promise<unknown>[] = [];
    for (const id of ids) {
      for (let seq = 1; seq <= 20; seq++) {
        const events = Array.from({ length: 1000 }, (_, i) => metricsEvent((seq - 1) * 1000 + i + 1));
        sends.push(sink.appendBatch(id, { seq, events }));
        // a retry racing the original
        if (seq % 5 === 0) sends.push(sink.appendBatch(id, { seq, events }));
      }
    }
    await Promise.all(sends);
    for (const id of ids) {
      const run = await TeamRun.load(sql, id, 20);
      expect(run.state.totalRows).toBe(20000);
      const series = buildSeries(run.state, id, { keys: ["loss"], x: "step", points: 500, mode: "lttb" });
      expect(series.total).toBe(20000);
      expect(series.sampled).toBe(true);
      expect(series.x.length).toBeLessThanOrEqual(500);
      expect(series.x[0]).toBe(1);
      expect(series.x[series.x.length - 1]).toBe(20000);
    }
  });

  it("answers 404 for a batch of an unknown run and stores nothing", async () => {
    await expect(sink.appendBatch("20260101_000000_zzzzzz", { seq: 1, events: [metricsEvent(1)] })).rejects.toMatchObject({ status: 404 });
    const rows = await sql`select 1 from team_metric_chunk where run_id = ${"20260101_000000_zzzzzz"}`;
    expect(rows.length).toBe(0);
  });

  it("stores media in the blob store once per name", async () => {
    const id = "20260101_000000_eeeeee";
    await sink.createRun({ run_id: id, path: "", meta: {}, status: {} }, null);
    await sink.putMedia(id, "a.png", new Uint8Array([1, 2, 3]));
    await sink.putMedia(id, "a.png", new Uint8Array([9, 9]));
    expect([...readFileSync(join(root, id, "media", "a.png"))]).toEqual([1, 2, 3]);
    const rows = (await sql`select name, size from team_media where run_id = ${id}`) as { name: string; size: string }[];
    expect(rows).toEqual([{ name: "a.png", size: "3" }]);
  });

  it("keeps tokens as hashes; a revoked token stops working", async () => {
    const token = await createToken(sql, "carol");
    const stored = (await sql`select hash from team_token where name = 'carol'`) as { hash: string }[];
    expect(stored[0].hash).not.toContain(token);
    const verify = new TokenVerifier(sql, 0);
    expect(await verify.who(token)).toBe("carol");
    expect(await verify.who(`${token}x`)).toBeNull();
    expect(await revokeTokens(sql, "carol")).toBe(1);
    expect(await verify.who(token)).toBeNull();
    expect((await listTokens(sql)).find((t) => t.name === "carol")?.revoked_at).toBeGreaterThan(0);
  });
});
