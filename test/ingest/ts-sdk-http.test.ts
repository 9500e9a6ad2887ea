// The TypeScript SDK over HTTP: RUNICORN_SERVER sends the run to the server; with the server away, `runicorn sync` does later.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { isolatedEnv, PROJECT, tempDir, waitFor } from "../helpers/server.ts";
import { SERVE_CMD, type ServerProc, spawnServe } from "../reliability/helpers.ts";

const t = tempDir("rn-ingest-ts-");
const servers: ServerProc[] = [];
afterAll(async () => {
  for (const s of servers) await s.kill9().catch(() => {});
  t.cleanup();
});

const SCRIPT = (runId: string) => `
import { init } from ${JSON.stringify(join(PROJECT, "src/sdk/runicorn.ts"))};
const run = init({ path: "ts/http", runId: ${JSON.stringify(runId)}, handleSignals: false });
for (let i = 0; i < 30; i++) run.log({ loss: 1 / (i + 1) }, { step: i });
run.logText("from ts");
run.summary({ best: 1 });
run.finish();
console.log("uploaded=" + (await (run as any).uploaded));
`;

async function runTs(code: string, env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  const file = join(t.dir, `script-${Math.random().toString(36).slice(2)}.ts`);
  await Bun.write(file, code);
  const p = Bun.spawn([process.execPath, file], { env, stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code: await p.exited, out, err };
}

describe("TypeScript SDK over HTTP", () => {
  test("a run logged with RUNICORN_SERVER is served by that server with all its rows, and nothing stays in the spool", async () => {
    const root = join(t.dir, "root1");
    const env = isolatedEnv(join(t.dir, "e1"));
    const s = await spawnServe(root, env);
    servers.push(s);
    const r = await runTs(SCRIPT("ts-http-run"), { ...env, RUNICORN_SERVER: s.url });
    expect(r.out).toContain("uploaded=true");
    expect(r.code).toBe(0);
    const rows = await waitFor(async () => {
      const a = await s.call("/api/runs/ts-http-run/metrics_step");
      return a.status === 200 && a.body.rows?.length === 30 ? a.body.rows : undefined;
    }, 15000, "rows served");
    expect(rows.map((x: any) => x.loss)).toEqual(Array.from({ length: 30 }, (_, i) => 1 / (i + 1)));
    expect((await s.call("/api/runs/ts-http-run")).body.status).toBe("finished");
    expect(existsSync(join(env.XDG_CACHE_HOME, "runicorn", "spool", "ts-http-run"))).toBe(false);
  }, 60000);

  test("with the server unreachable the run waits in the spool and `runicorn sync` uploads it", async () => {
    const root = join(t.dir, "root2");
    const env = isolatedEnv(join(t.dir, "e2"));
    const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = l.port;
    l.stop(true);
    const r = await runTs(SCRIPT("ts-sync-run"), { ...env, RUNICORN_SERVER: `http://127.0.0.1:${port}`, RUNICORN_FINISH_TIMEOUT: "1" });
    expect(r.out).toContain("uploaded=false");
    expect(r.err).toContain("runicorn sync");
    const spool = join(env.XDG_CACHE_HOME, "runicorn", "spool", "ts-sync-run");
    expect(readdirSync(spool).some((n) => /^\d+\.json$/.test(n))).toBe(true);
    const s = await spawnServe(root, env, ["--port", String(port)]);
    servers.push(s);
    const sync = Bun.spawn([...SERVE_CMD, "sync"], { env, stdout: "pipe", stderr: "pipe" });
    expect(await sync.exited).toBe(0);
    const rows = await waitFor(async () => {
      const a = await s.call("/api/runs/ts-sync-run/metrics_step");
      return a.status === 200 && a.body.rows?.length === 30 ? a.body.rows : undefined;
    }, 15000, "synced rows");
    expect(rows.length).toBe(30);
    expect(existsSync(spool)).toBe(false);
  }, 60000);
});
