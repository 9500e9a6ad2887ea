// Fast reader for the SDK's metrics line shape (`{"ts": …, "type": "metrics", "data": {…}}`) without JSON.parse.
import { K_BOOL, K_INF, K_NULL, K_NUM, K_STR } from "./chunk.ts";

/** Role of a data key in a row (spec §3.3): a column (roles ≤ R_TIME), or one of the keys that never become columns. */
export const R_COLUMN = 0;
/** `time`: a column that also gives the row its time. */
export const R_TIME = 1;
/** `global_step`: the row's step. */
export const R_GLOBAL_STEP = 2;
/** Legacy `step`, used when `global_step` is missing or null. */
export const R_STEP = 3;
/** `epoch`: left out of the columns like the original. */
export const R_EPOCH = 4;

/** The role of a data key. */
export function roleOf(key: string): number {
  switch (key) {
    case "time":
      return R_TIME;
    case "global_step":
      return R_GLOBAL_STEP;
    case "step":
      return R_STEP;
    case "epoch":
      return R_EPOCH;
    default:
      return R_COLUMN;
  }
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
  /** Positions of the `global_step`, `step` and `time` cells, -1 when absent. */
  gs = -1;
  st = -1;
  tm = -1;

  /** Records the position of a cell whose role is not a plain column. */
  mark(i: number, role: number): void {
    if (role === R_TIME) this.tm = i;
    else if (role === R_GLOBAL_STEP) this.gs = i;
    else if (role === R_STEP) this.st = i;
  }

  /** Fills the cells from a parsed `data` object (lists and objects are left out, spec §3.3). */
  fromObject(data: Record<string, unknown>, ts: unknown): void {
    let i = 0;
    this.gs = this.st = this.tm = -1;
    for (const key in data) {
      const v = data[key];
      if (v !== null && typeof v === "object") continue;
      if (i >= this.kinds.length) this.grow();
      this.keys[i] = key;
      const role = roleOf(key);
      this.roles[i] = role;
      if (role !== R_COLUMN) this.mark(i, role);
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

/** Bytes of the fixed parts of a line. */
const B_TS = bytes('"ts"');
const B_TYPE = bytes('"type"');
const B_METRICS = bytes('"metrics"');
const B_DATA = bytes('"data"');
const B_INFINITY = bytes("Infinity");
const B_TRUE = bytes("true");
const B_FALSE = bytes("false");
const B_NULL = bytes("null");
const B_NAN = bytes("NaN");

function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/**
 * Scans lines of the exact shape the SDK writes, from the file's bytes, into `Cells`. Anything it does
 * not recognise (another key order or event type, escapes in strings, nested values, duplicate keys, bad
 * JSON) makes `scan` return false and the caller parses that line with the general JSON path, so the
 * result is the same.
 *
 * Lines of one run look alike: the scanner keeps the "glue" before each value (for the first data key
 * `, "type": "metrics", "data": {"loss": `, then `, "acc": ` …) from the last line it checked piece by
 * piece; a line whose glue bytes are the same has the same keys, so only its values are read. Glue is
 * kept as a prefix of one checked line (a mismatch at position i drops the glue from i on).
 */
export class LineScanner {
  readonly cells = new Cells();
  private num = 0;
  private kind = 0;
  private str: string | undefined;
  /** Bytes before the ts value (`{"ts": `), once checked. */
  private head: Uint8Array | undefined;
  /** glue[i]: the bytes between the end of the previous value and the start of data value i. */
  private glue: Uint8Array[] = [];
  private prevStrs: (string | undefined)[] = [];
  private prevStrBytes: (Uint8Array | undefined)[] = [];
  private buf: Buffer = Buffer.alloc(0);
  /** Where the ts value of the current line is (`time` usually repeats it byte for byte). */
  private ts0 = 0;
  private ts1 = 0;

  /** Scans `buf[start, end)` (one line without its newline); false when the line needs the general path. */
  scan(buf: Buffer, start: number, end: number): boolean {
    this.buf = buf;
    const ok = this.scanLine(buf, start, end);
    if (!ok) {
      // the glue may now mix two lines: start it over
      this.cells.keys.length = 0;
      this.glue.length = 0;
    }
    return ok;
  }

  private scanLine(b: Uint8Array, start: number, end: number): boolean {
    const c = this.cells;
    let p: number;
    const head = this.head;
    if (head !== undefined && same(b, start, head)) p = start + head.length;
    else {
      p = ws(b, start, end);
      if (b[p] !== 123 /* { */) return false;
      p = ws(b, p + 1, end);
      if (!same(b, p, B_TS)) return false;
      p = colon(b, p + 4, end);
      if (p < 0) return false;
      this.head = b.slice(start, p);
    }
    this.ts0 = p;
    p = this.value(b, p, end, -1);
    if (p < 0 || this.kind === K_STR || this.kind === K_BOOL) return false;
    this.ts1 = p;
    c.ts = this.kind === K_NUM ? this.num : NaN;
    c.gs = c.st = c.tm = -1;
    const keys = c.keys;
    const glue = this.glue;
    let i = 0;
    for (;;) {
      const g = glue[i];
      const g0 = p;
      if (g !== undefined && same(b, p, g)) p += g.length;
      else {
        // check this stretch piece by piece: the header before the first key, else `, "key": `
        if (i === 0) {
          p = comma(b, p, end);
          if (p < 0 || !same(b, p, B_TYPE)) return false;
          p = colon(b, p + 6, end);
          if (p < 0 || !same(b, p, B_METRICS)) return false;
          p = comma(b, p + 9, end);
          if (p < 0 || !same(b, p, B_DATA)) return false;
          p = colon(b, p + 6, end);
          if (p < 0 || b[p] !== 123) return false;
          p = ws(b, p + 1, end);
          if (b[p] === 125 /* } */) {
            p++;
            break;
          }
        } else {
          p = ws(b, p, end);
          if (b[p] === 125) {
            p++;
            break;
          }
          if (b[p] !== 44 /* , */) return false;
          p = ws(b, p + 1, end);
        }
        if (i >= MAX_CELLS || b[p] !== 34 /* " */) return false;
        const q = plainString(b, p + 1, end);
        if (q < 0) return false;
        const key = this.buf.toString("utf8", p + 1, q);
        for (let j = 0; j < i; j++) if (keys[j] === key) return false; // duplicate key: JSON.parse keeps the last
        p = colon(b, q + 1, end);
        if (p < 0) return false;
        keys[i] = key;
        keys.length = i + 1;
        glue[i] = b.slice(g0, p);
        glue.length = i + 1; // later glue came from another line: check it again
        c.roles[i] = roleOf(key);
      }
      const role = c.roles[i];
      if (role === R_TIME && this.repeatsTs(b, p)) {
        p += this.ts1 - this.ts0;
        c.kinds[i] = K_NUM;
        c.vals[i] = c.ts;
        c.strs[i] = undefined;
      } else {
        p = this.value(b, p, end, i);
        if (p < 0) return false;
        c.kinds[i] = this.kind;
        c.vals[i] = this.num;
        c.strs[i] = this.str;
      }
      if (role !== R_COLUMN) c.mark(i, role);
      i++;
    }
    p = ws(b, p, end);
    if (b[p] !== 125 || ws(b, p + 1, end) !== end) return false;
    if (keys.length !== i) {
      keys.length = i;
      glue.length = i;
    }
    c.n = i;
    return true;
  }

  /** True when the value at `p` is the same finite number text as the line's ts. */
  private repeatsTs(b: Uint8Array, p: number): boolean {
    const t0 = this.ts0;
    const len = this.ts1 - t0;
    if (this.cells.ts !== this.cells.ts) return false; // ts is not a finite number
    for (let j = 0; j < len; j++) if (b[p + j] !== b[t0 + j]) return false;
    const after = b[p + len];
    // the number must end there too (not 1.5 vs 1.55)
    return !((after >= 48 && after <= 57) || after === 46 || after === 101 || after === 69 || after === 43 || after === 45);
  }

  /** Reads one scalar value at `p` into num/kind/str; returns the position after it, or -1. */
  private value(b: Uint8Array, p: number, end: number, i: number): number {
    const ch = b[p];
    this.str = undefined;
    if (ch === 34) {
      const s0 = p + 1;
      this.kind = K_STR;
      if (i >= 0) {
        const prev = this.prevStrBytes[i];
        if (prev !== undefined && b[s0 + prev.length] === 34 && same(b, s0, prev)) {
          this.str = this.prevStrs[i];
          return s0 + prev.length + 1;
        }
      }
      const q = plainString(b, s0, end);
      if (q < 0) return -1;
      const s = this.buf.toString("utf8", s0, q);
      this.str = s;
      if (i >= 0) {
        this.prevStrs[i] = s;
        this.prevStrBytes[i] = b.slice(s0, q);
      }
      return q + 1;
    }
    if (ch === 45 /* - */ || (ch >= 48 && ch <= 57)) {
      if (ch === 45 && b[p + 1] === 73 /* I */) {
        if (!same(b, p + 1, B_INFINITY)) return -1;
        this.kind = K_INF;
        this.num = -Infinity;
        return p + 9;
      }
      return this.number(b, p, end);
    }
    switch (ch) {
      case 116: // t
        if (!same(b, p, B_TRUE)) return -1;
        this.kind = K_BOOL;
        this.num = 1;
        return p + 4;
      case 102: // f
        if (!same(b, p, B_FALSE)) return -1;
        this.kind = K_BOOL;
        this.num = 0;
        return p + 5;
      case 110: // n
        if (!same(b, p, B_NULL)) return -1;
        this.kind = K_NULL;
        this.num = NaN;
        return p + 4;
      case 78: // N: Python's NaN, null like the general path
        if (!same(b, p, B_NAN)) return -1;
        this.kind = K_NULL;
        this.num = NaN;
        return p + 3;
      case 73: // I
        if (!same(b, p, B_INFINITY)) return -1;
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
  private number(b: Uint8Array, p: number, end: number): number {
    let neg = false;
    if (b[p] === 45) {
      neg = true;
      p++;
    }
    const d0 = p;
    let ch = b[p];
    let g1 = 0; // the first nine significant digits, once complete
    let g2 = 0; // the next nine, once complete
    let groups = 0;
    let acc = 0;
    let accDigits = 0;
    if (ch === 48) {
      ch = b[++p];
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
        ch = b[++p];
      } while (ch >= 48 && ch <= 57);
    } else return -1;
    let scale = 0;
    if (ch === 46 /* . */) {
      ch = b[++p];
      if (!(ch >= 48 && ch <= 57)) return -1;
      const f0 = p;
      if (groups === 0 && acc === 0) {
        // leading zeros of 0.000…: not significant
        while (ch === 48) ch = b[++p];
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
        ch = b[++p];
      }
      scale = p - f0;
    }
    let exp = 0;
    if (ch === 101 || ch === 69 /* e E */) {
      ch = b[++p];
      let eneg = false;
      if (ch === 43 || ch === 45) {
        eneg = ch === 45;
        ch = b[++p];
      }
      if (!(ch >= 48 && ch <= 57)) return -1;
      do {
        if (exp < 100000) exp = exp * 10 + (ch - 48);
        ch = b[++p];
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
    if (v !== v) v = Number(this.buf.toString("latin1", d0, p));
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
function ws(b: Uint8Array, p: number, end: number): number {
  while (p < end) {
    const ch = b[p];
    if (ch !== 32 && ch !== 9 && ch !== 13 && ch !== 10) break;
    p++;
  }
  return p;
}

/** Skips `ws : ws`; the position after, or -1. */
function colon(b: Uint8Array, p: number, end: number): number {
  p = ws(b, p, end);
  if (b[p] !== 58) return -1;
  return ws(b, p + 1, end);
}

/** Skips `ws , ws`; the position after, or -1. */
function comma(b: Uint8Array, p: number, end: number): number {
  p = ws(b, p, end);
  if (b[p] !== 44) return -1;
  return ws(b, p + 1, end);
}

/** True when `b` holds the bytes of `lit` at `p`. */
function same(b: Uint8Array, p: number, lit: Uint8Array): boolean {
  const n = lit.length;
  for (let j = 0; j < n; j++) if (b[p + j] !== lit[j]) return false;
  return true;
}

/** The closing quote of a string starting at `p` with no escapes or control characters, or -1. */
function plainString(b: Uint8Array, p: number, end: number): number {
  for (let j = p; j < end; j++) {
    const ch = b[j];
    if (ch === 34) return j;
    if (ch === 92 || ch < 32) return -1;
  }
  return -1;
}
