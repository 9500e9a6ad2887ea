// Shared benchmark helpers: timing statistics, printing against targets, starting a server process.
import { existsSync } from "node:fs";
import { join } from "node:path";

/** Median and 95th percentile of a list of milliseconds. */
export function stats(ms: number[]): { median: number; p95: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))];
  return { median: at(0.5), p95: at(0.95) };
}

const misses: string[] = [];

/** Prints one timing line: name, median, p95, target and whether the median meets it; a miss makes `finish()` exit 1. */
export function report(name: string, ms: number[], targetMs: number): boolean {
  const { median, p95 } = stats(ms);
  const ok = median <= targetMs;
  if (!ok) misses.push(name);
  console.log(
    `${name.padEnd(44)} median ${median.toFixed(2).padStart(8)} ms   p95 ${p95.toFixed(2).padStart(8)} ms   target ≤ ${targetMs} ms   ${ok ? "OK" : "MISSED"}`,
  );
  return ok;
}

/**
 * Prints one single-figure line (a rate, RSS, CPU share…) next to its target; `better` says which side
 * of the target passes. A miss makes `finish()` exit 1.
 */
export function reportValue(name: string, value: number, target: number, unit: string, better: "lower" | "higher"): boolean {
  const ok = better === "lower" ? value <= target : value >= target;
  if (!ok) misses.push(name);
  const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));
  console.log(`${name.padEnd(44)} ${fmt(value).padStart(10)} ${unit}   target ${better === "lower" ? "≤" : "≥"} ${fmt(target)} ${unit}   ${ok ? "OK" : "MISSED"}`);
  return ok;
}

/** Records a miss that was printed elsewhere (e.g. a correctness check inside a benchmark). */
export function miss(name: string): void {
  misses.push(name);
}

/** Prints the closing line and exits: 0 when every target was met, 1 otherwise. */
export function finish(): never {
  console.log(misses.length === 0 ? "all targets met" : `targets missed: ${misses.join("; ")}`);
  process.exit(misses.length === 0 ? 0 : 1);
}

/** Times `n` sequential calls of `fn` after `warm` warm-up calls. */
export async function time(fn: () => Promise<unknown>, n: number, warm = 3): Promise<number[]> {
  for (let i = 0; i < warm; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

/** The command that starts the server: the compiled binary when built, else the sources. */
export function serverCommand(): string[] {
  const bin = join(import.meta.dir, "..", "dist", "runicorn");
  return existsSync(bin) ? [bin] : [process.execPath, join(import.meta.dir, "..", "src", "cli", "main.ts")];
}

/** Spawns `serve` on a free port (with `cmd`, default `serverCommand()`); resolves once it prints its URL. */
export async function spawnServe(root: string, env: Record<string, string>, extra: string[] = [], cmd: string[] = serverCommand()) {
  const t0 = performance.now();
  const proc = Bun.spawn([...cmd, "serve", "--root", root, "--port", "0", "--log-level", "warn", ...extra], {
    env,
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = proc.stdout.getReader();
  let out = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited: ${out}`);
    out += new TextDecoder().decode(value);
    const m = /listening on (http:\/\/\S+)/.exec(out);
    if (m) {
      reader.releaseLock();
      // keep draining stdout so the server never blocks on a full pipe
      void proc.stdout.pipeTo(new WritableStream()).catch(() => undefined);
      return { proc, url: m[1], t0 };
    }
  }
}
