// Benchmark of the filter language (issue 16): filter expressions over 100,000 runs in the run index.
// Rows are built by the indexer's own row builder from run files generated in memory in the original's format
// (meta, status, summary with best_metric_*, assets.json config args/extra), then queried as GET /api/runs does.
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseFilter } from "../src/analysis/filter.ts";
import { openIndexDb } from "../src/index/db.ts";
import { listRunsJson } from "../src/index/run-queries.ts";
import { buildRunRow } from "../src/index/run-row.ts";
import type { RunTable } from "../src/index/schema.ts";
import type { RunFiles } from "../src/store/run-files.ts";
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
  await idx.db.insertInto("run").values(rows.slice(0, 1)).execute();
  await idx.db.transaction().execute(async (trx) => {
    for (const r of rows.slice(1)) await trx.insertInto("run").values(r).execute();
  });
}
console.log(`indexed ${N} generated runs in ${((performance.now() - g0) / 1000).toFixed(1)} s (timings on a shared machine are noisy)`);

const EXPRS = [
  "status == \"finished\"",
  "config.lr <= 0.001 and summary.final_acc > 0.8",
  'config.optimizer == "adam" or config.batch_size == 64',
  "not (config.seed in [0, 1])",
  'path == "sweep3/b" and config.lr > 0.0003',
  'tags contains "best" and status == "finished"',
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

if (process.env.BENCH_KEEP) { console.log("kept " + base); process.exit(0); }
await idx.close();
rmSync(base, { recursive: true, force: true });
finish();
