// Writes a small, realistic storage root for `runicorn demo`: a sweep with configs, images, logs, a failed run and a live run.
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { init, Run } from "../sdk/runicorn.ts";
import { readJsonForMerge, writeJsonFile } from "../sdk/run-files.ts";
import { dumps } from "../sdk/py-json.ts";

/** The runs written, and the live one (call `stop()` to end it early). */
export interface DemoRoot {
  root: string;
  runIds: string[];
  live: { id: string; done: Promise<void>; stop(): void };
}

/** A seeded pseudo-random generator, so the demo looks the same each time. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** A tiny RGB PNG (no dependencies): a colour field with a soft diagonal, like a sample prediction. */
export function makePng(width: number, height: number, hue: number): Buffer {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0;
    for (let x = 0; x < width; x++) {
      const o = y * (width * 3 + 1) + 1 + x * 3;
      const d = (x + y) / (width + height);
      raw[o] = Math.round(255 * Math.abs(Math.sin(hue + d * 3)));
      raw[o + 1] = Math.round(255 * Math.abs(Math.sin(hue + 2 + d * 2)));
      raw[o + 2] = Math.round(255 * Math.abs(Math.sin(hue + 4 + d)));
    }
  }
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(Bun.hash.crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** Merges `{args, extra}` into assets.json `config`, as the Python SDK's log_config does (spec §2.2). */
function logConfig(run: Run, args: Record<string, unknown>, extra: Record<string, unknown>): void {
  const path = join(run.runDir, "assets.json");
  const assets = readJsonForMerge(path) ?? {};
  assets.config = { args, extra } as never;
  writeJsonFile(path, assets);
}

/** Writes an image file and its event line, as the Python SDK's log_image does (spec §3.3 image event). */
function logImage(run: Run, key: string, step: number, png: Buffer, caption: string): void {
  mkdirSync(run.mediaDir, { recursive: true });
  const ts = Date.now() / 1000;
  const file = `${Math.floor(ts * 1000)}_${Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, "0")}_${key}.png`;
  writeFileSync(join(run.mediaDir, file), png);
  run.flushNow();
  appendFileSync(join(run.runDir, "events.jsonl"), dumps({ ts, type: "image", data: { key, path: `media/${file}`, step, caption } }) + "\n");
}

function open(root: string, path: string, alias: string): Run {
  const run = init({ storage: root, path, alias, env: {}, handleSignals: false, heartbeatSeconds: 5, flushIntervalMs: 200 });
  if (!(run instanceof Run)) throw new Error("the demo could not start a run");
  return run;
}

/** One epoch-based training curve with a learning-rate-dependent optimum and noise. */
function trainRun(root: string, lr: number, batch: number, seed: number, epochs: number): string {
  const r = rng(seed);
  const run = open(root, "demo/cifar10-resnet18-sweep", `lr=${lr} bs=${batch}`);
  logConfig(run, { lr, batch_size: batch, epochs, optimizer: "sgd", momentum: 0.9, model: "resnet18" }, { dataset: "cifar10", augment: true, seed });
  run.setPrimaryMetric("val_acc", "max");
  run.logText(`training resnet18 on cifar10: lr=${lr} batch_size=${batch}`);
  const quality = 1 - Math.abs(Math.log10(lr) + 2.3) / 3; // best near lr = 5e-3
  const stepsPerEpoch = 50;
  let lastAcc = 0;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    for (let i = 1; i <= stepsPerEpoch; i++) {
      const step = (epoch - 1) * stepsPerEpoch + i;
      const p = step / (epochs * stepsPerEpoch);
      const loss = 2.3 * Math.exp(-3.2 * p * quality) + 0.05 + 0.08 * (r() - 0.5);
      run.log({ loss, lr: lr * 0.5 * (1 + Math.cos(Math.PI * p)) }, { step, stage: "train" });
    }
    const valAcc = 0.1 + 0.82 * quality * (1 - Math.exp(-epoch / 3)) + 0.01 * (r() - 0.5);
    const valLoss = 2.3 * Math.exp(-2.5 * quality * (epoch / epochs)) + 0.1;
    lastAcc = valAcc;
    run.log({ val_acc: valAcc, val_loss: valLoss, epoch }, { step: epoch * stepsPerEpoch, stage: "val" });
    run.logText(`epoch ${epoch}/${epochs}  val_acc=${valAcc.toFixed(4)}  val_loss=${valLoss.toFixed(4)}`);
    if (epoch % 4 === 0 || epoch === epochs) logImage(run, "predictions", epoch * stepsPerEpoch, makePng(64, 64, seed + epoch / 3), `epoch ${epoch}`);
  }
  run.summary({ final_val_acc: lastAcc, epochs });
  run.finish();
  return run.id;
}

/** A run that diverges and fails with a traceback in its log. */
function failedRun(root: string): string {
  const run = open(root, "demo/llm-finetune", "lr too high");
  logConfig(run, { lr: 0.1, batch_size: 8, model: "tiny-llama", grad_clip: null }, { note: "no warmup" });
  for (let step = 1; step <= 120; step++) {
    const loss = step < 80 ? 3 - step * 0.01 : 2.2 * Math.exp((step - 80) / 8);
    run.log({ loss: step < 118 ? loss : Number.NaN }, { step, stage: "train" });
  }
  run.logText("step 118: loss is nan");
  run.logText("Traceback (most recent call last):\n  File \"train.py\", line 88, in <module>\n    raise FloatingPointError(\"loss is nan\")\nFloatingPointError: loss is nan");
  run.finish("failed");
  return run.id;
}

/** The live run: logs a point every `intervalMs` for `durationMs`, then finishes. */
function liveRun(root: string, durationMs: number, intervalMs: number): DemoRoot["live"] {
  const run = open(root, "demo/live-training", "live (watch me)");
  logConfig(run, { lr: 0.003, batch_size: 64, model: "vit-tiny" }, { demo: true });
  run.setPrimaryMetric("acc", "max");
  run.logText("started: this run keeps logging for a while so you can watch live charts and logs");
  const r = rng(7);
  let step = 0;
  let stopRequested: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    const started = Date.now();
    const timer = setInterval(() => {
      step++;
      const loss = 2 * Math.exp(-step / 60) + 0.05 * r();
      run.log({ loss, acc: 1 - loss / 2.2 }, { step, stage: "train" });
      if (step % 10 === 0) run.logText(`step ${step}: loss=${loss.toFixed(4)}`);
      if (Date.now() - started >= durationMs) finish();
    }, intervalMs);
    const finish = () => {
      clearInterval(timer);
      run.logText("finished");
      run.finish();
      resolve();
    };
    stopRequested = finish;
  });
  return { id: run.id, done, stop: () => stopRequested() };
}

/** Writes the demo runs into `root` (created) and starts the live run. */
export function writeDemoRoot(root: string, opts: { liveMs?: number; liveIntervalMs?: number } = {}): DemoRoot {
  mkdirSync(root, { recursive: true });
  const runIds: string[] = [];
  const sweep: [number, number][] = [
    [0.001, 128],
    [0.003, 128],
    [0.01, 128],
    [0.03, 256],
  ];
  sweep.forEach(([lr, bs], i) => runIds.push(trainRun(root, lr, bs, 11 + i, 12)));
  runIds.push(failedRun(root));
  const live = liveRun(root, opts.liveMs ?? 60_000, opts.liveIntervalMs ?? 500);
  runIds.push(live.id);
  return { root, runIds, live };
}
