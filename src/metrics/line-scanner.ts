// Fast reader for the SDK's metrics line shape (`{"ts": …, "type": "metrics", "data": {…}}`) without JSON.parse.
import { K_BOOL, K_INF, K_NULL, K_NUM, K_STR } from "./chunk.ts";

/** Role of a data key in a row (spec §3.3): a column, or one of the keys that never become columns. */
export const R_COLUMN = 0;
/** `global_step`: the row's step. */
export const R_GLOBAL_STEP = 1;
/** Legacy `step`, used when `global_step` is missing or null. */
export const R_STEP = 2;
/** `epoch`: left out of the columns like the original. */
export const R_EPOCH = 3;

/** The role of a data key. */
export function roleOf(key: string): number {
  return key === "global_step" ? R_GLOBAL_STEP : key === "step" ? R_STEP : key === "epoch" ? R_EPOCH : R_COLUMN;
}

/** Most keys one line may carry on the fast path; longer lines take the general path. */
export const MAX_CELLS = 256;

/**
 * The cells of one metrics event's `data`, in key order: kind (chunk `K_*`, NaN as `K_NULL`), number,
 * string, and role. Filled by the scanner, or from a parsed object by the general path.
 */
export class Cells {
  n = 0;
  keys: string[] = [];
  roles = new Uint8Array(MAX_CELLS);
  kinds = new Uint8Array(MAX_CELLS);
  vals = new Float64Array(MAX_CELLS);
  strs: (string | undefined)[] = [];
  /** `ts` of the event as a finite number, else NaN. */
  ts = NaN;

  /** Fills the cells from a parsed `data` object (lists and objects are left out, spec §3.3). */
  fromObject(data: Record<string, unknown>, ts: unknown): void {
    let i = 0;
    for (const key in data) {
      const v = data[key];
      if (v !== null && typeof v === "object") continue;
      if (i >= this.kinds.length) this.grow();
      this.keys[i] = key;
      this.roles[i] = roleOf(key);
      switch (typeof v) {
        case "number":
          if (v - v === 0) this.kinds[i] = K_NUM;
          else this.kinds[i] = v !== v ? K_NULL : K_INF;
          this.vals[i] = v;
          break;
        case "string":
          this.kinds[i] = K_STR;
          this.strs[i] = v;
          break;
        case "boolean":
          this.kinds[i] = K_BOOL;
          this.vals[i] = v ? 1 : 0;
          break;
        default:
          this.kinds[i] = K_NULL;
      }
      i++;
    }
    this.n = i;
    this.ts = typeof ts === "number" && ts - ts === 0 ? ts : NaN;
  }

  private grow(): void {
    const cap = this.kinds.length * 2;
    const roles = new Uint8Array(cap);
    roles.set(this.roles);
    const kinds = new Uint8Array(cap);
    kinds.set(this.kinds);
    const vals = new Float64Array(cap);
    vals.set(this.vals);
    this.roles = roles;
    this.kinds = kinds;
    this.vals = vals;
  }
}

/** Exact powers of ten as doubles (10^22 is the largest one a double holds exactly). */
const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];
const MAX_EXACT = 9007199254740991; // 2^53 - 1

/**
 * Scans lines of the exact shape the SDK writes into `Cells`. Anything it does not recognise (another
 * key order or event type, escapes in strings, nested values, duplicate keys, bad JSON) makes `scan`
 * return false and the caller parses that line with the general JSON path, so the result is the same.
 * Key strings and string values are reused from the previous line when the text is the same.
 */
export class LineScanner {
  readonly cells = new Cells();
  private num = 0;
  private kind = 0;
  private str: string | undefined;
  private prevStrs: (string | undefined)[] = [];

  /** Scans `text[start, end)` (one line without its newline); false when the line needs the general path. */
  scan(text: string, start: number, end: number): boolean {
    const ok = this.scanLine(text, start, end);
    if (!ok) this.cells.keys.length = 0; // the key cache may now mix two lines: start it over
    return ok;
  }

