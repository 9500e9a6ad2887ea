// Where team-mode media files live: a small interface (an S3-compatible store can implement it later) and
// the shared-filesystem implementation under `--root`.
import { existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

export interface BlobStore {
  /** Stores bytes under `key` (`<run_id>/media/<name>`) unless something is there already; true when written now. */
  putIfAbsent(key: string, bytes: Uint8Array): Promise<boolean>;
  /** The bytes under `key`, or null. */
  get(key: string): Promise<Uint8Array | null>;
  /** Removes every blob under `prefix` (`<run_id>`); returns how many and their bytes. */
  deletePrefix(prefix: string): Promise<{ count: number; bytes: number }>;
}

/** Blobs as files under a root directory; written to a temp name and renamed, so a reader never sees half a file. */
export class FileBlobStore implements BlobStore {
  constructor(readonly root: string) {}

  private pathOf(key: string): string {
    if (key.split("/").some((p) => p === "" || p === "." || p === "..")) throw new Error(`bad blob key: ${key}`);
    return join(this.root, key);
  }

  async putIfAbsent(key: string, bytes: Uint8Array): Promise<boolean> {
    const path = this.pathOf(key);
    if (existsSync(path)) return false;
    mkdirSync(dirname(path), { recursive: true });
    const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
    return true;
  }

  async get(key: string): Promise<Uint8Array | null> {
    const f = Bun.file(this.pathOf(key));
    return (await f.exists()) ? new Uint8Array(await f.arrayBuffer()) : null;
  }

  async deletePrefix(prefix: string): Promise<{ count: number; bytes: number }> {
    const dir = this.pathOf(prefix);
    if (!existsSync(dir)) return { count: 0, bytes: 0 };
    let count = 0;
    let bytes = 0;
    const walk = (d: string) => {
      for (const name of readdirSync(d)) {
        const p = join(d, name);
        const st = lstatSync(p);
        if (st.isDirectory()) walk(p);
        else {
          count++;
          bytes += st.size;
        }
      }
    };
    walk(dir);
    rmSync(dir, { recursive: true, force: true });
    return { count, bytes };
  }
}
