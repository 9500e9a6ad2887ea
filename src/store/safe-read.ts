// The one rule for every file read from the data directory: resolve it, stay inside ROOT, regular files only, bounded size, never block.
import { closeSync, constants, existsSync, fstatSync, openSync, read, readlinkSync, readSync, realpathSync, type Stats } from "node:fs";
import { isAbsolute, relative, resolve, sep } from "node:path";

/** Why a file was not read. */
export type RefusalReason = "missing" | "outside_root" | "link" | "not_regular" | "too_large" | "unreadable";

/** A file the rule refuses to read; `reason` says which part of the rule, the message names the file. */
export class FileRefusedError extends Error {
  constructor(
    readonly path: string,
    readonly reason: RefusalReason,
    detail: string,
  ) {
    super(`${path}: ${detail}`);
  }
}

/** Small JSON files of a run (meta, status, summary, assets, environment, .deleted): 16 MiB is 1000x what the SDK writes. */
export const JSON_FILE_LIMIT = 16 * 1024 * 1024;
/** Dataset manifests list one entry per file; 256 MiB holds well over a million entries. */
export const MANIFEST_FILE_LIMIT = 256 * 1024 * 1024;
/** No limit (downloads and archive exports stream the file). */
export const UNLIMITED = Number.MAX_SAFE_INTEGER;

/** Where a read may go and how much it may take. */
export interface ReadRule {
  /**
   * The data directory: the file's real path (links resolved) must lie inside ROOT's real path. Without it
   * the file itself must not be a link (callers that reached the directory without following links).
   */
  root?: string;
  /** Largest size accepted, in bytes. */
  maxBytes: number;
}

/** An open, checked regular file. The caller closes `fd` (or hands it to `fileStream`). */
export interface OpenedFile {
  fd: number;
  /** The real path that was opened. */
  path: string;
  size: number;
  stats: Stats;
}

const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0);

function isUnderPath(base: string, target: string): boolean {
  const rel = relative(base, target);
  return rel === "" || (!isAbsolute(rel) && rel.split(sep)[0] !== "..");
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}

function refusedFromErrno(path: string, e: unknown): FileRefusedError {
  const code = errno(e);
  if (code === "ENOENT" || code === "ENOTDIR") return new FileRefusedError(path, "missing", "no such file");
  if (code === "ELOOP") return new FileRefusedError(path, "link", "is a symbolic link");
  return new FileRefusedError(path, "unreadable", `cannot be read (${code ?? (e as Error).message})`);
}

function kindOf(st: Stats): string {
  if (st.isFIFO()) return "a FIFO";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  if (st.isDirectory()) return "a directory";
  if (st.isSymbolicLink()) return "a symbolic link";
  return "not a regular file";
}

const realRoots = new Map<string, { real: string; at: number }>();

/** The real path of ROOT (ROOT itself when it cannot be resolved); remembered for a second, as every read asks. */
export function realRoot(root: string): string {
  const now = Date.now();
  const hit = realRoots.get(root);
  if (hit && now - hit.at < 1000) return hit.real;
  let real: string;
  try {
    real = realpathSync(root);
  } catch {
    real = resolve(root); // a root that does not exist holds nothing; containment still judged by text
  }
  if (realRoots.size > 64) realRoots.clear();
  realRoots.set(root, { real, at: now });
  return real;
}

/**
 * Opens a file under the rule. The file is opened with O_NOFOLLOW | O_NONBLOCK | O_NOCTTY (a FIFO or device never
 * blocks and never becomes a terminal) and judged on the descriptor: fstat says a regular file of at most
 * `maxBytes`, and on Linux the path the kernel opened (/proc/self/fd) lies inside ROOT's real path, so nothing
 * swapped in between a check and the open gets through. A link at the file itself is refused without ROOT and
 * resolved (then judged the same way) with it. Throws FileRefusedError.
 */
