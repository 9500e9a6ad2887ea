// A minimal protocol-buffers wire-format reader: enough to walk TensorBoard's Event/Summary messages
// without generated code. Fields are visited in order; unknown fields are skipped by wire type.

/** Wire types of the protobuf encoding. */
export const VARINT = 0;
export const FIXED64 = 1;
export const LEN = 2;
export const FIXED32 = 5;

/** A malformed message (truncated, bad wire type, varint too long). */
export class ProtoError extends Error {}

/** A cursor over one message's bytes, [pos, end). */
export class ProtoReader {
  pos: number;
  end: number;
  private readonly view: DataView;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    end = buf.length,
    view?: DataView,
  ) {
    this.pos = start;
    this.end = end;
    this.view = view ?? new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /**
   * Runs `fn` with the cursor limited to an embedded message (no allocation), then moves past it.
   * The hot path of the TensorBoard reader uses this instead of `message()`.
   */
  within<T>(fn: (r: ProtoReader) => T): T {
    const [s, e] = this.lenRange();
    const saveEnd = this.end;
    this.pos = s;
    this.end = e;
    try {
      return fn(this);
    } finally {
      this.end = saveEnd;
      this.pos = e;
    }
  }

  /** Whether fields remain. */
  more(): boolean {
    return this.pos < this.end;
  }

  /** The next field's tag as `field << 3 | wireType`. */
  tag(): number {
    return this.varint();
  }

  /** An unsigned varint up to 2^53 (larger values lose precision, as JSON would). */
  varint(): number {
    const b = this.buf;
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtoError("truncated varint");
      const byte = b[this.pos++];
      result += (byte & 0x7f) * mul;
      if (byte < 0x80) return result;
      mul *= 128;
    }
    throw new ProtoError("varint longer than 10 bytes");
  }

  /** A varint read as a signed 64-bit integer (two's complement), as int64 fields are encoded. */
  int64(): number {
    const v = this.varint();
    return v >= 2 ** 63 ? v - 2 ** 64 : v;
  }

  double(): number {
    if (this.pos + 8 > this.end) throw new ProtoError("truncated double");
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  float(): number {
    if (this.pos + 4 > this.end) throw new ProtoError("truncated float");
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** The [start, end) range of a length-delimited field's payload; the cursor moves past it. */
  lenRange(): [number, number] {
    const n = this.varint();
    const start = this.pos;
    if (start + n > this.end) throw new ProtoError("truncated length-delimited field");
    this.pos = start + n;
    return [start, start + n];
  }

  /** Start of the payload skipped by the last `lenEnd()`. */
  lastStart = 0;

  /** Like `lenRange()` without allocating: returns the end; the start is in `lastStart`. */
  lenEnd(): number {
    const n = this.varint();
    const start = this.pos;
    if (start + n > this.end) throw new ProtoError("truncated length-delimited field");
    this.lastStart = start;
    this.pos = start + n;
    return start + n;
  }

  /** A length-delimited field's bytes (a view, not a copy). */
  bytes(): Uint8Array {
    const [s, e] = this.lenRange();
    return this.buf.subarray(s, e);
  }

  string(): string {
    const [s, e] = this.lenRange();
    return decoder.decode(this.buf.subarray(s, e));
  }

  /** A reader over an embedded message. */
  message(): ProtoReader {
    const [s, e] = this.lenRange();
    return new ProtoReader(this.buf, s, e, this.view);
  }

  /** Skips one field's value of the given wire type. */
  skip(wireType: number): void {
    switch (wireType) {
      case VARINT:
        this.varint();
        return;
      case FIXED64:
        this.pos += 8;
        break;
      case LEN:
        this.lenRange();
        return;
      case FIXED32:
        this.pos += 4;
        break;
      default:
        throw new ProtoError(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) throw new ProtoError("truncated field");
  }

  /** A repeated double field, packed or not (`wireType` of the tag just read). */
  doubles(wireType: number, out: number[]): void {
    if (wireType === FIXED64) out.push(this.double());
    else if (wireType === LEN) {
      const [s, e] = this.lenRange();
      if ((e - s) % 8 !== 0) throw new ProtoError("packed doubles of odd length");
      for (let p = s; p < e; p += 8) out.push(this.view.getFloat64(p, true));
    } else throw new ProtoError("bad wire type for double");
  }

  /** A repeated float field, packed or not. */
  floats(wireType: number, out: number[]): void {
    if (wireType === FIXED32) out.push(this.float());
    else if (wireType === LEN) {
      const [s, e] = this.lenRange();
      if ((e - s) % 4 !== 0) throw new ProtoError("packed floats of odd length");
      for (let p = s; p < e; p += 4) out.push(this.view.getFloat32(p, true));
    } else throw new ProtoError("bad wire type for float");
  }

  /** A repeated varint field (int32/int64/bool), packed or not. */
  varints(wireType: number, out: number[]): void {
    if (wireType === VARINT) out.push(this.int64());
    else if (wireType === LEN) {
      const [st, e] = this.lenRange();
      const sub = new ProtoReader(this.buf, st, e, this.view);
      while (sub.more()) out.push(sub.int64());
    } else throw new ProtoError("bad wire type for varint");
  }
}

const decoder = new TextDecoder("utf-8", { fatal: false });
