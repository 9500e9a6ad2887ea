import { describe, expect, it } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseTolerant, readJsonObject } from "../../src/store/json.ts";
import { tempDir } from "../helpers/server.ts";

describe("tolerant JSON", () => {
  it("reads Python's NaN and Infinity tokens as null by default", () => {
    expect(parseTolerant('{"a": NaN, "b": Infinity, "c": -Infinity, "d": 1}')).toEqual({ a: null, b: null, c: null, d: 1 });
  });

  it("keeps infinities as numbers when asked", () => {
    expect(parseTolerant("[NaN, Infinity, -Infinity]", "infinity")).toEqual([null, Infinity, -Infinity]);
  });

  it("leaves the same words inside strings alone", () => {
    expect(parseTolerant('{"note": "NaN and -Infinity \\" Infinity", "v": NaN}')).toEqual({
      note: 'NaN and -Infinity " Infinity',
      v: null,
    });
  });

  it("still rejects text that is not JSON", () => {
    expect(() => parseTolerant('{"a": nan}')).toThrow();
    expect(() => parseTolerant('{"a": 1')).toThrow();
  });

  it("reads a truncated, missing or non-object file as undefined", () => {
    const t = tempDir();
    try {
      writeFileSync(join(t.dir, "torn.json"), '{"status": "runn');
      writeFileSync(join(t.dir, "list.json"), "[1,2]");
      writeFileSync(join(t.dir, "ok.json"), '{"x": NaN}');
      expect(readJsonObject(join(t.dir, "torn.json"))).toBeUndefined();
      expect(readJsonObject(join(t.dir, "list.json"))).toBeUndefined();
      expect(readJsonObject(join(t.dir, "missing.json"))).toBeUndefined();
      expect(readJsonObject(join(t.dir, "ok.json"))).toEqual({ x: null });
    } finally {
      t.cleanup();
    }
  });
});
