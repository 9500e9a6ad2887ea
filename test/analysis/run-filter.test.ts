// The filter language end to end (issue 16): a sweep written by the Python SDK, filtered through GET /api/runs and
// checked expression by expression against a direct computation from the run files; notes, include, sort, errors.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer, waitFor } from "../helpers/server.ts";

const REPO = join(import.meta.dir, "..", "..");
const RUNS = 12;
let server: TestServer;

/** One run as read straight from its files (NaN read as null, like every reader of the files). */
interface FileRun {
  id: string;
  path: string;
  status: string;
  tags: string[];
  config: Record<string, any>;
  summary: Record<string, any>;
}

function readJson(p: string): any {
  try {
    return JSON.parse(readFileSync(p, "utf8").replace(/\bNaN\b|-?Infinity\b/g, "null"));
  } catch {
    return {};
  }
}

function filesRuns(root: string): FileRun[] {
  const out: FileRun[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (!statSync(p).isDirectory()) continue;
      if (statSync(join(p, "meta.json"), { throwIfNoEntry: false })) {
        const meta = readJson(join(p, "meta.json"));
        const cfg = readJson(join(p, "assets.json")).config ?? {};
        out.push({
          id: meta.id,
          path: meta.path,
          status: readJson(join(p, "status.json")).status,
          tags: meta.tags ?? [],
          config: { ...cfg.args, ...cfg.extra },
          summary: readJson(join(p, "summary.json")),
        });
      } else walk(p);
    }
  };
  walk(join(root, "runs"));
  return out;
}

beforeAll(async () => {
  server = await startTestServer();
  const script = `import runicorn as rn, sys
root = sys.argv[1]
for i in range(${RUNS}):
    run = rn.init(path="sweep/" + ("a" if i % 2 else "b"), storage=root)
    lr = [0.0001, 0.0003, 0.001, 0.003][i % 4]
    run.log_config(args={"lr": lr, "optimizer": "adam" if i % 3 == 0 else "sgd", "batch_size": 32 if i % 2 else 64, "seed": i % 3},
                   extra={"model": {"depth": 10 + i}, "name": "r%d" % i})
    for step in range(1, 4):
        run.log({"loss": 1.0 / (step + i)}, step=step)
    acc = 0.5 + i * 0.04
    run.summary({"final_acc": float("nan") if i == 5 else ("n/a" if i == 7 else acc)})
    run.finish("failed" if i == 9 else "finished")
`;
  const p = Bun.spawnSync(["python3", "-c", script, server.root], {
    env: { ...process.env, PYTHONPATH: join(REPO, "sdk", "python"), XDG_CONFIG_HOME: join(server.dir, "xdg"), RUNICORN_QUIET: "1" },
    stderr: "pipe",
  });
  if (p.exitCode !== 0) throw new Error(p.stderr.toString());
  await waitFor(async () => (await server.api("/api/runs")).body.length === RUNS, 15000, "the sweep in the index");
}, 60000);

afterAll(async () => {
  await server?.close();
});

const ids = (body: any[]) => body.map((r) => r.id).sort();

