// Tells whether a folder lives on a filesystem whose changes may arrive without fs events (NFS, SMB, FUSE, 9p…).
import { readFileSync, realpathSync } from "node:fs";
import { platform } from "node:os";

/** Filesystem types where another machine (or a userspace daemon) may change files unseen by inotify. */
const NETWORK_FS = new Set([
  "nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "9p", "v9fs", "virtiofs", "ceph", "glusterfs", "lustre",
  "gpfs", "afs", "ocfs2", "gfs2", "beegfs", "davfs", "ncpfs", "coda", "orangefs", "pvfs2", "fuse", "fuseblk",
]);

/** The filesystem holding a folder: its type and whether fs events can be trusted there. */
export interface FsKind {
  type: string;
  mountPoint: string;
  network: boolean;
}

/** Decodes the octal escapes (`\040` = space) of /proc/self/mountinfo fields. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}

/** True for a type whose changes may come from elsewhere: network filesystems and every FUSE type (`fuse.sshfs`…). */
export function isNetworkFsType(type: string): boolean {
  return NETWORK_FS.has(type) || type.startsWith("fuse.") || type.startsWith("nfs");
}

/**
 * The mount (from the text of /proc/self/mountinfo) holding `path`: the longest mount point that is
 * `path` or a parent of it; the last one listed wins among equals (it is mounted on top).
 */
export function fsKindFromMountinfo(mountinfo: string, path: string): FsKind | undefined {
  let best: FsKind | undefined;
  for (const line of mountinfo.split("\n")) {
    // id parent major:minor root mount-point options [optional fields…] - type source super-options
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(" ");
    const type = line.slice(sep + 3).split(" ")[0];
    if (left.length < 5 || !type) continue;
    const mp = unescapeMount(left[4]);
    const under = mp === "/" || path === mp || path.startsWith(mp.endsWith("/") ? mp : mp + "/");
    if (under && (!best || mp.length >= best.mountPoint.length)) best = { type, mountPoint: mp, network: isNetworkFsType(type) };
  }
  return best;
}

/** The filesystem of `path` on Linux (from /proc/self/mountinfo); undefined where that cannot be told. */
export function detectFsKind(path: string): FsKind | undefined {
  if (platform() !== "linux") return undefined;
  try {
    return fsKindFromMountinfo(readFileSync("/proc/self/mountinfo", "utf8"), realpathSync(path));
  } catch {
    return undefined; // no /proc (a container without it): treated as local, the sweep interval still applies
  }
}
