// Tolerant JSON for files written by Python: bare NaN/Infinity tokens (spec §1.5) and torn files (spec §1.13).
import { FileRefusedError, JSON_FILE_LIMIT, readChecked } from "./safe-read.ts";

/** How non-finite tokens are mapped: all to null (API output), or ±Infinity kept as numbers (metric columns). */
export type NonFinite = "null" | "infinity";

/**
 * Parses JSON that may contain Python's bare `NaN`, `Infinity` and `-Infinity` tokens.
 * NaN always becomes null (JSON has no NaN); ±Infinity becomes null or ±Infinity per `nonFinite`.
 * Throws SyntaxError on anything else that is not JSON.
 */
export function parseTolerant(text: string, nonFinite: NonFinite = "null"): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    if (!/NaN|Infinity/.test(text)) throw err;
  }
  return JSON.parse(replaceNonFinite(text, nonFinite));
}

/** Rewrites NaN/Infinity tokens that stand outside string literals into valid JSON. */
function replaceNonFinite(text: string, nonFinite: NonFinite): string {
  const inf = nonFinite === "infinity" ? "1e999" : "null";
  const negInf = nonFinite === "infinity" ? "-1e999" : "null";
  let out = "";
  let last = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 92 /* \ */) i += 2;
        else if (d === 34) break;
        else i++;
      }
      i++;
      continue;
    }
    if (c === 78 /* N */ && text.startsWith("NaN", i)) {
      out += text.slice(last, i) + "null";
      i += 3;
      last = i;
      continue;
    }
    if (c === 73 /* I */ && text.startsWith("Infinity", i)) {
      out += text.slice(last, i) + inf;
      i += 8;
      last = i;
      continue;
    }
    if (c === 45 /* - */ && text.startsWith("-Infinity", i)) {
      out += text.slice(last, i) + negInf;
      i += 9;
      last = i;
      continue;
    }
    i++;
  }
  return out + text.slice(last);
}

/** A plain JSON object, as the run files hold. */
export type JsonObject = Record<string, unknown>;

/** True for a non-null, non-array object. */
export function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The outcome of reading a JSON object file: the object, or why there is none (`missing` when absent). */
export type JsonRead = { ok: true; value: JsonObject } | { ok: false; missing: boolean; reason: string };

/**
 * Reads a JSON object file under the safe-read rule (src/store/safe-read.ts): with `root`, its real path must
 * lie inside ROOT; without, the file itself must not be a link. FIFOs, devices and files over `maxBytes`
 * (16 MiB by default) are refused without being opened; a torn or non-object file is a failure too.
 */
export function readJsonFile(path: string, opts: { root?: string; maxBytes?: number } = {}): JsonRead {
  let text: string;
  try {
    text = readChecked(path, { root: opts.root, maxBytes: opts.maxBytes ?? JSON_FILE_LIMIT }).toString("utf8");
  } catch (e) {
    if (e instanceof FileRefusedError) return { ok: false, missing: e.reason === "missing", reason: e.message };
    throw e;
  }
  let v: unknown;
  try {
    v = parseTolerant(text);
  } catch (e) {
    return { ok: false, missing: false, reason: `${path}: not valid JSON (${(e as Error).message})` };
  }
  return isObject(v) ? { ok: true, value: v } : { ok: false, missing: false, reason: `${path}: not a JSON object` };
}

/**
 * Reads a JSON object file the way the original viewer does (spec §1.13): a missing, refused (link, FIFO,
 * device, too large), truncated or non-object file reads as undefined, so callers fall back to `{}` or defaults.
 */
export function readJsonObject(path: string, opts: { root?: string; maxBytes?: number } = {}): JsonObject | undefined {
  const r = readJsonFile(path, opts);
  return r.ok ? r.value : undefined;
}
