// `runicorn push`: local runs (fixture data written by the original SDK) uploaded through the ingest API, incrementally.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { copyFixture, isolatedEnv, PROJECT, startTestServer, tempDir, type TestServer, waitFor } from "../helpers/server.ts";
import { SERVE_CMD } from "../reliability/helpers.ts";
import { parseTolerant } from "../../src/store/json.ts";

const RID = "20261129_031703_34b3d6";
const t = tempDir("rn-push-");
const local = join(t.dir, "local");
const env = isolatedEnv(t.dir);
let s: TestServer;

beforeAll(async () => {
  copyFixture("rn-data", local);
  // a second run with a media file, under another path
  const other = join(local, "runs", "cv", "net", "20261130_101010_a1b2c3");
  mkdirSync(join(other, "media"), { recursive: true });
  writeFileSync(join(other, "meta.json"), JSON.stringify({ id: "20261130_101010_a1b2c3", path: "cv/net", alias: "pic" }));
  writeFileSync(join(other, "status.json"), JSON.stringify({ status: "finished", started_at: 1, ended_at: 2 }));
  writeFileSync(join(other, "media", "1_abc_sample.png"), Buffer.from("\x89PNG fake", "latin1"));
  writeFileSync(join(other, "events.jsonl"), '{"ts": 1.5, "type": "image", "data": {"key": "sample", "path": "media/1_abc_sample.png", "step": 0}}\n');
  s = await startTestServer();
});
afterAll(async () => {
  await s.close();
  t.cleanup();
});

async function push(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn([...SERVE_CMD, "push", "--server", s.url, "--root", local, ...args], { env, stdout: "pipe", stderr: "pipe", cwd: PROJECT });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code: await p.exited, out, err };
}

describe("runicorn push", () => {
  test("pushes a fixture run so the server answers for it as the local files do", async () => {
    const r = await push("--path", "demo");
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toContain(`demo/exp1/${RID}: 1 batch(es) sent`);
    const dir = join(s.root, "runs", "demo", "exp1", RID);
    const src = join(local, "runs", "demo", "exp1", RID);
    expect(readFileSync(join(dir, "logs.txt"), "utf8")).toBe(readFileSync(join(src, "logs.txt"), "utf8"));
    // NaN arrives as null (JSON has no NaN; the API serves both as null)
    const rows = (f: string) => readFileSync(f, "utf8").trim().split("\n").map((l) => parseTolerant(l));
    expect(rows(join(dir, "events.jsonl"))).toEqual(rows(join(src, "events.jsonl")));
    expect(JSON.parse(readFileSync(join(dir, "summary.json"), "utf8"))).toEqual(JSON.parse(readFileSync(join(src, "summary.json"), "utf8")));
    const run = await waitFor(async () => {
      const a = await s.api(`/api/runs/${RID}`);
      return a.status === 200 ? a.body : undefined;
    }, 10000, "pushed run served");
    expect(run.path).toBe("demo/exp1");
    // only the demo path was pushed
    expect((await s.api("/api/runs/20261130_101010_a1b2c3")).status).toBe(404);
  }, 60000);

  test("a second push sends nothing new; a line appended locally is all the next push sends", async () => {
    const again = await push();
    expect(again.code).toBe(0);
    expect(again.out).toContain(`demo/exp1/${RID}: up to date`);
    expect(again.out).toContain("cv/net/20261130_101010_a1b2c3: 1 batch(es) sent");
    expect(readFileSync(join(s.root, "runs", "cv", "net", "20261130_101010_a1b2c3", "media", "1_abc_sample.png"), "latin1")).toBe("\x89PNG fake");
    const third = await push();
    expect(third.out).toContain("0 batch(es) sent");
    appendFileSync(join(local, "runs", "demo", "exp1", RID, "events.jsonl"), '{"ts": 99.5, "type": "metrics", "data": {"global_step": 999, "loss": NaN}}\n');
    const fourth = await push(RID);
    expect(fourth.out).toContain(`demo/exp1/${RID}: 1 batch(es) sent`);
    const lines = readFileSync(join(s.root, "runs", "demo", "exp1", RID, "events.jsonl"), "utf8").trim().split("\n");
    expect(lines.at(-1)).toContain('"global_step": 999');
    expect(lines.filter((l) => l.includes('"global_step": 999')).length).toBe(1);
  }, 60000);

  test("push refuses a missing --server and names an unknown run id", async () => {
    const p = Bun.spawn([...SERVE_CMD, "push", "--root", local], { env, stdout: "pipe", stderr: "pipe" });
    expect(await new Response(p.stderr).text()).toContain("--server");
    expect(await p.exited).toBe(2);
    const r = await push("20990101_000000_000000");
    expect(r.code).toBe(1);
    expect(r.err).toContain("20990101_000000_000000: no such run");
  }, 60000);
});
