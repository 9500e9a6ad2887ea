// The release's linux-x64 binary deploys the linux-arm64 build (byte-identical, verified) to a server that reports aarch64,
// and that build serves the fixture root under qemu.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { createHash } from "node:crypto";
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { releaseHashOfFile, readSumsTableOfFile } from "../../src/release/checksums.ts";
import { RemoteManager } from "../../src/remote/manager.ts";
import { createLogger } from "../../src/util/log.ts";
import { VERSION } from "../../src/version.ts";
import { copyFixture, FIXTURES, tempDir } from "../helpers/server.ts";
import { startSshd, type TestSshd } from "../remote/sshd.ts";
import { linuxRelease } from "./release-build.ts";

// The first run compiles two ~110 MB binaries; qemu starts the arm64 one in several seconds.
setDefaultTimeout(600_000);

const QEMU = "/usr/bin/qemu-aarch64-static";
const SYSROOT = "/usr/aarch64-linux-gnu";
const X64 = `runicorn-${VERSION}-linux-x64`;
const ARM = `runicorn-${VERSION}-linux-arm64`;
const canRun = process.platform === "linux" && process.arch === "x64" && existsSync(QEMU) && existsSync(SYSROOT) && existsSync("/usr/sbin/sshd");

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

/** Reads a stream until `re` matches; the text so far when it ends first. */
async function readUntil(stream: ReadableStream<Uint8Array>, re: RegExp, deadlineMs: number): Promise<{ match?: RegExpExecArray; text: string }> {
  const reader = stream.getReader();
  let text = "";
  const timer = setTimeout(() => reader.cancel().catch(() => undefined), deadlineMs);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return { text };
      text += new TextDecoder().decode(value);
      const match = re.exec(text);
      if (match) return { match, text };
    }
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
}

