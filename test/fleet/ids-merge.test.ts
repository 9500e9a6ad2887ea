// Fleet id qualification and the merged list's filter/sort/page semantics.
import { describe, expect, it } from "bun:test";
import { hostSlug, qualify, splitQualified, uniqueSlugs } from "../../src/fleet/ids.ts";
import { compareSql, type FleetItem, queryMerged } from "../../src/fleet/merge.ts";
import { rewriteIds } from "../../src/fleet/proxy.ts";

describe("fleet ids", () => {
  it("turns any label into a URL-path-safe slug without a double dash", () => {
    expect(hostSlug("user@gpu-b:2222")).toBe("user-gpu-b-2222");
    expect(hostSlug("a--b")).toBe("a-b");
    expect(hostSlug("../../etc")).toBe("etc");
    expect(hostSlug("@@@")).toBe("host");
    expect(hostSlug("机器1")).toBe("1");
    for (const l of ["x y", "gpu/1", "a%2Fb", "h?q#f"]) expect(encodeURIComponent(hostSlug(l))).toBe(hostSlug(l));
  });

  it("gives repeated slugs a number", () => {
    expect(uniqueSlugs(["gpu", "gpu", "g@pu", "gpu"])).toEqual(["gpu", "gpu-2", "g-pu", "gpu-3"]);
  });

  it("splits a qualified id only at a known slug, and leaves ids that merely contain -- alone", () => {
    const slugs = new Set(["gpu-a", "b"]);
    expect(splitQualified(qualify("gpu-a", "20250101_000000_abcdef"), slugs)).toEqual({ slug: "gpu-a", runId: "20250101_000000_abcdef" });
    expect(splitQualified("b--x--y", slugs)).toEqual({ slug: "b", runId: "x--y" });
    expect(splitQualified("other--x", slugs)).toBeUndefined();
    expect(splitQualified("gpu-a--", slugs)).toBeUndefined();
    expect(splitQualified("--x", slugs)).toBeUndefined();
  });

  it("rewrites only id and run_id values equal to the host's id", () => {
    expect(rewriteIds({ id: "r", run_id: "r", name: "r", nested: [{ run_id: "r" }, { run_id: "s" }] }, "r", "h--r")).toEqual({
      id: "h--r",
      run_id: "h--r",
      name: "r",
      nested: [{ run_id: "h--r" }, { run_id: "s" }],
    });
  });
});

const item = (id: string, host: string, extra: Record<string, unknown> = {}): FleetItem => ({ id, host, status: "finished", path: "p", alias: null, tags: [], created_time: 0, ...extra });

describe("merged list", () => {
  const items = [
    item("a1", "a", { created_time: 3, status: "running", path: "cv/yolo", summary: { acc: 0.5 } }),
    item("b1", "b", { created_time: 1, path: "cv", alias: "Best", summary: { acc: "x" } }),
    item("c1", "c", { created_time: 2, path: "cvx", tags: ["Fast"], summary: {} }),
    item("a2", "a", { created_time: null, path: "nlp", summary: { acc: 0.9 } }),
  ];

  it("sorts across hosts in SQLite order, nulls first ascending", () => {
    expect(queryMerged(items, { sort: "created_time", order: "asc" }).items.map((r) => r.id)).toEqual(["a2", "b1", "c1", "a1"]);
    expect(queryMerged(items, { sort: "created_time", order: "desc" }).items.map((r) => r.id)).toEqual(["a1", "c1", "b1", "a2"]);
    expect(queryMerged(items, { sort: "summary.acc", order: "asc" }).items.map((r) => r.id)).toEqual(["c1", "a1", "a2", "b1"]);
    expect(compareSql(true, 2)).toBeLessThan(0);
    expect(compareSql("a", 99)).toBeGreaterThan(0);
  });

  it("filters by status, whole path segments and a case-free substring, counting before paging", () => {
    expect(queryMerged(items, { status: ["running"] }).items.map((r) => r.id)).toEqual(["a1"]);
    expect(queryMerged(items, { path: "/cv/" }).items.map((r) => r.id)).toEqual(["a1", "b1"]);
    expect(queryMerged(items, { q: "best" }).items.map((r) => r.id)).toEqual(["b1"]);
    expect(queryMerged(items, { q: "fast" }).items.map((r) => r.id)).toEqual(["c1"]);
    const page = queryMerged(items, { limit: 2, offset: 1 });
    expect(page.total).toBe(4);
    expect(page.items.map((r) => r.id)).toEqual(["b1", "c1"]);
    expect(queryMerged(items, { offset: 3 }).items.map((r) => r.id)).toEqual(["a2"]);
  });
});
