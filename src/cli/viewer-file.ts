// ROOT/.viewer.json: which viewer serves a storage root, so that the SDK's init line can print the run's URL.
import { rmSync, writeFileSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";

/** The file's name inside the storage root (a dot file: the original viewer ignores it). */
export const VIEWER_FILE = ".viewer.json";

/** What the file holds: never the token, only where the UI is. */
export interface ViewerInfo {
  /** The URL users open: `--public-url` when given (behind a proxy or `runicorn remote`), else where it listens. */
  url: string;
  /** Where the server itself listens. */
  listen_url: string;
  pid: number;
  started_at: number;
  token_required: boolean;
}

/**
 * Writes ROOT/.viewer.json for the running viewer and returns a function that removes it (only if it is
 * still ours: a second viewer on the same root may have replaced it). A root that cannot be written to
 * gets no file; that only costs the URL in the SDK's init line.
 */
export function announceViewer(root: string, url: string, tokenRequired: boolean, publicUrl?: string): () => void {
  const path = join(root, VIEWER_FILE);
  const info: ViewerInfo = { url: publicUrl ?? url, listen_url: url, pid: process.pid, started_at: Date.now() / 1000, token_required: tokenRequired };
  try {
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(info, null, 2) + "\n");
    renameSync(tmp, path);
  } catch {
    return () => {};
  }
  return () => {
    try {
      const cur = JSON.parse(readFileSync(path, "utf8")) as Partial<ViewerInfo>;
      if (cur.pid === process.pid) rmSync(path, { force: true });
    } catch {
      // already gone or replaced by something unreadable: nothing of ours to remove
    }
  };
}
