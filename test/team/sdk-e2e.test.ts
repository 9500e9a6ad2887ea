// End to end, SDK → PostgreSQL (issue 19): three SDK processes (Python and TypeScript) log 3,000 steps each to
// replica A through RUNICORN_SERVER; A is killed -9 mid-run and stays down for OUTAGE_S seconds (30 by default,
// the outage) before it restarts on the same port; replica B then serves every run complete, each step
// exactly once, statuses `finished`.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { createServer } from "node:net";
import { join } from "node:path";
import { startPostgres, type TestPostgres } from "../helpers/postgres.ts";
import { isolatedEnv, PROJECT, tempDir, waitFor } from "../helpers/server.ts";
import { PY_SDK } from "../reliability/helpers.ts";
import { call, createTokenCli, type Replica, startReplica } from "./team-server.ts";

/** Seconds replica A stays down (RUNICORN_TEST_OUTAGE_S overrides; the issue asks that the SDK survive 30). */
const OUTAGE_S = Number(process.env.RUNICORN_TEST_OUTAGE_S ?? "30");
const STEPS = 3000;
const PY_RUNS = ["20260106_000000_00a001", "20260106_000000_00a002"];
const TS_RUN = "20260106_000000_00b001";

/** loss and acc at a step: each process logs these, so the answer can be checked value by value. */
const lossAt = (run: number, step: number) => 1 / (step + 1 + run);

const PY = (runId: string, n: number) => `
import time, runicorn as rn
run = rn.init(path="e2e/py", run_id="${runId}")
for i in range(${STEPS}):
    run.log({"loss": 1.0 / (i + 1 + ${n}), "acc": i / ${STEPS}.0}, step=i)
    if i % 100 == 99:
        run.log_text("at %d" % i)
        time.sleep(0.2)
run.finish()
`;

const TS = (runId: string, n: number) => `
import { init } from ${JSON.stringify(join(PROJECT, "src/sdk/runicorn.ts"))};
const run = init({ path: "e2e/ts", runId: ${JSON.stringify(runId)}, handleSignals: false });
for (let i = 0; i < ${STEPS}; i++) {
  run.log({ loss: 1 / (i + 1 + ${n}), acc: i / ${STEPS} }, { step: i });
  if (i % 100 === 99) {
    run.logText("at " + i);
    await Bun.sleep(200);
  }
}
run.finish();
console.log("uploaded=" + (await (run as any).uploaded));
`;

