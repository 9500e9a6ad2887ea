// Who holds a TCP port, so that "port in use" errors name the program (issue 20.1); Linux reads /proc, elsewhere says "another program".
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** True for the error a listen() on a taken port throws (Bun.serve and node:net word it differently). */
export function isAddressInUse(e: unknown): boolean {
  return (e as NodeJS.ErrnoException)?.code === "EADDRINUSE" || /address (already )?in use|is port \d+ in use/i.test(String((e as Error)?.message));
}

/** The one-line message for a taken port: `port 23300 on 127.0.0.1 is in use (by runicorn serve, pid 123)`. */
export function portInUseMessage(host: string, port: number, hint = "choose another with --port"): string {
  return `port ${port} on ${host} is in use (by ${portOwner(port) ?? "another program"}); ${hint}`;
}

/** The inodes of sockets listening on `port` (any address, IPv4 or IPv6), from /proc/net/tcp{,6}. */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue; // no /proc (macOS, Windows) or no IPv6: nothing to name
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // sl local_address rem_address st … inode: st 0A = LISTEN
      if (f.length > 9 && f[3] === "0A" && f[1].endsWith(`:${hexPort}`)) inodes.add(f[9]);
    }
  }
  return inodes;
}

/**
 * "NAME ARGS (pid N)" of the process listening on `port`, "a process of another user" when the socket
 * exists but its owner's file descriptors cannot be read, or undefined when nothing can be found.
 */
export function portOwner(port: number): string | undefined {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return undefined;
  const targets = new Set([...inodes].map((i) => `socket:[${i}]`));
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((p) => /^\d+$/.test(p));
  } catch {
    return undefined; // /proc/net exists but /proc is not listable: say "another program"
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // another user's process, or it just exited
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue; // closed while we looked
      }
      if (targets.has(link)) return `${commandLine(pid)} (pid ${pid})`;
    }
  }
  return "a process of another user";
}

function commandLine(pid: string): string {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
    const shown = args.slice(0, 3).map((a) => a.split("/").at(-1) ?? a);
    return shown.join(" ").slice(0, 120) || "unknown program";
  } catch {
    return "unknown program"; // it exited between the two reads
  }
}
