// The percentile bands of the Histograms tab, computed from bins (values spread evenly within a bin).
import { describe, expect, it } from "bun:test";
import { BAND_PERCENTILES, binPercentiles } from "../../ui/src/components/histograms.tsx";
import { cellText, compareCells } from "../../ui/src/components/table-view.tsx";

describe("binPercentiles", () => {
  it("interpolates within bins: a uniform histogram over [0, 10] has its p-th percentile at p/10", () => {
    const h = { edges: [0, 2, 4, 6, 8, 10], counts: [20, 20, 20, 20, 20] };
    const got = binPercentiles(h)!;
    expect(got.length).toBe(BAND_PERCENTILES.length);
    BAND_PERCENTILES.forEach((p, i) => expect(got[i]).toBeCloseTo(p / 10, 12));
  });

  it("starts and ends the 0 and 100 % band at the first and last non-empty bins", () => {
    const h = { edges: [0, 1, 2, 3, 4], counts: [0, 5, 5, 0] };
    const p = binPercentiles(h, [0, 50, 100])!;
    expect(p).toEqual([1, 2, 3]);
  });

  it("puts a quantile at the right place inside an uneven bin", () => {
    const h = { edges: [0, 1, 3], counts: [1, 3] };
    // 50 % of 4 values = 2: one in bin 0, then 1/3 of bin [1, 3]
    expect(binPercentiles(h, [50])![0]).toBeCloseTo(1 + 2 / 3, 12);
  });

  it("has no bands for an empty or malformed histogram", () => {
    expect(binPercentiles({ edges: [], counts: [] })).toBeNull();
    expect(binPercentiles({ edges: [0, 1], counts: [0] })).toBeNull();
    expect(binPercentiles({ edges: [0, 1], counts: [1, 2] })).toBeNull();
  });
});

describe("table cells", () => {
  it("sort numbers and bools by value, then text, then images, empty cells last", () => {
    const img = { _type: "image" as const, path: "media/a.png", caption: null, url: null };
    const cells = [null, "b", 3, img, "a", true, -1];
    expect([...cells].sort(compareCells)).toEqual([-1, true, 3, "a", "b", img, null]);
  });

  it("filter on an image's caption, else its path", () => {
    expect(cellText({ _type: "image", path: "media/a.png", caption: "cat", url: null })).toBe("cat");
    expect(cellText({ _type: "image", path: "media/a.png", caption: null, url: null })).toBe("media/a.png");
    expect(cellText(null)).toBe("");
    expect(cellText(false)).toBe("false");
  });
});
