// Per-host upstream tokens: `serve --upstream-token LABEL=@FILE` and $RUNICORN_UPSTREAM_TOKEN_<LABEL>; a refused token shows the host offline "unauthorized".
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isolatedEnv, PROJECT, tempDir, waitFor } from "../helpers/server.ts";
import { applyUpstreamTokens, upstreamTokenEnvName } from "../../src/fleet/upstream-flag.ts";
import { startFleetServer, Viewer, writeRun } from "./helpers.ts";

const MAIN = join(PROJECT, "src", "cli", "main.ts");
const TOKEN_A = "tok-a-0123456789abcdefghij";
const TOKEN_B = "tok-b-0123456789abcdefghij";
let tmp: ReturnType<typeof tempDir>;
let viewers: Viewer[] = [];

beforeAll(async () => {
  tmp = tempDir("rn-fleet-tok-");
  const roots = ["a", "b", "c"].map((n, i) => {
    const root = join(tmp.dir, n);
    writeRun(root, "p", `2025010${i + 1}_000001_bbbbb${i}`);
    return root;
  });
  viewers = await Promise.all([
    new Viewer(roots[0], join(tmp.dir, "env0"), TOKEN_A).start(),
    new Viewer(roots[1], join(tmp.dir, "env1"), TOKEN_B).start(),
    new Viewer(roots[2], join(tmp.dir, "env2"), TOKEN_B).start(),
  ]);
});

afterAll(async () => {
  await Promise.all(viewers.map((v) => v.stop()));
  tmp?.cleanup();
});

async function listening(proc: { stdout: ReadableStream<Uint8Array> }): Promise<string> {
  const reader = proc.stdout.getReader();
  let out = "";
  while (!/listening on (http:\/\/\S+)/.test(out)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`serve exited: ${out}`);
    out += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return /listening on (http:\/\/\S+)/.exec(out)![1];
}

