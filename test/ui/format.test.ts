// Unit tests of the UI's number formatting: axis tick labels that tell neighbouring ticks apart.
import { describe, expect, it } from "bun:test";
import { fmtNum, tickLabels } from "../../ui/src/format.ts";

describe("tickLabels", () => {
  it("writes as many decimals as the tick step needs, so close ticks stay distinct", () => {
    expect(tickLabels([0, 0.0005, 0.001, 0.0015, 0.002], 0.0005)).toEqual(["0", "0.0005", "0.0010", "0.0015", "0.0020"]);
    expect(tickLabels([0, 0.25, 0.5, 0.75], 0.25)).toEqual(["0", "0.25", "0.50", "0.75"]);
    expect(tickLabels([50, 100, 150], 50)).toEqual(["50", "100", "150"]);
  });

  it("never writes a negative zero", () => {
    expect(tickLabels([-0.2, -1e-17, 0.2], 0.2)).toEqual(["-0.2", "0.0", "0.2"]);
  });

  it("uses exponents for very large values and very fine steps", () => {
    expect(tickLabels([1e6, 1.25e6, 1.5e6, 2e6], 2.5e5)).toEqual(["1e+6", "1.25e+6", "1.5e+6", "2e+6"]);
    expect(tickLabels([1e-5, 1.5e-5, 2e-5], 5e-6)).toEqual(["1e-5", "1.5e-5", "2e-5"]);
  });

  it("labels a log axis value by value", () => {
    expect(tickLabels([0.1, 1, 10], 1, true)).toEqual(["0.1", "1", "10"]);
  });
});

describe("fmtNum", () => {
  it("keeps five significant digits and writes tiny or huge values with exponents", () => {
    expect(fmtNum(2 / 300)).toBe("0.0066667");
    expect(fmtNum(3e-7)).toBe("3.000e-7");
    expect(fmtNum(42)).toBe("42");
    expect(fmtNum(null)).toBe("–");
  });
});
