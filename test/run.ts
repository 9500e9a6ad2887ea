// The test command: builds the binary, type-checks, runs every bun test and the Python SDK's unittest
// suite, and ends with one plain line `N passed, N failed`. It fails (exit 1, at least one failure
// counted) whenever anything failed: a failed build, a runner that exits non-zero even when every
// test it counted passed (an afterAll that throws), a suite that ran no test, a runner that crashed.
//
//   bun test/run.ts [--no-build] [--no-typecheck] [--python-dir DIR | --no-python] [bun test args…]
//
// With bun test args (e.g. a file), the type check and the Python suite are left out unless named.
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");

interface Options {
  build: boolean;
  typecheck: boolean;
  pythonDir: string | undefined;
  bunArgs: string[];
}

function parseArgs(argv: string[]): Options {
  const o: Options = { build: true, typecheck: true, pythonDir: join(ROOT, "sdk/python/tests"), bunArgs: [] };
  let pythonNamed = false;
  let typecheckNamed = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--no-build") o.build = false;
    else if (a === "--no-typecheck") (o.typecheck = false), (typecheckNamed = true);
    else if (a === "--typecheck") (o.typecheck = true), (typecheckNamed = true);
    else if (a === "--no-python") (o.pythonDir = undefined), (pythonNamed = true);
    else if (a === "--python-dir") (o.pythonDir = argv[++i]), (pythonNamed = true);
    else o.bunArgs.push(a);
  }
  if (o.bunArgs.length > 0) {
    if (!pythonNamed) o.pythonDir = undefined;
    if (!typecheckNamed) o.typecheck = false;
  }
  return o;
}

async function run(cmd: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  let proc;
  try {
    proc = Bun.spawn(cmd, { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  } catch (e) {
    const msg = `could not start ${cmd[0]}: ${(e as Error).message}\n`;
    process.stdout.write(msg);
    return { code: 127, out: msg };
  }
  let out = "";
  const pump = async (stream: ReadableStream<Uint8Array>, sink: NodeJS.WriteStream) => {
    const dec = new TextDecoder();
    for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
      const s = dec.decode(chunk, { stream: true });
      out += s;
      sink.write(s);
    }
  };
  await Promise.all([pump(proc.stdout, process.stdout), pump(proc.stderr, process.stderr)]);
  return { code: await proc.exited, out };
}

/** Counts of one suite; `problem` names why the suite failed beyond its counted failures. */
export interface SuiteResult {
  passed: number;
  failed: number;
  problem?: string;
}

/** Reads `bun test`'s summary; a non-zero exit or an empty run is a failure even when no test failed. */
export function judgeBun(code: number, out: string): SuiteResult {
  const pass = /^\s*(\d+) pass/m.exec(out);
  const fail = /^\s*(\d+) fail/m.exec(out);
  const passed = pass ? Number(pass[1]) : 0;
  const failed = fail ? Number(fail[1]) : 0;
  if (passed + failed === 0) return { passed, failed: failed + 1, problem: `bun test ran no test (exit ${code})` };
  if (code !== 0 && failed === 0) return { passed, failed: 1, problem: `bun test exited ${code} although no test failed (an error outside a test, e.g. in a hook)` };
  return { passed, failed };
}

/** Reads unittest's summary; a run of zero tests or a non-zero exit without counted failures is a failure. */
export function judgeUnittest(code: number, out: string): SuiteResult {
  const ran = /Ran (\d+) tests?/.exec(out);
  const total = ran ? Number(ran[1]) : 0;
  const bad = /FAILED \(([^)]*)\)/.exec(out);
  let failed = 0;
  if (bad) for (const m of bad[1].matchAll(/(failures|errors|unexpected successes)=(\d+)/g)) failed += Number(m[2]);
  const skippedM = /skipped=(\d+)/.exec(out);
  const skipped = skippedM ? Number(skippedM[1]) : 0;
  const passed = Math.max(0, total - failed - skipped);
  if (!ran) return { passed: 0, failed: 1, problem: `the Python suite did not run (exit ${code})` };
  if (total === 0) return { passed: 0, failed: 1, problem: "the Python suite ran no test" };
  if (code !== 0 && failed === 0) return { passed, failed: 1, problem: `the Python suite exited ${code} although no test failed` };
  return { passed, failed };
}

if (import.meta.main) {
  const opts = parseArgs(process.argv.slice(2));
  let passed = 0;
  let failed = 0;
  const problems: string[] = [];
  const add = (r: SuiteResult) => {
    passed += r.passed;
    failed += r.failed;
    if (r.problem) {
      problems.push(r.problem);
      console.log(r.problem);
    }
  };

  if (opts.build) {
    // a stale binary must never be tested after a failed build
    rmSync(join(ROOT, "dist", "runicorn"), { force: true });
    const build = await run([process.execPath, "build.ts"]);
    if (build.code !== 0) add({ passed: 0, failed: 1, problem: `build failed (exit ${build.code})` });
  }

  // the type check counts as one test: strict types are part of the build
  if (opts.typecheck) {
    const tsc = await run([process.execPath, "node_modules/typescript/bin/tsc", "--noEmit", "-p", "."]);
    add(tsc.code === 0 ? { passed: 1, failed: 0 } : { passed: 0, failed: 1, problem: "typecheck failed" });
  }

  const bunTests = await run([process.execPath, "test", "--timeout", "120000", ...opts.bunArgs]);
  add(judgeBun(bunTests.code, bunTests.out));

  if (opts.pythonDir) {
    if (!existsSync(opts.pythonDir)) add({ passed: 0, failed: 1, problem: `the Python suite's folder ${opts.pythonDir} is missing` });
    else {
      const top = join(opts.pythonDir, "..");
      const py = await run(["python3", "-m", "unittest", "discover", "-s", opts.pythonDir, "-t", top]);
      add(judgeUnittest(py.code, py.out));
    }
  }

  if (problems.length > 0) console.log(`problems: ${problems.join("; ")}`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}
