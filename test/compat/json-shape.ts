// Compares a JSON answer of ours with a captured answer of the original: keys (set and order), types and values.
import { isPartial } from "./capture-file.ts";

/** How strictly `compareJson` treats one capture. */
export interface ShapeOptions {
  /** Keys whose values differ from run to run (times, pids, uuids): only their JSON type is compared. */
  volatileKeys?: ReadonlySet<string>;
  /** Compare only types, never values (system monitor, cache counters). */
  typesOnly?: boolean;
  /**
   * Keys our answer may add, by the object's path (`""` = top level, `runs[]` = each item of `runs`,
   * `*` = any object). They are additive improvements and may sit anywhere among the captured keys.
   */
  extraKeys?: Record<string, readonly string[]>;
  /** Object paths whose keys are data (a map keyed by ids or column names), compared as a set. */
  unorderedKeys?: readonly string[];
}

/** Keys of the original whose values are times, process ids or random ids. */
export const VOLATILE = new Set([
  "created_time", "created_at", "deleted_at", "time", "ts", "pid", "start_time", "started_at", "ended_at",
  "asset_id", "mtime", "startedAt", "uptimeSeconds",
]);

/** Returns the differences between `expected` (captured) and `actual` (ours), one line each; empty when they match. */
export function compareJson(expected: unknown, actual: unknown, opts: ShapeOptions = {}): string[] {
  const diffs: string[] = [];
  walk(expected, actual, "", "", opts, diffs);
  return diffs;
}

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

/** The path pattern of an object for `extraKeys` lookups: array indices become `[]`. */
function pattern(path: string): string {
  return path.replace(/\[\d+\]/g, "[]");
}

function walk(exp: unknown, act: unknown, path: string, key: string, opts: ShapeOptions, diffs: string[]): void {
  const where = path || "(top)";
  const te = typeOf(exp);
  const ta = typeOf(act);
  if (te !== ta) {
    diffs.push(`${where}: type ${ta} (${short(act)}), original ${te} (${short(exp)})`);
    return;
  }
  if (te === "array") {
    const e = exp as unknown[];
    const a = act as unknown[];
    if (isPartial(e) ? a.length < e.length : a.length !== e.length) {
      diffs.push(`${where}: ${a.length} items, original ${isPartial(e) ? "at least " : ""}${e.length}`);
    }
    for (let i = 0; i < Math.min(e.length, a.length); i++) walk(e[i], a[i], `${path}[${i}]`, key, opts, diffs);
    return;
  }
  if (te === "object") {
    const e = exp as Record<string, unknown>;
    const a = act as Record<string, unknown>;
    const p = pattern(path);
    const extras = new Set([...(opts.extraKeys?.[p] ?? []), ...(opts.extraKeys?.["*"] ?? [])]);
    const ek = Object.keys(e);
    const ak = Object.keys(a).filter((k) => !extras.has(k) || k in e);
    const missing = ek.filter((k) => !(k in a));
    const added = ak.filter((k) => !(k in e));
    if (missing.length) diffs.push(`${where}: missing keys ${missing.join(", ")}`);
    if (added.length && !isPartial(e)) diffs.push(`${where}: extra keys ${added.join(", ")}`);
    const unordered = opts.unorderedKeys?.includes(p);
    if (!unordered && !missing.length) {
      const order = ak.filter((k) => k in e);
      if (order.join(",") !== ek.join(",")) diffs.push(`${where}: key order ${order.join(",")}, original ${ek.join(",")}`);
    }
    for (const k of ek) if (k in a) walk(e[k], a[k], path ? `${path}.${k}` : k, k, opts, diffs);
    return;
  }
  if (opts.typesOnly || opts.volatileKeys?.has(key)) return;
  if (exp !== act) diffs.push(`${where}: ${short(act)}, original ${short(exp)}`);
}

function short(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? s.slice(0, 77) + "..." : s;
}

/** Applies `fn` to every string of a JSON value; `path` tells where the string sits (keys joined by `.`). */
export function mapStrings(v: unknown, fn: (s: string, path: string) => string, path = ""): unknown {
  if (typeof v === "string") return fn(v, path);
  if (Array.isArray(v)) {
    const out = v.map((x) => mapStrings(x, fn, path));
    return isPartial(v) ? keepPartial(v, out) : out;
  }
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[fn(k, path)] = mapStrings(x, fn, path ? `${path}.${k}` : k);
    return isPartial(v) ? keepPartial(v, out) : out;
  }
  return v;
}

function keepPartial<T extends object>(from: object, to: T): T {
  for (const s of Object.getOwnPropertySymbols(from)) {
    Object.defineProperty(to, s, { value: (from as Record<symbol, unknown>)[s], enumerable: false });
  }
  return to;
}