describe("GET /api/runs?filter=", () => {
  const num = (v: unknown) => (typeof v === "number" ? v : undefined);
  const cases: [string, (r: FileRun) => boolean][] = [
    ["config.lr <= 0.001 and summary.final_acc > 0.8", (r) => r.config.lr <= 0.001 && (num(r.summary.final_acc) ?? -1) > 0.8],
    ['config.optimizer == "adam" or config.batch_size == 64', (r) => r.config.optimizer === "adam" || r.config.batch_size === 64],
    ["not (config.seed in [0, 1])", (r) => ![0, 1].includes(r.config.seed)],
    ['path == "sweep/b" and config.lr > 0.0003', (r) => r.path === "sweep/b" && r.config.lr > 0.0003],
    ['status == "finished"', (r) => r.status === "finished"],
    ["summary.final_acc < 0.7", (r) => (num(r.summary.final_acc) ?? Infinity) < 0.7],
    ["summary.final_acc == null", (r) => r.summary.final_acc === null || r.summary.final_acc === undefined],
    ['summary.final_acc == "n/a"', (r) => r.summary.final_acc === "n/a"],
    ["not (summary.final_acc >= 0.6)", (r) => typeof r.summary.final_acc === "number" ? !(r.summary.final_acc >= 0.6) : typeof r.summary.final_acc === "string"],
    ["config.model.depth >= 15", (r) => r.config.model.depth >= 15],
    ["config.args.lr == 0.003", (r) => r.config.lr === 0.003],
    ['config.extra.name ~ "r1*"', (r) => /^r1/.test(r.config.name)],
    ['path ~ "sweep/*" and config.seed != 2', (r) => r.config.seed !== 2],
    ["config.missing > 1", () => false],
    ['tags contains "best"', (r) => r.tags.includes("best")],
    ['config.lr == "0.001"', () => false],
  ];
  for (const [expr, want] of cases) {
    it(`selects exactly the runs the files say for: ${expr}`, async () => {
      const res = await server.api(`/api/runs?filter=${encodeURIComponent(expr)}`);
      expect(res.status).toBe(200);
      const expected = filesRuns(server.root).filter(want).map((r) => r.id).sort();
      expect(ids(res.body)).toEqual(expected);
      expect(res.headers.get("x-total-count")).toBe(String(expected.length));
    });
  }

  it("combines the filter with path, paging and X-Total-Count", async () => {
    const all = filesRuns(server.root).filter((r) => r.path === "sweep/a" && r.config.batch_size === 32);
    const res = await server.api(`/api/runs?path=sweep/a&filter=${encodeURIComponent("config.batch_size == 32")}&limit=2&offset=1`);
    expect(res.headers.get("x-total-count")).toBe(String(all.length));
    expect(res.body.length).toBe(Math.min(2, all.length - 1));
  });

  it("answers a malformed expression with 400 naming the column", async () => {
    const res = await server.api(`/api/runs?filter=${encodeURIComponent("config.lr <= and x")}`);
    expect(res.status).toBe(400);
    expect(res.body.detail).toMatch(/^Invalid filter at column 14: expected a value/);
  });

  it("lists fields no run has in X-Unknown-Fields and treats them as missing", async () => {
    const res = await server.api(`/api/runs?filter=${encodeURIComponent("config.nope == 1 or bogus == 2 or config.lr > 0")}`);
    expect(res.status).toBe(200);
    expect(res.body.length).toBe(RUNS);
    expect(res.headers.get("x-unknown-fields")).toBe("bogus, config.nope");
  });

  it("does not send X-Unknown-Fields when every field is known", async () => {
    const res = await server.api(`/api/runs?filter=${encodeURIComponent("config.lr > 0")}`);
    expect(res.headers.get("x-unknown-fields")).toBeNull();
  });
});

describe("include and sort", () => {
  it("adds config and summary objects to each item with include=config,summary", async () => {
    const res = await server.api("/api/runs?include=config,summary");
    const byId = new Map(filesRuns(server.root).map((r) => [r.id, r]));
    for (const item of res.body) {
      const f = byId.get(item.id)!;
      expect(item.config.lr).toBe(f.config.lr);
      expect(item.config.args.lr).toBe(f.config.lr);
      expect(item.summary.final_acc).toEqual(f.summary.final_acc);
    }
  });

  it("sorts by a config field", async () => {
    const res = await server.api("/api/runs?sort=config.model.depth&order=asc&include=config");
    const depths = res.body.map((r: any) => r.config.model.depth);
    expect(depths).toEqual([...depths].sort((a: number, b: number) => a - b));
    expect(depths.length).toBe(RUNS);
  });

  it("refuses a sort key that is no field", async () => {
    expect((await server.api("/api/runs?sort=bogus")).status).toBe(400);
  });
});

describe("notes", () => {
  it("stores notes in meta.json, returns them in the detail, and finds them by q and by the filter", async () => {
    const id = (await server.api("/api/runs")).body[0].id;
    const res = await server.api(`/api/runs/${id}`, { method: "PATCH", json: { notes: "# Baseline\nlr warmup *works*" } });
    expect(res.status).toBe(200);
    expect(res.body.notes).toBe("# Baseline\nlr warmup *works*");
    const detail = await server.api(`/api/runs/${id}`);
    expect(detail.body.notes).toBe("# Baseline\nlr warmup *works*");
    expect(readJson(join(detail.body.run_dir, "meta.json")).notes).toBe("# Baseline\nlr warmup *works*");
    expect(ids((await server.api("/api/runs?q=WARMUP")).body)).toEqual([id]);
    expect(ids((await server.api(`/api/runs?filter=${encodeURIComponent('notes contains "warmup"')}`)).body)).toEqual([id]);
  });

  it("refuses notes over 64 KB and keeps the old ones", async () => {
    const id = (await server.api("/api/runs")).body[1].id;
    await server.api(`/api/runs/${id}`, { method: "PATCH", json: { notes: "keep" } });
    const res = await server.api(`/api/runs/${id}`, { method: "PATCH", json: { notes: "é".repeat(40000) } });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(typeof res.body.detail).toBe("string");
    expect((await server.api(`/api/runs/${id}`)).body.notes).toBe("keep");
  });

  it("tags set through the API are matched by contains", async () => {
    const id = (await server.api("/api/runs")).body[2].id;
    await server.api(`/api/runs/${id}`, { method: "PATCH", json: { tags: ["best", "x"] } });
    const res = await server.api(`/api/runs?filter=${encodeURIComponent('tags contains "best"')}`);
    expect(ids(res.body)).toEqual([id]);
  });
});

