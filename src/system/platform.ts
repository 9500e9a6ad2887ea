// Facts about the machine we run on (OS, environment, home), passed in so the macOS/Windows branches are unit-testable on Linux.
import { homedir } from "node:os";
import { posix, win32 } from "node:path";

/** The platform facts the OS-specific branches read; tests build their own. */
export interface PlatformFacts {
  /** Node's `process.platform`: `linux`, `darwin`, `win32`, … */
  platform: string;
  env: Record<string, string | undefined>;
  homeDir: string;
}

/** The facts of this process. */
export function currentPlatform(env: Record<string, string | undefined>, homeDir: string = env.HOME || env.USERPROFILE || homedir()): PlatformFacts {
  return { platform: process.platform, env, homeDir };
}

/** node:path for the platform (backslashes and drive letters on Windows). */
export function pathFor(f: PlatformFacts): typeof posix {
  return f.platform === "win32" ? win32 : posix;
}

/**
 * The command that opens a URL in the desktop's browser: `open` on macOS, `start` through cmd on
 * Windows, `xdg-open` on Linux desktops; undefined on a headless Linux (no DISPLAY/WAYLAND_DISPLAY).
 */
export function browserCommand(f: PlatformFacts, url: string): string[] | undefined {
  if (f.platform === "darwin") return ["open", url];
  // `start`'s first quoted argument is the window title, hence the empty one
  if (f.platform === "win32") return ["cmd", "/c", "start", "", url.replaceAll("&", "^&")];
  return f.env.DISPLAY || f.env.WAYLAND_DISPLAY ? ["xdg-open", url] : undefined;
}

/** Opens the browser when the platform has an opener; false when it could not (the caller prints the URL anyway). */
export function openBrowser(f: PlatformFacts, url: string): boolean {
  const cmd = browserCommand(f, url);
  if (!cmd) return false;
  try {
    Bun.spawn(cmd, { stdout: "ignore", stderr: "ignore", stdin: "ignore" }).unref();
    return true;
  } catch {
    return false; // no opener installed: the printed URL is enough
  }
}

/** The OpenSSH agent on Windows listens on this named pipe (the Windows OpenSSH service). */
export const WINDOWS_AGENT_PIPE = "\\\\.\\pipe\\openssh-ssh-agent";

/** The SSH agent to use: SSH_AUTH_SOCK, else on Windows the OpenSSH agent's named pipe. */
export function sshAgentPath(f: PlatformFacts): string | undefined {
  if (f.env.SSH_AUTH_SOCK) return f.env.SSH_AUTH_SOCK;
  return f.platform === "win32" ? WINDOWS_AGENT_PIPE : undefined;
}

/** The user's OpenSSH folder: `~/.ssh` (`%USERPROFILE%\.ssh` on Windows). */
export function userSshDir(f: PlatformFacts): string {
  return pathFor(f).join(f.homeDir, ".ssh");
}

/** Expands a leading `~` (`~/x`, and `~\x` on Windows) to the home folder. */
export function expandUserPath(f: PlatformFacts, p: string): string {
  if (p === "~") return f.homeDir;
  if (p.startsWith("~/") || (f.platform === "win32" && p.startsWith("~\\"))) return pathFor(f).join(f.homeDir, p.slice(2));
  return p;
}

/** Splits a path below `parent` into its segments (either separator on Windows); undefined when it is not below. */
export function segmentsBelow(f: PlatformFacts, parent: string, child: string): string[] | undefined {
  const p = pathFor(f);
  const rel = p.relative(parent, child);
  if (rel === "") return [];
  if (rel.startsWith("..") || p.isAbsolute(rel)) return undefined;
  return rel.split(f.platform === "win32" ? /[\\/]/ : "/").filter(Boolean);
}
