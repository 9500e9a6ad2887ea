// Compares files written by the TS SDK key by key with runs written by the real Python SDK 0.6 (shared/fixtures).
import { afterAll, describe, expect, it } from "bun:test";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { isObject, parseTolerant, type JsonObject } from "../../src/store/json.ts";
import { init, Run } from "../../src/sdk/runicorn.ts";
import { eventLines, tempRoot } from "./helpers.ts";

const FIXTURES = join(import.meta.dir, "..", "..", "..", "shared", "fixtures", "runicorn-0.6");
const RN_DATA_RUN = join(FIXTURES, "rn-data", "runs", "demo", "exp1", "20261129_031703_34b3d6");
const PROBE_YOLO = join(FIXTURES, "rn-probe", "runs", "cv", "yolo", "20261129_032935_bfa7ab");
const PROBE_ROOT_RUN = join(FIXTURES, "rn-probe", "runs", "20261129_032935_b2e5a5");

const root = tempRoot("fixtures");
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Keys the TS SDK adds on purpose (issue 4: heartbeat); everything else must match. */
const ADDED_KEYS = new Set(["heartbeat_at"]);

function readJson(dir: string, name: string): JsonObject {
  return parseTolerant(readFileSync(join(dir, name), "utf8"), "infinity") as JsonObject;
}

function kind(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

/** Same keys in the same order and the same JSON kind per value, recursively through objects. */
function expectSameShape(ours: unknown, theirs: unknown, where: string): void {
  expect(`${where}: ${kind(ours)}`).toBe(`${where}: ${kind(theirs)}`);
  if (isObject(ours) && isObject(theirs)) {
    const ourKeys = Object.keys(ours).filter((k) => !ADDED_KEYS.has(k));
    expect(ourKeys).toEqual(Object.keys(theirs));
    for (const k of ourKeys) expectSameShape(ours[k], theirs[k], `${where}.${k}`);
  }
}

/** The files of a run directory without lock files (the TS SDK writes none; git keeps no empty media/). */
function listing(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && !e.name.endsWith(".lock"))
    .map((e) => e.name)
    .sort();
}

/** Event lines with ts/time values masked and Python's `2.0` spelled `2` (JS has one number type). */
function normalise(line: string): string {
  return line.replace(/("ts"|"time"): \d+(\.\d+)?/g, "$1: T").replace(/(: |\[|, )(-?\d+)\.0(?=[,}\]])/g, "$1$2");
}

function startIn(storage: string, path: string, alias: string | null): Run {
  const r = init({ storage, path, alias, handleSignals: false, env: {} });
  if (!(r instanceof Run)) throw new Error("expected a live run");
  return r;
}

