// Tests the TS SDK's run files and the step/stage, summary, best-metric, status and heartbeat rules (spec §1.5, §2.3).
import { afterAll, describe, expect, it } from "bun:test";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getActiveRun, init, isEnabled, NoOpRun, Run, setEnabled, withRun, type InitOptions } from "../../src/sdk/runicorn.ts";
import { eventLines, events, metrics, readRunJson, tempRoot } from "./helpers.ts";

const root = tempRoot("run");
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A run in the shared temp root that does not touch the test process's signal handling. */
function start(opts: InitOptions = {}): Run {
  const r = init({ storage: root, handleSignals: false, env: {}, ...opts });
  if (!(r instanceof Run)) throw new Error("expected a live run");
  return r;
}

describe("init", () => {
  it("creates ROOT/runs/<path>/<id>/ with media/, meta.json, status.json and the assets.json skeleton", () => {
    const r = start({ path: "cv/yolo", alias: "first" });
    expect(r.runDir).toBe(join(root, "runs", "cv", "yolo", r.id));
    expect(readdirSync(r.runDir).sort()).toEqual(["assets.json", "media", "meta.json", "status.json"]);
    const meta = readRunJson(r.runDir, "meta.json");
    expect(Object.keys(meta)).toEqual([
      "id", "path", "alias", "created_at", "python", "platform", "hostname", "pid", "storage_dir", "workspace_root",
    ]);
    expect(meta.id).toBe(r.id);
    expect(meta.path).toBe("cv/yolo");
    expect(meta.alias).toBe("first");
    expect(meta.python).toBe(`bun ${Bun.version}`);
    expect(meta.platform).toMatch(/^\S+ \S+ \(\S+\)$/);
    expect(meta.pid).toBe(process.pid);
    expect(meta.storage_dir).toBe(root);
    expect(readFileSync(join(r.runDir, "assets.json"), "utf8")).toBe(
      '{\n  "code": {},\n  "config": {},\n  "datasets": [],\n  "pretrained": [],\n  "outputs": []\n}',
    );
    const status = readRunJson(r.runDir, "status.json");
    expect(Object.keys(status)).toEqual(["status", "started_at", "heartbeat_at"]);
    expect(status.status).toBe("running");
    expect(status.started_at as number).toBeGreaterThanOrEqual(meta.created_at as number);
    expect(statSync(join(r.runDir, "meta.json")).mode & 0o777).toBe(0o644);
    r.finish();
  });

  it("puts path '' runs directly under runs/ and a missing path under runs/default/", () => {
    const a = start({ path: "" });
    const b = start({});
    expect(a.runDir).toBe(join(root, "runs", a.id));
    expect(readRunJson(a.runDir, "meta.json").path).toBe("");
    expect(b.runDir).toBe(join(root, "runs", "default", b.id));
    a.finish();
    b.finish();
  });

  it("writes alias null when none is given and keeps a custom run id", () => {
    const r = start({ path: "p", runId: "exp-001" });
    expect(r.id).toBe("exp-001");
    expect(readRunJson(r.runDir, "meta.json").alias).toBeNull();
    r.finish();
  });

  it("rejects a bad path or run id before touching the disk", () => {
    expect(() => start({ path: "../x" })).toThrow(RangeError);
    expect(() => start({ path: "ok", runId: "../evil" })).toThrow(RangeError);
    expect(existsSync(join(root, "runs", "ok"))).toBe(false);
  });

  it("lets a second process join a run id: first meta.json and start time kept, status running again", () => {
    const a = start({ path: "ddp", runId: "shared-1", alias: "rank0" });
    writeFileSync(join(a.runDir, "assets.json"), '{"code": {}, "config": {"x": 1}}');
    a.finish("failed");
    const metaBefore = readFileSync(join(a.runDir, "meta.json"), "utf8");
    const startedAt = readRunJson(a.runDir, "status.json").started_at;
    const b = start({ path: "ddp", runId: "shared-1", alias: "rank1" });
    expect(readFileSync(join(b.runDir, "meta.json"), "utf8")).toBe(metaBefore);
    expect(readRunJson(b.runDir, "assets.json").config).toEqual({ x: 1 });
    const s = readRunJson(b.runDir, "status.json");
    expect(Object.keys(s)).toEqual(["status", "started_at", "heartbeat_at"]);
    expect([s.status, s.started_at]).toEqual(["running", startedAt]);
    b.finish();
  });

  it("makes the new run the active run and returns NoOpRun when RUNICORN_ON is off", () => {
    const r = start({ path: "active" });
    expect(getActiveRun()).toBe(r);
    r.finish();
    expect(getActiveRun()).toBe(r); // 0.6 never clears it on finish
    const off = init({ storage: root, path: "off", env: { RUNICORN_ON: "off" } });
    expect(off).toBeInstanceOf(NoOpRun);
    expect(off.id).toBe("disabled");
    off.log({ a: 1 });
    off.finish();
    expect(existsSync(join(root, "runs", "off"))).toBe(false);
    expect(getActiveRun()).toBeUndefined();
  });

  it("parses RUNICORN_ON words and lets setEnabled override them", () => {
    for (const v of ["0", "false", "NO", "n", "Off"]) expect(isEnabled({ RUNICORN_ON: v })).toBe(false);
    for (const v of ["1", "true", "yes", "", "maybe"]) expect(isEnabled({ RUNICORN_ON: v })).toBe(true);
    expect(isEnabled({})).toBe(true);
    setEnabled(false);
    expect(isEnabled({ RUNICORN_ON: "1" })).toBe(false);
    setEnabled(undefined);
    expect(isEnabled({ RUNICORN_ON: "1" })).toBe(true);
  });
});