describe.skipIf(!canRun)("a release across platforms", () => {
  let rel: string;
  let sshd: TestSshd;
  const t = tempDir("rn-xdeploy-");

  beforeAll(async () => {
    rel = linuxRelease();
    // The "aarch64 server": `uname -m` says aarch64, and `setsid` (which the viewer guard starts the
    // viewer with) runs the binary under qemu, as binfmt_misc would on a machine that has it.
    const wrap = join(t.dir, "aarch64-bin");
    mkdirSync(wrap);
    writeFileSync(join(wrap, "uname"), `#!/bin/sh\nif [ "$1" = "-m" ]; then echo aarch64; else exec /usr/bin/uname "$@"; fi\n`, { mode: 0o755 });
    writeFileSync(join(wrap, "setsid"), `#!/bin/sh\nexec /usr/bin/setsid ${QEMU} -L ${SYSROOT} "$@"\n`, { mode: 0o755 });
    sshd = await startSshd({ pathPrefix: wrap });
    writeFileSync(
      join(sshd.clientHome, ".ssh", "config"),
      `Host arm-box\n  HostName 127.0.0.1\n  Port ${sshd.port}\n  User ${sshd.user}\n  IdentityFile ${sshd.userKey}\n`,
    );
    writeFileSync(join(sshd.clientHome, ".ssh", "known_hosts"), `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
    cpSync(join(FIXTURES, "rn-data2"), join(sshd.remoteHome, "runs-root"), { recursive: true });
  }, 900_000); // a first run compiles both builds
  afterAll(async () => {
    await sshd?.stop();
    t.cleanup();
  });

  it("writes SHA256SUMS in sha256sum format, and each Linux build carries the other's release hash", () => {
    const check = Bun.spawnSync(["sha256sum", "-c", "SHA256SUMS"], { cwd: rel, stdout: "pipe" });
    expect(check.exitCode).toBe(0);
    expect(check.stdout.toString()).toContain(`${ARM}: OK`);
    expect(readSumsTableOfFile(join(rel, X64)).get("linux-arm64")).toBe(releaseHashOfFile(join(rel, ARM)));
    expect(readSumsTableOfFile(join(rel, ARM)).get("linux-x64")).toBe(releaseHashOfFile(join(rel, X64)));
  });

  it("writes the wheel of the release from inside the binary with `runicorn sdk --wheel DIR`", () => {
    const out = join(t.dir, "wheel-out");
    const p = Bun.spawnSync([join(rel, X64), "sdk", "--wheel", out], { stdout: "pipe", stderr: "pipe" });
    expect(p.exitCode).toBe(0);
    const wheel = `runicorn-${VERSION}-py3-none-any.whl`;
    expect(p.stdout.toString().trim()).toBe(join(out, wheel));
    expect(sha256(join(out, wheel))).toBe(sha256(join(rel, wheel)));
  });

  it("deploys the arm64 build byte-identical to the release file and serves the server's runs through the tunnel", async () => {
    const p = Bun.spawn([join(rel, X64), "remote", "arm-box", "--root", "~/runs-root", "--no-browser"], {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: sshd.clientHome,
        USER: sshd.user,
        XDG_CONFIG_HOME: join(sshd.clientHome, ".config"),
        XDG_CACHE_HOME: join(sshd.clientHome, ".cache"),
      },
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      const out = await readUntil(p.stdout, /is at (http:\/\/localhost:(\d+))/, 120_000);
      if (!out.match) throw new Error(`no URL: ${out.text}\n${await new Response(p.stderr).text()}`);
      const deployed = join(sshd.remoteHome, ".runicorn", "bin", ARM);
      expect(sha256(deployed)).toBe(sha256(join(rel, ARM)));
      const runs = (await (await fetch(`http://127.0.0.1:${out.match[2]}/api/runs`)).json()) as { id: string }[];
      expect(runs.length).toBeGreaterThan(0);
    } finally {
      p.kill("SIGINT");
      await p.exited;
    }
    const err = await new Response(p.stderr).text();
    expect(err).toContain(`deployed ${join(sshd.remoteHome, ".runicorn", "bin", ARM)}`);
  });

  it("deploys the same way for the UI's Remote page (the RemoteManager behind /api/remote/viewer/start)", async () => {
    rmSync(join(sshd.remoteHome, ".runicorn"), { recursive: true, force: true }); // a fresh upload, as on a new server
    const manager = new RemoteManager({
      configDir: join(t.dir, "ui-config"),
      homeDir: sshd.clientHome,
      log: createLogger("error"),
      version: VERSION,
      // this test process runs from source (no embedded table): give it the table the x64 release carries
      releases: { version: VERSION, execDir: rel, cacheDir: join(t.dir, "ui-cache"), releaseUrl: "", sums: readSumsTableOfFile(join(rel, X64)) },
    });
    try {
      const session = await manager.startViewer(
        { host: "127.0.0.1", port: sshd.port, username: sshd.user, private_key_path: sshd.userKey, use_agent: false },
        { remote_root: "~/runs-root" },
      );
      expect(sha256(join(sshd.remoteHome, ".runicorn", "bin", ARM))).toBe(sha256(join(rel, ARM)));
      const runs = (await (await fetch(`http://127.0.0.1:${session.localPort}/api/runs`)).json()) as unknown[];
      expect(runs.length).toBeGreaterThan(0);
    } finally {
      await manager.closeAll();
    }
  });

  /** The linux-x64 release binary alone in a folder (no sibling builds), run as `remote arm-box` with `env`. */
  function lonelyRemote(name: string, env: Record<string, string>) {
    const dir = join(t.dir, name);
    mkdirSync(dir);
    copyFileSync(join(rel, X64), join(dir, X64));
    return Bun.spawn([join(dir, X64), "remote", "arm-box", "--root", "~/runs-root", "--no-browser"], {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: sshd.clientHome,
        USER: sshd.user,
        XDG_CONFIG_HOME: join(sshd.clientHome, ".config"),
        XDG_CACHE_HOME: join(t.dir, `${name}-cache`),
        ...env,
      },
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
  }

  it("says in one line which file is missing and where to put it when no arm64 build is at hand", async () => {
    const p = lonelyRemote("lonely", {});
    expect(await p.exited).toBe(1);
    const err = (await new Response(p.stderr).text()).trim().split("\n").pop();
    expect(err).toBe(
      `runicorn: the server runs linux-arm64: put ${ARM} (from the runicorn ${VERSION} release) next to this executable ` +
        `(${join(t.dir, "lonely")}) or in ${join(t.dir, "lonely-cache", "runicorn", "releases", VERSION)}, or set RUNICORN_RELEASE_URL to the release's download URL`,
    );
  });

  it("downloads the arm64 build from RUNICORN_RELEASE_URL, verifies it and keeps it in the cache", async () => {
    const armPath = join(rel, ARM);
    const srv = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req) => (new URL(req.url).pathname === `/v${VERSION}/${ARM}` ? new Response(Bun.file(armPath)) : new Response("no", { status: 404 })),
    });
    const p = lonelyRemote("downloader", { RUNICORN_RELEASE_URL: `http://127.0.0.1:${srv.port}/v{version}` });
    try {
      const said = await readUntil(p.stderr, /(deployed|using) \S+/, 120_000);
      expect(said.text).toContain(`downloading http://127.0.0.1:${srv.port}/v${VERSION}/${ARM}`);
      const cached = join(t.dir, "downloader-cache", "runicorn", "releases", VERSION, ARM);
      expect(sha256(cached)).toBe(sha256(armPath));
    } finally {
      p.kill("SIGKILL");
      await p.exited;
      srv.stop(true);
    }
  });

  it("runs the arm64 build itself under qemu: it serves a fixture root and lists its runs", async () => {
    const root = copyFixture("rn-probe", join(t.dir, "probe-root"));
    const p = Bun.spawn([QEMU, "-L", SYSROOT, join(rel, ARM), "serve", "--root", root, "--port", "0"], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: join(t.dir, "home"), XDG_CONFIG_HOME: join(t.dir, "home", ".config") },
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      const out = await readUntil(p.stdout, /listening on (http:\/\/\S+)/, 120_000);
      if (!out.match) throw new Error(`did not start: ${out.text}`);
      // under emulation the first index build can outlast the list's wait: poll until it says ready
      let runs: unknown[] = [];
      for (let i = 0; i < 240; i++) {
        const res = await fetch(`${out.match[1]}/api/runs`);
        runs = (await res.json()) as unknown[];
        if (res.headers.get("x-index-state") === "ready") break;
        await Bun.sleep(250);
      }
      expect(runs.length).toBeGreaterThan(0);
      const health = (await (await fetch(`${out.match[1]}/api/health`)).json()) as { server_version?: string };
      expect(health.server_version).toBe(VERSION);
    } finally {
      p.kill();
      await p.exited;
    }
  });
});
