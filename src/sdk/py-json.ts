// JSON text exactly as Python's json.dumps writes it (spec §1.5): ", "/": " separators, indent=2 files, NaN/Infinity tokens.

/**
 * Formats a number the way Python's `repr(float)` / `json.dumps` does: the shortest round-trip
 * digits (JS and Python agree on those), Python's exponent rules (`1e-05`, `1e+16`) and bare
 * `NaN`/`Infinity`/`-Infinity` tokens. Integral values below 1e16 are written as integers, since
 * a JS number does not know whether it was meant as `3` or `3.0`.
 */
export function formatNumber(v: number): string {
  // Fast path: the decimal range shared by JS and Python (Python switches to exponent form
  // below 1e-4 and from 1e16 up; JS only below 1e-6 and from 1e21 up).
  if ((v >= 1e-4 && v < 1e16) || (v <= -1e-4 && v > -1e16)) return "" + v;
  if (v === 0) return "0";
  if (v !== v) return "NaN";
  if (v === Infinity) return "Infinity";
  if (v === -Infinity) return "-Infinity";
  return pythonExponent(v);
}

/** Formats a value Python holds as a float (timestamps): like formatNumber, but `1.0`, never `1`. */
export function formatFloat(v: number): string {
  if (v >= 1e-4 && v < 1e16) {
    const s = "" + v;
    return Number.isInteger(v) ? s + ".0" : s;
  }
  if (v === 0) return Object.is(v, -0) ? "-0.0" : "0.0";
  if ((v <= -1e-4 && v > -1e16) && Number.isInteger(v)) return v + ".0";
  return formatNumber(v);
}

/** `1.5e-7` → `1.5e-07`, `1e16` → `1e+16`: Python pads the exponent to two digits. */
function pythonExponent(v: number): string {
  const s = v.toExponential(); // shortest round-trip digits, like Python's repr
  const e = s.indexOf("e");
  return s.length - e - 2 < 2 ? s.slice(0, e + 2) + "0" + s.slice(e + 2) : s;
}

/** A number that Python holds as a float (timestamps): serialised with formatFloat. */
export class PyFloat {
  /** Wraps a number. */
  constructor(readonly value: number) {}
}

/**
 * Serialises a value like Python's `json.dumps(value, ensure_ascii=False)` (compact form) or, with
 * `indent`, like `json.dumps(value, ensure_ascii=False, indent=2)`. JS-only values follow
 * JSON.stringify: `toJSON` is honoured, `undefined`/functions/symbols are skipped in objects and
 * written as `null` in arrays; typed arrays become lists; bigint is written as an integer.
 * Throws TypeError on a circular structure, as json.dumps raises on one.
 */
export function dumps(value: unknown, indent?: number): string {
  const out = write(value, indent ? " ".repeat(indent) : "", "", []);
  return out === undefined ? "null" : out;
}

/** Writes one value; returns undefined for values an object member skips. */
function write(v: unknown, step: string, cur: string, stack: object[]): string | undefined {
  switch (typeof v) {
    case "number":
      return formatNumber(v);
    case "string":
      return JSON.stringify(v);
    case "boolean":
      return v ? "true" : "false";
    case "bigint":
      return v.toString();
    case "undefined":
    case "function":
    case "symbol":
      return undefined;
  }
  if (v === null) return "null";
  if (v instanceof PyFloat) return formatFloat(v.value);
  const obj = v as Record<string, unknown>;
  if (typeof obj.toJSON === "function") return write(obj.toJSON(), step, cur, stack);
  if (stack.includes(obj)) throw new TypeError("Circular reference detected");
  stack.push(obj);
  const inner = step ? cur + step : "";
  const open = step ? "\n" + inner : "";
  const sep = step ? ",\n" + inner : ", ";
  const close = step ? "\n" + cur : "";
  let out: string;
  if (Array.isArray(obj) || ArrayBuffer.isView(obj)) {
    const arr = obj as unknown as ArrayLike<unknown>;
    if (arr.length === 0 || obj instanceof DataView) {
      out = "[]";
    } else {
      out = "[" + open;
      for (let i = 0; i < arr.length; i++) {
        if (i > 0) out += sep;
        out += write(arr[i], step, inner, stack) ?? "null";
      }
      out += close + "]";
    }
  } else {
    let first = true;
    out = "{" + open;
    for (const k of Object.keys(obj)) {
      const s = write(obj[k], step, inner, stack);
      if (s === undefined) continue;
      if (!first) out += sep;
      out += JSON.stringify(k) + ": " + s;
      first = false;
    }
    out = first ? "{}" : out + close + "}";
  }
  stack.pop();
  return out;
}
