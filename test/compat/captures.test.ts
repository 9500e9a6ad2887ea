// Replays every local capture of the real Runicorn 0.6 viewer against our server on a copy of rn-probe (spec §3).
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { startTestServer, type TestServer, waitFor } from "../helpers/server.ts";
import { type Capture, loadCaptures, pythonLiteral } from "./capture-file.ts";
import { compareJson, mapStrings, type ShapeOptions, VOLATILE } from "./json-shape.ts";

/**
 * The captures were taken on a storage like rn-probe written by the same SDK script a few minutes
 * earlier: capture-time run id → the fixture's run id, matched by path and alias/role (spec §1.12).
 */
const RUN_IDS: Record<string, string> = {
  "20261129_032504_0621b0": "20261129_032935_b2e5a5", // root-level run (path "")
  "20261129_032504_f210bd": "20261129_032935_01576c", // cv/resnet, left running
  "20261129_032503_d3b938": "20261129_032935_bfa7ab", // cv/yolo alias "baseline", 300 steps, assets
  "20261129_032504_6853f6": "20261129_032935_21171f", // cv/yolo alias "tobedeleted"
  "20261129_032504_11b5a6": "20261129_032935_5321f2", // nlp/bert, crashed
};
const YOLO = RUN_IDS["20261129_032503_d3b938"];
const RESNET = RUN_IDS["20261129_032504_f210bd"];
const DOOMED = RUN_IDS["20261129_032504_6853f6"];
/** What the capture's GET /api/config showed as user_root_dir; ours reads it from a config.json written before start. */
const USER_ROOT = join(tmpdir(), "rn-compat-user-root-unused");

/** An answer of our server, raw and parsed. */
interface Reply {
  status: number;
  headers: Headers;
  text: string;
  bytes: Uint8Array;
  json: unknown;
}

/** Why a capture is answered differently, and how to check the answer we give instead. */
interface Rule {
  /**
   * `additive`: only keys/headers the original lacks; `fix`: a spec §10 bug fixed or a documented
   * deliberate change (docs/COMPATIBILITY.md); `todo`: a real difference, kept as it.todo until fixed.
   */
  kind: "additive" | "fix" | "todo";
  /** One line for the test name: what differs and why. */
  why: string;
  /** Relaxations of the body comparison. */
  shape?: ShapeOptions;
  /** Turns the captured answer into the documented answer of ours (for `fix`). */
  patch?: (expected: any, cap: Capture) => void;
  /** Replaces the generic comparison (for answers that cannot be compared key by key). */
  replace?: (reply: Reply, cap: Capture) => void | Promise<void>;
  /** Further checks after the generic comparison (files the capture shows, notes under the body). */
  check?: (reply: Reply, cap: Capture) => void | Promise<void>;
  /** For `todo`: the check that fails today (the original's behaviour). The test also runs the relaxed comparison. */
  todo?: (reply: Reply, cap: Capture) => void;
  /** The request to send when the capture's target is only a description (`GET assets/download (blob)`). */
  request?: () => { method: string; path: string; body?: unknown };
}

let srv: TestServer;
let configDir = "";

/** Capture text → our world: run ids, the storage root, the per-user config dir. */
function toOurs(s: string, path = ""): string {
  for (const [from, to] of Object.entries(RUN_IDS)) s = s.split(from).join(to);
  // Paths inside assets.json/meta.json are file contents: the fixture files say /data/rn-probe verbatim.
  const fileContent = /(^|\.)(assets|meta)(\.|$)/.test(path);
  if (!fileContent) s = s.split("/data/rn-probe").join(srv.root);
  return s
    .split("/data/rnhome/.config/runicorn").join(configDir)
    .split("/data/rn-data3/cfgdir").join(USER_ROOT);
}

async function send(method: string, path: string, body?: unknown, hasBody = body !== undefined): Promise<Reply> {
  const init: RequestInit = { method };
  if (hasBody) {
    init.body = JSON.stringify(body);
    init.headers = { "content-type": "application/json" };
  }
  const res = await fetch(srv.url + path, init);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const text = new TextDecoder().decode(bytes);
  let json: unknown;
  if ((res.headers.get("content-type") ?? "").includes("json")) json = JSON.parse(text);
  return { status: res.status, headers: res.headers, text, bytes, json };
}