describe("log: step and stage rules (spec §2.3)", () => {
  it("auto-increments from 1, lets an explicit step reset the counter, and continues from it even backwards", () => {
    const r = start({ path: "steps" });
    r.log({ a: 1 });
    r.log({ a: 2 });
    r.log({ a: 3 }, { step: 10 });
    r.log({ a: 4 });
    r.log({ a: 5 }, { step: 3 });
    r.log({ a: 6 });
    r.finish();
    expect(metrics(r.runDir).map((d) => d.global_step)).toEqual([1, 2, 10, 11, 3, 4]);
  });

  it("refuses a step that is not a whole number with a clear error and keeps the counter", () => {
    const r = start({ path: "steps" });
    r.log({ a: 1 }, { step: 7 });
    expect(() => r.log({ a: 1 }, { step: 7.9 })).toThrow(/whole number, got 7.9/);
    expect(() => r.log({ a: 1 }, { step: NaN })).toThrow(RangeError);
    expect(() => r.log({ a: 1 }, { step: "12" as unknown as number })).toThrow(/must be an integer, got string/);
    expect(() => r.log({ a: 1 }, { step: true as unknown as number })).toThrow(TypeError);
    r.log({ a: 1 }, { step: 5n });
    r.log({ a: 1 }, { step: null });
    r.log({ a: 1 });
    r.finish();
    expect(metrics(r.runDir).map((d) => d.global_step)).toEqual([7, 5, 6, 7]);
  });

  it("flattens nested plain objects with '/' and keeps arrays and the key order", () => {
    const r = start({ path: "nested" });
    r.log({ loss: 1, val: { acc: 0.5, top: { k5: 0.9 } }, lst: [1, 2], after: 2 });
    r.finish();
    const d = metrics(r.runDir)[0];
    expect(Object.keys(d)).toEqual(["loss", "val/acc", "val/top/k5", "lst", "after", "global_step", "time"]);
    expect(d["val/top/k5"]).toBe(0.9);
    expect(d.lst).toEqual([1, 2]);
  });

  it("writes tags, notes and config at init, and resumes a run by id where it left off", () => {
    const first = start({ path: "res", runId: "ts-resume-1", alias: "a1", tags: ["x"], notes: "first try", config: { lr: 0.1 } });
    first.log({ loss: 1 });
    first.log({ loss: 0.5 }, { step: 41 });
    first.finish("failed");
    expect(readRunJson(first.runDir, "meta.json")).toMatchObject({ tags: ["x"], notes: "first try", alias: "a1" });
    expect(readRunJson(first.runDir, "assets.json").config).toEqual({ extra: { lr: 0.1 } });
    expect(() => start({ path: "res", runId: "ts-resume-1", resume: "never" })).toThrow(/already exists/);
    expect(() => start({ path: "res", runId: "ts-nothing", resume: "must" })).toThrow(/no run ts-nothing/);
    expect(() => start({ path: "res", resume: "allow" })).toThrow(/needs runId/);
    const again = start({ path: "res", runId: "ts-resume-1", resume: "allow", tags: ["y"], config: { bs: 8 } });
    expect(readRunJson(again.runDir, "status.json").status).toBe("running");
    again.log({ loss: 0.25 });
    again.finish();
    expect(metrics(again.runDir).map((d) => d.global_step)).toEqual([1, 41, 42]);
    const meta = readRunJson(again.runDir, "meta.json");
    expect(meta).toMatchObject({ tags: ["x", "y"], alias: "a1", notes: "first try" });
    expect(readRunJson(again.runDir, "assets.json").config).toEqual({ extra: { lr: 0.1, bs: 8 } });
    expect(readRunJson(again.runDir, "status.json").status).toBe("finished");
  });

  it("refuses a custom run id that another path already holds, naming that path, and writes nothing", () => {
    const first = start({ path: "ids/a", runId: "ts-owned-1" });
    first.finish();
    expect(() => start({ path: "ids/b", runId: "ts-owned-1" })).toThrow(/already used by the run at path "ids\/a"/);
    expect(() => start({ path: "ids/b", runId: "ts-owned-1", resume: "allow" })).toThrow(/pass path: "ids\/a"/);
    expect(existsSync(join(root, "runs", "ids", "b", "ts-owned-1"))).toBe(false);
    // the same path continues the run; a fresh id elsewhere is fine
    const again = start({ path: "ids/a", runId: "ts-owned-1", resume: "allow" });
    again.finish();
    start({ path: "ids/b", runId: "ts-owned-2" }).finish();
  });

  it("drops step/global_step keys, moves a data stage to the tail and lets the stage option win", () => {
    const r = start({ path: "stage" });
    r.log({ stage: "warmup", loss: 1, step: 99, global_step: 98, acc: 0.5 });
    r.log({ stage: "ignored", loss: 2 }, { stage: "train" });
    r.log({ loss: 3, stage: null });
    r.log({ loss: 4 }, { stage: 2 });
    r.log({ loss: 5 }, { stage: { phase: "eval" } });
    r.finish();
    const lines = eventLines(r.runDir).map((l) => l.replace(/\d{9,}\.\d+/g, "T"));
    expect(lines).toEqual([
      '{"ts": T, "type": "metrics", "data": {"loss": 1, "acc": 0.5, "global_step": 1, "time": T, "stage": "warmup"}}',
      '{"ts": T, "type": "metrics", "data": {"loss": 2, "global_step": 2, "time": T, "stage": "train"}}',
      '{"ts": T, "type": "metrics", "data": {"loss": 3, "global_step": 3, "time": T}}',
      '{"ts": T, "type": "metrics", "data": {"loss": 4, "global_step": 4, "time": T, "stage": 2}}',
      '{"ts": T, "type": "metrics", "data": {"loss": 5, "global_step": 5, "time": T, "stage": {"phase": "eval"}}}',
    ]);
  });

  it("overwrites a user 'time' key in place with the event time, as Python's dict does", () => {
    const r = start({ path: "time" });
    r.log({ time: 5, loss: 1 });
    r.log();
    r.log(null, { step: 4 });
    r.finish();
    const lines = eventLines(r.runDir).map((l) => l.replace(/\d{9,}\.\d+/g, "T"));
    expect(lines).toEqual([
      '{"ts": T, "type": "metrics", "data": {"time": T, "loss": 1, "global_step": 1}}',
      '{"ts": T, "type": "metrics", "data": {"global_step": 2, "time": T}}',
      '{"ts": T, "type": "metrics", "data": {"global_step": 4, "time": T}}',
    ]);
    for (const e of events(r.runDir)) expect((e.data as { time: number }).time).toBe(e.ts as number);
  });

  it("writes NaN/Infinity/-Infinity tokens and every line re-reads with the tolerant parser", () => {
    const r = start({ path: "nonfinite" });
    r.log({ loss: NaN, up: Infinity, down: -Infinity, tiny: 1e-7, big: 1e17, s: 'q"\n', nested: [NaN, { x: Infinity }] });
    r.finish();
    const [line] = eventLines(r.runDir);
    expect(line).toContain('"loss": NaN, "up": Infinity, "down": -Infinity, "tiny": 1e-07, "big": 1e+17, "s": "q\\"\\n"');
    expect(line).toContain('"nested": [NaN, {"x": Infinity}]');
    const [d] = metrics(r.runDir);
    expect(d.loss).toBeNull();
    expect(d.up).toBe(Infinity);
    expect(d.down).toBe(-Infinity);
    expect(d.s).toBe('q"\n');
  });

  it("writes timestamps that increase and sit near the wall clock", () => {
    const r = start({ path: "clock" });
    const before = Date.now() / 1000;
    for (let i = 0; i < 1000; i++) r.log({ i });
    const after = Date.now() / 1000;
    r.finish();
    const ts = events(r.runDir).map((e) => e.ts as number);
    for (let i = 1; i < ts.length; i++) expect(ts[i]).toBeGreaterThanOrEqual(ts[i - 1]);
    expect(ts[0]).toBeGreaterThan(before - 0.05);
    expect(ts[ts.length - 1]).toBeLessThan(after + 0.05);
    expect(new Set(ts).size).toBeGreaterThan(10); // sub-millisecond resolution, like time.time()
  });

  it("throws TypeError on circular data, like json.dumps, and keeps working afterwards", () => {
    const r = start({ path: "bad" });
    const a: Record<string, unknown> = {};
    a.self = a;
    expect(() => r.log({ a })).toThrow(TypeError);
    r.log({ ok: 1 });
    r.finish();
    expect(metrics(r.runDir).map((d) => d.ok)).toEqual([1]);
  });
});

