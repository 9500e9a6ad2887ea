// POSIX shell quoting for every command we run on a remote host (spec §6.1 / §10.10: the original did not quote).

/** Quotes one word for a POSIX shell: `it's` → `'it'\''s'`. Safe for any string without NUL. */
export function shq(word: string): string {
  if (word.includes("\0")) throw new Error("NUL byte in a shell word");
  if (word !== "" && /^[A-Za-z0-9_\-+.,/:@%]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Joins words into one command line, quoting each. */
export function shJoin(words: string[]): string {
  return words.map(shq).join(" ");
}

/**
 * Turns a user-given remote path into a shell expression: a leading `~` or `~/` becomes `"$HOME"`
 * (the only expansion we allow), everything else is quoted literally.
 */
export function shPath(path: string): string {
  if (path === "~") return `"$HOME"`;
  if (path.startsWith("~/")) return `"$HOME"/${shq(path.slice(2))}`;
  return shq(path);
}

/** Expands a leading `~` against a known remote home, for paths we hand to SFTP or show. */
export function expandRemoteHome(path: string, home: string): string {
  if (path === "~") return home;
  if (path.startsWith("~/")) return `${home.replace(/\/+$/, "")}/${path.slice(2)}`;
  return path;
}
