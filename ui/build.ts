// Builds the web UI (Preact + uPlot) into a folder of static, minified, content-hashed files with an index.html.
import { mkdir, rm } from "node:fs/promises";
import { join, resolve } from "node:path";

/** Bundles and minifies ui/index.html with its scripts and styles into `outDir` (emptied first). */
export async function buildUi(outDir: string): Promise<void> {
  const out = resolve(outDir);
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const result = await Bun.build({
    entrypoints: [join(import.meta.dir, "index.html")],
    outdir: out,
    target: "browser",
    minify: true,
    splitting: true,
    sourcemap: "none",
    // Absolute asset URLs: index.html is also served for deep links such as /runs/<id> (SPA fallback).
    publicPath: "/",
    naming: { entry: "[name].[ext]", chunk: "assets/[name]-[hash].[ext]", asset: "assets/[name]-[hash].[ext]" },
    define: { "process.env.NODE_ENV": JSON.stringify("production") },
  });
  if (!result.success) {
    const messages = result.logs.map((l) => String(l)).join("\n");
    throw new Error(`UI build failed:\n${messages}`);
  }
}

if (import.meta.main) {
  const outDir = process.argv[2] ?? join(import.meta.dir, "dist");
  const started = performance.now();
  await buildUi(outDir);
  console.log(`ui built into ${outDir} in ${Math.round(performance.now() - started)} ms`);
}
