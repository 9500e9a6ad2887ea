// Team mode (PostgreSQL) speed: sustained ingest from 8 writers into one replica, GET /api/runs over
// 10,000 runs, and a downsampled 100k-step chart; the file (SQLite) mode's figures printed beside them.
// Usage: bun bench/team.ts [--quick]   (needs Debian's postgresql; starts a throwaway cluster)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPostgres } from "../test/helpers/postgres.ts";
import { openTeamDb } from "../src/team/schema.ts";
import { createToken } from "../src/team/tokens.ts";
import { listItemJson } from "../src/team/list-item.ts";
import { finish, report, reportValue, spawnServe, time } from "./lib.ts";
import { generateBigRun, generateRoot, runIdFor, runPathFor } from "./scale-data.ts";

const quick = process.argv.includes("--quick");
const WRITERS = 8;
const BATCHES = quick ? 8 : 25;
const EVENTS_PER_BATCH = 1000;
const KEYS = ["loss", "acc", "lr", "grad_norm", "val_loss", "m5", "m6", "m7"];
const RUNS = 10_000;
const BIG_STEPS = 100_000;
const BIG_ID = "20260201_000000_b19b19";

const tmp = mkdtempSync(join(tmpdir(), "rn-bench-team-"));
const pg = await startPostgres();
const procs: { kill(): void }[] = [];
try {
  const db = await pg.createDatabase("bench");
  const sql = await openTeamDb(db);
  const token = await createToken(sql, "bench");
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: join(tmp, "home") };
  const team = await spawnServe(join(tmp, "team-root"), env, ["--db", db]);
  procs.push(team.proc);
  const auth = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  const post = async (path: string, body: unknown) => {
    const r = await fetch(team.url + path, { method: "POST", headers: auth, body: JSON.stringify(body) });
    if (r.status >= 300) throw new Error(`${path}: ${r.status} ${await r.text()}`);
    return r.json();
  };
  const batchOf = (first: number, n: number) =>
    Array.from({ length: n }, (_, i) => {
      const step = first + i;
      const data: Record<string, unknown> = { global_step: step, time: 1767225600 + step * 0.01 };
      for (let k = 0; k < KEYS.length; k++) data[KEYS[k]] = Math.sin(step * (k + 1) * 0.001) + k;
      return { ts: 1767225600 + step * 0.01, type: "metrics", data };
    });

  // 1. ingest: each writer its own run, batches sent one after another (as an SDK does), bodies made in advance
  const bodies = Array.from({ length: BATCHES }, (_, b) => JSON.stringify({ seq: b + 1, events: batchOf(b * EVENTS_PER_BATCH + 1, EVENTS_PER_BATCH) }));
  const ids = Array.from({ length: WRITERS }, (_, w) => `20260201_0000${String(w).padStart(2, "0")}_aaaa${String(w).padStart(2, "0")}`);
  for (const id of ids) await post("/api/ingest/runs", { run_id: id, path: "bench/ingest", meta: {}, status: { status: "running" } });
  const t0 = performance.now();
  await Promise.all(
    ids.map(async (id) => {
      for (const body of bodies) {
        const r = await fetch(`${team.url}/api/ingest/runs/${id}/batches`, { method: "POST", headers: auth, body });
        if (r.status !== 200) throw new Error(`batch: ${r.status} ${await r.text()}`);
        await r.arrayBuffer();
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const values = WRITERS * BATCHES * EVENTS_PER_BATCH * KEYS.length;
  reportValue(`ingest, ${WRITERS} writers → 1 replica (PostgreSQL)`, values / secs, 200_000, "values/s", "higher");

  // 2. 10,000 runs in the list (rows written straight into the database, as many ingests would leave them)
  const rows = Array.from({ length: RUNS }, (_, i) => {
    const created = 1735689600 + i * 7;
    const status = i % 50 === 7 ? "running" : i % 5 === 3 ? "failed" : "finished";
    return {
      run_id: runIdFor(i),
      path: runPathFor(i),
      meta: { alias: i % 3 ? null : `alias-${i}`, tags: i % 4 ? [] : ["baseline"], pid: 100000 + (i % 50000), hostname: "bench-host" },
      status: { status, started_at: created, ended_at: created + 60.5 },
      summary: { final_loss: 1 / (i + 1), best_metric_value: (i % 1000) / 1000, best_metric_name: "acc" },
      assets: { config: { args: { lr: 0.1, seed: i } } },
      created_by: "bench",
      created_at: created,
      updated_at: created,
    };
  }).map((r) => ({ ...r, list_json: listItemJson(r) }));
  for (let i = 0; i < rows.length; i += 1000) await sql`insert into team_run ${sql(rows.slice(i, i + 1000))}`;
  // 3. one 100k-step run, ingested through the API
  await post("/api/ingest/runs", { run_id: BIG_ID, path: "bench/big", meta: {}, status: { status: "finished" } });
  for (let b = 0; b < BIG_STEPS / 5000; b++) await post(`/api/ingest/runs/${BIG_ID}/batches`, { seq: b + 1, events: batchOf(b * 5000 + 1, 5000).map((e) => ({ ...e, data: { global_step: e.data.global_step, time: e.data.time, loss: e.data.loss, acc: e.data.acc, lr: e.data.lr } })) });
  await sql.close();
  const get = (base: string, path: string, headers: Record<string, string> = {}) => async () => {
    const r = await fetch(base + path, { headers });
    if (r.status !== 200) throw new Error(`${path}: ${r.status}`);
    return r.arrayBuffer();
  };

  // the team figures first, while nothing else runs: the file-mode server below indexes its root in the background
  const n = quick ? 10 : 30;
  report("GET /api/runs (10,000 runs, PostgreSQL)", await time(get(team.url, "/api/runs", auth), n), 50);
  // the same list through the query path (a parameter skips the per-replica whole-list cache)
  report("GET /api/runs?order=desc (10,000 runs, PostgreSQL, uncached)", await time(get(team.url, "/api/runs?order=desc", auth), n), 50);
  report("GET /api/runs?limit=50 (PostgreSQL)", await time(get(team.url, "/api/runs?limit=50", auth), n * 3), 50);
  report("100k-step chart /series (PostgreSQL)", await time(get(team.url, `/api/runs/${BIG_ID}/series?points=2000`, auth), n), 20);

  // the file mode on the same shapes: 10,000 generated run folders and a 100k-step run
  const fileRoot = join(tmp, "file-root");
  generateRoot(fileRoot, RUNS);
  generateBigRun(fileRoot, BIG_ID, "big", BIG_STEPS);
  const file = await spawnServe(fileRoot, env);
  procs.push(file.proc);
  for (let i = 0; i < 600; i++) {
    const r = await fetch(`${file.url}/api/runs?limit=1`);
    await r.arrayBuffer();
    if (r.headers.get("x-index-state") === "ready") break;
    await Bun.sleep(100);
  }
  report("GET /api/runs (10,000 runs, SQLite: file mode)", await time(get(file.url, "/api/runs"), n), 50);
  report("100k-step chart /series (SQLite: file mode)", await time(get(file.url, `/api/runs/${BIG_ID}/series?points=2000`), n), 20);
} finally {
  for (const p of procs) p.kill();
  await pg.stop();
  rmSync(tmp, { recursive: true, force: true });
}
finish();
