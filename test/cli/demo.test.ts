// `runicorn demo`: a sweep with configs and images, a failed run and a live run, served from a temp root that is removed on exit.
import { afterAll, describe, expect, it } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../../src/cli/args.ts";
import { demoCommand } from "../../src/cli/demo.ts";
import { isolatedEnv, tempDir } from "../helpers/server.ts";

const t = tempDir("rn-demo-");
afterAll(() => t.cleanup());

async function until<T>(fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("condition not met in time");
    await Bun.sleep(100);
  }
}

describe("runicorn demo", () => {
  it("serves a sweep, a failed run and a live run that finishes, then removes its temp root", async () => {
    const lines: string[] = [];
    const stop = new AbortController();
    const env = isolatedEnv(t.dir, { TMPDIR: t.dir });
    const running = demoCommand(["--port", "0", "--live-seconds", "2", "--no-browser"], env, { signal: stop.signal, out: (l) => lines.push(l) });
    const url = await until(async () => /listening on (\S+)/.exec(lines.join("\n"))?.[1]);
    const root = /demo: 6 runs in (\S+) \(removed on exit\)/.exec(lines.join("\n"))![1]!;
    type Item = { id: string; status: string; path: string };
    const runs = (await (await fetch(`${url}/api/runs`)).json()) as Item[];
    expect(runs.length).toBe(6);
    expect(runs.filter((r) => r.path === "demo/cifar10-resnet18-sweep").length).toBe(4);
    expect(runs.filter((r) => r.status === "failed").length).toBe(1);
    const live = runs.find((r) => r.path === "demo/live-training")!;
    expect(live.status).toBe("running");
    // the sweep's configs, images and logs are the Python SDK's files
    const sweepDir = join(root, "runs", "demo", "cifar10-resnet18-sweep");
    const first = readdirSync(sweepDir)[0]!;
    const assets = JSON.parse(readFileSync(join(sweepDir, first, "assets.json"), "utf8"));
    expect(assets.config.args.optimizer).toBe("sgd");
    const media = readdirSync(join(sweepDir, first, "media"));
    expect(media.length).toBeGreaterThan(0);
    expect(readFileSync(join(sweepDir, first, "media", media[0]!)).subarray(1, 4).toString()).toBe("PNG");
    expect(readFileSync(join(sweepDir, first, "events.jsonl"), "utf8")).toContain('"type": "image"');
    expect(readFileSync(join(sweepDir, first, "logs.txt"), "utf8")).toContain("epoch 12/12");
    // the live run keeps logging, then finishes
    const points = async () => ((await (await fetch(`${url}/api/runs/${live.id}/metrics_step`)).json()) as { rows?: unknown[] }).rows?.length ?? 0;
    const before = await points();
    await until(async () => ((await points()) > before ? true : undefined));
    await until(async () => {
      const r = (await (await fetch(`${url}/api/runs/${live.id}`)).json()) as { status: string };
      return r.status === "finished" ? true : undefined;
    });
    stop.abort();
    expect(await running).toBe(0);
    expect(existsSync(root)).toBe(false);
  });

  it("refuses a --root that already holds files, and a bad --live-seconds", async () => {
    const full = join(t.dir, "full");
    mkdirSync(full);
    writeFileSync(join(full, "keep.txt"), "mine");
    await expect(demoCommand(["--root", full], {})).rejects.toThrow(UsageError);
    expect(readFileSync(join(full, "keep.txt"), "utf8")).toBe("mine");
    await expect(demoCommand(["--live-seconds", "soon"], {})).rejects.toThrow("--live-seconds must be a whole number");
  });
});