/** The lines a log socket sends on opening (the stored ones), collected until it has been quiet a moment. */
async function logLines(base: string, token: string, runId: string): Promise<string[]> {
  const ws = new WebSocket(`${base.replace("http", "ws")}/api/runs/${runId}/logs/ws?token=${encodeURIComponent(token)}`);
  const lines: string[] = [];
  let last = Date.now();
  ws.onmessage = (ev) => {
    lines.push(String(ev.data));
    last = Date.now();
  };
  await new Promise<void>((res, rej) => {
    ws.onopen = () => res();
    ws.onerror = () => rej(new Error("log socket refused"));
  });
  while (Date.now() - last < 500) await Bun.sleep(100);
  ws.close();
  return lines;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe("SDK processes logging to a team server through a replica crash", () => {
  let pg: TestPostgres;
  let a: Replica | undefined;
  let b: Replica;
  let token: string;
  let db: string;
  let portA: number;
  const t = tempDir("rn-team-e2e-");
  const procs: ReturnType<typeof Bun.spawn>[] = [];
  beforeAll(async () => {
    pg = await startPostgres();
    db = await pg.createDatabase("e2e");
    token = createTokenCli(db, "e2e");
    portA = await freePort();
    a = await startReplica(db, join(t.dir, "shared-root"), portA);
    b = await startReplica(db, join(t.dir, "shared-root"));
  }, 120_000);
  afterAll(async () => {
    for (const p of procs) if (p.exitCode === null) p.kill(9);
    await a?.stop();
    await b?.stop();
    await pg?.stop();
    t.cleanup();
  });

  it(
    "serves every run complete from replica B, each step and log line once and finished, after A was killed -9 mid-run and restarted",
    async () => {
      const env = (name: string) => ({
        ...isolatedEnv(join(t.dir, name)),
        RUNICORN_SERVER: `http://127.0.0.1:${portA}`,
        RUNICORN_TOKEN: token,
        RUNICORN_QUIET: "1",
        // finish() waits out the outage (it never blocks logging: batches spill to the spool meanwhile)
        RUNICORN_FINISH_TIMEOUT: String(OUTAGE_S + 60),
      });
      PY_RUNS.forEach((id, n) => procs.push(Bun.spawn(["python3", "-c", PY(id, n)], { env: { ...env(`py${n}`), PYTHONPATH: PY_SDK }, stdout: "pipe", stderr: "pipe" })));
      const tsFile = join(t.dir, "ts-run.ts");
      await Bun.write(tsFile, TS(TS_RUN, 2));
      const tsProc = Bun.spawn([process.execPath, tsFile], { env: env("ts"), stdout: "pipe", stderr: "pipe" });
      procs.push(tsProc);
      const all = [...PY_RUNS, TS_RUN];

      // mid-run: every run has rows stored (B reads them from PostgreSQL), none has all of them yet
      await waitFor(
        async () => {
          const counts = await Promise.all(all.map(async (id) => (await call(b.url, token, "GET", `/api/runs/${id}`)).body?.total_steps ?? 0));
          return counts.every((c: number) => c > 0);
        },
        30_000,
        "rows of every run through A",
      );
      await a!.kill9();
      a = undefined;
      const during = await Promise.all(all.map(async (id) => (await call(b.url, token, "GET", `/api/runs/${id}`)).body));
      expect(during.some((r) => r.total_steps < STEPS)).toBe(true);
      await Bun.sleep(OUTAGE_S * 1000);
      // the processes kept going: logging never waits for the server
      a = await startReplica(db, join(t.dir, "shared-root"), portA);

      const results = await Promise.all(
        procs.map(async (p) => {
          const [out, err] = await Promise.all([new Response(p.stdout as ReadableStream).text(), new Response(p.stderr as ReadableStream).text()]);
          return { code: await p.exited, out, err };
        }),
      );
      for (const r of results) expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: "" });
      expect(results[2].out).toContain("uploaded=true");

      const runs = await waitFor(
        async () => {
          const list = await call(b.url, token, "GET", "/api/runs?path=e2e");
          const mine = (list.body as { id: string; status: string }[]).filter((r) => all.includes(r.id));
          return mine.length === 3 && mine.every((r) => r.status === "finished") ? mine : undefined;
        },
        30_000,
        "three finished runs on B",
      );
      expect(runs!.map((r) => r.id).sort()).toEqual([...all].sort());
      for (const [n, id] of all.entries()) {
        const res = await call(b.url, token, "GET", `/api/runs/${id}/metrics_step`);
        const rows = res.body.rows as { global_step: number; loss: number; acc: number }[];
        expect({ id, total: res.body.total, rows: rows.length }).toEqual({ id, total: STEPS, rows: STEPS });
        expect(rows.map((r) => r.global_step)).toEqual(Array.from({ length: STEPS }, (_, i) => i));
        const wrong = rows.filter((r) => r.loss !== lossAt(n, r.global_step) || r.acc !== r.global_step / STEPS);
        expect(wrong).toEqual([]);
        const detail = await call(b.url, token, "GET", `/api/runs/${id}`);
        expect({ id, status: detail.body.status, total_steps: detail.body.total_steps }).toEqual({ id, status: "finished", total_steps: STEPS });
      }
      // each log line once too: the log stream of B opens with the stored lines
      for (const id of all) {
        const lines = await logLines(b.url, token, id);
        const mine = lines.map((l) => /\bat (\d+)$/.exec(l)?.[1]).filter((x): x is string => x !== undefined);
        expect({ id, lines: mine }).toEqual({ id, lines: Array.from({ length: STEPS / 100 }, (_, k) => String(k * 100 + 99)) });
      }
    },
    OUTAGE_S * 1000 + 180_000,
  );
});
