// The test command: builds the binary, runs every bun test and the Python SDK's unittest suite,
// and ends with one plain line `N passed, N failed`.
import { existsSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const args = process.argv.slice(2);

async function run(cmd: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  const proc = Bun.spawn(cmd, { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
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

let passed = 0;
let failed = 0;

const build = await run([process.execPath, "build.ts"]);
if (build.code !== 0) {
  console.log("build failed");
  failed++;
}

// the type check counts as one test: strict types are part of the build
if (args.length === 0) {
  const tsc = await run([process.execPath, "node_modules/typescript/bin/tsc", "--noEmit", "-p", "."]);
  if (tsc.code === 0) passed++;
  else {
    console.log("typecheck failed");
    failed++;
  }
}

const bunTests = await run([process.execPath, "test", "--timeout", "120000", ...args]);
const pass = /^\s*(\d+) pass/m.exec(bunTests.out);
const fail = /^\s*(\d+) fail/m.exec(bunTests.out);
passed += pass ? Number(pass[1]) : 0;
failed += fail ? Number(fail[1]) : 0;
if (!pass && bunTests.code !== 0) failed++;

if (existsSync(join(ROOT, "sdk/python/tests")) && args.length === 0) {
  const py = await run(["python3", "-m", "unittest", "discover", "-s", "sdk/python/tests", "-t", "sdk/python"]);
  const ran = /Ran (\d+) tests?/.exec(py.out);
  const bad = /FAILED \(([^)]*)\)/.exec(py.out);
  let pyFailed = 0;
  if (bad) for (const m of bad[1].matchAll(/(failures|errors)=(\d+)/g)) pyFailed += Number(m[2]);
  const total = ran ? Number(ran[1]) : 0;
  const skipped = /skipped=(\d+)/.exec(py.out);
  passed += total - pyFailed - (skipped ? Number(skipped[1]) : 0);
  failed += pyFailed;
  if (!ran && py.code !== 0) failed++;
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
