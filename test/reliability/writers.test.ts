// Reliability: unusual writers — two processes appending to one run, events.jsonl truncated or replaced, meta.json rewritten mid-read.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { appendFileSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isolatedEnv, tempDir, waitFor } from "../helpers/server.ts";
import { apiRows, lossAt, metricsLine, PY_SDK, rowsChecksum, rowsFromFile, type ServerProc, spawnServe, writeRun } from "./helpers.ts";

const t = tempDir("rn-rel-writers-");
const root = join(t.dir, "root");
const env = isolatedEnv(t.dir);
let server: ServerProc;

beforeAll(async () => {
  server = await spawnServe(root, env, ["--log-level", "warn"]);
});
afterAll(async () => {
  await server?.stop();
  t.cleanup();
});

/** Waits until the server knows a run. */
async function known(id: string): Promise<void> {
  await waitFor(async () => (await server.call(`/api/runs/${id}`)).status === 200, 10000, `run ${id} to be indexed`);
}

describe("two processes appending to one run", () => {
  const RUN = "20260101_000001_c0ffee";
  const PER = 20000;

  /** A Python SDK process joining the run and logging every other step (parity 1: odd, 0: even). */
  const writer = (parity: number) => `
import sys, time
sys.path.insert(0, ${JSON.stringify(PY_SDK)})
import runicorn as rn
run = rn.init(path="rel/shared", storage=${JSON.stringify(root)}, run_id=${JSON.stringify(RUN)})
for i in range(${PER}):
    s = 2 * i + ${parity === 1 ? 1 : 2}
    run.log({"loss": s / 1000.0, "writer": ${parity}}, step=s)
    if i % 500 == 0:
        time.sleep(0.005)
run.finish()
`;

  it("serves every step of both writers once, with no torn or interleaved line, while being read", async () => {
    const procs = [1, 0].map((p) => Bun.spawn(["python3", "-c", writer(p)], { cwd: t.dir, env, stdout: "pipe", stderr: "pipe" }));
    let done = false;
    const exits = Promise.all(procs.map((p) => p.exited)).finally(() => (done = true));
    // read while both append: every answer is whole and never shrinks
    let last = 0;
    let polls = 0;
    while (!done) {
      const r = await server.call(`/api/runs/${RUN}/metrics_step`);
      if (r.status === 404) {
        await Bun.sleep(20);
        continue;
      }
      expect(r.status).toBe(200);
      expect(r.body.total).toBeGreaterThanOrEqual(last);
      last = r.body.total;
      polls++;
      await Bun.sleep(30);
    }
    expect(await exits).toEqual([0, 0]);
    expect(polls).toBeGreaterThan(0);
    const file = join(root, "runs", "rel/shared", RUN, "events.jsonl");
    const lines = readFileSync(file, "utf8").split("\n");
    expect(lines.pop()).toBe("");
    const torn = lines.filter((l) => {
      try {
        JSON.parse(l);
        return false;
      } catch {
        return true;
      }
    });
    expect(torn).toEqual([]);
    const res = await server.call(`/api/runs/${RUN}/metrics_step`);
    expect(res.body.total).toBe(2 * PER);
    expect(rowsChecksum(apiRows(res.body), ["loss", "writer"])).toBe(rowsChecksum(rowsFromFile(file), ["loss", "writer"]));
    expect(res.body.rows[0]).toMatchObject({ global_step: 1, writer: 1 });
    expect(res.body.rows[1]).toMatchObject({ global_step: 2, writer: 0 });
  }, 120000);
});

