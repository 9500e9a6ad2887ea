// `runicorn serve --upstream LABEL=URL`: fleet mode from the command line, and its usage errors.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { isolatedEnv, PROJECT, tempDir, waitFor } from "../helpers/server.ts";
import { parseUpstreamFlag } from "../../src/fleet/upstream-flag.ts";
import { Viewer, writeRun } from "./helpers.ts";

const MAIN = join(PROJECT, "src", "cli", "main.ts");
let tmp: ReturnType<typeof tempDir>;
let viewers: Viewer[] = [];

beforeAll(async () => {
  tmp = tempDir("rn-fleet-cli-");
  const roots = ["a", "b"].map((n, i) => {
    const root = join(tmp.dir, n);
    writeRun(root, "p", `2025010${i + 1}_000001_aaaaa${i}`);
    return root;
  });
  viewers = await Promise.all(roots.map((r, i) => new Viewer(r, join(tmp.dir, `env${i}`)).start()));
});

afterAll(async () => {
  await Promise.all(viewers.map((v) => v.stop()));
  tmp?.cleanup();
});

function serve(args: string[]) {
  return Bun.spawn([process.execPath, MAIN, "serve", "--root", join(tmp.dir, "local"), "--port", "0", ...args], {
    env: isolatedEnv(join(tmp.dir, "cli")),
    stdout: "pipe",
    stderr: "pipe",
  });
}

describe("serve --upstream", () => {
  it("serves the merged runs of every upstream", async () => {
    const proc = serve(["--upstream", `gpu-a=${viewers[0].url}`, "--upstream", `gpu-b=${viewers[1].url}/`]);
    try {
      const reader = proc.stdout.getReader();
      let out = "";
      while (!/listening on (http:\/\/\S+)/.test(out)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`serve exited: ${out}`);
        out += new TextDecoder().decode(value);
      }
      const url = /listening on (http:\/\/\S+)/.exec(out)![1];
      const runs = await waitFor(async () => {
        const list = (await fetch(`${url}/api/runs`).then((r) => r.json())) as { host: string }[];
        return list.length === 2 ? list : undefined;
      }, 15000, "both hosts' runs");
      expect(runs!.map((r) => r.host).sort()).toEqual(["gpu-a", "gpu-b"]);
      expect(out).toContain("fleet mode over gpu-a");
    } finally {
      proc.kill();
      await proc.exited;
    }
  });

  it("refuses a malformed upstream with a usage error naming it", async () => {
    for (const bad of ["nolabel", "=http://x:1", "a=ftp://x:1", "a=http://x:1/api?x=1", "a=not a url"]) {
      const proc = serve(["--upstream", bad]);
      const code = await proc.exited;
      const err = await new Response(proc.stderr).text();
      expect(code, bad).toBe(2);
      expect(err).toContain("--upstream");
    }
    const twice = serve(["--upstream", `x=${viewers[0].url}`, "--upstream", `x=${viewers[1].url}`]);
    expect(await twice.exited).toBe(2);
  });

  it("keeps only the scheme, host and port of an upstream URL", () => {
    expect(parseUpstreamFlag("gpu=http://127.0.0.1:23301/")).toEqual({ label: "gpu", baseUrl: "http://127.0.0.1:23301" });
    expect(parseUpstreamFlag("user@h:22=https://[::1]:8443")).toEqual({ label: "user@h:22", baseUrl: "https://[::1]:8443" });
    expect("error" in parseUpstreamFlag("gpu=http://u:p@127.0.0.1:1")).toBe(true);
  });
});
