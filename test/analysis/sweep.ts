// Test helper: a sweep of runs written by the real Python SDK, and each run read straight from its files.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

const REPO = join(import.meta.dir, "..", "..");

/** One run as its files say (NaN/Infinity read as null). */
export interface FileRun {
  id: string;
  dir: string;
  path: string;
  status: string;
  config: Record<string, any>;
  summary: Record<string, any>;
  /** Per key: rows in file order, value as logged (null for NaN/Infinity). */
  events: Map<string, { step: number; time: number; value: unknown }[]>;
}

function readJson(p: string): any {
  try {
    return JSON.parse(readFileSync(p, "utf8").replace(/\bNaN\b|-?Infinity\b/g, "null"));
  } catch {
    return {};
  }
}

/** Writes `runs` runs of a sweep into `root` with the Python SDK (lr × optimizer × seed; loss/acc curves). */
export function writeSweep(root: string, xdg: string, runs: number, steps = 30): void {
  const script = `import runicorn as rn, sys, math
root = sys.argv[1]
for i in range(${runs}):
    run = rn.init(path="sweep/" + ("a" if i % 2 else "b"), storage=root)
    lr = [0.0001, 0.001, 0.01][i % 3]
    seed = i // 3
    run.log_config(args={"lr": lr, "optimizer": "adam" if i % 2 == 0 else "sgd", "seed": seed})
    n = ${steps} - (i % 4) * 5
    for step in range(1, n + 1):
        row = {"loss": 1.0 / (step * (1 + i % 3)) + 0.01 * seed}
        if step % (2 + i % 3) == 0:
            row["acc"] = min(1.0, 0.3 + 0.02 * step + 0.01 * i)
        if i == 4 and step == n:
            row["loss"] = float("nan")
        if i == 6 and step % 5 == 0:
            row["flag"] = step % 10 == 0
        run.log(row, step=step * (1 if i % 5 else 2))
    if i != 7:
        run.summary({"final_acc": 0.5 + i * 0.02})
    run.finish("failed" if i == 9 else "finished")
`;
  const p = Bun.spawnSync(["python3", "-c", script, root], {
    env: { ...process.env, PYTHONPATH: join(REPO, "sdk", "python"), XDG_CONFIG_HOME: xdg, RUNICORN_QUIET: "1" },
    stderr: "pipe",
  });
  if (p.exitCode !== 0) throw new Error(p.stderr.toString());
}

/** Every run under ROOT/runs, read from its files. */
export function filesRuns(root: string): FileRun[] {
  const out: FileRun[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (!statSync(p).isDirectory()) continue;
      if (statSync(join(p, "meta.json"), { throwIfNoEntry: false })) {
        const meta = readJson(join(p, "meta.json"));
        const cfg = readJson(join(p, "assets.json")).config ?? {};
        const events = new Map<string, { step: number; time: number; value: unknown }[]>();
        let text = "";
        try {
          text = readFileSync(join(p, "events.jsonl"), "utf8");
        } catch {
          // a run without metrics
        }
        for (const line of text.split("\n")) {
          if (!line.trim()) continue;
          const e = JSON.parse(line.replace(/\bNaN\b|-?Infinity\b/g, "null"));
          if (e.type !== "metrics") continue;
          for (const [k, v] of Object.entries(e.data as Record<string, unknown>)) {
            if (k === "global_step" || k === "time") continue;
            if (!events.has(k)) events.set(k, []);
            events.get(k)!.push({ step: (e.data as any).global_step, time: (e.data as any).time, value: v });
          }
        }
        out.push({
          id: meta.id,
          dir: p,
          path: meta.path,
          status: readJson(join(p, "status.json")).status,
          config: { ...cfg.args, ...cfg.extra },
          summary: readJson(join(p, "summary.json")),
          events,
        });
      } else walk(p);
    }
  };
  walk(join(root, "runs"));
  return out;
}

/** A logged value as a number (booleans 0/1), or undefined when it is not a finite number. */
export function numeric(v: unknown): number | undefined {
  if (typeof v === "boolean") return v ? 1 : 0;
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** metric.<key>.<stat> computed from the files; undefined when the run never logged the key as a number. */
export function metricStat(r: FileRun, key: string, stat: "last" | "min" | "max" | "count"): number | null | undefined {
  const rows = r.events.get(key) ?? [];
  const nums = rows.map((x) => numeric(x.value)).filter((v): v is number => v !== undefined);
  if (!nums.length) return undefined;
  if (stat === "count") return nums.length;
  if (stat === "min") return Math.min(...nums);
  if (stat === "max") return Math.max(...nums);
  return numeric(rows[rows.length - 1].value) ?? null;
}
