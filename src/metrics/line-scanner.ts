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

/** The role of a data key. */
export function roleOf(key: string): number {
  switch (key) {
    case "time":
      return R_TIME;
    case "global_step":
      return R_GLOBAL_STEP;
    case "step":
      return R_STEP;
    default:
      return R_COLUMN;
  }
}

/** Most keys one line may carry on the fast path; longer lines take the general path. */
export const MAX_CELLS = 256;

/**
 * The cells of one metrics event's `data`, in key order: kind (chunk `K_*`, NaN as `K_NULL`), number,
 * string, and role. Filled by the scanner, or from a parsed object by the general path. Cell i's kind
 * and number are at `base + i` (a batch writer lets the scanner write straight into its arrays); its
 * role and string at i.
 */
export class Cells {
  n = 0;
  keys: string[] = [];
  roles = new Uint8Array(MAX_CELLS);
  base = 0;
  kinds: Uint8Array<ArrayBuffer> = new Uint8Array(MAX_CELLS);
  vals: Float64Array<ArrayBuffer> = new Float64Array(MAX_CELLS);
  strs: (string | undefined)[] = [];
  /** `ts` of the event as a finite number, else NaN. */
  ts = NaN;
  /** Changes whenever `keys` may have changed (a batch writer looks the key list up again only then). */
  keysGen = 0;
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

  /** Takes the keys of an event (their roles and the positions of step and time); returns their count. */
  setKeys(keys: string[]): number {
    const n = keys.length;
    while (n > this.roles.length) this.grow();
    this.keys = keys;
    this.keysGen++;
    this.gs = this.st = this.tm = -1;
    for (let i = 0; i < n; i++) {
      const role = roleOf(keys[i]);
      this.roles[i] = role;
      if (role !== R_COLUMN) this.mark(i, role);
    }
    this.n = n;
    return n;
  }

  /** Fills the cells from a parsed `data` object (lists and objects are left out, spec §3.3). */
  fromObject(data: Record<string, unknown>, ts: unknown): void {
    let i = 0;
    this.keysGen++;
    this.gs = this.st = this.tm = -1;
    for (const key in data) {
      const v = data[key];
      if (v !== null && typeof v === "object") continue;
      if (i >= this.roles.length) this.grow();
      this.keys[i] = key;
      const role = roleOf(key);
      this.roles[i] = role;
      if (role !== R_COLUMN) this.mark(i, role);
      switch (typeof v) {
        case "number":
          if (v - v === 0) this.kinds[i] = K_NUM;
          else this.kinds[i] = v !== v ? K_NULL : K_INF;
          // a null cell's slot holds 0, as the scanner writes it: the batch is the same whichever path read it
          this.vals[i] = v !== v ? 0 : v;
          break;
        case "string":
          this.kinds[i] = K_STR;
          this.strs[i] = v;
          this.vals[i] = 0;
          break;
        case "boolean":
          this.kinds[i] = K_BOOL;
          this.vals[i] = v ? 1 : 0;
          break;
        default:
          this.kinds[i] = K_NULL;
          this.vals[i] = 0;
      }
      i++;
    }
    this.n = i;
    this.ts = typeof ts === "number" && ts - ts === 0 ? ts : NaN;
  }

