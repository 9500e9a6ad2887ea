// Pure chart helpers of issue 20: stage labels without collisions, density-aware smoothing, and the chart view kept in the URL.
import { describe, expect, it } from "bun:test";
import { filterLogLines } from "../../ui/src/components/logs-viewer.tsx";
import { appendRows, byEpoch, ema, parseChartView, placeLabels, seriesSmoothing, smoothSeries, SMOOTH_REF_POINTS } from "../../ui/src/chart-data.ts";

const width = (s: string) => s.length * 6;

describe("placeLabels", () => {
  it("puts a label that would overlap its neighbour on the next row instead of over it", () => {
    const out = placeLabels([{ x: 100, label: "train" }, { x: 110, label: "val" }], width, 3, 1000);
    expect(out.map((m) => m.row)).toEqual([0, 1]);
  });

  it("keeps labels that do not touch on the first row", () => {
    const out = placeLabels([{ x: 100, label: "train" }, { x: 300, label: "val" }, { x: 500, label: "test" }], width, 3, 1000);
    expect(out.map((m) => m.row)).toEqual([0, 0, 0]);
  });

  it("never draws two labels over each other on one row, and skips a label with no room left", () => {
    const markers = Array.from({ length: 10 }, (_, i) => ({ x: 100 + i, label: `stage${i}` }));
    const out = placeLabels(markers, width, 3, 1000);
    for (const row of [0, 1, 2]) {
      const spans = out.filter((m) => m.row === row).map((m) => [m.textX, m.textX + width(m.label)]);
      for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
    }
    expect(out.filter((m) => m.row === -1).length).toBe(7);
  });

  it("writes a label at the right edge to the left of its line", () => {
    const [m] = placeLabels([{ x: 995, label: "val" }], width, 3, 1000);
    expect(m.textX + width("val")).toBeLessThanOrEqual(995);
  });
});

describe("density-aware smoothing", () => {
  it("uses the full factor on dense series and much less on sparse ones", () => {
    expect(seriesSmoothing(0.9, SMOOTH_REF_POINTS * 10)).toBe(0.9);
    expect(seriesSmoothing(0.9, 10)).toBeCloseTo(0.9 ** 20, 10);
    expect(seriesSmoothing(0, 10)).toBe(0);
  });

  it("keeps a sparse validation series close to its values while the dense one is smoothed", () => {
    const sparse = [1, 0.5, 0.4, 0.35, 0.3];
    const smoothed = smoothSeries(sparse, 0.9);
    expect(Math.abs((smoothed[4] as number) - 0.3)).toBeLessThan(0.05);
    const dense = Array.from({ length: 1000 }, (_, i) => (i % 2 ? 1 : 0));
    expect(smoothSeries(dense, 0.9)).toEqual(ema(dense, 0.9));
  });
});

describe("parseChartView", () => {
  it("reads smoothing, log keys, filter and zoom from the query", () => {
    expect(parseChartView({ smooth: "0.6", log: "loss,acc", filter: "train", zoom: "10,250.5" }, 0)).toEqual({ smoothing: 0.6, logKeys: ["loss", "acc"], filter: "train", xRange: [10, 250.5] });
  });

  it("ignores values that are not a valid view and falls back to the stored smoothing", () => {
    expect(parseChartView({ smooth: "7", zoom: "5,1" }, 0.3)).toEqual({ smoothing: 0.3, logKeys: [], filter: "", xRange: null });
    expect(parseChartView({ zoom: "a,b" }, 0).xRange).toBeNull();
  });
});

describe("filterLogLines", () => {
  const bar = (name: string, p: number) => `${name}: ${p}%|${"█".repeat(p / 10)}| ${p}/100 [00:01<00:02]`;
  const lines = ["start", bar("train", 10), bar("train", 50), bar("train", 100), "between", bar("val", 20), bar("val", 30)];

  it("keeps only each running bar's latest state and finished bars by default", () => {
    expect(filterLogLines(lines, "latest", "")).toEqual(["start", bar("train", 100), "between", bar("val", 30)]);
  });

  it("shows every update or none on demand", () => {
    expect(filterLogLines(lines, "all", "")).toEqual(lines);
    expect(filterLogLines(lines, "hide", "")).toEqual(["start", "between"]);
  });
});

describe("the epoch axis", () => {
  it("keys a step column by the logged epoch, one point per epoch with its last value", () => {
    expect(byEpoch([0, 0, 1, 1, null, 2], [5, 4, 3, 2, 9, 1])).toEqual({ x: [0, 1, 2], y: [4, 2, 1] });
  });

  it("appends live rows on the epoch axis only when they carry an epoch", () => {
    const xs = [0];
    const ys: (number | null)[] = [1];
    const changed = appendRows(xs, ys, [{ step: 10, time: 1, values: { loss: 0.5, epoch: 0 } }, { step: 11, time: 2, values: { loss: 0.4 } }, { step: 20, time: 3, values: { loss: 0.3, epoch: 1 } }], "loss", "epoch");
    expect(changed).toBe(true);
    expect(xs).toEqual([0, 1]);
    expect(ys).toEqual([0.5, 0.3]);
  });
});
