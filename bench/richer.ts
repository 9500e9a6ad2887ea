// Richer-data benchmarks (issue 17). Today: TensorBoard import speed — scalar events per second of
// `importTensorBoard` over a log dir generated here in TensorBoard's exact layout (one simple_value
// per event, as add_scalar writes): 8 runs imported on the worker pool against the ≥ 1,000,000
// events/s target, and one run alone (one thread) for reference.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { importTensorBoard } from "../src/importers/tensorboard.ts";
import { frameRecord } from "../src/importers/tfrecord.ts";
import { finish, reportValue, stats } from "./lib.ts";
import { sdkSystemOverhead } from "./richer-sdk.ts";
import { benchColdHistograms, benchHistograms } from "./richer-histograms.ts";

const EVENTS = Number(process.env.BENCH_TB_EVENTS ?? 2_000_000);
const TAGS = ["loss/train", "loss/val", "acc", "lr"];

function varint(out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

/** One Event{wall_time, step, summary{value{tag, simple_value}}} in protobuf wire format. */
function scalarEvent(wall: number, step: number, tag: string, value: number): Uint8Array {
  const tagBytes = new TextEncoder().encode(tag);
  const val: number[] = [0x0a];
  varint(val, tagBytes.length);
  val.push(...tagBytes, 0x15);
  const f = new Uint8Array(new Float32Array([value]).buffer);
  val.push(...f);
  const summary: number[] = [0x0a];
  varint(summary, val.length);
  summary.push(...val);
  const ev: number[] = [0x09];
  ev.push(...new Uint8Array(new Float64Array([wall]).buffer));
  ev.push(0x10);
  varint(ev, step);
  ev.push(0x2a);
  varint(ev, summary.length);
  ev.push(...summary);
  return new Uint8Array(ev);
}

const RUNS = 8;
const base = join(tmpdir(), `rn-bench-tb-${process.pid}`);
const chunks: Uint8Array[] = [];
let size = 0;
for (let i = 0; i < EVENTS / RUNS; i++) {
  const step = Math.floor(i / TAGS.length);
  const rec = frameRecord(scalarEvent(1700000000 + step * 0.01, step, TAGS[i % TAGS.length], Math.sin(i) * 0.5 + 1));
  chunks.push(rec);
  size += rec.length;
}
const file = new Uint8Array(size);
let off = 0;
for (const c of chunks) file.set(c, off), (off += c.length);
for (let r = 0; r < RUNS; r++) {
  const logdir = join(base, "logs", `lr_${r}`);
  mkdirSync(logdir, { recursive: true });
  writeFileSync(join(logdir, "events.out.tfevents.1700000000.bench.1.0"), file);
}
console.log(`generated ${RUNS} runs × ${(EVENTS / RUNS).toLocaleString("en-US")} scalar events (${((size * RUNS) / 1e6).toFixed(1)} MB)`);

/** Scalar events/s of `n` imports of `dir` into fresh roots (median and worst). */
async function measure(dir: string, events: number, workers: number | undefined, n: number): Promise<{ median: number; worst: number; cpu: number }> {
  const rates: number[] = [];
  let cpu = 0;
  for (let i = 0; i < n; i++) {
    const root = join(base, `root${i}`);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const r = await importTensorBoard(root, dir, { workers });
    const s = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    cpu = (c.user + c.system) / 1e6 / s;
    if (r.scalars !== events) throw new Error(`imported ${r.scalars} of ${events} events`);
    rates.push(events / s);
    rmSync(root, { recursive: true, force: true });
  }
  const { median, p95 } = stats(rates.map((r) => -r));
  return { median: -median, worst: -p95, cpu };
}

const all = await measure(join(base, "logs"), EVENTS, undefined, 3);
console.log(`8 runs, worker pool: median ${(all.median / 1e6).toFixed(2)} M events/s, worst ${(all.worst / 1e6).toFixed(2)} (n=3, CPU/wall ${all.cpu.toFixed(2)})`);
const one = await measure(join(base, "logs", "lr_0"), EVENTS / RUNS, 1, 3);
console.log(`1 run, one thread:    median ${(one.median / 1e6).toFixed(2)} M events/s, worst ${(one.worst / 1e6).toFixed(2)} (n=3)`);
reportValue("TensorBoard import, scalar events/s (median)", all.median, 1_000_000, "events/s", "higher");
console.log(`RSS ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB`);
if (!process.env.BENCH_KEEP) rmSync(base, { recursive: true, force: true });
await sdkSystemOverhead();
await benchHistograms();
await benchColdHistograms();
finish();
