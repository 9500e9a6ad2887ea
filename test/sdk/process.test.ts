// Tests the SDK across real processes: flush at exit, on SIGTERM, kill -9 loss bound, concurrent writers, I/O errors, Node.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { parseTolerant, type JsonObject } from "../../src/store/json.ts";
import { eventLines, metrics, readRunJson, tempRoot } from "./helpers.ts";

const CHILD = join(import.meta.dir, "child-writer.ts");
const root = tempRoot("proc");
afterAll(() => rmSync(root, { recursive: true, force: true }));

type Child = Subprocess<"ignore", "pipe", "pipe">;

/** Starts the child writer under `cmd` (bun by default) and returns it with its run dir. */
async function spawnChild(mode: string, opts: { runId?: string; storage?: string; cmd?: string[] } = {}) {
  const cmd = opts.cmd ?? [process.execPath, CHILD];
  const args = [mode, opts.storage ?? root, ...(opts.runId ? [opts.runId] : [])];
  const child: Child = Bun.spawn([...cmd, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const reader = child.stdout.getReader();
  let out = "";
  const readLine = async (): Promise<string> => {
    while (!out.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      out += new TextDecoder().decode(value);
    }
    const i = out.indexOf("\n");
    const line = i < 0 ? out : out.slice(0, i);
    out = i < 0 ? "" : out.slice(i + 1);
    return line;
  };
  const runDir = await readLine();
  return { child, runDir, readLine, stderr: () => new Response(child.stderr).text() };
}

/** Lines of events.jsonl that end with a newline; a torn tail (possible after kill -9) is ignored. */
function completeEvents(runDir: string): JsonObject[] {
  const text = readFileSync(join(runDir, "events.jsonl"), "utf8");
  const end = text.lastIndexOf("\n");
  if (end < 0) return [];
  return text
    .slice(0, end)
    .split("\n")
    .map((l) => parseTolerant(l, "infinity") as JsonObject);
}

describe("flush at process end", () => {
  it("writes every buffered line when the script ends without finish(), leaving the run 'running'", async () => {
    const { child, runDir } = await spawnChild("natural");
    expect(await child.exited).toBe(0);
    expect(eventLines(runDir)).toHaveLength(5000);
    expect(readFileSync(join(runDir, "logs.txt"), "utf8")).toMatch(/ \| last words\n$/);
    expect(readRunJson(runDir, "status.json").status).toBe("running"); // 0.6 has no implicit finish
  });

  it("writes every buffered line on process.exit() and keeps the exit code", async () => {
    const { child, runDir } = await spawnChild("exit");
    expect(await child.exited).toBe(3);
    expect(metrics(runDir).map((d) => d.i)).toEqual(Array.from({ length: 5000 }, (_, i) => i));
  });

  it("writes every buffered line when the script dies of an uncaught exception", async () => {
    const { child, runDir, stderr } = await spawnChild("throw");
    expect(await child.exited).not.toBe(0);
    expect(await stderr()).toContain("crash in training");
    expect(eventLines(runDir)).toHaveLength(5000);
  });

  it("writes every buffered line on SIGTERM and still dies by SIGTERM", async () => {
    const { child, runDir, readLine } = await spawnChild("sigterm");
    expect(await readLine()).toBe("ready");
    expect(eventLines(runDir)).toHaveLength(0); // all still buffered before the signal
    child.kill("SIGTERM");
    await child.exited;
    expect(child.signalCode).toBe("SIGTERM");
    expect(eventLines(runDir)).toHaveLength(5000);
  });

  it("flushes on SIGTERM but leaves the exit to a program that handles SIGTERM itself", async () => {
    const { child, runDir, readLine } = await spawnChild("sigterm-own");
    expect(await readLine()).toBe("ready");
    child.kill("SIGTERM");
    expect(await child.exited).toBe(0);
    const data = metrics(runDir);
    expect(data).toHaveLength(5001);
    expect(data[5000].tag).toBe("handler");
    expect(readRunJson(runDir, "status.json").status).toBe("interrupted");
  });
});

describe("kill -9", () => {
  for (const mode of ["steady-async", "steady-sync"]) {
    it(`loses at most the last second of a script that logs continuously (${mode})`, async () => {
      const { child, runDir, readLine } = await spawnChild(mode);
      expect(await readLine()).toBe("ready");
      await Bun.sleep(2500);
      const killedAt = Date.now() / 1000;
      child.kill("SIGKILL");
      await child.exited;
      const evs = completeEvents(runDir);
      expect(evs.length).toBeGreaterThan(1000);
      const lastTs = evs[evs.length - 1].ts as number;
      expect(killedAt - lastTs).toBeLessThan(1.0);
      // no gaps: what reached the disk is a prefix of what was logged
      const gaps = evs.filter((e, i) => (e.data as JsonObject).i !== i);
      expect(gaps).toEqual([]);
    });
  }
});

describe("several processes in one run", () => {
  it("interleaves whole lines from concurrent writers, none torn or lost", async () => {
    const runId = "shared-run-1";
    const a = await spawnChild("writer", { runId: runId + "" });
    const b = await spawnChild("writer", { runId });
    expect([await a.child.exited, await b.child.exited]).toEqual([0, 0]);
    expect(a.runDir).toBe(b.runDir);
    const lines = eventLines(a.runDir);
    expect(lines).toHaveLength(40000);
    const data = lines.map((l) => (parseTolerant(l) as JsonObject).data as JsonObject);
    const steps = data.map((d) => d.global_step as number).sort((x, y) => x - y);
    expect(steps.filter((s, i) => s !== Math.floor(i / 2))).toEqual([]);
  });
});

describe("I/O trouble", () => {
  it("never throws into the training loop and warns once per kind when the storage root is unusable", async () => {
    const notADir = join(root, "plain-file");
    writeFileSync(notADir, "x");
    const { child, readLine, stderr } = await spawnChild("ioerror", { storage: notADir });
    expect(await readLine()).toBe("survived");
    expect(await child.exited).toBe(0);
    const warnings = (await stderr()).split("\n").filter((l) => l.startsWith("[runicorn]"));
    const kinds = warnings.map((l) => l.split(" ")[1]);
    expect(new Set(kinds).size).toBe(kinds.length); // each kind once, not per call or flush
    expect(kinds).toContain("cannot"); // the buffered-write warning
    expect(warnings.length).toBeGreaterThan(0);
  });
});

const NODE = Bun.which("node");

describe.skipIf(!NODE)("under Node.js", () => {
  let bundle = "";
  beforeAll(async () => {
    const out = await Bun.build({ entrypoints: [CHILD], target: "node", format: "esm", outdir: join(root, "node-bundle"), naming: "[name].mjs" });
    if (!out.success) throw new AggregateError(out.logs, "bundling the child for node failed");
    bundle = out.outputs[0].path;
  });

  it("writes the same event lines and records the node version in meta.json", async () => {
    const { child, runDir } = await spawnChild("natural", { cmd: [NODE as string, bundle] });
    expect(await child.exited).toBe(0);
    const meta = readRunJson(runDir, "meta.json");
    expect(meta.python).toMatch(/^node \d+\.\d+\.\d+$/);
    const lines = eventLines(runDir);
    expect(lines).toHaveLength(5000);
    expect(lines[2].replace(/\d{9,}\.\d+/g, "T")).toBe(
      '{"ts": T, "type": "metrics", "data": {"loss": 0.3333333333333333, "i": 2, "tag": "main", "global_step": 3, "time": T}}',
    );
  });

  it("flushes on SIGTERM under Node too", async () => {
    const { child, runDir, readLine } = await spawnChild("sigterm", { cmd: [NODE as string, bundle] });
    expect(await readLine()).toBe("ready");
    child.kill("SIGTERM");
    await child.exited;
    expect(child.signalCode).toBe("SIGTERM");
    expect(eventLines(runDir)).toHaveLength(5000);
  });
});
