// Tests that the SDK's serializer writes the same JSON text as Python's json.dumps (spec §1.5).
import { describe, expect, it } from "bun:test";
import { dumps, formatFloat, formatNumber, PyFloat } from "../../src/sdk/py-json.ts";

// [value, json.dumps(value) as printed by CPython 3.11]
const PYTHON_FLOATS: [number, string][] = [
  [0.5, "0.5"],
  [0.1, "0.1"],
  [1 / 3, "0.3333333333333333"],
  [2 / 3, "0.6666666666666666"],
  [1e-4, "0.0001"],
  [9.99e-5, "9.99e-05"],
  [1e-5, "1e-05"],
  [1.5e-7, "1.5e-07"],
  [-2.5e-5, "-2.5e-05"],
  [123456789.123, "123456789.123"],
  [1e16, "1e+16"],
  [1.5e16, "1.5e+16"],
  [1e21, "1e+21"],
  [1e22, "1e+22"],
  [-1e16, "-1e+16"],
  [1.7976931348623157e308, "1.7976931348623157e+308"],
  [5e-324, "5e-324"],
  [1795922224.0189824, "1795922224.0189824"],
  [-0.001, "-0.001"],
  [NaN, "NaN"],
  [Infinity, "Infinity"],
  [-Infinity, "-Infinity"],
];

describe("formatNumber", () => {
  for (const [v, py] of PYTHON_FLOATS) {
    it(`writes ${py} exactly as Python does`, () => {
      expect(formatNumber(v)).toBe(py);
    });
  }

  it("writes integral values below 1e16 as integers, since JS cannot tell 3 from 3.0", () => {
    expect(formatNumber(3)).toBe("3");
    expect(formatNumber(-42)).toBe("-42");
    expect(formatNumber(0)).toBe("0");
    expect(formatNumber(9007199254740991)).toBe("9007199254740991");
  });
});

describe("formatFloat", () => {
  it("keeps Python's float form for integral timestamps", () => {
    expect(formatFloat(100)).toBe("100.0");
    expect(formatFloat(1e15)).toBe("1000000000000000.0");
    expect(formatFloat(9999999999999998)).toBe("9999999999999998.0");
    expect(formatFloat(-5)).toBe("-5.0");
    expect(formatFloat(0)).toBe("0.0");
    expect(formatFloat(1e16)).toBe("1e+16");
    expect(formatFloat(1795922224.0189824)).toBe("1795922224.0189824");
  });
});

describe("dumps", () => {
  it("matches json.dumps(ensure_ascii=False) for nested values and escapes", () => {
    const v = { a: [1, 2, { b: null, c: true }], s: 'é"\\\n\t\u0001\u007f\u2028', e: {}, l: [] };
    expect(dumps(v)).toBe('{"a": [1, 2, {"b": null, "c": true}], "s": "é\\"\\\\\\n\\t\\u0001\u007f\u2028", "e": {}, "l": []}');
  });

  it("matches json.dumps(indent=2) including empty containers", () => {
    const v = { a: [1, 2, { b: null, c: true }], s: "x", e: {}, l: [], n: { k: [] } };
    const py = `{
  "a": [
    1,
    2,
    {
      "b": null,
      "c": true
    }
  ],
  "s": "x",
  "e": {},
  "l": [],
  "n": {
    "k": []
  }
}`;
    expect(dumps(v, 2)).toBe(py);
  });

  it("writes NaN and infinities as bare tokens inside containers", () => {
    expect(dumps({ x: [NaN, Infinity, -Infinity] })).toBe('{"x": [NaN, Infinity, -Infinity]}');
  });

  it("follows JSON.stringify for JS-only values: skipped undefined, null in arrays, toJSON, typed arrays, bigint", () => {
    const v = { u: undefined, f: () => 1, arr: [undefined, 1], d: new Date(0), t: new Float32Array([0.5, 2]), b: 10n };
    expect(dumps(v)).toBe('{"arr": [null, 1], "d": "1970-01-01T00:00:00.000Z", "t": [0.5, 2], "b": 10}');
  });

  it("writes PyFloat values in float form", () => {
    expect(dumps({ t: new PyFloat(5) }, 2)).toBe('{\n  "t": 5.0\n}');
  });

  it("throws TypeError on a circular structure, as json.dumps raises", () => {
    const a: Record<string, unknown> = {};
    a.self = a;
    expect(() => dumps(a)).toThrow(TypeError);
  });

  it("allows the same object twice when it is not circular", () => {
    const shared = { k: 1 };
    expect(dumps({ a: shared, b: shared })).toBe('{"a": {"k": 1}, "b": {"k": 1}}');
  });
});

const PYTHON = Bun.which("python3");

describe.skipIf(!PYTHON)("against the real CPython json.dumps", () => {
  it("formats 20,000 random doubles of every magnitude exactly as CPython does", async () => {
    const view = new DataView(new ArrayBuffer(8));
    const values: number[] = [];
    while (values.length < 20_000) {
      view.setUint32(0, (Math.random() * 2 ** 32) >>> 0);
      view.setUint32(4, (Math.random() * 2 ** 32) >>> 0);
      const v = view.getFloat64(0);
      // random bit patterns, plus values near the decimal/exponent switch points
      if (Number.isFinite(v) && !Number.isInteger(v)) values.push(v);
      const near = Math.random() * 10 ** (Math.floor(Math.random() * 30) - 10);
      if (!Number.isInteger(near)) values.push(near);
    }
    // hex floats carry the exact bits to Python
    const hex = values.map((v) => toHexFloat(view, v));
    const proc = Bun.spawn(
      [PYTHON as string, "-c", "import sys, json\nfor l in sys.stdin: print(json.dumps(float.fromhex(l.strip())))"],
      { stdin: new Blob([hex.join("\n") + "\n"]), stdout: "pipe" },
    );
    const py = (await new Response(proc.stdout).text()).trimEnd().split("\n");
    expect(await proc.exited).toBe(0);
    const mismatches = values.map((v, i) => [formatNumber(v), py[i]]).filter(([a, b]) => a !== b);
    expect(mismatches.slice(0, 5)).toEqual([]);
  });
});

/** The exact value of a double as a C99 hex float, which Python's float.fromhex reads. */
function toHexFloat(view: DataView, v: number): string {
  view.setFloat64(0, v);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const sign = hi >>> 31 ? "-" : "";
  const exp = (hi >>> 20) & 0x7ff;
  const mant = ((hi & 0xfffff).toString(16).padStart(5, "0") + lo.toString(16).padStart(8, "0"));
  if (exp === 0) return `${sign}0x0.${mant}p-1022`;
  return `${sign}0x1.${mant}p${exp - 1023}`;
}
