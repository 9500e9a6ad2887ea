// The test command itself (test/run.ts): it must fail whenever anything failed. Each case copies the
// real runner into a throwaway project with a tiny test suite and runs it as CI would.
import { afterAll, describe, expect, it } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { judgeBun, judgeUnittest } from "../run.ts";

const RUNNER = join(import.meta.dir, "..", "run.ts");
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A throwaway project: test/run.ts (the real one), a build.ts, the given files. */
function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "rn-runner-"));
  dirs.push(dir);
  mkdirSync(join(dir, "test"));
  copyFileSync(RUNNER, join(dir, "test", "run.ts"));
  writeFileSync(join(dir, "build.ts"), "process.exit(0);\n");
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

async function runIn(dir: string, args: string[]): Promise<{ code: number; last: string; out: string }> {
  const p = Bun.spawn([process.execPath, "test/run.ts", "--no-typecheck", ...args], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  const lines = out.trim().split("\n");
  return { code, last: lines[lines.length - 1], out: out + err };
}

const PASSING = `import { it, expect } from "bun:test";\nit("adds", () => expect(1 + 1).toBe(2));\n`;

describe("the test command", () => {
  it("passes a green suite with exit 0 and a plain closing line", async () => {
    const dir = project({ "t/ok.test.ts": PASSING });
    const r = await runIn(dir, ["--no-python", "./t/ok.test.ts"]);
    expect(r.last).toBe("1 passed, 0 failed");
    expect(r.code).toBe(0);
  });

  it("fails when an afterAll throws although every test passed", async () => {
    const dir = project({
      "t/hook.test.ts": `import { afterAll, it, expect } from "bun:test";\nafterAll(() => { throw new Error("cleanup broke"); });\nit("adds", () => expect(1 + 1).toBe(2));\n`,
    });
    const r = await runIn(dir, ["--no-python", "./t/hook.test.ts"]);
    expect(r.code).toBe(1);
    expect(r.last).toMatch(/^\d+ passed, [1-9]\d* failed$/);
  });

  it("fails when a failing test is counted", async () => {
    const dir = project({ "t/bad.test.ts": `import { it, expect } from "bun:test";\nit("is wrong", () => expect(1).toBe(2));\n` });
    const r = await runIn(dir, ["--no-python", "./t/bad.test.ts"]);
    expect(r.code).toBe(1);
    expect(r.last).toBe("0 passed, 1 failed");
  });

  it("fails when the Python suite ran no test", async () => {
    const dir = project({ "t/ok.test.ts": PASSING, "py/tests/__init__.py": "" });
    const r = await runIn(dir, ["--python-dir", join(dir, "py", "tests"), "./t/ok.test.ts"]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("the Python suite ran no test");
    expect(r.last).toBe("1 passed, 1 failed");
  });

  it("counts the Python suite's failures and passes", async () => {
    const dir = project({
      "t/ok.test.ts": PASSING,
      "py/tests/__init__.py": "",
      "py/tests/test_x.py": "import unittest\nclass T(unittest.TestCase):\n    def test_ok(self):\n        self.assertEqual(1, 1)\n    def test_bad(self):\n        self.assertEqual(1, 2)\n",
    });
    const r = await runIn(dir, ["--python-dir", join(dir, "py", "tests"), "./t/ok.test.ts"]);
    expect(r.code).toBe(1);
    expect(r.last).toBe("2 passed, 1 failed");
  });

  it("removes a stale binary and fails when the build fails", async () => {
    const dir = project({ "t/ok.test.ts": PASSING, "dist/runicorn": "old binary" });
    writeFileSync(join(dir, "build.ts"), "console.error('syntax error somewhere'); process.exit(3);\n");
    const r = await runIn(dir, ["--no-python", "./t/ok.test.ts"]);
    expect(r.code).toBe(1);
    expect(existsSync(join(dir, "dist", "runicorn"))).toBe(false);
    expect(r.out).toContain("build failed");
    expect(r.last).toBe("1 passed, 1 failed");
  });

  it("fails when the test runner finds no test", async () => {
    const dir = project({ "t/empty.test.ts": "export {};\n" });
    const r = await runIn(dir, ["--no-python", "./t/empty.test.ts"]);
    expect(r.code).toBe(1);
    expect(r.last).toMatch(/^0 passed, [1-9]\d* failed$/);
  });
});

describe("reading runner summaries", () => {
  it("treats a non-zero bun exit without counted failures as one failure", () => {
    expect(judgeBun(1, " 5 pass\n 0 fail\n")).toMatchObject({ passed: 5, failed: 1 });
    expect(judgeBun(0, " 5 pass\n 0 fail\n")).toEqual({ passed: 5, failed: 0 });
    expect(judgeBun(1, " 3 pass\n 2 fail\n")).toEqual({ passed: 3, failed: 2 });
  });

  it("treats a unittest run of zero tests, or a crash before the summary, as a failure", () => {
    expect(judgeUnittest(0, "Ran 0 tests in 0.000s\n\nOK\n").failed).toBe(1);
    expect(judgeUnittest(5, "Ran 0 tests in 0.000s\n\nNO TESTS RAN\n").failed).toBe(1);
    expect(judgeUnittest(1, "Traceback (most recent call last):\n").failed).toBe(1);
    expect(judgeUnittest(1, "Ran 10 tests in 1s\n\nFAILED (failures=1, errors=2, skipped=3)\n")).toEqual({ passed: 4, failed: 3 });
    expect(judgeUnittest(0, "Ran 10 tests in 1s\n\nOK (skipped=2)\n")).toEqual({ passed: 8, failed: 0 });
  });
});
