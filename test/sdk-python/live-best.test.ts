// Cross test: while a Python run is still training, the server's run list already shows its primary metric's best value.
import { afterAll, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../helpers/server.ts";

const REPO = join(import.meta.dir, "..", "..");
const root = mkdtempSync(join(tmpdir(), "rn-live-best-"));
const data = join(root, "data");
const procs: { kill(sig?: number): void; exited: Promise<number> }[] = [];

afterAll(async () => {
  for (const p of procs) {
    p.kill(9);
    await p.exited;
  }
  rmSync(root, { recursive: true, force: true });
});

async function readUntil(stream: ReadableStream<Uint8Array>, re: RegExp): Promise<RegExpExecArray> {
  const reader = stream.getReader();
  let text = "";
  for (;;) {
    const m = re.exec(text);
    if (m) {
      reader.releaseLock();
      return m;
    }
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended before ${re}: ${text}`);
    text += new TextDecoder().decode(value);
  }
}

describe("a live Python run", () => {
  it("shows its best primary metric and step in the run list during training, not only after finish()", async () => {
    const trainer = Bun.spawn(
      [
        "python3",
        "-u",
        "-c",
        `import runicorn as rn, time
run = rn.init(path="live/best", storage=${JSON.stringify(data)})
run.set_primary_metric("val/loss", mode="min")
for step, v in enumerate([0.9, 0.3, 0.5, 0.4], start=1):
    run.log({"val": {"loss": v}}, step=step)
print("logged", run.id, flush=True)
time.sleep(60)`,
      ],
      {
        cwd: root,
        env: { ...process.env, PYTHONPATH: join(REPO, "sdk", "python"), XDG_CONFIG_HOME: join(root, "xdg"), RUNICORN_HEARTBEAT_INTERVAL: "0.3", RUNICORN_QUIET: "1" },
        stdout: "pipe",
        stderr: "inherit",
      },
    );
    procs.push(trainer);
    const id = (await readUntil(trainer.stdout as ReadableStream<Uint8Array>, /logged (\S+)\n/))[1];
    const server = Bun.spawn([process.execPath, join(REPO, "src", "cli", "main.ts"), "serve", "--root", data, "--port", "0"], {
      cwd: REPO,
      env: { ...process.env, XDG_CONFIG_HOME: join(root, "xdg"), XDG_CACHE_HOME: join(root, "cache") },
      stdout: "pipe",
      stderr: "inherit",
    });
    procs.push(server);
    const url = (await readUntil(server.stdout as ReadableStream<Uint8Array>, /listening on (http:\/\/\S+)/))[1];
    const row = await waitFor(
      async () => {
        const runs = (await (await fetch(`${url}/api/runs`)).json()) as any[];
        const r = runs.find((x) => x.id === id);
        return r && r.best_metric_value === 0.3 ? r : undefined;
      },
      15000,
      "best metric in the run list",
    );
    expect(row.status).toBe("running");
    expect(row.best_metric_name).toBe("val/loss");
    const detail = await (await fetch(`${url}/api/runs/${id}`)).json();
    expect(detail.summary).toMatchObject({ best_metric_value: 0.3, best_metric_step: 2, best_metric_mode: "min" });
  }, 60_000);
});
