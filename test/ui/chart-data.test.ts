// Unit tests of the pure chart helpers: EMA, best point, stage separators, key groups, joins, live appends and GPU history.
import { describe, expect, it } from "bun:test";
import { appendRows, bestIndex, bestMode, ema, groupKeys, historySamples, joinSeries, positiveOnly, seriesCsv, stageMarkers } from "../../ui/src/chart-data.ts";
import type { MetricKey } from "../../ui/src/types.ts";

const key = (k: string, numeric = true): MetricKey => ({ key: k, count: 1, numeric, min: 0, max: 1, last: 1, last_step: 1 });

describe("ema", () => {
  it("smooths with s = (1-f)·v + f·s_prev starting from the first value", () => {
    expect(ema([1, 3, 5], 0.5)).toEqual([1, 2, 3.5]);
  });
  it("keeps nulls as gaps without resetting the average", () => {
    expect(ema([2, null, 4], 0.5)).toEqual([2, null, 3]);
  });
  it("returns the values unchanged when smoothing is zero", () => {
    expect(ema([1, null, 7], 0)).toEqual([1, null, 7]);
  });
});

describe("best point", () => {
  it("takes the minimum for losses and errors and the maximum for accuracies", () => {
    expect(bestMode("train/loss")).toBe("min");
    expect(bestMode("val_error")).toBe("min");
    expect(bestMode("val/acc")).toBe("max");
    expect(bestMode("f1")).toBe("max");
    expect(bestMode("lr")).toBeUndefined();
  });
  it("finds the first best finite value and ignores nulls", () => {
    expect(bestIndex([3, null, 1, 1, 2], "min")).toBe(2);
    expect(bestIndex([0.1, 0.9, null, 0.5], "max")).toBe(1);
    expect(bestIndex([null, null], "max")).toBe(-1);
  });
});

describe("log axis", () => {
  it("turns values a log axis cannot show into gaps", () => {
    expect(positiveOnly([1, 0, -2, null, 5])).toEqual([1, null, null, null, 5]);
  });
});

describe("stage separators", () => {
  it("draws a line at the first step of every stage after the first, in step order", () => {
    const m = stageMarkers([
      { stage: "val", first_step: 100 },
      { stage: "train", first_step: 0 },
      { stage: "test", first_step: 250 },
    ]);
    expect(m).toEqual([
      { x: 100, label: "val" },
      { x: 250, label: "test" },
    ]);
  });
});

describe("groupKeys", () => {
  it("groups numeric keys by the prefix before the first slash and leaves out time and step columns", () => {
    const g = groupKeys([key("train/loss"), key("val/acc"), key("train/lr"), key("loss"), key("time"), key("stage", false), key("note", false), key("epoch")]);
    expect(g).toEqual([
      { group: "train", keys: ["train/loss", "train/lr"] },
      { group: "val", keys: ["val/acc"] },
      { group: "metrics", keys: ["loss"] },
    ]);
  });
});

describe("joinSeries", () => {
  it("merges runs with different steps into one sorted x column with nulls where a run has no point", () => {
    const [xs, a, b] = joinSeries([
      { x: [1, 2, 4], y: [10, 20, 40] },
      { x: [2, 3], y: [200, 300] },
    ]);
    expect(xs).toEqual([1, 2, 3, 4]);
    expect(a).toEqual([10, 20, null, 40]);
    expect(b).toEqual([null, 200, 300, null]);
  });
});

describe("appendRows", () => {
  it("appends newer points, overwrites an equal last step, and ignores older or non-numeric ones", () => {
    const xs = [1, 2];
    const ys: (number | null)[] = [0.5, 0.4];
    const changed = appendRows(
      xs,
      ys,
      [
        { step: 1, time: 10, values: { loss: 9 } },
        { step: 2, time: 11, values: { loss: 0.35 } },
        { step: 3, time: 12, values: { loss: 0.3, acc: 1 } },
        { step: 4, time: 13, values: { loss: "nan?" } },
        { step: 5, time: 14, values: { acc: 1 } },
      ],
      "loss",
      "step",
    );
    expect(changed).toBe(true);
    expect(xs).toEqual([1, 2, 3]);
    expect(ys).toEqual([0.5, 0.35, 0.3]);
  });
  it("uses the time of each row on a time axis", () => {
    const xs: number[] = [];
    const ys: (number | null)[] = [];
    appendRows(xs, ys, [{ step: 7, time: 1700000000.5, values: { loss: 1 } }], "loss", "time");
    expect(xs).toEqual([1700000000.5]);
  });
});

describe("seriesCsv", () => {
  it("writes a header and one line per x with empty cells for gaps", () => {
    expect(seriesCsv("step", [1, 2], [{ name: "loss", ys: [0.5, null] }])).toBe("step,loss\n1,0.5\n2,\n");
  });
});

describe("historySamples", () => {
  const cols = (vals: (number | null)[]) => vals;
  const gpu = (index: number, util: (number | null)[]) => ({
    index,
    name: `GPU ${index}`,
    uuid: null,
    util_gpu: cols(util),
    util_mem: cols(util.map(() => null)),
    mem_used_mib: cols(util.map((u) => (u === null ? null : 1000))),
    mem_used_pct: cols(util.map((u) => (u === null ? null : 10))),
    temp_c: cols(util.map((u) => (u === null ? null : 50))),
    power_w: cols(util.map((u) => (u === null ? null : 100))),
    clock_sm_mhz: cols(util.map(() => null)),
    fan_speed_pct: cols(util.map(() => null)),
  });

  it("turns the columnar /api/gpu/history body into one sample per time with each GPU's values", () => {
    const out = historySamples({ available: true, interval_s: 2, window_s: 600, ts: [10, 12], gpus: [gpu(0, [5, 7]), gpu(1, [null, 9])] });
    expect(out.map((s) => s.ts)).toEqual([10, 12]);
    expect(out[0].gpus).toEqual([{ index: 0, util_gpu: 5, mem_used_mib: 1000, mem_used_pct: 10, temp_c: 50, power_w: 100 }]);
    expect(out[1].gpus.map((g) => [g.index, g.util_gpu])).toEqual([
      [0, 7],
      [1, 9],
    ]);
  });

  it("gives no samples for an empty, unavailable or malformed body", () => {
    expect(historySamples({ available: false, interval_s: 2, window_s: 600, ts: [], gpus: [] })).toEqual([]);
    expect(historySamples(null)).toEqual([]);
    expect(historySamples({ available: true } as never)).toEqual([]);
  });
});
