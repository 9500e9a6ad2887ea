// Measures the shipped UI: gzipped size of all JS and CSS that index.html can load, against the 250 KB JS budget.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { buildUi } from "../ui/build.ts";
import { finish, reportValue } from "./lib.ts";

const out = mkdtempSync(join(tmpdir(), "rn-ui-bundle-"));
try {
  const t0 = performance.now();
  await buildUi(out);
  const buildMs = performance.now() - t0;
  const files = readdirSync(join(out, "assets")).map((f) => join(out, "assets", f));
  const sum = (ext: string) =>
    files.filter((f) => f.endsWith(ext)).reduce((a, f) => ({ raw: a.raw + statSync(f).size, gz: a.gz + gzipSync(readFileSync(f), { level: 9 }).length }), { raw: 0, gz: 0 });
  const js = sum(".js");
  const css = sum(".css");
  const kb = (n: number) => (n / 1024).toFixed(1).padStart(7);
  console.log(`ui build                                     ${buildMs.toFixed(0)} ms`);
  reportValue("JS, all chunks, gzip", js.gz / 1024, 250, "KB", "lower");
  console.log(`JS  (all chunks)  raw ${kb(js.raw)} KB   gzip ${kb(js.gz)} KB`);
  console.log(`CSS               raw ${kb(css.raw)} KB   gzip ${kb(css.gz)} KB`);
} finally {
  rmSync(out, { recursive: true, force: true });
}
finish();
