// Shared helpers for the SDK tests: temp roots and tolerant re-reads of what a run wrote.
import { mkdtempSync, readFileSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseTolerant, type JsonObject } from "../../src/store/json.ts";

/** A fresh, real temp directory (symlinks resolved, as the SDK resolves them). */
export function tempRoot(tag: string): string {
  return realpathSync(mkdtempSync(join(tmpdir(), `rn-sdk-${tag}-`)));
}

/** Every line of a run's events.jsonl, raw; asserts the file ends with a newline. */
export function eventLines(runDir: string): string[] {
  let text = "";
  try {
    text = readFileSync(join(runDir, "events.jsonl"), "utf8");
  } catch {
    return [];
  }
  if (text === "") return [];
  if (!text.endsWith("\n")) throw new Error("events.jsonl ends with a torn line");
  return text.slice(0, -1).split("\n");
}

/** Every event, parsed by the project's tolerant parser (±Infinity kept, NaN → null). */
export function events(runDir: string): JsonObject[] {
  return eventLines(runDir).map((l) => parseTolerant(l, "infinity") as JsonObject);
}

/** The `data` object of every metrics event. */
export function metrics(runDir: string): JsonObject[] {
  return events(runDir)
    .filter((e) => e.type === "metrics")
    .map((e) => e.data as JsonObject);
}

/** A run JSON file, parsed tolerantly. */
export function readRunJson(runDir: string, name: string): JsonObject {
  return parseTolerant(readFileSync(join(runDir, name), "utf8"), "infinity") as JsonObject;
}
