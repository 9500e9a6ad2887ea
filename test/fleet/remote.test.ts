// `runicorn remote HOST HOST…` against a real sshd: two hosts (two ~/.ssh/config aliases, two roots) merged, an unknown host retried without blocking, Ctrl-C stops every viewer.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { cpSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { rootFor } from "../../src/cli/remote-fleet.ts";
import { copyBinary, eventually, FIXTURES } from "../remote/helpers.ts";
import { startSshd, type TestSshd } from "../remote/sshd.ts";

setDefaultTimeout(240_000);

let sshd: TestSshd;
let bin: { path: string; cleanup(): void };
const ENTRY = join(import.meta.dir, "remote-entry.ts");

beforeAll(async () => {
  sshd = await startSshd();
  bin = copyBinary();
  const alias = (name: string) => `Host ${name}\n  HostName 127.0.0.1\n  Port ${sshd.port}\n  User ${sshd.user}\n  IdentityFile ${sshd.userKey}\n`;
  writeFileSync(join(sshd.clientHome, ".ssh", "config"), alias("gpu-1") + alias("gpu-2") + `Host dead\n  HostName 127.0.0.1\n  Port 1\n  User ${sshd.user}\n`);
  writeFileSync(join(sshd.clientHome, ".ssh", "known_hosts"), `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
  for (const r of ["r1", "r2"]) {
    mkdirSync(join(sshd.remoteHome, r), { recursive: true });
    cpSync(join(FIXTURES, "rn-data2"), join(sshd.remoteHome, r), { recursive: true });
  }
});
afterAll(async () => {
  await sshd?.stop();
  bin?.cleanup();
});

describe("runicorn remote with several hosts", () => {
  it("picks each host's root: HOST=DIR wins over a shared DIR", () => {
    expect(rootFor("a", ["~/all", "b=~/b"], ["a", "b"])).toBe("~/all");
    expect(rootFor("b", ["~/all", "b=~/b"], ["a", "b"])).toBe("~/b");
    expect(rootFor("a", ["x=y/z"], ["a", "b"])).toBe("x=y/z");
    expect(rootFor("a", [], ["a"])).toBeUndefined();
  });

  it("merges two hosts' viewers, keeps retrying a host that cannot connect, and stops every viewer on Ctrl-C leaving nothing in the hosts' TMPDIR", async () => {
    const p = Bun.spawn([process.execPath, ENTRY, "gpu-1", "gpu-2", "dead", "--root", "gpu-1=~/r1", "--root", "gpu-2=~/r2", "--no-browser"], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: sshd.clientHome, USER: sshd.user, XDG_CONFIG_HOME: join(sshd.clientHome, ".config"), RN_TEST_SELF: bin.path },
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    const errText: string[] = [];
    void (async () => {
      const r = p.stderr.getReader();
      for (;;) {
        const { value, done } = await r.read();
        if (done) return;
        errText.push(new TextDecoder().decode(value));
      }
    })();
    const reader = p.stdout.getReader();
    let out = "";
    while (!/is at (http:\/\/\S+)/.test(out)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`exited: ${out} ${errText.join("")}`);
      out += new TextDecoder().decode(value);
    }
    const url = /is at (http:\/\/\S+)/.exec(out)![1];
    const fleet = async () => (await fetch(`${url}/api/fleet`).then((r) => r.json())) as { hosts: { host: string; state: string }[] };
    expect(await eventually(async () => (await fleet()).hosts.filter((h) => h.state === "online").length === 2, 180_000)).toBe(true);
    const runs = (await fetch(`${url}/api/runs`).then((r) => r.json())) as { id: string; host: string; run_dir: string }[];
    expect(new Set(runs.map((r) => r.host))).toEqual(new Set(["gpu-1", "gpu-2"]));
    expect(runs.some((r) => r.host === "gpu-1" && r.run_dir.includes("/r1/"))).toBe(true);
    expect(runs.every((r) => r.id.includes("--"))).toBe(true); // the same data on both: every id is shared
    expect((await fleet()).hosts.find((h) => h.host === "dead")!.state).not.toBe("online");
    expect(await eventually(async () => /\[dead\].*reconnecting/.test(errText.join("")), 30_000)).toBe(true);
    const viewerDirs = () => readdirSync(sshd.remoteTmp).filter((n) => n.startsWith("runicorn-viewer."));
    expect(viewerDirs().length).toBe(2);
    p.kill("SIGINT");
    expect(await p.exited).toBe(0);
    // nothing at all in the hosts' TMPDIR: no guard dir, and none of the native addons a compiled Bun binary unpacks there
    expect(readdirSync(sshd.remoteTmp)).toEqual([]);
  });
});