describe("a writer that truncates or replaces events.jsonl", () => {
  const RUN = "20260101_000002_abcdef";
  let file = "";
  const lines = (from: number, to: number, salt: number) => {
    let out = "";
    for (let s = from; s <= to; s++) out += metricsLine(s, 1767225600 + s, { loss: lossAt(s, salt) });
    return out;
  };
  /** Asks the server and compares with what the file says now. */
  const matchesFile = async (expectedRows: number) => {
    const res = await server.call(`/api/runs/${RUN}/metrics_step`);
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(expectedRows);
    expect(rowsChecksum(apiRows(res.body), ["loss"])).toBe(rowsChecksum(rowsFromFile(file), ["loss"]));
    return res.body;
  };

  beforeAll(async () => {
    const dir = writeRun(root, "rel/rewrite", RUN, { status: "finished" });
    file = join(dir, "events.jsonl");
    writeFileSync(file, lines(1, 3000, 0));
    await known(RUN);
  });

  it("serves the new content after the file is truncated and rewritten shorter", async () => {
    await matchesFile(3000);
    writeFileSync(file, lines(1, 1000, 1)); // O_TRUNC, then new values
    const body = await matchesFile(1000);
    expect(body.rows[0].loss).toBe(lossAt(1, 1));
  });

  it("serves the new content after the file is truncated and rewritten longer than before", async () => {
    await matchesFile(1000);
    writeFileSync(file, lines(1, 5000, 2));
    const body = await matchesFile(5000);
    expect(body.rows[999].loss).toBe(lossAt(1000, 2));
  });

  it("serves the new content after the file is truncated to nothing and appended again", async () => {
    writeFileSync(file, "");
    await matchesFile(0);
    appendFileSync(file, lines(10, 20, 3));
    const body = await matchesFile(11);
    expect(body.rows[0]).toMatchObject({ global_step: 10, loss: lossAt(10, 3) });
  });

  it("serves the new file after events.jsonl is replaced by rename with one of the same size", async () => {
    writeFileSync(file, lines(1, 2000, 4));
    await matchesFile(2000);
    // same steps and timestamps, same byte length, different values: only the inode tells them apart
    const next = lines(1, 2000, 4).replace(/"loss": 1\./g, '"loss": 2.');
    expect(next.length).toBe(lines(1, 2000, 4).length);
    writeFileSync(`${file}.new`, next);
    renameSync(`${file}.new`, file);
    const body = await matchesFile(2000);
    expect(body.rows.some((r: { loss: number }) => r.loss >= 2)).toBe(true);
  });

  it("serves no rows once events.jsonl is deleted, and the rows again once it comes back", async () => {
    rmSync(file);
    const gone = await server.call(`/api/runs/${RUN}/metrics_step`);
    expect(gone.status).toBe(200);
    expect(gone.body).toMatchObject({ rows: [], total: 0 });
    writeFileSync(file, lines(1, 50, 5));
    await matchesFile(50);
  });

  it("never answers 5xx and ends exact while a writer truncates, replaces and appends in a loop", async () => {
    const churn = Bun.spawn(
      [
        "python3",
        "-c",
        `
import os, sys, time
f = sys.argv[1]
def lines(a, b, salt):
    return "".join('{"ts": %d, "type": "metrics", "data": {"loss": %r, "global_step": %d, "time": %d}}\\n' % (1767225600 + s, s * 1.5 + salt, s, 1767225600 + s) for s in range(a, b + 1))
end = time.time() + 3
i = 0
while time.time() < end:
    i += 1
    mode = i % 3
    if mode == 0:
        open(f, "w").write(lines(1, 200 + i % 50, i))
    elif mode == 1:
        open(f + ".tmp", "w").write(lines(1, 300, i)); os.replace(f + ".tmp", f)
    else:
        with open(f, "a") as h:
            h.write(lines(1000 + i, 1000 + i, i)[:-1]); h.flush(); time.sleep(0.001); h.write("\\n")
    time.sleep(0.003)
open(f, "w").write(lines(1, 777, 0.25))
`,
        file,
      ],
      { env, stdout: "pipe", stderr: "pipe" },
    );
    let done = false;
    const exited = churn.exited.finally(() => (done = true));
    const statuses = new Map<number, number>();
    while (!done) {
      const r = await server.call(`/api/runs/${RUN}/metrics_step`);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      if (r.status === 200) {
        // each answer is one coherent version: rows ascending, no step twice
        const steps = r.body.rows.map((x: { global_step: number }) => x.global_step);
        expect(new Set(steps).size).toBe(steps.length);
        expect(r.body.total).toBe(steps.length);
      }
    }
    expect(await exited).toBe(0);
    expect([...statuses.keys()]).toEqual([200]);
    await matchesFile(777);
  }, 30000);
});