export function openChecked(path: string, rule: ReadRule): OpenedFile {
  let target = resolve(path);
  let fd: number;
  try {
    fd = openSync(target, OPEN_FLAGS);
  } catch (e) {
    if (errno(e) !== "ELOOP" || rule.root === undefined) throw refusedFromErrno(path, e);
    try {
      target = realpathSync(target);
    } catch (e2) {
      throw refusedFromErrno(path, e2);
    }
    // a link leaving ROOT is refused before its target is ever opened
    assertInside(realRoot(rule.root), target, path);
    try {
      fd = openSync(target, OPEN_FLAGS);
    } catch (e2) {
      throw refusedFromErrno(path, e2);
    }
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new FileRefusedError(path, "not_regular", `is ${kindOf(st)}`);
    if (rule.root !== undefined) assertInside(realRoot(rule.root), PROC_FD ? openedPath(fd, path) : realpathOr(target), path);
    if (st.size > rule.maxBytes) {
      throw new FileRefusedError(path, "too_large", `is ${st.size} bytes, over the ${rule.maxBytes}-byte limit`);
    }
    return { fd, path: target, size: st.size, stats: st };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Linux names every open descriptor in /proc/self/fd: the kernel's own path of what was opened. */
const PROC_FD = process.platform === "linux" && existsSync("/proc/self/fd");

function realpathOr(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p; // vanished: the open below fails and says so
  }
}

function assertInside(base: string, actual: string, path: string): void {
  if (!isUnderPath(base, actual)) throw new FileRefusedError(path, "outside_root", "resolves outside the storage root");
}

/** The path the kernel opened for `fd` (Linux), so a parent swapped for a link between checks and open is caught. */
function openedPath(fd: number, path: string): string {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch (e) {
    throw refusedFromErrno(path, e);
  }
}

/** Reads a whole file under the rule (throws FileRefusedError); a file that grows past the limit while read is refused. */
export function readChecked(path: string, rule: ReadRule): Buffer {
  const f = openChecked(path, rule);
  try {
    const cap = Math.min(rule.maxBytes, UNLIMITED);
    const buf = Buffer.allocUnsafe(Math.min(f.size + 1, cap + 1));
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        if (n > cap) throw new FileRefusedError(path, "too_large", `grew over the ${rule.maxBytes}-byte limit`);
        break;
      }
      const got = readSync(f.fd, buf, n, buf.length - n, null); // sequential from 0: the descriptor is fresh
      if (got <= 0) break;
      n += got;
    }
    if (n > cap) throw new FileRefusedError(path, "too_large", `grew over the ${rule.maxBytes}-byte limit`);
    return buf.subarray(0, n);
  } catch (e) {
    if (e instanceof FileRefusedError) throw e;
    throw refusedFromErrno(path, e);
  } finally {
    closeSync(f.fd);
  }
}

/** Like readChecked, decoded as UTF-8. */
export function readTextChecked(path: string, rule: ReadRule): string {
  return readChecked(path, rule).toString("utf8");
}

/** Reads a file under the rule; undefined when it is missing, throws FileRefusedError for every other refusal. */
export function readIfPresent(path: string, rule: ReadRule): Buffer | undefined {
  try {
    return readChecked(path, rule);
  } catch (e) {
    if (e instanceof FileRefusedError && e.reason === "missing") return undefined;
    throw e;
  }
}

/**
 * The content of an opened file as a stream of at most its size at open time (a file that grows is cut there),
 * or of bytes [from, end) of it, read asynchronously in 256 KiB pieces; the descriptor is closed at the end, on
 * error and on cancel.
 */
export function fileStream(f: OpenedFile, from = 0, end = f.size): ReadableStream<Uint8Array> {
  let pos = from;
  let closed = false;
  const close = () => {
    if (!closed) {
      closed = true;
      closeSync(f.fd);
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const left = end - pos;
      if (left <= 0) {
        close();
        controller.close();
        return;
      }
      const buf = Buffer.allocUnsafe(Math.min(256 * 1024, left));
      try {
        const got = await new Promise<number>((ok, fail) => read(f.fd, buf, 0, buf.length, pos, (err, n) => (err ? fail(err) : ok(n))));
        if (got <= 0) {
          close();
          controller.error(new Error(`${f.path} shrank while being read`));
          return;
        }
        pos += got;
        controller.enqueue(buf.subarray(0, got));
      } catch (e) {
        close();
        controller.error(e);
      }
    },
    cancel() {
      close();
    },
  });
}
