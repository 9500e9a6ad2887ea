// Fleet test helpers: upstream viewers on fixed roots (restartable on the same port) and a fleet-mode server over them.
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/config.ts";
import { type RunningServer, startServer } from "../../src/cli/serve.ts";
import { Fleet } from "../../src/fleet/fleet.ts";
import type { UpstreamSpec } from "../../src/fleet/upstream.ts";
import { createLogger } from "../../src/util/log.ts";
import { isolatedEnv, startTestServer } from "../helpers/server.ts";

/** A viewer on `root` that can be stopped and started again on the same port (a host whose viewer dies). */
export class Viewer {
  server?: RunningServer;
  port = 0;
  constructor(
    readonly root: string,
    readonly dir: string,
    readonly token?: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const config = loadConfig({ root: this.root, host: "127.0.0.1", port: this.port, logLevel: "error", sweepSeconds: 60, token: this.token }, isolatedEnv(this.dir));
    this.server = await startServer(config);
    this.port = this.server.port;
    return this;
  }

  async stop(): Promise<void> {
    await this.server?.stop();
    this.server = undefined;
  }
}

/** A fleet-mode server over `specs` (the shared test server on an empty root); `server.stop()` also removes its temp dir. */
export async function startFleetServer(specs: UpstreamSpec[]) {
  const fleet = new Fleet(specs, createLogger("error"));
  const ts = await startTestServer({ start: { fleet } });
  const server = { ...ts, stop: ts.close };
  return { server, fleet, api: ts.api, url: ts.url };
}

/** Writes a finished run in the SDK 0.6 layout, with `steps` metric rows and a log line. */
export function writeRun(root: string, path: string, id: string, opts: { created?: number; status?: string; steps?: number } = {}): string {
  const dir = join(root, "runs", path, id);
  mkdirSync(join(dir, "media"), { recursive: true });
  const created = opts.created ?? 1735689600;
  writeFileSync(join(dir, "meta.json"), JSON.stringify({ id, path, alias: null, created_at: created, python: "3.11.2", platform: "Linux", hostname: "gen", pid: 1 }));
  const status = opts.status ?? "finished";
  writeFileSync(join(dir, "status.json"), JSON.stringify(status === "running" ? { status, started_at: created, heartbeat_at: Date.now() / 1000 } : { status, started_at: created, ended_at: created + 60 }));
  writeFileSync(join(dir, "summary.json"), JSON.stringify({ best_metric_value: 0.5, best_metric_name: "acc" }));
  writeFileSync(join(dir, "events.jsonl"), "");
  for (let s = 1; s <= (opts.steps ?? 3); s++) appendMetric(dir, s, 1 / s);
  writeFileSync(join(dir, "logs.txt"), `hello from ${id}\n`);
  return dir;
}

/** Appends one metrics row as the SDK writes it. */
export function appendMetric(runDir: string, step: number, loss: number): void {
  appendFileSync(join(runDir, "events.jsonl"), `{"ts": ${1735689600 + step}, "type": "metrics", "data": {"loss": ${loss}, "global_step": ${step}, "time": ${1735689600 + step}}}\n`);
}
