// Benchmark of the analysis API (issue 16): filter expressions (config, summary, metric.*) over 100,000 runs
// in the run index; the runs table (include=config,summary,metrics, 20+ columns) for 10,000 runs; grouped
// series (mean/std/min/max) of 50 runs × 100,000 steps.
// Rows are built by the indexer's own row builder from run files generated in memory in the original's format
// (meta, status, summary with best_metric_*, assets.json config args/extra) and written by the index's own
// upsert (so the JSONB copies exist); metric.* fields are set as the metric store writes them. The grouped
// series reads chunks held in memory (as a warm ChunkCache holds them), not SQLite blobs.
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseFilter } from "../src/analysis/filter.ts";
import { openIndexDb } from "../src/index/db.ts";
import { listRunsJson, upsertRunRows } from "../src/index/run-queries.ts";
import { GroupAccumulator } from "../src/analysis/group-series.ts";
import { Chunk, CHUNK_ROWS, K_NUM } from "../src/metrics/chunk.ts";
import type { ChunkRef, RunData } from "../src/metrics/run-data.ts";
import { buildRunRow } from "../src/index/run-row.ts";
import type { RunTable } from "../src/index/schema.ts";
import type { RunFiles } from "../src/store/run-files.ts";
import { sql } from "kysely";
import { finish, report, time } from "./lib.ts";

const N = Number(process.env.BENCH_RUNS ?? 100000);
const base = join(tmpdir(), `rn-bench-analysis-${process.pid}`);
rmSync(base, { recursive: true, force: true });
const { mkdirSync } = await import("node:fs");
mkdirSync(base, { recursive: true });
const idx = await openIndexDb(join(base, "index.sqlite"));

const g0 = performance.now();
const statuses = ["finished", "finished", "finished", "failed", "running"];
const lrs = [1e-4, 3e-4, 1e-3, 3e-3];
const BATCH = 2000;
for (let start = 0; start < N; start += BATCH) {
  const rows: RunTable[] = [];
  for (let i = start; i < Math.min(N, start + BATCH); i++) {
    const path = `sweep${i % 20}/${["a", "b", "c"][i % 3]}`;
    const id = `20250101_${String(100000 + (i % 900000)).slice(-6)}_${((i * 2654435761) % 0xffffff).toString(16).padStart(6, "0")}`;
    const created = 1735689600 + i;
    const status = statuses[i % statuses.length];
    const files: RunFiles = {
      meta: { id, path, alias: null, created_at: created, python: "3.11.2", platform: "Linux", hostname: `gpu${i % 8}`, pid: 100 + i, tags: i % 50 ? [] : ["best"] },
      status: status === "running" ? { status, started_at: created } : { status, started_at: created, ended_at: created + 60 + (i % 600) },
      summary: { final_acc: (i % 1000) / 1000, final_loss: 1 / (i + 1), best_metric_value: (i % 997) / 997, best_metric_name: "val/acc", best_metric_step: i % 100, best_metric_mode: "max" },
      assets: {
        code: {},
        config: {
          args: { lr: lrs[i % 4], optimizer: i % 3 ? "sgd" : "adam", batch_size: [32, 64, 128][i % 3], seed: i % 5, epochs: 90, weight_decay: 1e-4 },
          extra: { model: { name: "resnet50", depth: 50 }, dataset: "imagenet" },
        },
        datasets: [],
        pretrained: [],
        outputs: [],
      },
      deleted: undefined,
      dirMtime: created,
    };
    rows.push(buildRunRow({ dir: join(base, "runs", path, id), id, entryPath: path, layout: "v06", orderKey: `0${path}\u0001${id}`, stamp: "x" }, files));
  }
  await idx.db.transaction().execute(async (trx) => upsertRunRows(trx, rows));
}
// metric.* fields as the metric store writes them (text + JSONB), two keys per run
await sql`UPDATE run SET metrics = json_object(
  'loss', json_object('last', 1.0 / (rowid + 1), 'min', 0.5 / (rowid + 1), 'max', 2.5, 'count', 100 + rowid % 900),
  'val/acc', json_object('last', (rowid % 1000) / 1000.0, 'min', 0.1, 'max', (rowid % 1000) / 1000.0 + 0.01, 'count', 10))`.execute(idx.db);
