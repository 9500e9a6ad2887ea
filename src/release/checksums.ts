// The checksum table each release binary carries for its sibling builds, and the "release hash" it holds.
//
// A binary cannot contain a hash of itself, and two builds cannot each contain the other's plain
// hash. So the table stores each build's *release hash*: the sha256 of the file with its own table
// bytes set to "0". That hash does not depend on the table's content, so the table can be filled in
// after the builds exist (build.ts patches it in place on Linux and Windows; the macOS builds are
// signed by Bun, so they are compiled last with the table already known and never patched).
import { closeSync, openSync, readFileSync, statSync, writeSync } from "node:fs";
import { RELEASE_TARGETS, targetKey } from "./targets.ts";

/**
 * The marker ("@@", RUNICORN-RELEASE-SUMS-v1, "@@") as hex: it must occur exactly once in a binary (in the
 * generated table), so the code that looks for it never spells it out.
 */
const MARKER = Buffer.from("404052554e49434f524e2d52454c454153452d53554d532d76314040", "hex").toString("latin1");
const HASH_LEN = 64;
const ZERO = "0".repeat(HASH_LEN);
/** Bytes of the table after the marker: one 64-hex-digit hash per target, "0"s where unknown. */
export const TABLE_BODY_LEN = HASH_LEN * RELEASE_TARGETS.length;

/** The marker bytes (for tests). */
export function sumsMarker(): string {
  return MARKER;
}

/** The table literal for the generated module: marker + one hash per target (missing ones as zeros). */
export function encodeSumsTable(sums: ReadonlyMap<string, string>): string {
  return (
    MARKER +
    RELEASE_TARGETS.map((t) => {
      const h = sums.get(targetKey(t)) ?? ZERO;
      if (!/^[0-9a-f]{64}$/.test(h)) throw new Error(`bad sha256 for ${targetKey(t)}: ${h}`);
      return h;
    }).join("")
  );
}

/** Reads a table literal back: target key → release hash (targets without one are left out). */
export function parseSumsTable(table: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!table.startsWith(MARKER) || table.length !== MARKER.length + TABLE_BODY_LEN) return out;
  RELEASE_TARGETS.forEach((t, i) => {
    const h = table.slice(MARKER.length + i * HASH_LEN, MARKER.length + (i + 1) * HASH_LEN);
    if (/^[0-9a-f]{64}$/.test(h) && h !== ZERO) out.set(targetKey(t), h);
  });
  return out;
}

/** Offset of the table body in a binary; undefined unless the marker occurs exactly once. */
export function findTableBody(bytes: Uint8Array): number | undefined {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const first = buf.indexOf(MARKER, 0, "latin1");
  if (first < 0) return undefined;
  if (buf.indexOf(MARKER, first + 1, "latin1") >= 0) return undefined;
  const body = first + MARKER.length;
  return body + TABLE_BODY_LEN <= buf.length ? body : undefined;
}

/** The release hash of a binary's bytes (its table counted as zeros); undefined when it has no single table. */
export function releaseHash(bytes: Uint8Array): string | undefined {
  const body = findTableBody(bytes);
  if (body === undefined) return undefined;
  const h = new Bun.CryptoHasher("sha256");
  h.update(bytes.subarray(0, body));
  h.update(ZERO.repeat(RELEASE_TARGETS.length));
  h.update(bytes.subarray(body + TABLE_BODY_LEN));
  return h.digest("hex");
}

/** The release hash of a file (see releaseHash). */
export function releaseHashOfFile(path: string): string | undefined {
  return releaseHash(readFileSync(path));
}

/** The table a binary file carries (build checks and tests). */
export function readSumsTableOfFile(path: string): Map<string, string> {
  const bytes = readFileSync(path);
  const body = findTableBody(bytes);
  if (body === undefined) return new Map();
  return parseSumsTable(MARKER + bytes.subarray(body, body + TABLE_BODY_LEN).toString("latin1"));
}

/** Overwrites a binary's table in place with `sums` (same length; Linux and Windows builds only). */
export function patchSumsTable(path: string, sums: ReadonlyMap<string, string>): void {
  const bytes = readFileSync(path);
  const body = findTableBody(bytes);
  if (body === undefined) throw new Error(`${path}: no single checksum table found`);
  const table = Buffer.from(encodeSumsTable(sums).slice(MARKER.length), "latin1");
  const fd = openSync(path, "r+");
  try {
    writeSync(fd, table, 0, table.length, body);
  } finally {
    closeSync(fd);
  }
  if (statSync(path).size !== bytes.length) throw new Error(`${path}: size changed while patching`);
}
