// Small stand-ins for release binaries in unit tests: random bytes around one checksum table, as build.ts lays it out.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { encodeSumsTable } from "../../src/release/checksums.ts";

/** Writes a fake build with an empty table at `path` and returns its bytes. */
export function writeFakeBuild(path: string, sums: ReadonlyMap<string, string> = new Map()): Buffer {
  const bytes = Buffer.concat([randomBytes(4096), Buffer.from(encodeSumsTable(sums), "latin1"), randomBytes(4096)]);
  writeFileSync(path, bytes, { mode: 0o755 });
  return bytes;
}
