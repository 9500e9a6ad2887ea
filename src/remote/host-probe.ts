// One round trip that learns what we need about the server: home, OS/arch, tools, deployed binaries, busy ports.
import type { SshConnection } from "./connection.ts";
import { shq } from "./shell-quote.ts";

/** What the probe found. */
export interface HostProbe {
  home: string;
  /** `linux` | `darwin` | lower-cased `uname -s` for anything else. */
  os: string;
  /** Bun's naming: `x64` | `arm64`, else the raw `uname -m`. */
  arch: string;
  tools: Set<string>;
  /** Deployed binaries of our version: file name → {size, sha256 from the sidecar file}. */
  binaries: Map<string, { size: number; sha256?: string }>;
  /** TCP ports in LISTEN state (Linux /proc/net/tcp*; empty elsewhere). */
  listening: Set<number>;
}

/** Where deployed binaries live, relative to the remote HOME. */
export const REMOTE_BIN_DIR = ".runicorn/bin";

/** The file name of our binary for a platform: `runicorn-<version>-<os>-<arch>`. */
export function binaryName(version: string, os: string, arch: string): string {
  return `runicorn-${version}-${os}-${arch}`;
}

/** The server is one runicorn remote cannot run on (Windows); the message says so in one line. */
export class UnsupportedServerError extends Error {}

const WINDOWS_SERVER = "the server runs Windows, which runicorn remote does not support as a server (use a Linux or macOS server)";

/** Maps `uname -s` / `uname -m` to Bun's platform names (`windows` for MSYS/Cygwin/MinGW shells). */
export function normalizePlatform(unameS: string, unameM: string): { os: string; arch: string } {
  const s = unameS.trim().toLowerCase();
  const m = unameM.trim().toLowerCase();
  const windows = /^(mingw|msys|cygwin|windows)/.test(s);
  const os = s === "linux" ? "linux" : s === "darwin" ? "darwin" : windows ? "windows" : s;
  const arch = m === "x86_64" || m === "amd64" ? "x64" : m === "aarch64" || m === "arm64" ? "arm64" : m;
  return { os, arch };
}

/** Runs the probe; `version` selects which deployed binaries are reported. */
export async function probeHost(conn: SshConnection, version: string): Promise<HostProbe> {
  const prefix = `runicorn-${version}-`;
  const script = [
    `printf 'home=%s\\n' "$HOME"`,
    `printf 'uname=%s %s\\n' "$(uname -s 2>/dev/null)" "$(uname -m 2>/dev/null)"`,
    `for t in gzip sha256sum shasum setsid mktemp; do command -v "$t" >/dev/null 2>&1 && printf 'has=%s\\n' "$t"; done`,
    `for f in "$HOME"/${REMOTE_BIN_DIR}/${shq(prefix)}*; do`,
    `  case "$f" in *.sha256|*.tmp*) continue;; esac`,
    `  [ -f "$f" ] || continue`,
    `  printf 'bin=%s %s %s\\n' "\${f##*/}" "$(wc -c <"$f" | tr -d ' ')" "$(cat "$f.sha256" 2>/dev/null | cut -c1-64)"`,
    `done`,
    `cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4=="0A"{split($2,a,":"); print "listen=" a[2]}'`,
  ].join("\n");
  const r = await conn.exec(script, { timeoutMs: 15_000 });
  const probe: HostProbe = {
    home: "",
    os: "",
    arch: "",
    tools: new Set(),
    binaries: new Map(),
    listening: new Set(),
  };
  for (const line of r.stdout.split("\n")) {
    const eq = line.indexOf("=");
    if (eq < 0) continue;
    const k = line.slice(0, eq);
    const v = line.slice(eq + 1);
    if (k === "home") probe.home = v;
    else if (k === "uname") {
      const [s = "", m = ""] = v.split(" ");
      Object.assign(probe, normalizePlatform(s, m));
    } else if (k === "has") probe.tools.add(v);
    else if (k === "bin") {
      const [name, size, sum] = v.split(" ");
      if (name) probe.binaries.set(name, { size: Number(size), sha256: sum || undefined });
    } else if (k === "listen") probe.listening.add(parseInt(v, 16));
  }
  if (looksLikeWindowsShell(r.stdout + r.stderr) || probe.os === "windows") throw new UnsupportedServerError(WINDOWS_SERVER);
  if (!probe.home) throw new Error(`could not read the remote environment: ${r.stderr.trim() || `exit ${r.code}`}`);
  return probe;
}

/** True when a POSIX script was answered by cmd.exe or PowerShell (Windows OpenSSH's default shells). */
export function looksLikeWindowsShell(output: string): boolean {
  return /is not recognized as an internal or external command|CommandNotFoundException|is not recognized as the name of a cmdlet/.test(output);
}

/** A random port in 20000–60999 that nothing listens on (per the probe). */
export function pickRemotePort(busy: Set<number>, avoid: Set<number> = new Set()): number {
  for (let i = 0; i < 200; i++) {
    const p = 20000 + Math.floor(Math.random() * 41000);
    if (!busy.has(p) && !avoid.has(p)) return p;
  }
  return 20000 + Math.floor(Math.random() * 41000);
}