describe("meta.json and status.json rewritten in place while the API is read", () => {
  const ids = ["20260101_000003_aaaa01", "20260101_000003_aaaa02", "20260101_000003_aaaa03"];
  const paths = ["rel/meta/a", "rel/meta/b", "rel/meta/c"];

  beforeAll(async () => {
    ids.forEach((id, i) => writeRun(root, paths[i], id, { status: "finished" }));
    for (const id of ids) await known(id);
  });

  it("never answers 5xx, never returns another run, never drops a run, and ends with the final contents", async () => {
    const dirs = ids.map((id, i) => join(root, "runs", paths[i], id));
    // non-atomic rewrites (open with O_TRUNC, write half, pause, write the rest), as a careless tool would
    const churn = Bun.spawn(
      [
        "python3",
        "-c",
        `
import json, sys, time
dirs = sys.argv[1:]
metas = {d: json.load(open(d + "/meta.json")) for d in dirs}
end = time.time() + 3
i = 0
def torn_write(path, text):
    with open(path, "w") as f:
        f.write(text[: len(text) // 2]); f.flush(); time.sleep(0.0005); f.write(text[len(text) // 2 :])
while time.time() < end:
    i += 1
    for d in dirs:
        metas[d]["alias"] = "alias-%d" % i
        torn_write(d + "/meta.json", json.dumps(metas[d], indent=2))
        torn_write(d + "/status.json", json.dumps({"status": "finished", "started_at": 1.0, "ended_at": 2.0 + i}, indent=2))
print(i)
`,
        ...dirs,
      ],
      { env, stdout: "pipe", stderr: "pipe" },
    );
    let done = false;
    const exited = churn.exited.finally(() => (done = true));
    const bad: string[] = [];
    const poll = async () => {
      let n = 0;
      while (!done) {
        const i = n++ % ids.length;
        const [one, list] = await Promise.all([server.call(`/api/runs/${ids[i]}`), server.call("/api/runs?path=rel/meta")]);
        if (one.status !== 200) bad.push(`GET /api/runs/${ids[i]} -> ${one.status}`);
        else if (one.body.id !== ids[i] || one.body.path !== paths[i]) bad.push(`GET /api/runs/${ids[i]} returned ${one.body.id} at ${one.body.path}`);
        if (list.status !== 200) bad.push(`GET /api/runs -> ${list.status}`);
        else {
          const got = (list.body as { id: string }[]).map((r) => r.id).sort();
          if (JSON.stringify(got) !== JSON.stringify(ids)) bad.push(`list held ${JSON.stringify(got)}`);
        }
      }
      return n;
    };
    const polled = await Promise.all([poll(), poll(), poll()]);
    const out = await new Response(churn.stdout).text();
    expect(await exited).toBe(0);
    expect(bad.slice(0, 5)).toEqual([]);
    expect(polled.reduce((a, b) => a + b, 0)).toBeGreaterThan(10);
    const rounds = Number(out.trim());
    expect(rounds).toBeGreaterThan(1);
    // once the writer stops, the index converges on what the files say (no torn read is kept)
    await waitFor(
      async () => {
        const list = (await server.call("/api/runs?path=rel/meta")).body as { id: string; alias: string | null }[];
        return list.length === 3 && list.every((r) => r.alias === `alias-${rounds}`);
      },
      15000,
      "aliases to converge on the final meta.json",
    );
  }, 60000);
});
