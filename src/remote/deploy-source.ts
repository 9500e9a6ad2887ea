// Finds the server's build of this version when the server's platform differs from ours: next to this
// executable, in the user cache, or downloaded; always checked against the release hash embedded at build time.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { releaseHashOfFile } from "../release/checksums.ts";
import { RELEASE_INFO, type ReleaseInfo } from "../release/embedded.ts";
import { findTarget, releaseFileName, targetKey } from "../release/targets.ts";
import { VERSION } from "../version.ts";

/** Where other platforms' builds of this version may be found. */
export interface ReleaseSources {
  version: string;
  /** Folder of the running executable (an unpacked release directory); undefined when running from source. */
  execDir?: string;
  /** `~/.cache/runicorn/releases/<version>`: found builds, and where downloads are kept. */
  cacheDir: string;
  /** Base URL of the release's files (`{version}` is replaced); "" for none. */
  releaseUrl: string;
  /** Target key → release hash, embedded at build time. */
  sums: ReadonlyMap<string, string>;
  /** Largest download accepted, in bytes. */
  maxDownloadBytes?: number;
}

/** A build that cannot be used or found; the message is one line for the user. */
export class ServerBuildError extends Error {}

const DEFAULT_MAX_DOWNLOAD = 512 * 1024 * 1024;

/** The sources for this executable: its folder, the user cache, and RUNICORN_RELEASE_URL or the built-in URL. */
export function releaseSources(
  config: { homeDir: string; env: Record<string, string | undefined> },
  selfPath: string | undefined,
  info: ReleaseInfo = RELEASE_INFO,
  version: string = VERSION,
): ReleaseSources {
  const cacheRoot = config.env.XDG_CACHE_HOME || join(config.homeDir, ".cache");
  return {
    version,
    execDir: selfPath ? dirname(selfPath) : undefined,
    cacheDir: join(cacheRoot, "runicorn", "releases", version),
    releaseUrl: config.env.RUNICORN_RELEASE_URL ?? info.releaseUrl,
    sums: info.sums,
  };
}

const hashCache = new Map<string, string | undefined>();

/** The release hash of a file, cached per path, size and mtime. */
function cachedReleaseHash(path: string): string | undefined {
  const st = statSync(path);
  const key = `${path}:${st.size}:${st.mtimeMs}`;
  if (!hashCache.has(key)) hashCache.set(key, releaseHashOfFile(path));
  return hashCache.get(key);
}

/** The download URL of a release file. */
export function releaseFileUrl(base: string, version: string, file: string): string {
  return `${base.replaceAll("{version}", version).replace(/\/+$/, "")}/${file}`;
}

/**
 * The local path of the verified build for `server` (`{os, arch}` in Bun's naming). Throws
 * ServerBuildError with one line that says what is missing and where to put it.
 */
export async function findServerBuild(
  server: { os: string; arch: string },
  src: ReleaseSources,
  status: (message: string) => void = () => undefined,
): Promise<string> {
  const key = targetKey(server);
  if (server.os === "windows") {
    throw new ServerBuildError("the server runs Windows, which runicorn remote does not support as a server (use a Linux or macOS server)");
  }
  const target = findTarget(key);
  if (!target) {
    throw new ServerBuildError(`the server runs ${key}, for which there is no runicorn build (servers: linux-x64, linux-arm64, darwin-x64, darwin-arm64)`);
  }
  const file = releaseFileName(src.version, target);
  const expected = src.sums.get(key);
  if (!expected) {
    throw new ServerBuildError(
      `this runicorn does not carry the checksum of the ${key} build, so it cannot deploy one (a development build, ` +
        `or a macOS build asked for the other macOS one); run a release build of runicorn ${src.version}`,
    );
  }
  const places = [src.execDir, src.cacheDir].filter((d): d is string => Boolean(d));
  for (const dir of places) {
    const path = join(dir, file);
    if (!existsSync(path)) continue;
    if (cachedReleaseHash(path) === expected) return path;
    status(`ignoring ${path}: it is not the ${key} build of runicorn ${src.version} (checksum differs)`);
  }
  if (src.releaseUrl) {
    const url = releaseFileUrl(src.releaseUrl, src.version, file);
    status(`downloading ${url}`);
    return await download(url, join(src.cacheDir, file), expected, src.maxDownloadBytes ?? DEFAULT_MAX_DOWNLOAD);
  }
  throw new ServerBuildError(
    `the server runs ${key}: put ${file} (from the runicorn ${src.version} release) ` +
      `${src.execDir ? `next to this executable (${src.execDir}) or ` : ""}in ${src.cacheDir}, ` +
      `or set RUNICORN_RELEASE_URL to the release's download URL`,
  );
}

/** Downloads to a temp file beside `dest`, checks the release hash, then renames into place. */
async function download(url: string, dest: string, expected: string, maxBytes: number): Promise<string> {
  mkdirSync(dirname(dest), { recursive: true });
  const tmp = `${dest}.download-${randomBytes(4).toString("hex")}`;
  let res: Response;
  try {
    res = await fetch(url, { redirect: "follow", signal: AbortSignal.timeout(600_000) });
  } catch (e) {
    throw new ServerBuildError(`cannot download ${url}: ${(e as Error).message}`);
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new ServerBuildError(`cannot download ${url}: HTTP ${res.status}; put ${dest.split(/[\\/]/).pop()} in ${dirname(dest)} instead`);
  }
  const fd = openSync(tmp, "w", 0o600);
  let size = 0;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.length;
      if (size > maxBytes) throw new ServerBuildError(`cannot download ${url}: larger than ${maxBytes} bytes`);
      let off = 0;
      while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
    }
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    if (e instanceof ServerBuildError) throw e;
    throw new ServerBuildError(`cannot download ${url}: ${(e as Error).message}`);
  }
  closeSync(fd);
  if (releaseHashOfFile(tmp) !== expected) {
    rmSync(tmp, { force: true });
    throw new ServerBuildError(`refusing ${url}: it is not the build this runicorn expects (checksum differs)`);
  }
  chmodSync(tmp, 0o755);
  renameSync(tmp, dest);
  return dest;
}