  private scanLine(text: string, start: number, end: number): boolean {
    const c = this.cells;
    let p = ws(text, start, end);
    if (text.charCodeAt(p) !== 123 /* { */ || !text.startsWith('"ts"', p + 1)) return false;
    p = colon(text, p + 5, end);
    if (p < 0) return false;
    p = this.value(text, p, end, -1);
    if (p < 0 || this.kind === K_STR || this.kind === K_BOOL) return false;
    c.ts = this.kind === K_NUM ? this.num : NaN;
    p = comma(text, p, end);
    if (p < 0 || !text.startsWith('"type"', p)) return false;
    p = colon(text, p + 6, end);
    if (p < 0 || !text.startsWith('"metrics"', p)) return false;
    p = comma(text, p + 9, end);
    if (p < 0 || !text.startsWith('"data"', p)) return false;
    p = colon(text, p + 6, end);
    if (p < 0 || text.charCodeAt(p) !== 123) return false;
    p = ws(text, p + 1, end);
    const keys = c.keys;
    let i = 0;
    if (text.charCodeAt(p) === 125 /* } */) p++;
    else {
      for (;;) {
        if (i >= MAX_CELLS || text.charCodeAt(p) !== 34 /* " */) return false;
        const k0 = p + 1;
        const cached = keys[i];
        if (cached !== undefined && text.charCodeAt(k0 + cached.length) === 34 && text.startsWith(cached, k0)) {
          p = k0 + cached.length + 1;
        } else {
          const q = plainString(text, k0, end);
          if (q < 0) return false;
          const key = text.slice(k0, q);
          for (let j = 0; j < i; j++) if (keys[j] === key) return false; // duplicate key: JSON.parse keeps the last
          keys[i] = key;
          keys.length = i + 1; // later positions came from another line: recheck them
          c.roles[i] = roleOf(key);
          p = q + 1;
        }
        p = colon(text, p, end);
        if (p < 0) return false;
        p = this.value(text, p, end, i);
        if (p < 0) return false;
        c.kinds[i] = this.kind;
        c.vals[i] = this.num;
        c.strs[i] = this.str;
        i++;
        p = ws(text, p, end);
        const d = text.charCodeAt(p);
        if (d === 44 /* , */) {
          p = ws(text, p + 1, end);
          continue;
        }
        if (d !== 125) return false;
        p++;
        break;
      }
    }
    p = ws(text, p, end);
    if (text.charCodeAt(p) !== 125 || ws(text, p + 1, end) !== end) return false;
    if (keys.length !== i) keys.length = i;
    c.n = i;
    return true;
  }

  /** Reads one scalar value at `p` into num/kind/str; returns the position after it, or -1. */
  private value(text: string, p: number, end: number, i: number): number {
    const ch = text.charCodeAt(p);
    this.str = undefined;
    if (ch === 34) {
      const s0 = p + 1;
      const prev = i >= 0 ? this.prevStrs[i] : undefined;
      this.kind = K_STR;
      if (prev !== undefined && text.charCodeAt(s0 + prev.length) === 34 && text.startsWith(prev, s0)) {
        this.str = prev;
        return s0 + prev.length + 1;
      }
      const q = plainString(text, s0, end);
      if (q < 0) return -1;
      const s = text.slice(s0, q);
      this.str = s;
      if (i >= 0) this.prevStrs[i] = s;
      return q + 1;
    }
    if (ch === 45 /* - */ || (ch >= 48 && ch <= 57)) {
      if (ch === 45 && text.charCodeAt(p + 1) === 73 /* I */) {
        if (!text.startsWith("Infinity", p + 1)) return -1;
        this.kind = K_INF;
        this.num = -Infinity;
        return p + 9;
      }
      return this.number(text, p, end);
    }
    switch (ch) {
      case 116: // t
        if (!text.startsWith("true", p)) return -1;
        this.kind = K_BOOL;
        this.num = 1;
        return p + 4;
      case 102: // f
        if (!text.startsWith("false", p)) return -1;
        this.kind = K_BOOL;
        this.num = 0;
        return p + 5;
      case 110: // n
        if (!text.startsWith("null", p)) return -1;
        this.kind = K_NULL;
        this.num = NaN;
        return p + 4;
      case 78: // N: Python's NaN, null like the general path
        if (!text.startsWith("NaN", p)) return -1;
        this.kind = K_NULL;
        this.num = NaN;
        return p + 3;
      case 73: // I
        if (!text.startsWith("Infinity", p)) return -1;
        this.kind = K_INF;
        this.num = Infinity;
        return p + 8;
      default:
        return -1; // objects, lists and anything else: general path
    }
  }

