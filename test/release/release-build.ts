// A linux-x64 + linux-arm64 release built once per source state (`bun build.ts --release`), cached under dist/test-release/.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { PROJECT } from "../helpers/server.ts";

const CACHE = join(PROJECT, "dist", "test-release");
/** What the build reads: a change in any of these means a new build. */
const INPUTS = ["src", "ui/src", "ui/index.html", "ui/build.ts", "sdk/python/runicorn", "sdk/python/pyproject.toml", "build.ts", "package.json"];

function files(path: string): string[] {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .sort()
    .flatMap((n) => (n.endsWith(".gen.ts") || n === "__pycache__" ? [] : files(join(path, n))));
}

/** Hash of the build's inputs and the Bun version. */
export function sourceKey(): string {
  const h = createHash("sha256").update(Bun.version);
  for (const f of INPUTS.flatMap((p) => files(join(PROJECT, p)))) h.update(relative(PROJECT, f)).update(readFileSync(f));
  return h.digest("hex").slice(0, 16);
}

/** The release directory with both Linux builds, the wheel and SHA256SUMS; builds it when the sources changed. */
export function linuxRelease(): string {
  const key = sourceKey();
  const dir = join(CACHE, key);
  if (existsSync(join(dir, "SHA256SUMS"))) return dir;
  rmSync(CACHE, { recursive: true, force: true }); // older keys: ~220 MB each
  const p = Bun.spawnSync(
    [process.execPath, "build.ts", "--release", "--targets", "linux-x64,linux-arm64", "--out", dir],
    { cwd: PROJECT, stdout: "inherit", stderr: "inherit" },
  );
  if (p.exitCode !== 0 || !existsSync(join(dir, "SHA256SUMS"))) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error("bun build.ts --release --targets linux-x64,linux-arm64 failed");
  }
  return dir;
}