describe("filter fuzz", () => {
  it("never answers a random expression with a 5xx", async () => {
    const atoms = ["config.lr", "summary.final_acc", "tags", "path", "status", "notes", "duration", "created_at", "host", "alias", "run_id",
      "config.`a b`", "metric.loss.min", "0.001", "1e-3", '"adam"', '"sweep/*"', "null", "true", "[0, 1]", "[", "]", "(", ")",
      "==", "!=", "<", "<=", ">", ">=", "~", "in", "not", "and", "or", "contains", "\"\\u0000\"", "'", "\\", "%", "$", "\u00e9", "1e999", "-"];
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let i = 0; i < 300; i++) {
      const expr = Array.from({ length: 1 + rand(9) }, () => atoms[rand(atoms.length)]).join(rand(4) ? " " : "");
      const sort = rand(3) ? "" : `&sort=${encodeURIComponent(atoms[rand(11)])}`;
      const res = await server.api(`/api/runs?filter=${encodeURIComponent(expr)}${sort}`);
      if (res.status >= 500) throw new Error(`${res.status} for ${expr}: ${JSON.stringify(res.body)}`);
      if (res.status === 400) expect(typeof res.body.detail).toBe("string");
    }
  });
});

describe("runicorn ls --filter", () => {
  const ls = (...args: string[]) =>
    Bun.spawnSync([process.execPath, join(REPO, "src", "cli", "main.ts"), "ls", "--root", server.root, ...args], {
      env: { ...process.env, XDG_CONFIG_HOME: join(server.dir, "xdg") },
    });

  for (const expr of [
    "config.lr <= 0.001 and summary.final_acc > 0.8",
    'config.optimizer == "adam" or config.batch_size == 64',
    "not (config.seed in [0, 1])",
    'path == "sweep/b" and config.lr > 0.0003',
    "summary.final_acc == null",
    'status != "failed" and config.model.depth < 14',
  ]) {
    it(`lists the same runs as the API for: ${expr}`, async () => {
      const p = ls("--json", "--filter", expr);
      expect(p.exitCode).toBe(0);
      const cli = JSON.parse(p.stdout.toString()).map((r: any) => r.id).sort();
      const api = ids((await server.api(`/api/runs?filter=${encodeURIComponent(expr)}`)).body);
      expect(cli).toEqual(api);
      expect(cli.length).toBeGreaterThan(0);
    });
  }

  it("exits 2 on a malformed expression with the message and a caret under the column", () => {
    const p = ls("--filter", "config.lr <= and x");
    expect(p.exitCode).toBe(2);
    const lines = p.stderr.toString().split("\n");
    expect(lines[0]).toBe("Invalid filter at column 14: expected a value, found 'and'");
    expect(lines[1]).toBe("  config.lr <= and x");
    expect(lines[2]).toBe("  " + " ".repeat(13) + "^");
  });
});

describe("the Python client", () => {
  // asynchronous: the server answers from this same process
  const py = async (code: string) => {
    const proc = Bun.spawn(["python3", "-c", code, server.url], {
      env: { ...process.env, PYTHONPATH: join(REPO, "sdk", "python"), XDG_CONFIG_HOME: join(server.dir, "xdg") },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    await proc.exited;
    return { stdout, stderr };
  };

  it("list_runs(filter=..., include=...) returns the runs the API filters, config and summary flattened by flatten_run", async () => {
    const expr = 'config.optimizer == "adam" or config.batch_size == 64';
    const p = await py(`import sys, json, runicorn.api as api
c = api.connect(sys.argv[1])
runs = c.list_runs(filter=${JSON.stringify(expr)}, include=["config", "summary"], as_dataframe=False)
print(json.dumps([api.flatten_run(r) for r in runs]))`);
    expect(p.stderr.toString()).toBe("");
    const rows = JSON.parse(p.stdout.toString());
    expect(rows.map((r: any) => r.id).sort()).toEqual(ids((await server.api(`/api/runs?filter=${encodeURIComponent(expr)}`)).body));
    for (const r of rows) {
      expect(r.optimizer === undefined).toBe(true);
      expect(r["config.optimizer"] === "adam" || r["config.batch_size"] === 64).toBe(true);
      expect(typeof r["config.model.depth"]).toBe("number");
      expect("summary.final_acc" in r).toBe(true);
    }
  });

  it("raises FilterError (a ValueError) with the server's detail and no chained traceback on a malformed filter", async () => {
    const p = await py(`import sys, runicorn.api as api
c = api.connect(sys.argv[1])
try:
    c.list_runs(filter="config.lr <= and x")
except ValueError as e:
    print(type(e).__name__, e.status, e.detail, e.__cause__ is None, e.__suppress_context__)`);
    expect(p.stdout.toString().trim()).toBe("FilterError 400 Invalid filter at column 14: expected a value, found 'and' True True");
  });
});
