// Downsampling on typed arrays: LTTB shape, extremes kept, min/max buckets, and chunk digests.
import { describe, expect, it } from "bun:test";
import { Chunk, K_NUM } from "../../src/metrics/chunk.ts";
import { DIGEST_BLOCKS, digestPositions, lttb, minmax, selectPoints } from "../../src/metrics/downsample.ts";

function series(n: number, f: (i: number) => number) {
  const xs = new Float64Array(n);
  const ys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    xs[i] = i + 1;
    ys[i] = f(i);
  }
  return { xs, ys };
}

/** A deterministic noisy signal (no Math.random: failures must reproduce). */
const noisy = (i: number) => Math.sin(i / 37) + ((i * 7919) % 101) / 300;

describe("lttb", () => {
  it("returns exactly the target count, ascending, starting at 0 and ending at the last index once", () => {
    for (const [n, target] of [
      [300, 100],
      [1000, 3],
      [12345, 2000],
      [101, 100],
    ]) {
      const { xs, ys } = series(n, noisy);
      const sel = lttb(xs, ys, n, target);
      expect(sel.length).toBe(target);
      expect(sel[0]).toBe(0);
      expect(sel[target - 1]).toBe(n - 1);
      for (let i = 1; i < sel.length; i++) expect(sel[i]).toBeGreaterThan(sel[i - 1]);
    }
  });

  it("keeps every point when the target is not smaller than the series", () => {
    const { xs, ys } = series(50, noisy);
    expect(Array.from(lttb(xs, ys, 50, 50))).toEqual([...Array(50).keys()]);
    expect(lttb(xs, ys, 50, 80).length).toBe(50);
  });

  it("picks an isolated spike, the point of largest triangle in its bucket", () => {
    const { xs, ys } = series(1000, () => 1);
    ys[517] = 50;
    const sel = Array.from(lttb(xs, ys, 1000, 20));
    expect(sel).toContain(517);
  });
});

describe("selectPoints", () => {
  it("adds the minimum and maximum of a series that LTTB would drop", () => {
    // a single-sample dip next to a big spike in the same bucket: LTTB keeps only one of them
    const { xs, ys } = series(10000, noisy);
    ys[5000] = 100;
    ys[5001] = -100;
    const plain = Array.from(lttb(xs, ys, 10000, 200));
    expect(plain.includes(5000) && plain.includes(5001)).toBe(false);
    const sel = Array.from(selectPoints(xs, ys, 10000, 200, "lttb"));
    expect(sel).toContain(5000);
    expect(sel).toContain(5001);
    expect(sel[0]).toBe(0);
    expect(sel[sel.length - 1]).toBe(9999);
    expect(new Set(sel).size).toBe(sel.length);
  });

  it("keeps only the ends of a flat series", () => {
    const { xs, ys } = series(5000, () => 0.001);
    expect(Array.from(selectPoints(xs, ys, 5000, 100, "lttb"))).toEqual([0, 4999]);
  });

  it("min/max mode keeps each bucket's lowest and highest point and both ends", () => {
    const { xs, ys } = series(1000, noisy);
    const sel = Array.from(minmax(xs, ys, 1000, 100));
    expect(sel.length).toBeLessThanOrEqual(102);
    expect(sel[0]).toBe(0);
    expect(sel[sel.length - 1]).toBe(999);
    // bucket 0 spans x in [1, 1 + 999/50): its extremes must be there
    const width = 999 / 50;
    const inFirst = [...Array(1000).keys()].filter((i) => xs[i] < 1 + width);
    const lo = inFirst.reduce((a, b) => (ys[b] < ys[a] ? b : a));
    const hi = inFirst.reduce((a, b) => (ys[b] > ys[a] ? b : a));
    expect(sel).toContain(lo);
    expect(sel).toContain(hi);
  });
});

describe("digestPositions", () => {
  it("keeps each metric's minimum and maximum of every block, its first and last value, and the chunk's ends", () => {
    const n = 4096;
    const c = new Chunk(n);
    const a = c.column("a");
    const b = c.column("b");
    for (let r = 0; r < n; r++) {
      c.appendRow(r + 1);
      a.kinds[r] = K_NUM;
      a.vals[r] = noisy(r);
      if (r % 10 === 3) {
        b.kinds[r] = K_NUM;
        b.vals[r] = noisy(r * 3);
      }
    }
    const levels = digestPositions(c);
    expect(levels.length).toBe(DIGEST_BLOCKS.length);
    levels.forEach((pos, li) => {
      const kept = new Set(pos);
      expect(kept.has(0)).toBe(true);
      expect(kept.has(n - 1)).toBe(true);
      expect(kept.has(3)).toBe(true); // b's first value
      expect(kept.has(4093)).toBe(true); // b's last value
      const block = DIGEST_BLOCKS[li];
      for (let s = 0; s < n; s += block) {
        for (const col of [a, b]) {
          let lo = -1;
          let hi = -1;
          for (let r = s; r < Math.min(n, s + block); r++) {
            if (col.kinds[r] !== K_NUM) continue;
            if (lo < 0 || col.vals[r] < col.vals[lo]) lo = r;
            if (hi < 0 || col.vals[r] > col.vals[hi]) hi = r;
          }
          if (lo >= 0) expect(kept.has(lo)).toBe(true);
          if (hi >= 0) expect(kept.has(hi)).toBe(true);
        }
      }
    });
    // coarser levels keep fewer rows
    expect(levels[0].length).toBeGreaterThan(levels[1].length);
    expect(levels[1].length).toBeGreaterThan(levels[2].length);
  });
});