/**
 * Runs of one folder are listed by their id (spec §1.9: sub-directories sorted by lowercase name).
 * The capture's ids sort differently from the fixture's, so captured run lists are put back into
 * scan order after the ids are mapped.
 */
function inScanOrder(v: unknown): unknown {
  if (!Array.isArray(v) || !v.every((r) => r && typeof r === "object" && ("id" in r || "run_id" in r))) return v;
  const id = (r: Record<string, unknown>) => String(r.id ?? r.run_id).toLowerCase();
  const out = [...(v as Record<string, unknown>[])];
  for (let i = 1; i < out.length; i++) {
    for (let j = i; j > 0 && out[j].path === out[j - 1].path && id(out[j]) < id(out[j - 1]); j--) {
      [out[j - 1], out[j]] = [out[j], out[j - 1]];
    }
  }
  return out;
}

/** The media type without parameters (`application/json; charset=utf-8` → `application/json`). */
function mediaType(ct: string | null | undefined): string {
  return (ct ?? "").split(";")[0].trim().toLowerCase();
}

/** Names of the entries of a zip, read by Python's zipfile (an independent reader). */
function zipNames(bytes: Uint8Array): string[] {
  const file = join(srv.dir, `probe-${Math.random().toString(36).slice(2)}.zip`);
  writeFileSync(file, bytes);
  const p = Bun.spawnSync(["python3", "-c", "import sys,zipfile,json;print(json.dumps(zipfile.ZipFile(sys.argv[1]).namelist()))", file]);
  rmSync(file);
  if (p.exitCode !== 0) throw new Error(`not a zip: ${p.stderr.toString()}`);
  return JSON.parse(p.stdout.toString());
}

/** Status, content type, captured headers and body of `reply` against the (mapped) capture. */
function compareReply(cap: Capture, reply: Reply, rule?: Rule): string[] {
  const diffs: string[] = [];
  let expected: any = cap.json === undefined ? undefined : inScanOrder(mapStrings(cap.json, toOurs));
  let status = cap.status;
  if (rule?.patch) {
    const box = { status, body: expected };
    rule.patch(box, cap);
    status = box.status;
    expected = box.body;
  }
  if (reply.status !== status) diffs.push(`status ${reply.status}, original ${status}`);
  const ct = cap.headers["content-type"] ?? cap.contentType;
  if (ct && mediaType(reply.headers.get("content-type")) !== mediaType(ct)) {
    diffs.push(`content-type ${reply.headers.get("content-type")}, original ${ct}`);
  }
  if (cap.contentDisposition && reply.headers.get("content-disposition") !== cap.contentDisposition) {
    diffs.push(`content-disposition ${reply.headers.get("content-disposition")}, original ${cap.contentDisposition}`);
  }
  for (const [name, value] of Object.entries(cap.headers)) {
    if (name === "content-type" || name.startsWith("x-ratelimit-")) continue;
    if (reply.headers.get(name) !== value) diffs.push(`header ${name}: ${reply.headers.get(name)}, original ${value}`);
  }
  // spec §10.11: the original sends X-RateLimit-* even while limiting is disabled; ours only while enabled
  for (const name of ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"]) {
    if (reply.headers.has(name)) diffs.push(`header ${name} sent while rate limiting is disabled`);
  }
  if (expected !== undefined) {
    if (reply.json === undefined) diffs.push(`no JSON body (${reply.text.slice(0, 60)})`);
    else diffs.push(...compareJson(expected, reply.json, { volatileKeys: VOLATILE, ...rule?.shape }));
  }
  return diffs;
}

/** Runs with every key the original had, in its order, plus ours (spec §10.7 and docs/ARCHITECTURE.md). */
const DETAIL_EXTRAS = ["best_metric_value", "best_metric_name", "created_time", "start_time", "ended_at", "duration", "tags", "hostname", "exit_reason", "heartbeat_at", "summary", "notes", "stalled"];

