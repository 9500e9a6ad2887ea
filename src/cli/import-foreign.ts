// `runicorn import --tensorboard DIR` and `runicorn import --mlflow DIR`: other trackers' history
// becomes Runicorn runs (issue 17). Progress on stderr; a summary (or --json) on stdout.
import { mkdirSync } from "node:fs";
import { importMlflow } from "../importers/mlflow.ts";
import { ImportError } from "../importers/run-writer.ts";
import { importTensorBoard } from "../importers/tensorboard.ts";

/** What the command needs from the data-command dispatcher. */
export interface ForeignImportIo {
  out: (line: string) => void;
  err: (line: string) => void;
  json: boolean;
  tty: boolean;
}

/** Runs one foreign import into `root`; returns the exit code (0 done, 1 failed). */
export async function runForeignImport(kind: "tensorboard" | "mlflow", dir: string, root: string, path: string | undefined, io: ForeignImportIo): Promise<number> {
  const t0 = performance.now();
  let lastDraw = 0;
  const progress = (done: number, total: number, n: number) => {
    const now = performance.now();
    if (done < total && now - lastDraw < 200) return;
    lastDraw = now;
    const line = `${kind}: ${done}/${total} runs, ${n.toLocaleString("en-US")} ${kind === "tensorboard" ? "scalar events" : "metric points"}`;
    if (io.tty) process.stderr.write(`\r${line}${done >= total ? "\n" : ""}`);
    else io.err(line);
  };
  try {
    mkdirSync(root, { recursive: true });
    const secs = () => ((performance.now() - t0) / 1000).toFixed(2);
    if (kind === "tensorboard") {
      const r = await importTensorBoard(root, dir, { path, progress });
      if (io.json) io.out(JSON.stringify({ ok: true, ...r }, null, 2));
      else {
        const fresh = r.runs.filter((x) => x.created).length;
        io.out(`Imported ${r.runs.length} TensorBoard run(s) into ${root} in ${secs()} s (${fresh} new, ${r.runs.length - fresh} updated)`);
        io.out(`  ${r.scalars} scalar events, ${r.histograms} histograms, ${r.images} images, ${r.texts} texts`);
        for (const x of r.runs) io.out(`  ${x.path}/${x.id}  ← ${x.source}`);
        for (const s of r.skipped) io.err(`  skipped ${s.file}: ${s.reason}`);
      }
    } else {
      const r = importMlflow(root, dir, { path, progress });
      if (io.json) io.out(JSON.stringify({ ok: true, ...r }, null, 2));
      else {
        const fresh = r.runs.filter((x) => x.created).length;
        io.out(`Imported ${r.runs.length} MLflow run(s) into ${root} in ${secs()} s (${fresh} new, ${r.runs.length - fresh} updated), ${r.points} metric points`);
        for (const x of r.runs) io.out(`  ${x.path}/${x.id}  ← ${x.mlflow_run_id}`);
        for (const s of r.skipped) io.err(`  skipped ${s.dir}: ${s.reason}`);
      }
    }
    return 0;
  } catch (e) {
    if (!(e instanceof ImportError)) throw e;
    if (io.json) io.out(JSON.stringify({ ok: false, error: e.message }));
    else io.err(`Import failed: ${e.message}`);
    return 1;
  }
}
