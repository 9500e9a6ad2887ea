import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { discoverRuns } from "../../src/store/discover.ts";
import { copyFixture, tempDir } from "../helpers/server.ts";

describe("run discovery on the original SDK's data", () => {
  const t = tempDir();
  let root: string;
  beforeAll(() => {
    root = copyFixture("rn-probe", join(t.dir, "root"));
  });
  afterAll(() => t.cleanup());

  it("finds v0.6, root-level, soft-deleted and legacy runs in the original's scan order", () => {
    const runs = discoverRuns(root);
    expect(runs.map((r) => [r.id, r.entryPath, r.layout])).toEqual([
      ["20261129_032935_b2e5a5", null, "v06"],
      ["20261129_032935_01576c", "cv/resnet", "v06"],
      ["20261129_032935_21171f", "cv/yolo", "v06"],
      ["20261129_032935_bfa7ab", "cv/yolo", "v06"],
      ["20261129_032935_5321f2", "nlp/bert", "v06"],
      ["20240101_120000_abcdef", "legacyproj/legacyname", "legacy"],
    ]);
    const keys = runs.map((r) => r.orderKey);
    expect([...keys].sort()).toEqual(keys);
  });

  it("treats a folder with only status.json as a run and ignores lock and dot folders", () => {
    mkdirSync(join(root, "runs", "solo", "20250101_000000_aaaaaa"), { recursive: true });
    writeFileSync(join(root, "runs", "solo", "20250101_000000_aaaaaa", "status.json"), '{"status": "finished"}');
    mkdirSync(join(root, "runs", ".hidden", "20250101_000000_bbbbbb"), { recursive: true });
    writeFileSync(join(root, "runs", ".hidden", "20250101_000000_bbbbbb", "meta.json"), "{}");
    mkdirSync(join(root, "runs", "empty", "deeper"), { recursive: true });
    const ids = discoverRuns(root).map((r) => r.id);
    expect(ids).toContain("20250101_000000_aaaaaa");
    expect(ids).not.toContain("20250101_000000_bbbbbb");
    expect(ids).not.toContain("deeper");
  });

  it("sorts sibling folders case-insensitively as the original walk does", () => {
    for (const name of ["Beta", "alpha", "Gamma"]) {
      const dir = join(root, "runs", "case", name, "20250101_000000_cccccc");
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "meta.json"), "{}");
    }
    const paths = discoverRuns(root)
      .filter((r) => r.entryPath?.startsWith("case/"))
      .map((r) => r.entryPath);
    expect(paths).toEqual(["case/alpha", "case/Beta", "case/Gamma"]);
  });
});