/** pydantic-v2 422 item keys (spec §3.0: the original pins pydantic>=2). */
function expectV2Items(reply: Reply, cap: Capture): void {
  expect(reply.status).toBe(422);
  const items = (reply.json as { detail: Record<string, unknown>[] }).detail;
  const captured = (cap.json as { detail: { loc: unknown[] }[] }).detail;
  expect(items.length).toBe(captured.length);
  items.forEach((item, i) => {
    expect(Object.keys(item).slice(0, 4)).toEqual(["type", "loc", "msg", "input"]);
    expect(typeof item.type).toBe("string");
    expect(typeof item.msg).toBe("string");
    expect(item.loc).toEqual(captured[i].loc);
  });
}

/** A missing required field as pydantic v2 reports it. */
function expectV2Missing(reply: Reply, cap: Capture): void {
  const captured = (cap.json as { detail: { loc: unknown[] }[] }).detail;
  expect(reply.json).toEqual({ detail: captured.map((c) => ({ type: "missing", loc: c.loc, msg: "Field required", input: null })) });
}

/** The §10.4 fix: per-metric LTTB keeps at most N rows, each step once, the ends and every metric's extremes. */
async function expectDownsampled(reply: Reply, cap: Capture): Promise<void> {
  const n = Number(new URL("http://x" + cap.target).searchParams.get("downsample"));
  const full = await send("GET", `/api/runs/${YOLO}/metrics_step`);
  const all = full.json as { columns: string[]; rows: Record<string, unknown>[] };
  const got = reply.json as { columns: string[]; rows: Record<string, unknown>[]; total: number; sampled: number };
  expect(reply.status).toBe(200);
  expect(Object.keys(got)).toEqual(["columns", "rows", "total", "sampled"]);
  expect(got.columns).toEqual((cap.json as { columns: string[] }).columns);
  expect(got.total).toBe(300);
  expect(got.sampled).toBe(got.rows.length);
  expect(got.rows.length).toBeLessThanOrEqual(n);
  const steps = got.rows.map((r) => r.global_step as number);
  expect(steps.every((s, i) => i === 0 || s > steps[i - 1])).toBe(true); // the original repeats the last row
  expect(steps[0]).toBe(1);
  expect(steps.at(-1)).toBe(300);
  const byStep = new Map(all.rows.map((r) => [r.global_step, r]));
  for (const row of got.rows) expect(row).toEqual(byStep.get(row.global_step)!);
  for (const key of ["loss", "val_acc"]) {
    const values = all.rows.map((r) => r[key]).filter((v): v is number => typeof v === "number");
    const kept = got.rows.map((r) => r[key]);
    expect(kept).toContain(Math.max(...values));
    expect(kept).toContain(Math.min(...values));
  }
  expect(reply.headers.get("x-row-count")).toBe(String(got.rows.length));
  expect(reply.headers.get("x-total-count")).toBe("300");
  expect(reply.headers.get("x-last-step")).toBe("300");
}

const hasGpu = !!Bun.which("nvidia-smi");