describe("the rn-data run of spec §1.12, replayed with the TS SDK", () => {
  const r = startIn(join(root, "rn-data"), "demo/exp1", "first");
  // the same calls as the Python script of spec §1.12 (minus log_config, a Python-SDK feature)
  r.setPrimaryMetric("acc", "max");
  r.log({ loss: 0.5, acc: 0.7 }, { step: 1 });
  r.log({ loss: 0.4, acc: 0.8 }, { stage: "train" });
  r.log({ loss: NaN, acc: 0.75, epoch: 1, note: "hello", flag: true, lst: [1, 2] }, { stage: "eval" });
  r.logText("hello text");
  r.summary({ final_loss: 0.4 });
  r.finish();

  it("has the same files, apart from *.lock, and the empty media/ folder of spec §1.12", () => {
    expect(listing(r.runDir)).toEqual(listing(RN_DATA_RUN));
    expect(readdirSync(join(r.runDir, "media"))).toEqual([]);
  });

  it("writes meta.json with the same keys, order and kinds", () => {
    expectSameShape(readJson(r.runDir, "meta.json"), readJson(RN_DATA_RUN, "meta.json"), "meta");
  });

  it("writes status.json like 0.6 plus heartbeat_at", () => {
    const ours = readJson(r.runDir, "status.json");
    expectSameShape(ours, readJson(RN_DATA_RUN, "status.json"), "status");
    expect(Object.keys(ours)).toEqual(["status", "started_at", "heartbeat_at", "ended_at"]);
  });

  it("writes summary.json byte for byte as 0.6 did", () => {
    expect(readFileSync(join(r.runDir, "summary.json"), "utf8")).toBe(readFileSync(join(RN_DATA_RUN, "summary.json"), "utf8"));
  });

  it("writes events.jsonl byte for byte as 0.6 did, apart from the timestamps", () => {
    const theirs = readFileSync(join(RN_DATA_RUN, "events.jsonl"), "utf8").trimEnd().split("\n");
    expect(eventLines(r.runDir).map(normalise)).toEqual(theirs.map(normalise));
  });

  it("writes logs.txt in the same line format", () => {
    const theirs = readFileSync(join(RN_DATA_RUN, "logs.txt"), "utf8");
    const ours = readFileSync(join(r.runDir, "logs.txt"), "utf8");
    expect(ours.replace(/^\d\d:\d\d:\d\d/gm, "HH:MM:SS")).toBe(theirs.replace(/^\d\d:\d\d:\d\d/gm, "HH:MM:SS"));
  });

  it("writes the assets.json skeleton with the top-level keys and kinds of 0.6", () => {
    const ours = readJson(r.runDir, "assets.json");
    const theirs = readJson(RN_DATA_RUN, "assets.json"); // its config was filled by log_config
    expect(Object.keys(ours)).toEqual(Object.keys(theirs));
    for (const k of Object.keys(theirs)) expect(`${k}: ${kind(ours[k])}`).toBe(`${k}: ${kind(theirs[k])}`);
  });
});

describe("the rn-probe 300-step run, replayed with the TS SDK", () => {
  const r = startIn(join(root, "rn-probe"), "cv/yolo", "baseline");
  r.setPrimaryMetric("val_acc", "max");
  for (let step = 1; step <= 300; step++) {
    const stage = step <= 50 ? "warmup" : step <= 250 ? "train" : "eval";
    const data: Record<string, unknown> = { loss: 2 / step, lr: 0.001 };
    if (step === 100) data.loss = NaN;
    if (step === 101) data.loss = Infinity;
    if (step % 10 === 0) data.val_acc = Math.min(0.99, step / 300);
    if (step % 100 === 0) data.note = `checkpoint-${step}`;
    r.log(data, { stage });
  }
  r.logText("epoch 1 done");
  r.summary({ final_loss: 0.0066 });
  r.finish();

  it("writes the same metrics lines, stages, NaN and Infinity tokens as 0.6", () => {
    const theirs = readFileSync(join(PROBE_YOLO, "events.jsonl"), "utf8")
      .trimEnd()
      .split("\n")
      .filter((l) => l.includes('"type": "metrics"'));
    const ours = eventLines(r.runDir);
    expect(ours).toHaveLength(300);
    expect(ours.map(normalise)).toEqual(theirs.map(normalise));
  });

  it("writes the same summary.json, best metric included", () => {
    expect(readFileSync(join(r.runDir, "summary.json"), "utf8")).toBe(readFileSync(join(PROBE_YOLO, "summary.json"), "utf8"));
  });

  it("writes meta.json and status.json with the shapes of 0.6", () => {
    expectSameShape(readJson(r.runDir, "meta.json"), readJson(PROBE_YOLO, "meta.json"), "meta");
    expectSameShape(readJson(r.runDir, "status.json"), readJson(PROBE_YOLO, "status.json"), "status");
  });
});

describe("a root-level run (path '')", () => {
  const r = startIn(join(root, "rn-probe-root"), "", null);
  r.log({ m: 1 });
  r.finish();

  it("lives directly under runs/ with meta.path '' and the same event line as 0.6", () => {
    expect(r.runDir).toBe(join(root, "rn-probe-root", "runs", r.id));
    const meta = readJson(r.runDir, "meta.json");
    expect(meta.path).toBe("");
    expectSameShape(meta, readJson(PROBE_ROOT_RUN, "meta.json"), "meta");
    const theirs = readFileSync(join(PROBE_ROOT_RUN, "events.jsonl"), "utf8").trimEnd().split("\n");
    expect(eventLines(r.runDir).map(normalise)).toEqual(theirs.map(normalise));
  });
});