describe("logText", () => {
  it("appends 'HH:MM:SS | text' lines in local time", () => {
    const r = start({ path: "text" });
    r.logText("hello text");
    r.logText("second | with bar");
    r.finish();
    const lines = readFileSync(join(r.runDir, "logs.txt"), "utf8").split("\n");
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d \| hello text$/);
    expect(lines[1]).toMatch(/^\d\d:\d\d:\d\d \| second \| with bar$/);
    expect(lines[2]).toBe("");
    const now = new Date();
    const hh = String(now.getHours()).padStart(2, "0");
    expect([hh, String((now.getHours() + 23) % 24).padStart(2, "0")]).toContain(lines[0].slice(0, 2));
  });
});

describe("summary and the primary metric", () => {
  it("merges shallowly, keeping existing keys in place, and writes Python's indent=2 layout", () => {
    const r = start({ path: "summary" });
    r.summary({ a: 1, b: { x: 1 } });
    r.summary({ c: 0.5, a: 2, b: { y: 2 } });
    expect(readFileSync(join(r.runDir, "summary.json"), "utf8")).toBe(
      '{\n  "a": 2,\n  "b": {\n    "y": 2\n  },\n  "c": 0.5\n}',
    );
    expect(() => r.summary(null as unknown as Record<string, unknown>)).toThrow(TypeError);
    r.finish();
  });

  it("writes nothing to summary.json until finish(), then the best value and its step", () => {
    const r = start({ path: "best" });
    r.setPrimaryMetric("acc", "max");
    r.log({ acc: 0.7 });
    r.log({ acc: 0.9 }, { step: 10 });
    r.log({ acc: 0.8 });
    r.log({ acc: 0.9 }); // equal is not better
    expect(existsSync(join(r.runDir, "summary.json"))).toBe(false);
    r.finish();
    expect(readRunJson(r.runDir, "summary.json")).toEqual({
      best_metric_value: 0.9,
      best_metric_name: "acc",
      best_metric_step: 10,
      best_metric_mode: "max",
    });
  });

  it("tracks the minimum, ignores non-numbers and NaN, and counts booleans as numbers", () => {
    const r = start({ path: "best" });
    r.setPrimaryMetric("loss", "min");
    r.log({ loss: NaN });
    r.log({ loss: "n/a" });
    r.log({ other: 0 });
    r.log({ loss: 3 });
    r.log({ loss: 1 });
    r.log({ loss: Infinity });
    r.finish();
    const s = readRunJson(r.runDir, "summary.json");
    expect([s.best_metric_value, s.best_metric_step, s.best_metric_mode]).toEqual([1, 5, "min"]);

    const b = start({ path: "best" });
    b.setPrimaryMetric("ok", "max");
    b.log({ ok: false });
    b.log({ ok: true });
    b.finish();
    expect(readRunJson(b.runDir, "summary.json").best_metric_value).toBe(true);
  });

  it("resets the best on setPrimaryMetric and rejects a mode other than max/min", () => {
    const r = start({ path: "best" });
    r.setPrimaryMetric("acc");
    r.log({ acc: 0.99 });
    r.setPrimaryMetric("acc", "max");
    r.log({ acc: 0.5 });
    expect(() => r.setPrimaryMetric("acc", "avg" as "max")).toThrow(RangeError);
    r.finish();
    expect(readRunJson(r.runDir, "summary.json").best_metric_value).toBe(0.5);
  });

  it("writes no best metric when none was recorded", () => {
    const r = start({ path: "best" });
    r.setPrimaryMetric("acc");
    r.log({ loss: 1 });
    r.finish();
    expect(existsSync(join(r.runDir, "summary.json"))).toBe(false);
  });
});