  /**
   * A JSON number, exactly as JSON.parse reads it. Up to 18 significant digits are gathered in two
   * 9-digit integers, which make the mantissa an exact double-double; a mantissa below 2^53 and a power
   * of ten up to 10^22 give the value in one rounding (Clinger's fast path), a longer mantissa divided
   * by 10^k goes through `divPow10`, and anything else through `Number()` of the text.
   */
  private number(text: string, p: number, end: number): number {
    let neg = false;
    if (text.charCodeAt(p) === 45) {
      neg = true;
      p++;
    }
    const d0 = p;
    let ch = text.charCodeAt(p);
    let g1 = 0; // the first nine significant digits, once complete
    let g2 = 0; // the next nine, once complete
    let groups = 0;
    let acc = 0;
    let accDigits = 0;
    if (ch === 48) {
      ch = text.charCodeAt(++p);
      if (ch >= 48 && ch <= 57) return -1; // leading zero: not JSON
    } else if (ch >= 49 && ch <= 57) {
      do {
        acc = acc * 10 + (ch - 48);
        if (++accDigits === 9) {
          if (groups === 0) g1 = acc;
          else g2 = acc;
          groups++;
          acc = 0;
          accDigits = 0;
        }
        ch = text.charCodeAt(++p);
      } while (ch >= 48 && ch <= 57);
    } else return -1;
    let scale = 0;
    if (ch === 46 /* . */) {
      ch = text.charCodeAt(++p);
      if (!(ch >= 48 && ch <= 57)) return -1;
      const f0 = p;
      if (groups === 0 && acc === 0) {
        // leading zeros of 0.000…: not significant
        while (ch === 48) ch = text.charCodeAt(++p);
      }
      while (ch >= 48 && ch <= 57) {
        acc = acc * 10 + (ch - 48);
        if (++accDigits === 9) {
          if (groups === 0) g1 = acc;
          else g2 = acc;
          groups++;
          acc = 0;
          accDigits = 0;
        }
        ch = text.charCodeAt(++p);
      }
      scale = p - f0;
    }
    let exp = 0;
    if (ch === 101 || ch === 69 /* e E */) {
      ch = text.charCodeAt(++p);
      let eneg = false;
      if (ch === 43 || ch === 45) {
        eneg = ch === 45;
        ch = text.charCodeAt(++p);
      }
      if (!(ch >= 48 && ch <= 57)) return -1;
      do {
        if (exp < 100000) exp = exp * 10 + (ch - 48);
        ch = text.charCodeAt(++p);
      } while (ch >= 48 && ch <= 57);
      if (eneg) exp = -exp;
    }
    if (p > end) return -1;
    const e10 = exp - scale;
    let v = NaN;
    if (groups === 0) {
      // at most 8 significant digits: exact
      if (acc === 0) v = 0;
      else if (e10 >= -22 && e10 <= 22) v = e10 >= 0 ? acc * POW10[e10] : acc / POW10[-e10];
    } else if (groups === 1 || (groups === 2 && accDigits === 0)) {
      // mantissa = g1·10^r + low, with g1·10^r = g1·5^r·2^r exact (g1·5^r < 2^51); hi + lo exact (Fast2Sum)
      const r = groups === 1 ? accDigits : 9;
      const low = groups === 1 ? acc : g2;
      const big = g1 * POW10[r];
      const hi = big + low;
      const lo = low - (hi - big);
      if (lo === 0 && hi <= MAX_EXACT && e10 >= -22 && e10 <= 22) v = e10 >= 0 ? hi * POW10[e10] : hi / POW10[-e10];
      else if (e10 <= 0 && e10 >= -22) v = divPow10(hi, lo, -e10);
    }
    if (v !== v) v = Number(text.slice(d0, p));
    if (neg) v = -v;
    this.num = v;
    this.kind = v - v === 0 ? K_NUM : K_INF; // 1e999 overflows to Infinity, as in JSON.parse
    return p;
  }
}

const SPLIT = 134217729; // 2^27 + 1: Veltkamp's split of a double into two 26-bit halves
const TWO_POW_M94 = 2 ** -94;

/**
 * The double nearest to `(hi + lo) / 10^k` (hi + lo an integer mantissa as an exact double-double,
 * k ≤ 22), or NaN when it cannot tell cheaply: the quotient is computed in double-double arithmetic
 * (error below 2^-100 relative) and rounded only when its whole error interval rounds to one double.
 */
export function divPow10(hi: number, lo: number, k: number): number {
  const d = POW10[k];
  const q1 = hi / d;
  // q1·d exactly as p + e (Dekker's product)
  const p = q1 * d;
  const c1 = SPLIT * q1;
  const qh = c1 - (c1 - q1);
  const ql = q1 - qh;
  const c2 = SPLIT * d;
  const dh = c2 - (c2 - d);
  const dl = d - dh;
  const e = qh * dh - p + qh * dl + ql * dh + ql * dl;
  const q2 = (hi - p - e + lo) / d;
  const err = Math.abs(q1) * TWO_POW_M94;
  const down = q1 + (q2 - err);
  return down === q1 + (q2 + err) ? down : NaN;
}

/** Position after JSON whitespace. */
function ws(text: string, p: number, end: number): number {
  while (p < end) {
    const ch = text.charCodeAt(p);
    if (ch !== 32 && ch !== 9 && ch !== 13 && ch !== 10) break;
    p++;
  }
  return p;
}

/** Skips `ws : ws`; the position after, or -1. */
function colon(text: string, p: number, end: number): number {
  p = ws(text, p, end);
  if (text.charCodeAt(p) !== 58) return -1;
  return ws(text, p + 1, end);
}

/** Skips `ws , ws`; the position after, or -1. */
function comma(text: string, p: number, end: number): number {
  p = ws(text, p, end);
  if (text.charCodeAt(p) !== 44) return -1;
  return ws(text, p + 1, end);
}

/** The closing quote of a string starting at `p` with no escapes or control characters, or -1. */
function plainString(text: string, p: number, end: number): number {
  const q = text.indexOf('"', p);
  if (q < 0 || q >= end) return -1;
  for (let j = p; j < q; j++) {
    const ch = text.charCodeAt(j);
    if (ch === 92 || ch < 32) return -1;
  }
  return q;
}