  /** Doubles the room for cells (only for cells at base 0: a batch writer sizes its own arrays). */
  private grow(): void {
    const cap = this.roles.length * 2;
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

/** learnKey's answer when the data object closes instead of another key following. */
const END_OF_DATA = -2;

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

/** A byte string remembered from a checked line, compared four bytes at a time. */
class Lit {
  readonly len: number;
  /** The bytes as little-endian words at 0, 4, 8 … and, when the length is no multiple of 4, at len - 4. */
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;

  /** Copies `src` (a view on a read buffer that is reused). */
  constructor(src: Uint8Array) {
    const bytes = new Uint8Array(src);
    const len = bytes.length;
    this.len = len;
    this.bytes = bytes;
    const dv = new DataView(bytes.buffer, bytes.byteOffset, len);
    const nw = len >>> 2;
    const words: number[] = [];
    for (let k = 0; k < nw; k++) words.push(dv.getInt32(4 * k, true));
    if (len > 4 && len % 4 !== 0) words.push(dv.getInt32(len - 4, true));
    this.words = Int32Array.from(words);
  }

  /** True when `b` (seen through `dv`) holds these bytes at `p`, all before `end`. */
  at(dv: DataView, b: Uint8Array, p: number, end: number): boolean {
    const len = this.len;
    if (p + len > end) return false;
    if (len < 4) {
      for (let j = 0; j < len; j++) if (b[p + j] !== this.bytes[j]) return false;
      return true;
    }
    const words = this.words;
    const nw = words.length;
    // the last word may overlap the one before: no byte-by-byte tail
    const last = p + len - 4;
    for (let k = 0; k < nw - 1; k++) if (dv.getInt32(p + 4 * k, true) !== words[k]) return false;
    return dv.getInt32(last, true) === words[nw - 1];
  }
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
  private head: Lit | undefined;
  /** glue[i]: the bytes between the end of the previous value and the start of data value i. */
  private glue: Lit[] = [];
  private prevStrs: (string | undefined)[] = [];
  private prevStrBytes: (Lit | undefined)[] = [];
  private buf: Buffer = Buffer.alloc(0);
  private dv: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  /** Where learnKey found the data object's end. */
  private after = 0;
  /** Where the ts value of the current line is (`time` usually repeats it byte for byte). */
  private ts0 = 0;
  private ts1 = 0;

  /** Scans `buf[start, end)` (one line without its newline); false when the line needs the general path. */
  scan(buf: Buffer, start: number, end: number): boolean {
    this.use(buf);
    return this.finish(this.scanLine(buf, start, end)) === end;
  }

  /**
   * Scans the line starting at `start` (its newline before `limit`) and returns the position of that
   * newline, or -1 when the line needs the general path (the caller finds its end itself).
   */
  scanTo(buf: Buffer, start: number, limit: number): number {
    this.use(buf);
    const q = this.finish(this.scanLine(buf, start, limit));
    return q >= 0 && q < limit && buf[q] === 10 ? q : -1;
  }

  private use(buf: Buffer): void {
    if (buf !== this.buf) {
      this.buf = buf;
      this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
  }

  /** Takes the result of scanLine: on failure the glue may mix two lines, so it starts over. */
  private finish(q: number): number {
    if (q < 0) {
      this.cells.keysGen++;
      this.cells.keys.length = 0;
      this.glue.length = 0;
    }
    return q;
  }

  /** Scans one line from `start`; the position after it and its trailing blanks, or -1. Never passes `end`. */
  private scanLine(b: Uint8Array, start: number, end: number): number {
    const c = this.cells;
    const dv = this.dv;
    let p: number;
    const head = this.head;
    if (head !== undefined && head.at(dv, b, start, end)) p = start + head.len;
    else {
      p = this.learnHead(b, start, end);
      if (p < 0) return -1;
    }
    this.ts0 = p;
    p = this.value(b, p, end, -1);
    if (p < 0 || this.kind === K_STR || this.kind === K_BOOL) return -1;
    this.ts1 = p;
    c.ts = this.kind === K_NUM ? this.num : NaN;
    c.gs = c.st = c.tm = -1;
    const keys = c.keys;
    const glue = this.glue;
    const base = c.base;
    let i = 0;
    for (;;) {
      const g = glue[i];
      const g0 = p;
      if (g !== undefined && g.at(dv, b, p, end)) p += g.len;
      else {
        if (g === undefined && i > 0) {
          // past the keys of the lines before: usually the data object closes here
          const q = ws(b, p, end);
          if (b[q] === 125 /* } */) {
            p = q + 1;
            break;
          }
        }
        const q = this.learnKey(b, p, end, i, g0);
        if (q === END_OF_DATA) {
          p = this.after;
          break;
        }
        if (q < 0) return -1;
        p = q;
      }
      const role = c.roles[i];
      if (role === R_TIME && this.repeatsTs(b, p, end)) {
        p += this.ts1 - this.ts0;
        c.kinds[base + i] = K_NUM;
        c.vals[base + i] = c.ts;
        c.strs[i] = undefined;
      } else {
        const ch = b[p];
        if ((ch >= 48 && ch <= 57) || (ch === 45 && b[p + 1] !== 73)) {
          // a number (most cells): straight to the number reader
          p = this.number(b, p, end);
          if (p < 0) return -1;
          c.strs[i] = undefined;
        } else {
          p = this.value(b, p, end, i);
          if (p < 0) return -1;
          c.strs[i] = this.str;
        }
        c.kinds[base + i] = this.kind;
        c.vals[base + i] = this.num;
      }
      if (role !== R_COLUMN) c.mark(i, role);
      i++;
    }
    p = ws(b, p, end);
    if (b[p] !== 125 || p >= end) return -1;
    p = ws(b, p + 1, end);
    if (keys.length !== i) {
      keys.length = i;
      glue.length = i;
      c.keysGen++;
    }
    c.n = i;
    return p;
  }

  /**
   * Checks the start of a line piece by piece (`{"ts": `) and remembers it; the position of the ts
   * value, or -1. This and learnKey are apart from scanLine because they run only when a line looks
   * new: the JIT then compiles the hot loop without them, which matters during a first ingest.
   */
  private learnHead(b: Uint8Array, start: number, end: number): number {
    let p = ws(b, start, end);
    if (b[p] !== 123 /* { */) return -1;
    p = ws(b, p + 1, end);
    if (!same(b, p, end, B_TS)) return -1;
    p = colon(b, p + 4, end);
    if (p < 0) return -1;
    this.head = new Lit(b.subarray(start, p));
    return p;
  }

  /**
   * Checks the stretch from `g0` up to data value i piece by piece (the header before the first key,
   * else `, "key": `) and remembers it as glue[i] with the key; the position of the value, -1 when the
   * line is not of the fast shape, or END_OF_DATA (the data object closes there; `after` is past it).
   */
  private learnKey(b: Uint8Array, p: number, end: number, i: number, g0: number): number {
    const c = this.cells;
    const keys = c.keys;
    if (i === 0) {
      p = comma(b, p, end);
      if (p < 0 || !same(b, p, end, B_TYPE)) return -1;
      p = colon(b, p + 6, end);
      if (p < 0 || !same(b, p, end, B_METRICS)) return -1;
      p = comma(b, p + 9, end);
      if (p < 0 || !same(b, p, end, B_DATA)) return -1;
      p = colon(b, p + 6, end);
      if (p < 0 || b[p] !== 123) return -1;
      p = ws(b, p + 1, end);
      if (b[p] === 125 /* } */) {
        this.after = p + 1;
        return END_OF_DATA;
      }
    } else {
      p = ws(b, p, end);
      if (b[p] === 125) {
        this.after = p + 1;
        return END_OF_DATA;
      }
      if (b[p] !== 44 /* , */) return -1;
      p = ws(b, p + 1, end);
    }
    if (i >= MAX_CELLS || b[p] !== 34 /* " */) return -1;
    const q = plainString(b, p + 1, end);
    if (q < 0) return -1;
    const key = this.buf.toString("utf8", p + 1, q);
    for (let j = 0; j < i; j++) if (keys[j] === key) return -1; // duplicate key: JSON.parse keeps the last
    p = colon(b, q + 1, end);
    if (p < 0) return -1;
    keys[i] = key;
    keys.length = i + 1;
    c.keysGen++;
    this.glue[i] = new Lit(b.subarray(g0, p));
    this.glue.length = i + 1; // later glue came from another line: check it again
    c.roles[i] = roleOf(key);
    return p;
  }

  /** True when the value at `p` is the same finite number text as the line's ts. */
  private repeatsTs(b: Uint8Array, p: number, end: number): boolean {
    const t0 = this.ts0;
    const len = this.ts1 - t0;
    if (this.cells.ts !== this.cells.ts) return false; // ts is not a finite number
    if (p + len >= end) return false;
    for (let j = 0; j < len; j++) if (b[p + j] !== b[t0 + j]) return false;
    const after = b[p + len];
    // the number must end there too (not 1.5 vs 1.55)
    return !((after >= 48 && after <= 57) || after === 46 || after === 101 || after === 69 || after === 43 || after === 45);
  }

  /** Reads one scalar value at `p` into num/kind/str; returns the position after it, or -1. */
  private value(b: Uint8Array, p: number, end: number, i: number): number {
    const ch = b[p];
    this.str = undefined;
    if (ch === 45 /* - */ || (ch >= 48 && ch <= 57)) {
      if (ch === 45 && b[p + 1] === 73 /* I */) {
        if (!same(b, p + 1, end, B_INFINITY)) return -1;
        this.kind = K_INF;
        this.num = -Infinity;
        return p + 9;
      }
      return this.number(b, p, end);
    }
    if (ch === 34) {
      const s0 = p + 1;
      this.kind = K_STR;
      if (i >= 0) {
        const prev = this.prevStrBytes[i];
        if (prev !== undefined && b[s0 + prev.len] === 34 && prev.at(this.dv, b, s0, end)) {
          this.str = this.prevStrs[i];
          return s0 + prev.len + 1;
        }
      }
      const q = plainString(b, s0, end);
      if (q < 0) return -1;
      const s = this.buf.toString("utf8", s0, q);
      this.str = s;
      if (i >= 0) {
        this.prevStrs[i] = s;
        this.prevStrBytes[i] = new Lit(b.subarray(s0, q));
      }
      return q + 1;
    }
    switch (ch) {
      case 116: // t
        if (!same(b, p, end, B_TRUE)) return -1;
        this.kind = K_BOOL;
        this.num = 1;
        return p + 4;
      case 102: // f
        if (!same(b, p, end, B_FALSE)) return -1;
        this.kind = K_BOOL;
        this.num = 0;
        return p + 5;
      case 110: // n
        if (!same(b, p, end, B_NULL)) return -1;
        // a null cell's number is never read; 0 rather than NaN keeps the number slots NaN-free, which
        // the JIT compiles for (a NaN arriving later would throw the optimised code away)
        this.kind = K_NULL;
        this.num = 0;
        return p + 4;
      case 78: // N: Python's NaN, null like the general path
        if (!same(b, p, end, B_NAN)) return -1;
        this.kind = K_NULL;
        this.num = 0;
        return p + 3;
      case 73: // I
        if (!same(b, p, end, B_INFINITY)) return -1;
        this.kind = K_INF;
        this.num = Infinity;
        return p + 8;
      default:
        return -1; // objects, lists and anything else: general path
    }
  }

  /**
   * A JSON number, exactly as JSON.parse reads it. The digits are found four at a time; a significand
   * of up to 15 digits is exact in a double, so with a power of ten up to 10^22 it gives the value in
   * one rounding (Clinger's fast path); one of 16 to 18 digits is split into its first nine and the
   * rest, which make it an exact double-double, divided by 10^k through `divPow10`; anything else goes
   * through `Number()` of the text.
   */
  private number(b: Uint8Array, p: number, end: number): number {
    const dv = this.dv;
    let neg = false;
    if (b[p] === 45) {
      neg = true;
      p++;
    }
    const d0 = p;
    let ch = b[p];
    // significant digits: [a0, a1) then [f0, f1)
    let a0: number;
    let a1: number;
    if (ch === 48) {
      a0 = a1 = ++p;
    } else if (ch >= 49 && ch <= 57) {
      a0 = p;
      a1 = p = digitsEnd(dv, b, p + 1, end);
    } else return -1;
    ch = b[p];
    if (ch >= 48 && ch <= 57) return -1; // leading zero: not JSON
    let f0 = p;
    let f1 = p;
    if (ch === 46 /* . */) {
      f0 = p + 1;
      f1 = p = digitsEnd(dv, b, f0, end);
      if (f1 === f0) return -1;
      ch = b[p];
    }
    const scale = f1 - f0;
    if (a0 === a1) {
      // 0.000…: leading zeros are not significant
      while (f0 < f1 && b[f0] === 48) f0++;
    }
    let exp = 0;
    if (ch === 101 || ch === 69 /* e E */) {
      ch = b[++p];
      let eneg = false;
      if (ch === 43 || ch === 45) {
        eneg = ch === 45;
        ch = b[++p];
      }
      if (!(ch >= 48 && ch <= 57) || p >= end) return -1;
      do {
        if (exp < 100000) exp = exp * 10 + (ch - 48);
        ch = b[++p];
      } while (ch >= 48 && ch <= 57 && p < end);
      if (eneg) exp = -exp;
    }
    if (p > end) return -1;
    const e10 = exp - scale;
    const la = a1 - a0;
    const n = la + (f1 - f0);
    let v = NaN;
    if (n === 0) v = 0;
    else if (n <= 15) {
      const m = digitsValue(dv, b, f0, f1, digitsValue(dv, b, a0, a1, 0));
      if (e10 >= -22 && e10 <= 22) v = e10 >= 0 ? m * POW10[e10] : m / POW10[-e10];
    } else if (n <= 18) {
      // mantissa = g1·10^r + low, with g1·10^r = g1·5^r·2^r exact (g1·5^r < 2^51); hi + lo exact (Fast2Sum)
      let g1: number;
      let low: number;
      if (la >= 9) {
        g1 = digitsValue(dv, b, a0, a0 + 9, 0);
        low = digitsValue(dv, b, f0, f1, digitsValue(dv, b, a0 + 9, a1, 0));
      } else {
        const split = f0 + 9 - la;
        g1 = digitsValue(dv, b, f0, split, digitsValue(dv, b, a0, a1, 0));
        low = digitsValue(dv, b, split, f1, 0);
      }
      const big = g1 * POW10[n - 9];
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

/** The end of a run of ASCII digits starting at `p` (at most `end`), four bytes at a time. */
function digitsEnd(dv: DataView, b: Uint8Array, p: number, end: number): number {
  while (p + 4 <= end) {
    const x = dv.getInt32(p, true);
    // every byte in '0'..'9': high nibble 3, and adding 6 keeps it 3
    if (((x & 0xf0f0f0f0) | (((x + 0x06060606) & 0xf0f0f0f0) >>> 4)) !== 0x33333333) break;
    p += 4;
  }
  while (p < end) {
    const ch = b[p];
    if (ch < 48 || ch > 57) break;
    p++;
  }
  return p;
}

/** acc·10^(to-from) plus the value of the digits `b[from, to)`, four at a time (exact below 2^53). */
function digitsValue(dv: DataView, b: Uint8Array, from: number, to: number, acc: number): number {
  let p = from;
  while (p + 4 <= to) {
    // four ASCII digits, first one lowest (little-endian) → their value, by pairs
    let x = dv.getInt32(p, true) - 0x30303030;
    x = (x * 10 + (x >>> 8)) & 0x00ff00ff;
    x = (x * 100 + (x >>> 16)) & 0xffff;
    acc = acc * 10000 + x;
    p += 4;
  }
  while (p < to) acc = acc * 10 + (b[p++] - 48);
  return acc;
}

const SPLIT = 134217729; // 2^27 + 1: Veltkamp's split of a double into two 26-bit halves
const TWO_POW_M94 = 2 ** -94;
/** 1/10^k rounded, and 10^k split into two halves for Dekker's product (both fixed per k). */
const INV10 = POW10.map((d) => 1 / d);
const POW10_HI = POW10.map((d) => SPLIT * d - (SPLIT * d - d));
const POW10_LO = POW10.map((d, k) => d - POW10_HI[k]);

/**
 * The double nearest to `(hi + lo) / 10^k` (hi + lo an integer mantissa as an exact double-double,
 * k ≤ 22), or NaN when it cannot tell cheaply: the quotient is computed in double-double arithmetic
 * (a first quotient q1, and the exact remainder hi + lo - q1·10^k scaled by 1/10^k; error below 2^-100
 * relative) and rounded only when its whole error interval rounds to one double. Multiplying by the
 * rounded reciprocal instead of dividing is fine for both steps: the remainder is exact whatever q1 is,
 * and the correction's own error (2^-52 of a value 2^-52 of q1) stays far inside the interval.
 */
export function divPow10(hi: number, lo: number, k: number): number {
  const d = POW10[k];
  const inv = INV10[k];
  const q1 = hi * inv;
  // q1·d exactly as p + e (Dekker's product)
  const p = q1 * d;
  const c1 = SPLIT * q1;
  const qh = c1 - (c1 - q1);
  const ql = q1 - qh;
  const dh = POW10_HI[k];
  const dl = POW10_LO[k];
  const e = qh * dh - p + qh * dl + ql * dh + ql * dl;
  const q2 = (hi - p - e + lo) * inv;
  const err = Math.abs(q1) * TWO_POW_M94;
  const down = q1 + (q2 - err);
  return down === q1 + (q2 + err) ? down : NaN;
}

/** Position after JSON whitespace other than newlines (a line holds none, and scanTo must not pass one). */
function ws(b: Uint8Array, p: number, end: number): number {
  while (p < end) {
    const ch = b[p];
    if (ch !== 32 && ch !== 9 && ch !== 13) break;
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

/** True when `b` holds the bytes of `lit` at `p`, before `end`. */
function same(b: Uint8Array, p: number, end: number, lit: Uint8Array): boolean {
  const n = lit.length;
  if (p + n > end) return false;
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