/** Rules by `METHOD target` as written in the captures file; captures without a rule must match as they are. */
const RULES: Record<string, Rule> = {
  "GET /api/health": { kind: "additive", why: "adds server_version (ours) next to version 0.6.0, and the index build state (issue 13)", shape: { extraKeys: { "": ["server_version", "index"] } } },
  "GET /api/runs": {
    kind: "fix",
    why: "legacy runs' path is the full legacyproj/legacyname (spec §10.7)",
    patch: (e) => {
      e.body.find((r: { id: string }) => r.id === "20240101_120000_abcdef").path = "legacyproj/legacyname";
    },
  },
  [`GET /api/runs/20261129_032503_d3b938`]: {
    kind: "fix",
    why: "run detail adds created_time, start_time, duration, tags, summary… (spec §10.7)",
    shape: { extraKeys: { "": DETAIL_EXTRAS } },
  },
  "GET /api/runs/20261129_032503_d3b938/metrics_step": {
    kind: "additive",
    why: "row keys compared as a set: the original's order varies row by row (insertion order)",
    shape: { unorderedKeys: ["rows[]"] },
    check: (reply, cap) => {
      const rows = (reply.json as { rows: unknown[] }).rows;
      const [r99, r100] = cap.notes["rows[99..100] of metrics_step"].split(/(?<=\})\s+(?=\{)/).map((t) => pythonLiteral(t));
      expect(compareJson(r99, rows[99], { volatileKeys: VOLATILE, unorderedKeys: [""] })).toEqual([]);
      expect(compareJson(r100, rows[100], { volatileKeys: VOLATILE, unorderedKeys: [""] })).toEqual([]);
      expect((reply.json as { columns: string[] }).columns).toEqual(pythonLiteral(cap.notes.columns) as string[]);
    },
  },
  "GET /api/runs/20261129_032503_d3b938/metrics_step?downsample=100": {
    kind: "fix",
    why: "LTTB per metric: at most N rows, the last row once, every metric's extremes kept (spec §10.4)",
    replace: expectDownsampled,
  },
  "GET /api/runs/20261129_032503_d3b938/metrics?downsample=100": {
    kind: "fix",
    why: "LTTB per metric: at most N rows, the last row once, every metric's extremes kept (spec §10.4)",
    replace: expectDownsampled,
  },
  "GET /api/runs/20261129_032503_d3b938/metrics_step?downsample=50": {
    kind: "fix",
    why: "422 items in pydantic-v2 shape, the pinned dependency of the original (spec §3.0)",
    replace: (reply) => {
      expect(reply.status).toBe(422);
      expect(reply.json).toEqual({
        detail: [{ type: "greater_than_equal", loc: ["query", "downsample"], msg: "Input should be greater than or equal to 100", input: "50", ctx: { ge: 100 } }],
      });
    },
  },
  "GET /api/runs/20261129_032503_d3b938/metrics_step?downsample=10": {
    kind: "fix",
    why: "422 items in pydantic-v2 shape, the pinned dependency of the original (spec §3.0)",
    replace: (reply) => {
      expect(reply.status).toBe(422);
      expect(reply.json).toEqual({
        detail: [{ type: "greater_than_equal", loc: ["query", "downsample"], msg: "Input should be greater than or equal to 100", input: "10", ctx: { ge: 100 } }],
      });
    },
  },
  "GET /api/metrics/cache/stats": {
    kind: "additive",
    why: "counters of our column store (types compared; the original's counts depend on its cache)",
    shape: {
      typesOnly: true,
      extraKeys: { "": ["lines_parsed", "bytes_parsed", "full_parses", "index_loads", "chunks_loaded", "chunks_written", "cached_chunks", "cache_bytes", "cache_max_bytes", "live_watched_runs", "result_hits", "result_loads", "results_computed", "results_stored"] },
    },
  },
  "GET /api/paths/runs?path=cv": {
    kind: "fix",
    why: "tags and assets_count are the run's own, not [] and 0 (spec §10.7)",
    patch: (e) => {
      const yolo = e.body.find((r: { id: string }) => r.id === YOLO);
      yolo.tags = ["a", "b"]; // set by the PATCH capture above
      yolo.assets_count = 3;
    },
  },
  "GET /api/paths/export?path=cv/resnet&format=zip": {
    kind: "additive",
    why: "zip entries compared as a set (the original's order is os.walk order)",
    replace: (reply, cap) => {
      expect(reply.status).toBe(200);
      expect(mediaType(reply.headers.get("content-type"))).toBe(cap.contentType!);
      expect(reply.headers.get("content-disposition")).toBe(cap.contentDisposition!);
      expect(zipNames(reply.bytes).sort()).toEqual(cap.zipEntries!.map((n) => toOurs(n)).sort());
    },
  },
  "GET /api/config/ssh_connections/h1:2222@u/details": {
    kind: "fix",
    why: "secrets are never sent back: has_password/has_private_key instead of the password (spec §10.13)",
    patch: (e) => {
      delete e.body.connection.password;
      e.body.connection.has_password = true;
      e.body.connection.has_private_key = false;
    },
  },
  "GET /api/config/ssh_connections/none/details": {
    kind: "fix",
    why: "config.json keeps the password encrypted, not XOR-obfuscated (spec §10.13)",
    check: (_reply, cap) => {
      const saved = readFileSync(join(configDir, "config.json"), "utf8");
      const original = JSON.parse(cap.notes["config.json after save"]) as { ssh_connections: object[] };
      const ours = JSON.parse(saved) as { ssh_connections: object[] };
      expect(Object.keys(ours.ssh_connections[0])).toEqual(Object.keys(original.ssh_connections[0]));
      expect(saved).not.toContain('"pw"');
      expect(saved).not.toContain("ENC:Vd0=");
    },
  },
  "POST /api/config/dismissed-alerts/clear": {
    kind: "additive",
    why: "also checks ui_preferences.json against the captured file",
    check: (_reply, cap) => {
      expect(JSON.parse(readFileSync(join(configDir, "ui_preferences.json"), "utf8"))).toEqual(JSON.parse(cap.notes["ui_preferences.json"]));
    },
  },
  "GET /api/gpu/telemetry": {
    kind: "additive",
    why: hasGpu ? "a GPU host: the available shape is checked instead" : "no GPU here: the same answer",
    replace: (reply, cap) => {
      if (!hasGpu) return void expect(compareReply(cap, reply)).toEqual([]);
      expect((reply.json as { available: boolean }).available).toBe(true);
    },
  },
  "GET /api/system/monitor": {
    kind: "todo",
    why: "disk.path is the storage root's filesystem, the original reports \"/\" (src/system/host-sampler.ts:51)",
    replace: (reply, cap) => {
      // spec §3.9: these may be null where the host lacks them (no cpufreq, no load average, no disk counters)
      const expected = structuredClone(cap.json) as Record<string, Record<string, unknown>>;
      const ours = reply.json as Record<string, Record<string, unknown> | null>;
      for (const [block, key] of [["cpu", "per_core"], ["cpu", "frequency"], ["cpu", "load_avg"], ["disk", "io"]]) {
        if (ours[block]?.[key] === null) expected[block][key] = null;
      }
      expect(reply.status).toBe(200);
      expect(compareJson(expected, ours, { typesOnly: true, extraKeys: { "": ["source", "unavailable"], "disk.io": ["read_bytes_per_s", "write_bytes_per_s"] } })).toEqual([]);
    },
    todo: (reply) => expect((reply.json as { disk: { path: string } }).disk.path).toBe("/"),
  },
  "GET /api/system/temperatures": {
    kind: "additive",
    why: "hosts with sensors answer the available shape",
    replace: (reply, cap) => {
      const body = reply.json as { available: boolean; sensors?: object };
      if (body.available) return void expect(typeof body.sensors).toBe("object");
      expect(compareReply(cap, reply)).toEqual([]);
    },
  },
  "GET /api/storage/stats": {
    kind: "fix",
    why: "counts v0.6 runs the list shows (the original saw runs/ as a project, 0 runs; spec §10.8); soft-deleted runs in deleted_runs_count",
    shape: { typesOnly: true, extraKeys: { "": ["computed_at"], runs: ["deleted_runs_count"] } },
    check: (reply) => {
      const runs = (reply.json as { runs: { runs_count: number } }).runs;
      expect(runs.runs_count).toBe(6); // every listed run of the fixture, where the original counted 1
    },
  },
  "GET /api/export/20261129_032503_d3b938/csv": {
    kind: "fix",
    why: "the run's metrics as CSV instead of 501 (spec §10.2)",
    replace: (reply) => {
      expect(reply.status).toBe(200);
      expect(mediaType(reply.headers.get("content-type"))).toBe("text/csv");
      const lines = reply.text.trim().split(/\r?\n/);
      expect(lines[0]).toBe("global_step,loss,lr,note,stage,time,val_acc");
      expect(lines.length).toBe(301);
    },
  },
  "GET /api/export/20261129_032503_d3b938/report": {
    kind: "fix",
    why: "a Markdown report instead of 501 (spec §10.2)",
    replace: (reply) => {
      expect(reply.status).toBe(200);
      expect(mediaType(reply.headers.get("content-type"))).toBe("text/markdown");
      expect(reply.text).toStartWith(`# Run report: ${YOLO}`);
    },
  },
  "POST /api/experiments/tag": {
    kind: "fix",
    why: "experiment management works instead of answering 501 (spec §3.11, §10.2)",
    replace: (reply) => {
      expect(reply.status).toBe(200);
      // appended to the tags an earlier PATCH of the file set
      expect((reply.json as { success: boolean }).success).toBe(true);
      expect((reply.json as { tags: string[] }).tags).toContain("x");
    },
  },
  "GET /api/experiments/search": {
    kind: "fix",
    why: "experiment management works instead of answering 501 (spec §3.11, §10.2)",
    replace: (reply) => {
      expect(reply.status).toBe(200);
      expect(Object.keys(reply.json as object)).toEqual(["experiments"]);
      expect((reply.json as { experiments: unknown[] }).experiments.length).toBeGreaterThan(0);
    },
  },
  "GET /api/recycle-bin": {
    kind: "additive",
    why: "also checks the .deleted marker against the captured file",
    check: (_reply, cap) => {
      const marker = JSON.parse(readFileSync(join(srv.root, "runs/cv/yolo", DOOMED, ".deleted"), "utf8"));
      expect(compareJson(JSON.parse(cap.notes[".deleted marker"]), marker, { volatileKeys: VOLATILE })).toEqual([]);
    },
  },
  "DELETE /api/runs/20261129_032504_6853f6/permanent?dry_run=true": {
    kind: "fix",
    why: "adds blobs_kept: blobs still referenced elsewhere are kept (spec §10.9)",
    shape: { extraKeys: { "": ["blobs_kept"] } },
  },
  "POST /api/runs/permanent-delete": {
    kind: "fix",
    why: "adds blobs_kept per run: blobs still referenced elsewhere are kept (spec §10.9)",
    shape: { extraKeys: { "*": ["blobs_kept"] } },
  },
  "DELETE /api/runs/20990101_000000_abcdef/permanent": {
    kind: "fix",
    why: "an unknown run is a 404, not a 500 (spec §10.9)",
    patch: (e) => {
      e.status = 404;
    },
  },
  "POST /api/recycle-bin/empty 200": {
    kind: "fix",
    why: "emptying also prunes the index and orphaned blobs and reports them (spec §10.9)",
    shape: { extraKeys: { "": ["blobs_deleted", "bytes_freed", "errors"] } },
  },
  "GET assets/download (blob)": {
    kind: "additive",
    why: "the captured request is only described: path = the code snapshot blob, filename=code.zip",
    request: () => ({ method: "GET", path: `/api/runs/${YOLO}/assets/download?path=${srv.root}/archive/blobs/e8/e8b2379f3779a1d88bf0277abc094168fe298c00a2de950714a45c1a2da40433&filename=code.zip` }),
    check: (reply) => expect(reply.bytes.length).toBe(934),
  },
  "GET assets/download (manifest)": {
    kind: "additive",
    why: "the captured request is only described: path = the ds1 dataset manifest",
    request: () => ({ method: "GET", path: `/api/runs/${YOLO}/assets/download?path=${srv.root}/archive/manifests/datasets/79/79a886294e4415c709da7d38391f26fec9d8662353b4154da14dae7933dd3b7d.json` }),
    check: (reply, cap) => expect(zipNames(reply.bytes).sort()).toEqual(cap.zipEntries!),
  },
  "GET assets/download (dir)": {
    kind: "additive",
    why: "the captured request is only described: path = the run's media/ folder",
    request: () => ({ method: "GET", path: `/api/runs/${YOLO}/assets/download?path=${srv.root}/runs/cv/yolo/${YOLO}/media` }),
    check: (reply) => expect(zipNames(reply.bytes)).toEqual(["1795922975062_ff0bad_pred.png"]),
  },
  "GET /api/runs/20261129_032503_d3b938/assets/download": {
    kind: "fix",
    why: "422 items in pydantic-v2 shape, the pinned dependency of the original (spec §3.0): {type: missing, msg: Field required}",
    replace: expectV2Missing,
  },
  "POST /api/remote/connect 500": {
    kind: "fix",
    why: "an SSH failure is the input's problem, not the server's: 400 (403 for failed authentication) with \"Connection failed: <what went wrong>\" in our words (issue 12.9)",
    replace: (reply) => {
      expect(reply.status).toBe(400);
      expect(mediaType(reply.headers.get("content-type"))).toBe("application/json");
      expect(Object.keys(reply.json as object)).toEqual(["detail"]);
      expect((reply.json as { detail: string }).detail).toMatch(/^Connection failed: .*127\.0\.0\.1/);
    },
  },
  "POST /api/remote/connect 422": {
    kind: "fix",
    why: "422 items in pydantic-v2 shape, the pinned dependency of the original (spec §3.0): {type: missing, msg: Field required}",
    replace: expectV2Missing,
  },
  "GET /api/remote/connections/saved #2": {
    kind: "fix",
    why: "secrets are never sent back: has_password instead of the password (spec §10.13)",
    patch: (e) => {
      for (const c of e.body.connections) {
        delete c.password;
        c.has_password = true;
      }
    },
    check: (_reply, cap) => {
      const file = readFileSync(join(configDir, "connections.json"), "utf8");
      expect(Object.keys(JSON.parse(file)[0])).toEqual(Object.keys(JSON.parse(cap.notes["connections.json"])[0]));
      expect(file).not.toContain("secret");
    },
  },
  "POST /api/import/archive": {
    kind: "todo",
    why: "without a multipart body the 422 item says loc [body], type value_error; the original [body, file] missing (src/api/export.ts)",
    replace: (reply) => {
      expect(reply.status).toBe(422);
      const items = (reply.json as { detail: Record<string, unknown>[] }).detail;
      expect(items.length).toBe(1);
      expect(Object.keys(items[0])).toEqual(["type", "loc", "msg", "input"]);
    },
    todo: expectV2Missing,
  },
  "GET /": {
    kind: "fix",
    why: "the embedded web UI is served (the original had no UI build: 404; spec §3.0, §10.13)",
    replace: (reply) => {
      expect(reply.status).toBe(200);
      expect(mediaType(reply.headers.get("content-type"))).toBe("text/html");
      expect(reply.text).toContain("<title>Runicorn</title>");
    },
  },
};

