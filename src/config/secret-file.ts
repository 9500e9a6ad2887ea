// Writes the per-user files that hold secrets (config.json, connections.json, the key file, known_hosts): mode 0600, atomically.
import { closeSync, fchmodSync, fsyncSync, linkSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";

/**
 * Writes `data` to `path` as a fresh 0600 file: a new temp file (created exclusively, so a stale or
 * planted temp file is never reused) is written, synced and renamed over `path`. Replacing the file
 * also fixes the mode of one written earlier with looser permissions. The directory is created 0700.
 * With `exclusive`, an existing `path` is kept and false is returned (a key two processes race to create).
 */
export function writeSecretFile(path: string, data: string | Uint8Array, opts: { exclusive?: boolean } = {}): boolean {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  const fd = openSync(tmp, "wx", 0o600);
  try {
    try {
      fchmodSync(fd, 0o600);
      const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (!opts.exclusive) {
      renameSync(tmp, path);
      return true;
    }
    try {
      linkSync(tmp, path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw err;
    }
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Writes JSON (indent 2, as the original) with writeSecretFile. */
export function writeSecretJson(path: string, value: unknown): void {
  writeSecretFile(path, JSON.stringify(value, null, 2));
}