describe("finish and status.json", () => {
  it("merges status and ended_at, rewrites ended_at on a second finish and appends lines logged after it", () => {
    const r = start({ path: "finish" });
    r.log({ a: 1 });
    r.finish("interrupted");
    const s1 = readRunJson(r.runDir, "status.json");
    expect(Object.keys(s1)).toEqual(["status", "started_at", "heartbeat_at", "ended_at"]);
    expect(s1.status).toBe("interrupted");
    r.log({ a: 2 });
    r.logText("late");
    expect(metrics(r.runDir).map((d) => d.a)).toEqual([1, 2]);
    expect(readFileSync(join(r.runDir, "logs.txt"), "utf8")).toMatch(/ \| late\n$/);
    r.finish();
    const s2 = readRunJson(r.runDir, "status.json");
    expect(s2.status).toBe("finished");
    expect(s2.ended_at as number).toBeGreaterThanOrEqual(s1.ended_at as number);
  });

  it("keeps keys another writer added to status.json", () => {
    const r = start({ path: "finish" });
    writeFileSync(join(r.runDir, "status.json"), '{"status": "running", "started_at": 1.5, "note": "x"}');
    r.finish("failed");
    expect(readFileSync(join(r.runDir, "status.json"), "utf8")).toMatch(
      /^\{\n  "status": "failed",\n  "started_at": 1\.5,\n  "note": "x",\n  "ended_at": \d+\.\d+\n\}$/,
    );
  });

  it("withRun finishes 'finished' on success and 'failed' when the body throws", async () => {
    let okDir = "";
    const value = await withRun({ storage: root, path: "with", handleSignals: false, env: {} }, async (run) => {
      okDir = (run as Run).runDir;
      run.log({ a: 1 });
      return 42;
    });
    expect(value).toBe(42);
    expect(readRunJson(okDir, "status.json").status).toBe("finished");
    let badDir = "";
    const failing = withRun({ storage: root, path: "with", handleSignals: false, env: {} }, (run) => {
      badDir = (run as Run).runDir;
      throw new Error("boom");
    });
    await expect(failing).rejects.toThrow("boom");
    expect(readRunJson(badDir, "status.json").status).toBe("failed");
  });
});