const LOCAL = loadCaptures().filter((c) => c.section === 1);
const MUTATING = new Set(["POST", "PATCH", "DELETE", "PUT"]);

beforeAll(async () => {
  srv = await startTestServer({ fixture: "rn-probe", userFiles: { "config.json": { user_root_dir: USER_ROOT } } });
  configDir = srv.ctx.config.configDir;
  // Bring the copy to the state of capture time: the "tobedeleted" run not deleted yet, and the
  // cv/resnet run still running (its writer alive: our own pid on our host; spec §1.10).
  rmSync(join(srv.root, "runs/cv/yolo", DOOMED, ".deleted"));
  const resnet = join(srv.root, "runs/cv/resnet", RESNET);
  const meta = JSON.parse(readFileSync(join(resnet, "meta.json"), "utf8"));
  writeFileSync(join(resnet, "meta.json"), JSON.stringify({ ...meta, hostname: hostname(), pid: process.pid }, null, 2));
  writeFileSync(join(resnet, "status.json"), JSON.stringify({ status: "running", started_at: meta.created_at }, null, 2));
  await waitFor(async () => {
    const runs = (await srv.api("/api/runs")).body as { id: string; status: string }[];
    return runs.length === 6 && runs.find((r) => r.id === RESNET)?.status === "running";
  }, 10000, "the capture-time state");
});

