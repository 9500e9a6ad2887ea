// Generates benchmark roots in the original's on-disk format: N runs in nested paths, and huge events.jsonl files.
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";

/** Python's repr() of a float, as `json.dumps` writes it (NaN, Infinity, `2.0`, `1e-05`). */
export function pyFloat(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "Infinity";
  if (v === -Infinity) return "-Infinity";
  if (v === 0) return Object.is(v, -0) ? "-0.0" : "0.0";
  const s = String(v);
  if (/e/.test(s)) {
    const [mant, e] = v.toExponential().split("e");
    const exp = Number(e);
    return `${mant}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  return Number.isInteger(v) ? `${s}.0` : s;
}

/** The id of the i-th generated run (the SDK's `YYYYMMDD_HHMMSS_xxxxxx`, unique per i). */
export function runIdFor(i: number): string {
  const t = 1735689600 + i * 7;
  const d = new Date(t * 1000);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const stamp = `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}_${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
  return `${stamp}_${((i * 2654435761) >>> 8 & 0xffffff).toString(16).padStart(6, "0")}`;
}

/** The experiment path of the i-th run: ~25 runs per leaf, three levels, as a busy lab has them. */
export function runPathFor(i: number): string {
  return `team${i % 5}/project${Math.floor(i / 5) % 20}/exp${Math.floor(i / 100) % 10}`;
}

/**
 * Writes `n` runs under ROOT/runs as SDK 0.6 does (meta, status, summary, assets, a short events.jsonl
 * and logs.txt; indent 2); about 1 in 50 is running, 1 in 5 failed, 1 in 97 soft-deleted. Written into
 * a temp folder and renamed, so an interrupted generation is never mistaken for a complete one.
 */
export function generateRoot(root: string, n: number): { ids: string[]; generated: boolean } {
  const ids = Array.from({ length: n }, (_, i) => runIdFor(i));
  if (existsSync(join(root, "runs"))) return { ids, generated: false };
  const tmp = `${root}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  const made = new Set<string>();
  for (let i = 0; i < n; i++) {
    const id = ids[i];
    const path = runPathFor(i);
    const parent = join(tmp, "runs", path);
    if (!made.has(parent)) {
      mkdirSync(parent, { recursive: true });
      made.add(parent);
    }
    const dir = join(parent, id);
    mkdirSync(dir);
    const created = 1735689600 + i * 7 + 0.0153518;
    const status = i % 50 === 7 ? "running" : i % 5 === 3 ? "failed" : "finished";
    const j = (v: unknown) => JSON.stringify(v, null, 2);
    writeFileSync(join(dir, "meta.json"), j({ id, path, alias: i % 3 ? null : `alias-${i}`, created_at: created, python: "3.11.2", platform: "Linux 6.1.0 (x86_64)", hostname: "bench-host", pid: 100000 + (i % 50000), storage_dir: "/data/runicorn", workspace_root: "/data/ws", tags: i % 4 ? [] : ["baseline", `t${i % 7}`] }));
    writeFileSync(join(dir, "status.json"), j(status === "running" ? { status, started_at: created, heartbeat_at: created + 30 } : { status, started_at: created, ended_at: created + 60.5, ...(status === "failed" ? { exit_reason: "exception" } : {}) }));
    writeFileSync(join(dir, "summary.json"), j({ final_loss: 1 / (i + 1), best_metric_value: (i % 1000) / 1000, best_metric_name: "acc", best_metric_step: i % 100, best_metric_mode: "max" }));
    writeFileSync(join(dir, "assets.json"), j({ code: {}, config: { args: { lr: 0.1, seed: i } }, datasets: [], pretrained: [], outputs: [] }));
    writeFileSync(join(dir, "events.jsonl"), `{"ts": ${created}, "type": "metrics", "data": {"loss": 0.5, "global_step": 1, "time": ${created}}}\n`);
    writeFileSync(join(dir, "logs.txt"), "epoch 1 done\n");
    if (i % 97 === 5) writeFileSync(join(dir, ".deleted"), JSON.stringify({ deleted_at: created + 100, reason: "user_deleted", original_status: status }));
  }
  mkdirSync(root, { recursive: true });
  renameSync(join(tmp, "runs"), join(root, "runs"));
  rmSync(tmp, { recursive: true, force: true });
  return { ids, generated: true };
}

/**
 * Writes an events.jsonl of `steps` rows × 5 metrics in SDK 0.6's exact format (stages, a NaN every
 * 1,000 lines), fast: numbers are formatted from a few precomputed templates per block of lines.
 */
export function generateEvents(path: string, steps: number, startTs = 1795922975.044536): void {
  const fd = openSync(path + ".partial", "w");
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  let ts = startTs;
  const parts: string[] = [];
  let size = 0;
  for (let i = 1; i <= steps; i++) {
    ts += 0.0001 + rnd() * 0.0001;
    const t = pyFloat(Math.round(ts * 1e6) / 1e6);
    const loss = i % 1000 === 0 ? NaN : 2 / Math.sqrt(i) + rnd() * 0.1;
    const stage = i <= steps * 0.05 ? "warmup" : i <= steps * 0.9 ? "train" : "eval";
    const line = `{"ts": ${t}, "type": "metrics", "data": {"loss": ${pyFloat(loss)}, "acc": ${pyFloat(rnd())}, "lr": ${pyFloat(0.001 * (1 - i / steps) + 1e-6)}, "grad_norm": ${pyFloat(rnd() * 10)}, "val_loss": ${pyFloat(rnd() * 3)}, "global_step": ${i}, "time": ${t}, "stage": "${stage}"}}\n`;
    parts.push(line);
    size += line.length;
    if (size > 4 << 20) {
      writeSync(fd, parts.join(""));
      parts.length = 0;
      size = 0;
    }
  }
  writeSync(fd, parts.join(""));
  closeSync(fd);
  renameSync(path + ".partial", path);
}

/** Adds one finished run with a `steps`-step events.jsonl at ROOT/runs/bench/<name>/<id> (kept when already there). */
export function generateBigRun(root: string, id: string, name: string, steps: number): string {
  const dir = join(root, "runs", "bench", name, id);
  const events = join(dir, "events.jsonl");
  if (existsSync(events)) return dir;
  mkdirSync(dir, { recursive: true });
  const created = 1795922975;
  writeFileSync(join(dir, "meta.json"), JSON.stringify({ id, path: `bench/${name}`, alias: null, created_at: created, python: "3.11.2", platform: "Linux", hostname: "bench-host", pid: 1 }, null, 2));
  writeFileSync(join(dir, "status.json"), JSON.stringify({ status: "finished", started_at: created, ended_at: created + 3600 }, null, 2));
  writeFileSync(join(dir, "summary.json"), JSON.stringify({ best_metric_value: 0.9, best_metric_name: "acc" }, null, 2));
  generateEvents(events, steps);
  return dir;
}