await sql`UPDATE run SET metrics_b = jsonb(metrics)`.execute(idx.db);
console.log(`indexed ${N} generated runs in ${((performance.now() - g0) / 1000).toFixed(1)} s (timings on a shared machine are noisy)`);

const EXPRS = [
  "status == \"finished\"",
  "config.lr <= 0.001 and summary.final_acc > 0.8",
  'config.optimizer == "adam" or config.batch_size == 64',
  "not (config.seed in [0, 1])",
  'path == "sweep3/b" and config.lr > 0.0003',
  'tags contains "best" and status == "finished"',
  'metric.loss.min < 0.0001 and status == "finished"',
  'metric.val/acc.last > 0.9 and config.lr <= 0.001',
];
for (const expr of EXPRS) {
  const filter = parseFilter(expr);
  let total = 0;
  const ms = await time(async () => {
    total = (await listRunsJson(idx.db, { filter, limit: 50, offset: 0 })).total;
  }, 10, 2);
  report(`filter (page of 50 + total ${total}) ${expr.slice(0, 40)}`, ms, 50);
}
const sorted = await time(() => listRunsJson(idx.db, { filter: parseFilter("config.lr <= 0.001"), sort: "config.batch_size", limit: 50 }), 5, 1);
report("filter + sort by config field, page of 50", sorted, 150);
const byMetric = await time(() => listRunsJson(idx.db, { filter: parseFilter("config.lr <= 0.001"), sort: "metric.loss.min", limit: 50 }), 5, 1);
report("filter + sort by metric.loss.min, page of 50", byMetric, 150);

// the runs table: 10,000 rows with config (6 args + model/dataset), summary (6 keys) and metrics (2 keys × 4)
let tableChars = 0;
const table = await time(async () => {
  tableChars = (await listRunsJson(idx.db, { limit: 10000, includeConfig: true, includeSummary: true, includeMetrics: true })).json.length;
}, 5, 1);
report(`runs table, 10,000 runs with include=config,summary,metrics (${(tableChars / 1e6).toFixed(1)} MB)`, table, 150);

// grouped series: 50 runs × 100,000 steps of one key, 5 groups of 10, 1,000 points
const STEPS = Number(process.env.BENCH_STEPS ?? 100000);
const RUNS_G = 50;
function memoryRun(seed: number): RunData {
  const chunks: ChunkRef[] = [];
  const loaded: Chunk[] = [];
  for (let first = 0; first < STEPS; first += CHUNK_ROWS) {
    const c = new Chunk(CHUNK_ROWS);
    const col = c.column("loss");
    for (let s = first; s < Math.min(STEPS, first + CHUNK_ROWS); s++) {
      const r = c.appendRow(s);
      c.times[r] = 1735689600 + s * 0.1;
      col.kinds[r] = K_NUM;
      col.vals[r] = 1 / (s + 1) + seed * 1e-3;
    }
    loaded.push(c);
    chunks.push({ id: chunks.length, rows: c.n, firstStep: first, lastStep: first + c.n - 1, minTime: c.times[0], maxTime: c.times[c.n - 1], levelRows: [0, 0, 0] });
  }
  return { chunks, columns: ["loss"], keyStats: new Map(), stages: [], totalRows: STEPS, load: (ref) => loaded[ref.id] };
}
const runs = Array.from({ length: RUNS_G }, (_, i) => memoryRun(i));
let pointsOut = 0;
const grouped = await time(async () => {
  pointsOut = 0;
  for (let g = 0; g < 5; g++) {
    const members = runs.slice(g * 10, g * 10 + 10);
    const acc = new GroupAccumulator(members, "step", 1000);
    for (const r of members) acc.addRun(r, "loss");
    pointsOut += acc.result(["mean", "std", "min", "max"]).x.length;
  }
}, 7, 2);
report(`grouped series, ${RUNS_G} runs × ${STEPS} steps → 5 groups × ${pointsOut / 5} points`, grouped, 150);

if (process.env.BENCH_KEEP) { console.log("kept " + base); process.exit(0); }
await idx.close();
rmSync(base, { recursive: true, force: true });
finish();
