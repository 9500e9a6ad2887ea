// The platforms a release is built for, and how their files are named.

/** One release target in Bun's naming. */
export interface ReleaseTarget {
  os: "linux" | "darwin" | "windows";
  arch: "x64" | "arm64";
}

/** Every target of `npm run release`, in the order of the embedded checksum table (never reorder: old builds read it). */
export const RELEASE_TARGETS: readonly ReleaseTarget[] = [
  { os: "linux", arch: "x64" },
  { os: "linux", arch: "arm64" },
  { os: "darwin", arch: "x64" },
  { os: "darwin", arch: "arm64" },
  { os: "windows", arch: "x64" },
];

/** `linux-arm64` etc. */
export function targetKey(t: { os: string; arch: string }): string {
  return `${t.os}-${t.arch}`;
}

/** Parses `linux-arm64`; undefined when it is not a release target. */
export function findTarget(key: string): ReleaseTarget | undefined {
  return RELEASE_TARGETS.find((t) => targetKey(t) === key);
}

/** The release file of a target: `runicorn-<version>-<os>-<arch>`, with `.exe` on Windows. */
export function releaseFileName(version: string, t: { os: string; arch: string }): string {
  return `runicorn-${version}-${t.os}-${t.arch}${t.os === "windows" ? ".exe" : ""}`;
}

/** The `--target` of `bun build --compile` for a release target. */
export function bunTarget(t: ReleaseTarget): string {
  return `bun-${t.os}-${t.arch}`;
}

/** Bun's name for a Node `process.platform` (`win32` → `windows`). */
export function osName(platform: string): string {
  return platform === "win32" ? "windows" : platform;
}