describe("per-host upstream tokens", () => {
  it("sends each host its own token, shows a refused one as unauthorized without retrying in a loop, and keeps tokens off argv", async () => {
    const fileA = join(tmp.dir, "a.token");
    writeFileSync(fileA, TOKEN_A + "\n");
    chmodSync(fileA, 0o600);
    const env = isolatedEnv(join(tmp.dir, "cli"), {
      [upstreamTokenEnvName("gpu-b")]: TOKEN_B,
      // host c gets host a's token: it must be refused there
      [upstreamTokenEnvName("gpu-c")]: TOKEN_A,
    });
    const args = [process.execPath, MAIN, "serve", "--root", join(tmp.dir, "local"), "--port", "0"];
    args.push("--upstream", `gpu-a=${viewers[0].url}`, "--upstream-token", `gpu-a=@${fileA}`);
    args.push("--upstream", `gpu-b=${viewers[1].url}`, "--upstream", `gpu-c=${viewers[2].url}`);
    const proc = Bun.spawn(args, { env, stdout: "pipe", stderr: "pipe" });
    try {
      const url = await listening(proc);
      const cmdline = readFileSync(`/proc/${proc.pid}/cmdline`, "utf8");
      expect(cmdline).toContain("--upstream-token");
      expect(cmdline).not.toContain(TOKEN_A);
      expect(cmdline).not.toContain(TOKEN_B);
      const fleet = await waitFor(async () => {
        const f = (await fetch(`${url}/api/fleet`).then((r) => r.json())) as { hosts: { host: string; state: string; reason: string | null; attempts: number }[] };
        const [a, b, c] = f.hosts;
        return a.state === "online" && b.state === "online" && c.state === "offline" ? f : undefined;
      }, 15000, "a and b online, c offline");
      expect(fleet!.hosts[2].reason).toBe("unauthorized");
      const runs = (await fetch(`${url}/api/runs`).then((r) => r.json())) as { host: string }[];
      expect(runs.map((r) => r.host).sort()).toEqual(["gpu-a", "gpu-b"]);
      // a wrong token does not fix itself: no retry within the next seconds (backoff alone would try 3 times)
      await Bun.sleep(3000);
      const later = (await fetch(`${url}/api/fleet`).then((r) => r.json())) as { hosts: { state: string; reason: string | null; attempts: number }[] };
      expect(later.hosts[2].state).toBe("offline");
      expect(later.hosts[2].reason).toBe("unauthorized");
      expect(later.hosts[2].attempts).toBe(fleet!.hosts[2].attempts);
    } finally {
      proc.kill();
      await proc.exited;
    }
  }, 60000);

  it("refuses a token given on the command line, a world-readable token file and a label with no upstream", async () => {
    const loose = join(tmp.dir, "loose.token");
    writeFileSync(loose, TOKEN_A);
    chmodSync(loose, 0o644);
    const specs = [{ label: "gpu-a", baseUrl: viewers[0].url }];
    const env = {};
    expect(() => applyUpstreamTokens(specs, [`gpu-a=${TOKEN_A}`], env, tmp.dir, tmp.dir)).toThrow("LABEL=@FILE");
    expect(() => applyUpstreamTokens(specs, [`gpu-a=${TOKEN_A}`], env, tmp.dir, tmp.dir)).not.toThrow(TOKEN_A);
    expect(() => applyUpstreamTokens(specs, [`gpu-a=@${loose}`], env, tmp.dir, tmp.dir)).toThrow("chmod 600");
    expect(() => applyUpstreamTokens(specs, [`gpu-x=@${loose}`], env, tmp.dir, tmp.dir)).toThrow("no --upstream");
    expect(applyUpstreamTokens(specs, [], { RUNICORN_UPSTREAM_TOKEN_GPU_A: " t0k \n" }, tmp.dir, tmp.dir)[0].token).toBe("t0k");
    const proc = Bun.spawn([process.execPath, MAIN, "serve", "--root", join(tmp.dir, "l2"), "--port", "0", "--upstream", `gpu-a=${viewers[0].url}`, "--upstream-token", `gpu-a=${TOKEN_A}`], {
      env: isolatedEnv(join(tmp.dir, "cli2")),
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(await proc.exited).toBe(2);
    const err = await new Response(proc.stderr).text();
    expect(err).toContain("LABEL=@FILE");
    expect(err).not.toContain(TOKEN_A);
  }, 30000);

  it("shows a host whose token changed while online as unauthorized, and never passes its 401 on to the browser", async () => {
    const root = join(tmp.dir, "d");
    const runId = "20250109_000001_ddddd0";
    writeRun(root, "p", runId);
    const first = await new Viewer(root, join(tmp.dir, "env-d"), TOKEN_A).start();
    const fleet = await startFleetServer([{ label: "gpu-d", baseUrl: first.url, token: TOKEN_A }]);
    let second: Viewer | undefined;
    try {
      await waitFor(() => fleet.fleet.hosts[0].online, 15000, "gpu-d online");
      expect((await fleet.api(`/api/runs/${runId}`)).status).toBe(200);
      await first.stop();
      // the same viewer comes back with another token
      second = new Viewer(root, join(tmp.dir, "env-d"), TOKEN_B);
      second.port = first.port;
      await second.start();
      await waitFor(async () => {
        const f = (await fleet.api("/api/fleet")).body as { hosts: { state: string; reason: string | null }[] };
        return f.hosts[0].reason === "unauthorized" && f.hosts[0].state !== "online";
      }, 15000, "gpu-d unauthorized");
      const detail = await fleet.api(`/api/runs/${runId}`);
      expect(detail.status).toBe(503);
      expect(detail.body.detail).toContain("unauthorized");
      const list = await fleet.api(`/api/runs?filter=${encodeURIComponent('status == "finished"')}`);
      expect(list.status).toBe(200);
      expect(list.body).toEqual([]);
    } finally {
      await fleet.server.stop();
      await second?.stop();
      await first.stop();
    }
  }, 60000);
});
