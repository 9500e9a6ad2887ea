// A host still building its first index when the fleet reads it: the merged list says it is partial until the host's runs are all there (bench/fleet.ts's 5,024 of 6,000).
import { afterAll, beforeAll, expect, it } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/config.ts";
import { type RunningServer, startServer } from "../../src/cli/serve.ts";
import { isolatedEnv, tempDir, waitFor } from "../helpers/server.ts";
import { startFleetServer } from "./helpers.ts";

const N = 2000;
let tmp: ReturnType<typeof tempDir>;
let host: RunningServer;
let fleet: Awaited<ReturnType<typeof startFleetServer>>;

beforeAll(async () => {
  tmp = tempDir("rn-fleet-index-");
  const root = join(tmp.dir, "root");
  for (let i = 0; i < N; i++) {
    const id = `20250101_${String(100000 + i).slice(-6)}_abcdef`;
    const dir = join(root, "runs", `p${i % 7}`, id);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "meta.json"), JSON.stringify({ id, path: `p${i % 7}`, created_at: 1735689600 + i }));
    writeFileSync(join(dir, "status.json"), JSON.stringify({ status: "finished", started_at: 1735689600 + i, ended_at: 1735689700 + i }));
  }
  // answer at once while the first index builds, as a large root on a loaded machine does after its wait
  host = await startServer(loadConfig({ root, host: "127.0.0.1", port: 0, logLevel: "error", firstAnswerWaitMs: 0 }, isolatedEnv(join(tmp.dir, "env"))));
  fleet = await startFleetServer([{ label: "big", baseUrl: host.url }]);
});

afterAll(async () => {
  await fleet?.server.stop();
  await host?.stop();
  tmp?.cleanup();
});

it("marks the merged list as building while a host's list is partial, and lists every run once the host is ready", async () => {
  const seen: { n: number; state: string | null; progress: string | null }[] = [];
  await waitFor(
    async () => {
      const r = await fetch(`${fleet.url}/api/runs`);
      const runs = (await r.json()) as unknown[];
      seen.push({ n: runs.length, state: r.headers.get("x-index-state"), progress: r.headers.get("x-index-progress") });
      return runs.length === N && r.headers.get("x-index-state") === "ready";
    },
    30000,
    "every run listed and the index ready",
  );
  // never a short list that claims to be complete
  for (const s of seen) if (s.n < N) expect(s.state).toBe("building");
  expect(seen.at(-1)!.progress).toBe(`${N}/${N}`);
  const hosts = (await fleet.api("/api/fleet")).body.hosts as { index_state: string; index_progress: string | null }[];
  expect(hosts[0].index_state).toBe("ready");
  expect(hosts[0].index_progress).toBeNull();
}, 60000);
