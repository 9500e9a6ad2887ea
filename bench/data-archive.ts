// Benchmark of data management: export (zip, tar.gz), import, and a permanent-delete preview, on a generated
// root of runs in the original's format. Prints median and p95 next to the targets.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { importArchive } from "../src/store/assets/archive-import.ts";
import { FileSink, GzipSink } from "../src/store/assets/byte-sink.ts";
import { findRunDir, RunDeleter } from "../src/store/assets/delete-run.ts";
import { selectRuns, writeRootExport } from "../src/store/assets/run-export.ts";
import { TarWriter } from "../src/store/assets/tar.ts";
import { ZipWriter } from "../src/store/assets/zip-writer.ts";
import { finish, report, time } from "./lib.ts";

const RUNS = Number(process.env.RUNS ?? 200);
const STEPS = Number(process.env.STEPS ?? 1000);
const base = mkdtempSync(join(tmpdir(), "rn-bench-data-"));
const root = join(base, "root");

function generate(): { bytes: number } {
  let bytes = 0;
  for (let i = 0; i < RUNS; i++) {
    const id = `20260101_${String(100000 + i).slice(-6)}_${(0xa00000 + i).toString(16)}`;
    const dir = join(root, "runs", `proj${i % 5}`, `exp${i % 7}`, id);
    mkdirSync(join(dir, "media"), { recursive: true });
    const meta = { id, path: `proj${i % 5}/exp${i % 7}`, alias: null, created_at: 1.8e9 + i, hostname: "bench", pid: 1, storage_dir: root };
    writeFileSync(join(dir, "meta.json"), JSON.stringify(meta, null, 2));
    writeFileSync(join(dir, "status.json"), JSON.stringify({ status: "finished", started_at: 1.8e9 + i, ended_at: 1.8e9 + i + 60 }));
    writeFileSync(join(dir, "assets.json"), JSON.stringify({ code: {}, config: { args: { lr: 0.1 } }, datasets: [], pretrained: [], outputs: [] }));
    const lines: string[] = [];
    for (let s = 1; s <= STEPS; s++) {
      lines.push(JSON.stringify({ ts: 1.8e9 + s, type: "metrics", data: { loss: 1 / s, acc: s / STEPS, global_step: s, time: 1.8e9 + s } }));
    }
    const events = lines.join("\n") + "\n";
    writeFileSync(join(dir, "events.jsonl"), events);
    writeFileSync(join(dir, "logs.txt"), "12:00:00 | step\n".repeat(200));
    bytes += events.length + 3200;
  }
  return { bytes };
}

const { bytes } = generate();
console.log(`root: ${RUNS} runs × ${STEPS} steps, ${(bytes / 1e6).toFixed(1)} MB of run files`);
const runs = selectRuns(root, {});
const zipOut = join(base, "out.zip");
const tgzOut = join(base, "out.tar.gz");

const iters = Number(process.env.ITERS ?? 5);
report(`export ${RUNS} runs as zip`, await time(async () => {
  const f = new FileSink(zipOut);
  await writeRootExport(root, new ZipWriter(f), runs);
  f.close();
}, iters, 1), 2000);
report(`export ${RUNS} runs as tar.gz`, await time(async () => {
  const f = new FileSink(tgzOut);
  const gz = new GzipSink(f);
  await writeRootExport(root, new TarWriter(gz), runs);
  await gz.finish();
  f.close();
}, iters, 1), 2000);
let n = 0;
report(`import ${RUNS} runs from zip`, await time(async () => {
  const target = join(base, `imp-${n++}`);
  await importArchive(target, Bun.file(zipOut), zipOut);
  rmSync(target, { recursive: true, force: true });
}, iters, 1), 2000);
report(`import ${RUNS} runs from tar.gz`, await time(async () => {
  const target = join(base, `imp-${n++}`);
  await importArchive(target, Bun.file(tgzOut), tgzOut);
  rmSync(target, { recursive: true, force: true });
}, iters, 1), 2000);
const victim = runs[0].id;
report(`permanent delete preview (${RUNS}-run root)`, await time(async () => {
  const d = new RunDeleter(root, true);
  await d.deleteRun(victim, findRunDir(root, victim));
  d.close();
}, iters * 2, 2), 200);
rmSync(base, { recursive: true, force: true });
finish();
