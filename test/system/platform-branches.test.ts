// The macOS and Windows branches, run here with injected platform facts: host monitor from node:os, browser opener,
// OpenSSH agent pipe, ~/.ssh, `~\` paths and drive-letter paths.
import { afterAll, describe, expect, it } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { HostSampler } from "../../src/system/host-sampler.ts";
import { findNvidiaSmi } from "../../src/system/nvidia-smi.ts";
import {
  browserCommand,
  expandUserPath,
  type PlatformFacts,
  segmentsBelow,
  sshAgentPath,
  userSshDir,
  WINDOWS_AGENT_PIPE,
} from "../../src/system/platform.ts";
import { createLogger } from "../../src/util/log.ts";
import { tempDir } from "../helpers/server.ts";

const t = tempDir("rn-platform-");
afterAll(() => t.cleanup());

const mac: PlatformFacts = { platform: "darwin", env: {}, homeDir: "/Users/ada" };
const win: PlatformFacts = { platform: "win32", env: {}, homeDir: "C:\\Users\\Ada" };
const linuxDesktop: PlatformFacts = { platform: "linux", env: { DISPLAY: ":0" }, homeDir: "/home/ada" };
const linuxHeadless: PlatformFacts = { platform: "linux", env: {}, homeDir: "/home/ada" };

function sampler(platform: string, procRoot: string) {
  return new HostSampler({ log: createLogger("error"), diskPath: () => t.dir, procRoot, sysRoot: join(t.dir, "no-sys"), platform });
}

describe("host monitor without /proc", () => {
  const noProc = join(t.dir, "no-proc");
  mkdirSync(noProc, { recursive: true });

  it("on macOS reports CPU, memory and load from node:os and says source os, without swap and disk I/O", () => {
    const m = sampler("darwin", noProc).monitor();
    if (!m.available) throw new Error(m.reason);
    expect(m.source).toBe("os");
    expect(m.unavailable).toEqual(["swap", "disk_io"]);
    expect(m.cpu!.logical_count).toBe(os.cpus().length);
    expect(m.cpu!.load_avg).toHaveLength(3);
    expect(m.memory).toMatchObject({ total: os.totalmem(), swap_total: 0 });
    expect(m.disk).toMatchObject({ path: t.dir, io: null });
    expect(m.platform.system).toBe("Darwin");
  });

  it("on Windows has no load average and says so", () => {
    const m = sampler("win32", noProc).monitor();
    if (!m.available) throw new Error(m.reason);
    expect(m.source).toBe("os");
    expect(m.cpu!.load_avg).toBeNull();
    expect(m.unavailable).toEqual(["swap", "disk_io", "load_avg"]);
    expect(m.platform.system).toBe("Windows");
  });

  it("on Linux reads /proc and reports nothing missing", () => {
    const m = sampler("linux", "/proc").monitor();
    if (!m.available) throw new Error(m.reason);
    expect(m.source).toBe("proc");
    expect(m.unavailable).toEqual([]);
  });
});

describe("platform branches of the laptop side", () => {
  it("opens the browser with open, start or xdg-open, and not at all on a headless Linux", () => {
    expect(browserCommand(mac, "http://localhost:1/")).toEqual(["open", "http://localhost:1/"]);
    expect(browserCommand(win, "http://localhost:1/?a=1&b=2")).toEqual(["cmd", "/c", "start", "", "http://localhost:1/?a=1^&b=2"]);
    expect(browserCommand(linuxDesktop, "http://x/")).toEqual(["xdg-open", "http://x/"]);
    expect(browserCommand(linuxHeadless, "http://x/")).toBeUndefined();
  });

  it("uses SSH_AUTH_SOCK, else the Windows OpenSSH agent pipe", () => {
    expect(sshAgentPath(win)).toBe(WINDOWS_AGENT_PIPE);
    expect(WINDOWS_AGENT_PIPE).toBe("\\\\.\\pipe\\openssh-ssh-agent");
    expect(sshAgentPath({ ...win, env: { SSH_AUTH_SOCK: "C:\\agent.sock" } })).toBe("C:\\agent.sock");
    expect(sshAgentPath(mac)).toBeUndefined();
    expect(sshAgentPath({ ...mac, env: { SSH_AUTH_SOCK: "/tmp/a.sock" } })).toBe("/tmp/a.sock");
  });

  it("finds ~/.ssh under the profile folder and expands ~\\ on Windows only", () => {
    expect(userSshDir(win)).toBe("C:\\Users\\Ada\\.ssh");
    expect(userSshDir(mac)).toBe("/Users/ada/.ssh");
    expect(expandUserPath(win, "~\\.ssh\\id_ed25519")).toBe("C:\\Users\\Ada\\.ssh\\id_ed25519");
    expect(expandUserPath(win, "~/.ssh/id_ed25519")).toBe("C:\\Users\\Ada\\.ssh\\id_ed25519");
    expect(expandUserPath(mac, "~\\x")).toBe("~\\x");
    expect(expandUserPath(mac, "~")).toBe("/Users/ada");
  });

  it("splits run paths below the root with drive letters and either slash on Windows", () => {
    expect(segmentsBelow(win, "D:\\runs\\runs", "D:\\runs\\runs\\cv\\yolo\\20250101_000000_abc123")).toEqual(["cv", "yolo", "20250101_000000_abc123"]);
    expect(segmentsBelow(win, "D:\\runs\\runs", "d:/runs/runs/cv/r1")).toEqual(["cv", "r1"]);
    expect(segmentsBelow(win, "D:\\runs\\runs", "E:\\runs\\runs\\cv")).toBeUndefined();
    expect(segmentsBelow(win, "D:\\runs\\runs", "D:\\runs\\other")).toBeUndefined();
    expect(segmentsBelow(mac, "/r/runs", "/r/runs/a/b")).toEqual(["a", "b"]);
    expect(segmentsBelow(mac, "/r/runs", "/r/runs")).toEqual([]);
    expect(segmentsBelow(mac, "/r/runs", "/r/runs-old/a")).toBeUndefined();
  });
});

describe("nvidia-smi lookup on Windows", () => {
  it("splits PATH on ';' and finds nvidia-smi.exe without an executable bit", () => {
    const a = join(t.dir, "win-a");
    const b = join(t.dir, "win-b");
    mkdirSync(a);
    mkdirSync(b);
    writeFileSync(join(b, "nvidia-smi.exe"), "", { mode: 0o644 });
    expect(findNvidiaSmi(`${a};${b}`, "win32")).toBe(join(b, "nvidia-smi.exe"));
    expect(findNvidiaSmi(`${a}:${b}`, "linux")).toBeUndefined();
  });
});
