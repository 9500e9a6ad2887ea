// Read and merge-update the JSON files of the per-user config directory CFG (spec §1.2).
import { join } from "node:path";
import { type JsonObject, readJsonObject } from "../store/json.ts";
import { writeSecretJson } from "./secret-file.ts";

/** Reads `CFG/<name>` as an object (`{}` when missing or unreadable). */
export function readUserFile(configDir: string, name: string): JsonObject {
  return readJsonObject(join(configDir, name)) ?? {};
}

/**
 * Applies `update` to `CFG/<name>` and writes it back atomically (indent 2, as the original), mode
 * 0600: config.json holds encrypted SSH secrets.
 */
export function updateUserFile(configDir: string, name: string, update: (cur: JsonObject) => JsonObject | void): JsonObject {
  const cur = readUserFile(configDir, name);
  const next = update(cur) ?? cur;
  writeSecretJson(join(configDir, name), next);
  return next;
}