afterAll(async () => {
  await srv?.close();
});

/** Our replies to captures with a known difference, for their it.todo checks (which run with --todo). */
const todoReplies = new Map<number, Reply>();

/** The rule of a capture: by `METHOD target #n` (n-th time in the file), `METHOD target status`, or `METHOD target`. */
function ruleOf(c: Capture): Rule | undefined {
  const key = `${c.method} ${c.target}`;
  const n = LOCAL.filter((o) => o.line <= c.line && `${o.method} ${o.target}` === key).length;
  return RULES[`${key} #${n}`] ?? RULES[`${key} ${c.status}`] ?? RULES[key];
}

describe("replaying the original's captures in file order (shared/spec/runicorn-0.6-http-captures.txt, section 1)", () => {
  it("parses every local capture of the file, with a status and a JSON or zip answer", () => {
    expect(LOCAL.length).toBe(97);
    for (const c of LOCAL) {
      expect(c.status).toBeGreaterThan(0);
      expect(c.json !== undefined || c.contentType !== undefined).toBe(true);
    }
  });

  for (const cap of LOCAL) {
    const rule = ruleOf(cap);
    const label = `${cap.method} ${cap.target}${cap.hasBody ? ` ${JSON.stringify(cap.body)}` : ""} (line ${cap.line})`;
    const replay = async (): Promise<Reply> => {
      const req = rule?.request?.() ?? {
        method: cap.method,
        path: toOurs(cap.target),
        body: cap.hasBody ? JSON.parse(toOurs(JSON.stringify(cap.body))) : undefined,
      };
      const reply = await send(req.method, req.path, req.body, req.body !== undefined);
      // Let the index watcher settle after a change before the next request, as a user's clicks would
      // (without the pause a soft delete followed at once by an empty bin trips a race, see the todo below).
      if (MUTATING.has(cap.method)) await Bun.sleep(80);
      return reply;
    };
    const name =
      !rule ? `answers ${label} exactly like the original`
      : rule.kind === "todo" ? `answers ${label} like the original except for a known difference: ${rule.why}`
      : rule.kind === "fix" ? `answers ${label} with the documented change: ${rule.why}`
      : `answers ${label} like the original, with additions: ${rule.why}`;
    const todoOnly = rule?.kind === "todo" && !rule.replace && !rule.shape;
    if (todoOnly) {
      // nothing of ours to hold to: only the original's answer, kept as a todo (a GET or a request that changes nothing)
      it.todo(`answers ${label} exactly like the original: ${rule.why}`, async () => {
        expect(compareReply(cap, await replay(), rule)).toEqual([]);
      });
      continue;
    }
    it(name, async () => {
      const reply = await replay();
      if (rule?.replace) await rule.replace(reply, cap);
      else expect(compareReply(cap, reply, rule)).toEqual([]);
      if (rule?.check) await rule.check(reply, cap);
      if (rule?.kind === "todo") todoReplies.set(cap.line, reply);
    });
    if (rule?.kind === "todo" && rule.todo) {
      const todo = rule.todo;
      it.todo(`answers ${label} exactly like the original: ${rule.why}`, () => {
        const reply = todoReplies.get(cap.line);
        expect(reply).toBeDefined();
        todo(reply!, cap);
      });
    }
  }
});

describe("a known race in the index watcher", () => {
  it("keeps its index when the recycle bin is emptied right after a soft delete", async () => {
    const s = await startTestServer({ fixture: "rn-probe" });
    try {
      for (const [method, path, body] of [
        ["POST", "/api/recycle-bin/restore", { run_ids: [DOOMED] }],
        ["POST", "/api/runs/soft-delete", { run_ids: [DOOMED] }],
        ["POST", "/api/recycle-bin/empty", { confirm: true }],
      ] as const) {
        expect((await s.api(path, { method, json: body })).status).toBe(200);
      }
      await Bun.sleep(200);
      expect(existsSync(join(s.root, "runs/cv/yolo", DOOMED))).toBe(false);
      expect(((await s.api("/api/recycle-bin")).body as { deleted_runs: unknown[] }).deleted_runs).toEqual([]);
    } finally {
      await s.close();
    }
  });
});
