// The run filter language: parsing (with the failing column), semantics, and parser fuzz.
import { describe, expect, it } from "bun:test";
import { evaluateFilter, filterFields, FilterSyntaxError, parseFilter } from "../../src/analysis/filter.ts";

type Run = Record<string, unknown>;
const runs: Run[] = [
  { run_id: "a", status: "finished", path: "sweep/b", tags: ["best", "v1"], config: { lr: 0.001, optimizer: "adam", batch_size: 32, seed: 0 }, summary: { final_acc: 0.91 }, metric: { loss: { min: 0.3, last: 0.35 } } },
  { run_id: "b", status: "finished", path: "sweep/b", tags: [], config: { lr: 0.0005, optimizer: "sgd", batch_size: 64, seed: 1 }, summary: { final_acc: 0.85 }, metric: { loss: { min: 0.6, last: 0.7 } } },
  { run_id: "c", status: "failed", path: "vision/resnet", tags: ["v1"], config: { lr: 0.01, optimizer: "adam", batch_size: 64, seed: 2 }, summary: { final_acc: 0.5 }, metric: { loss: { min: 0.45 } } },
  { run_id: "d", status: "running", path: "vision/vit", tags: [], config: { lr: "0.001", use_bn: true }, summary: {} },
];

function get(run: Run, path: string[]): unknown {
  let v: unknown = run;
  for (const p of path) {
    if (v === null || typeof v !== "object" || Array.isArray(v) || !(p in (v as object))) return undefined;
    v = (v as Record<string, unknown>)[p];
  }
  return v;
}

const select = (expr: string) => runs.filter((r) => evaluateFilter(parseFilter(expr), (p) => get(r, p))).map((r) => r.run_id);

describe("the issue's examples", () => {
  it("config.lr <= 0.001 and summary.final_acc > 0.8", () => expect(select("config.lr <= 0.001 and summary.final_acc > 0.8")).toEqual(["a", "b"]));
  it('config.optimizer == "adam" or config.batch_size == 64', () => expect(select('config.optimizer == "adam" or config.batch_size == 64')).toEqual(["a", "b", "c"]));
  it("not (config.seed in [0, 1])", () => expect(select("not (config.seed in [0, 1])")).toEqual(["c"]));
  it('metric.loss.min < 0.5 and status == "finished"', () => expect(select('metric.loss.min < 0.5 and status == "finished"')).toEqual(["a"]));
  it('path == "sweep/b" and config.lr > 0.0003', () => expect(select('path == "sweep/b" and config.lr > 0.0003')).toEqual(["a", "b"]));
});

describe("semantics", () => {
  it("treats a missing field as unknown: neither a comparison nor its negation matches", () => {
    expect(select("config.seed >= 0")).toEqual(["a", "b", "c"]);
    expect(select("not (config.seed >= 0)")).toEqual([]);
    expect(select("config.seed == null")).toEqual(["d"]);
    expect(select("config.seed != null")).toEqual(["a", "b", "c"]);
  });
  it("never orders values of different types", () => {
    expect(select("config.lr < 1")).toEqual(["a", "b", "c"]); // d's lr is the string "0.001"
    expect(select('config.lr == "0.001"')).toEqual(["d"]);
  });
  it("globs whole values, tests membership and substrings with contains, reads booleans and exponents", () => {
    expect(select('path ~ "vision/*"')).toEqual(["c", "d"]);
    expect(select('path ~ "sweep/?"')).toEqual(["a", "b"]);
    expect(select('tags contains "v1"')).toEqual(["a", "c"]);
    expect(select('path contains "res"')).toEqual(["c"]);
    expect(select("config.use_bn == true")).toEqual(["d"]);
    expect(select("config.lr == 1e-3")).toEqual(["a"]);
    expect(select('config.optimizer not in ["adam"]')).toEqual(["b"]);
    expect(select('run_id in ["a", "d"] and not status == "running"')).toEqual(["a"]);
  });
  it("binds and tighter than or and reads nested parentheses", () => {
    expect(select('status == "failed" or status == "finished" and config.batch_size == 64')).toEqual(["b", "c"]);
    expect(select('(status == "failed" or status == "finished") and ((config.batch_size == 64))')).toEqual(["b", "c"]);
  });
  it("lists the fields an expression names", () => {
    expect(filterFields(parseFilter("config.lr < 1 and (config.lr > 0 or `config`.`odd key` == 1)")).map((f) => f.path)).toEqual([
      ["config", "lr"],
      ["config", "odd key"],
    ]);
  });
});

describe("errors name the column", () => {
  const cases: [string, number, string][] = [
    ["config.lr <= ", 14, "expected a value"],
    ["config.lr <== 1", 13, "use == to compare"],
    ["config.lr = 1", 11, "use == to compare"],
    ["config.lr < 1 && x == 2", 15, "use 'and' / 'or'"],
    ["(config.lr < 1", 15, "expected ')' to close the '(' at column 1"],
    ["config.opt == 'adam'", 15, "double quotes"],
    ["config.opt == adam", 15, "put strings in double quotes"],
    ['config.opt == "adam', 15, "unterminated string"],
    ["config.lr in [1, 2", 19, "expected ',' or ']'"],
    ["config.seed not [1]", 17, "expected 'in' after 'not'"],
    ["config. == 1", 8, "expected a field name"],
    ["", 1, "empty"],
    ["config.lr 1", 11, "expected an operator"],
    ["config.lr < 1 config.x > 2", 15, "expected 'and', 'or' or the end"],
    ["config.lr < 1.2.3", 16, "unexpected '.'"],
    ["path ~ 3", 8, "quoted glob pattern"],
  ];
  for (const [expr, col, text] of cases) {
    it(`${JSON.stringify(expr)} fails at column ${col}`, () => {
      let err: unknown;
      try {
        parseFilter(expr);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(FilterSyntaxError);
      expect((err as FilterSyntaxError).column).toBe(col);
      expect((err as FilterSyntaxError).message).toContain(text);
      expect((err as FilterSyntaxError).message).toContain(`column ${col}`);
    });
  }
});

describe("parser fuzz", () => {
  it("answers every random input with a tree or a FilterSyntaxError, nothing else", () => {
    const alphabet = ['config.lr', 'summary.acc', ' ', 'and', 'or', 'not', '(', ')', '[', ']', ',', '==', '!=', '<', '<=', '>', '>=', '~', 'in', 'contains', '"x"', '"', '1', '-2e3', 'true', 'null', '`', '.', '\\', '=', '&', 'é', '\u0000'];
    let seed = 7;
    const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    let ok = 0;
    for (let i = 0; i < 20000; i++) {
      let s = "";
      const n = 1 + rnd(12);
      for (let k = 0; k < n; k++) s += alphabet[rnd(alphabet.length)] + (rnd(2) ? " " : "");
      try {
        parseFilter(s);
        ok++;
      } catch (e) {
        if (!(e instanceof FilterSyntaxError)) throw new Error(`${JSON.stringify(s)} threw ${e}`);
        expect(e.column).toBeGreaterThanOrEqual(1);
        expect(e.column).toBeLessThanOrEqual(s.length + 1);
      }
    }
    expect(ok).toBeGreaterThan(0); // some random strings are valid expressions
  });
  it("refuses deep nesting and huge expressions cleanly", () => {
    expect(() => parseFilter("(".repeat(1000) + "a == 1" + ")".repeat(1000))).toThrow(FilterSyntaxError);
    expect(() => parseFilter("a == 1 or ".repeat(2000) + "a == 1")).toThrow(FilterSyntaxError);
  });
});
