// `runicorn remote` as a real child process: ~/.ssh/config alias, deploy, URL, runs through the tunnel, Ctrl-C cleanup, refusals.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { cpSync, existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { copyBinary, eventually, FIXTURES } from "./helpers.ts";
import { startSshd, type TestSshd } from "./sshd.ts";

// Uploads of a ~100 MB binary and sshd round trips take seconds on a shared 2-core machine.
setDefaultTimeout(120_000);

let sshd: TestSshd;
let bin: { path: string; cleanup(): void };
const ENTRY = join(import.meta.dir, "cli-entry.ts");

function spawnCli(args: string[]) {
  return Bun.spawn([process.execPath, ENTRY, ...args], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: sshd.clientHome,
      USER: sshd.user,
      XDG_CONFIG_HOME: join(sshd.clientHome, ".config"),
      RN_TEST_SELF: bin.path,
    },
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
}

/** Reads stdout until a line matches. */
async function readUntil(stream: ReadableStream<Uint8Array>, re: RegExp): Promise<RegExpExecArray> {
  const reader = stream.getReader();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stdout ended without ${re}: ${text}`);
    text += new TextDecoder().decode(value);
    const m = re.exec(text);
    if (m) {
      reader.releaseLock();
      return m;
    }
  }
}

beforeAll(async () => {
  sshd = await startSshd();
  bin = copyBinary();
  writeFileSync(
    join(sshd.clientHome, ".ssh", "config"),
    `Host gpu-box\n  HostName 127.0.0.1\n  Port ${sshd.port}\n  User ${sshd.user}\n  IdentityFile ${sshd.userKey}\n`,
  );
  const root = join(sshd.remoteHome, "a b", "'; touch /tmp/rn-pwned-cli; '");
  mkdirSync(root, { recursive: true });
  cpSync(join(FIXTURES, "rn-data2"), root, { recursive: true });
});
afterAll(async () => {
  await sshd.stop();
  bin.cleanup();
});

describe("runicorn remote", () => {
  it("refuses an unknown host key when there is no terminal to confirm it", async () => {
    writeFileSync(join(sshd.clientHome, ".ssh", "known_hosts"), "");
    const p = spawnCli(["gpu-box"]);
    expect(await p.exited).toBe(1);
    const err = await new Response(p.stderr).text();
    expect(err).toContain(`Host key for [127.0.0.1]:${sshd.port} is not known`);
    expect(err).toContain("SHA256:");
  });

  it("deploys, prints the URL, serves the remote runs, and cleans up on Ctrl-C", async () => {
    writeFileSync(join(sshd.clientHome, ".ssh", "known_hosts"), `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
    const p = spawnCli(["gpu-box", "--root", "~/a b/'; touch /tmp/rn-pwned-cli; '", "--no-browser"]);
    const m = await readUntil(p.stdout, /is at (http:\/\/localhost:(\d+))/);
    const port = Number(m[2]);
    const runs = (await (await fetch(`http://127.0.0.1:${port}/api/runs`)).json()) as { run_dir: string }[];
    expect(runs.length).toBeGreaterThan(0);
    expect(runs[0]!.run_dir).toContain("'; touch /tmp/rn-pwned-cli; '");
    expect(existsSync("/tmp/rn-pwned-cli")).toBe(false);
    const viewerDirs = () => readdirSync(sshd.remoteTmp).filter((n) => n.startsWith("runicorn-viewer."));
    expect(viewerDirs().length).toBe(1);
    expect(existsSync(join(sshd.remoteHome, ".runicorn", "bin"))).toBe(true);

    p.kill("SIGINT");
    expect(await p.exited).toBe(0);
    expect(viewerDirs()).toEqual([]);
    expect(await eventually(async () => (await fetch(`http://127.0.0.1:${port}/api/health`).catch(() => null)) === null)).toBe(true);
  });

  it("refuses a changed host key with a clear warning", async () => {
    const old = sshd.hostPublicKey;
    await sshd.rotateHostKey();
    writeFileSync(join(sshd.clientHome, ".ssh", "known_hosts"), `[127.0.0.1]:${sshd.port} ${old}\n`);
    const p = spawnCli(["gpu-box"]);
    expect(await p.exited).toBe(1);
    const err = await new Response(p.stderr).text();
    expect(err).toContain("REMOTE HOST IDENTIFICATION HAS CHANGED");
    expect(err).toContain("Refusing to connect");
  });

  it("rejects bad arguments with a usage error", async () => {
    const none = spawnCli([]);
    expect(await none.exited).toBe(2);
    const badPort = spawnCli(["gpu-box", "--local-port", "99999"]);
    expect(await badPort.exited).toBe(2);
    expect(await new Response(badPort.stderr).text()).toContain("--local-port must be a port number");
  });
});
