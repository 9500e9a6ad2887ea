// Tests where the TS SDK puts a run: path rules (spec §1.3), run ids (§1.4), storage-root order (§1.1), workspace root.
import { afterAll, describe, expect, it } from "bun:test";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  generateRunId,
  normalizePath,
  resolveStorageRoot,
  resolveWorkspaceRoot,
  validateRunId,
} from "../../src/sdk/locate.ts";

const tmp = realpathSync(mkdtempSync(join(tmpdir(), "rn-sdk-locate-")));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("normalizePath", () => {
  it("maps a missing path to 'default' and '' or '/' to the root", () => {
    expect(normalizePath(undefined)).toBe("default");
    expect(normalizePath(null)).toBe("default");
    expect(normalizePath("")).toBe("");
    expect(normalizePath("/")).toBe("");
  });

  it("turns backslashes into slashes and strips outer slashes", () => {
    expect(normalizePath("\\cv\\yolo\\")).toBe("cv/yolo");
    expect(normalizePath("/a/b-c/d_e/")).toBe("a/b-c/d_e");
  });

  it("collapses interior double slashes so meta.json and the directory agree (spec §10.12)", () => {
    expect(normalizePath("a/b//c")).toBe("a/b/c");
  });

  it("rejects spaces, dots, traversal and non-ASCII letters", () => {
    for (const bad of ["a b", "a.b", "../etc", "a/../b", "résumé", "a\nb", "///"]) {
      expect(() => normalizePath(bad)).toThrow(RangeError);
    }
  });

  it("accepts 200 characters and rejects 201", () => {
    expect(normalizePath("a".repeat(200))).toHaveLength(200);
    expect(() => normalizePath("a".repeat(201))).toThrow(/Path too long: 201/);
  });
});

describe("run ids", () => {
  it("generates local-time YYYYMMDD_HHMMSS plus six lowercase hex digits", () => {
    const at = new Date(2025, 0, 14, 15, 30, 45);
    const id = generateRunId(at);
    expect(id).toMatch(/^20250114_153045_[0-9a-f]{6}$/);
    expect(generateRunId()).toMatch(/^[0-9]{8}_[0-9]{6}_[a-f0-9]{6}$/);
  });

  it("gives different suffixes to runs started in the same second", () => {
    const at = new Date();
    const ids = new Set(Array.from({ length: 50 }, () => generateRunId(at)));
    expect(ids.size).toBeGreaterThan(45);
  });

  it("accepts custom ids that are one safe directory name and rejects the rest", () => {
    expect(validateRunId("exp-001")).toBe("exp-001");
    expect(validateRunId("20250114_153045_a1b2c3")).toBe("20250114_153045_a1b2c3");
    for (const bad of ["", "../x", "a/b", "a\\b", ".hidden", "-x", "x".repeat(129), "a b"]) {
      expect(() => validateRunId(bad)).toThrow(RangeError);
    }
  });
});

describe("resolveStorageRoot", () => {
  const cfgHome = join(tmp, "xdg");
  mkdirSync(join(cfgHome, "runicorn"), { recursive: true });
  writeFileSync(join(cfgHome, "runicorn", "config.json"), JSON.stringify({ user_root_dir: join(tmp, "from-config") }));
  const env = { HOME: join(tmp, "home"), XDG_CONFIG_HOME: cfgHome, RUNICORN_DIR: join(tmp, "from-env") };

  it("prefers the explicit argument, resolved against the working directory", () => {
    expect(resolveStorageRoot("data", env, tmp)).toBe(join(tmp, "data"));
  });

  it("expands ~ in the explicit argument", () => {
    expect(resolveStorageRoot("~/rn", env, tmp)).toBe(join(tmp, "home", "rn"));
  });

  it("falls back to RUNICORN_DIR, then user_root_dir of the per-user config, then ./.runicorn", () => {
    expect(resolveStorageRoot(undefined, env, tmp)).toBe(join(tmp, "from-env"));
    expect(resolveStorageRoot(undefined, { ...env, RUNICORN_DIR: "" }, tmp)).toBe(join(tmp, "from-config"));
    expect(resolveStorageRoot(undefined, { HOME: env.HOME, XDG_CONFIG_HOME: join(tmp, "none") }, tmp)).toBe(
      join(tmp, ".runicorn"),
    );
  });

  it("ignores a torn per-user config.json", () => {
    const torn = join(tmp, "torn-xdg");
    mkdirSync(join(torn, "runicorn"), { recursive: true });
    writeFileSync(join(torn, "runicorn", "config.json"), '{"user_root_dir": "/x');
    expect(resolveStorageRoot(undefined, { HOME: env.HOME, XDG_CONFIG_HOME: torn }, tmp)).toBe(join(tmp, ".runicorn"));
  });

  it("resolves symlinks like Python's Path.resolve()", () => {
    mkdirSync(join(tmp, "real-root"));
    symlinkSync(join(tmp, "real-root"), join(tmp, "link-root"));
    expect(resolveStorageRoot(join(tmp, "link-root"), env, tmp)).toBe(join(tmp, "real-root"));
    expect(resolveStorageRoot(join(tmp, "link-root", "not-yet"), env, tmp)).toBe(join(tmp, "real-root", "not-yet"));
  });
});

describe("resolveWorkspaceRoot", () => {
  it("uses the nearest ancestor holding .git, else the working directory", () => {
    const repo = join(tmp, "repo");
    mkdirSync(join(repo, ".git"), { recursive: true });
    mkdirSync(join(repo, "src", "deep"), { recursive: true });
    expect(resolveWorkspaceRoot(undefined, {}, join(repo, "src", "deep"))).toBe(repo);
    const plain = join(tmp, "plain");
    mkdirSync(plain);
    expect(resolveWorkspaceRoot(undefined, {}, plain)).toBe(plain);
  });

  it("prefers the explicit argument", () => {
    expect(resolveWorkspaceRoot("ws", {}, tmp)).toBe(join(tmp, "ws"));
  });
});