describe("buffering and heartbeat", () => {
  it("writes buffered lines within the flush interval while the event loop is free", async () => {
    const r = start({ path: "flush", flushIntervalMs: 300 });
    r.log({ a: 1 });
    r.logText("t");
    expect(eventLines(r.runDir)).toHaveLength(0); // buffered, not yet written
    await Bun.sleep(900);
    expect(eventLines(r.runDir)).toHaveLength(1);
    expect(readFileSync(join(r.runDir, "logs.txt"), "utf8")).toMatch(/ \| t\n$/);
    r.finish();
  });

  it("writes buffered lines from inside a loop that never yields once the interval has passed", () => {
    const r = start({ path: "flush", flushIntervalMs: 100 });
    r.log({ a: 1 });
    const until = performance.now() + 150;
    while (performance.now() < until) {
      // a training step that blocks the event loop
    }
    r.log({ a: 2 });
    expect(eventLines(r.runDir)).toHaveLength(2);
    r.finish();
  });

  it("refreshes heartbeat_at while live and keeps a status another writer set", async () => {
    const r = start({ path: "beat", heartbeatSeconds: 0.1, flushIntervalMs: 50 });
    const first = readRunJson(r.runDir, "status.json").heartbeat_at as number;
    await Bun.sleep(400);
    const later = readRunJson(r.runDir, "status.json");
    expect(later.heartbeat_at as number).toBeGreaterThan(first);
    expect(later.status).toBe("running");
    writeFileSync(join(r.runDir, "status.json"), '{"status": "finished", "started_at": 1.0, "ended_at": 2.0}');
    await Bun.sleep(400);
    const after = readRunJson(r.runDir, "status.json");
    expect([after.status, after.ended_at]).toEqual(["finished", 2]);
    expect(typeof after.heartbeat_at).toBe("number");
    r.finish();
  });

  it("comes back to 'running' when a viewer declared it dead while it was stalled", async () => {
    const r = start({ path: "beat", heartbeatSeconds: 0.1, flushIntervalMs: 50 });
    writeFileSync(
      join(r.runDir, "status.json"),
      '{"status": "failed", "started_at": 1.0, "heartbeat_at": 1.0, "ended_at": 70.0, "exit_reason": "heartbeat_lost"}',
    );
    await Bun.sleep(400);
    const s = readRunJson(r.runDir, "status.json");
    expect(Object.keys(s)).toEqual(["status", "started_at", "heartbeat_at"]);
    expect(s.status).toBe("running");
    expect(s.started_at).toBe(1);
    r.finish();
  });

  it("beats on time even when the flush interval is longer than the heartbeat interval", async () => {
    const r = start({ path: "beat", heartbeatSeconds: 0.1, flushIntervalMs: 60_000 });
    const first = readRunJson(r.runDir, "status.json").heartbeat_at as number;
    await Bun.sleep(400);
    expect(readRunJson(r.runDir, "status.json").heartbeat_at as number).toBeGreaterThan(first);
    r.finish();
  });

  it("skips a beat rather than clobber a status.json that another writer left torn", async () => {
    const r = start({ path: "beat", heartbeatSeconds: 0.05, flushIntervalMs: 20 });
    const torn = '{\n  "status": "finis';
    writeFileSync(join(r.runDir, "status.json"), torn);
    await Bun.sleep(250);
    expect(readFileSync(join(r.runDir, "status.json"), "utf8")).toBe(torn);
    r.finish();
    expect(readRunJson(r.runDir, "status.json").status).toBe("finished"); // finish(): unreadable → start fresh, as 0.6
  });

  it("stops the heartbeat after finish()", async () => {
    const r = start({ path: "beat", heartbeatSeconds: 0.05, flushIntervalMs: 20 });
    r.finish();
    const text = readFileSync(join(r.runDir, "status.json"), "utf8");
    await Bun.sleep(200);
    expect(readFileSync(join(r.runDir, "status.json"), "utf8")).toBe(text);
  });

  it("writes no heartbeat_at when the heartbeat is off", () => {
    const r = start({ path: "beat", heartbeatSeconds: 0 });
    expect(Object.keys(readRunJson(r.runDir, "status.json"))).toEqual(["status", "started_at"]);
    r.finish();
  });
});
