// Read and merge-update the JSON files of the per-user config directory CFG (spec §1.2).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type JsonObject, readJsonObject } from "../store/json.ts";
import { writeJsonAtomic } from "../store/run-files.ts";

/** Reads `CFG/<name>` as an object (`{}` when missing or unreadable). */
export function readUserFile(configDir: string, name: string): JsonObject {
  return readJsonObject(join(configDir, name)) ?? {};
}

/** Applies `update` to `CFG/<name>` and writes it back atomically (indent 2, as the original). */
export function updateUserFile(configDir: string, name: string, update: (cur: JsonObject) => JsonObject | void): JsonObject {
  mkdirSync(configDir, { recursive: true });
  const cur = readUserFile(configDir, name);
  const next = update(cur) ?? cur;
  writeJsonAtomic(join(configDir, name), next);
  return next;
}
