// Choosing the server's build when its platform differs: next to the executable, user cache, download; always checked.
import { afterAll, beforeEach, describe, expect, it } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { releaseHash } from "../../src/release/checksums.ts";
import { findServerBuild, releaseFileUrl, releaseSources, ServerBuildError, type ReleaseSources } from "../../src/remote/deploy-source.ts";
import { looksLikeWindowsShell, normalizePlatform } from "../../src/remote/host-probe.ts";
import { tempDir } from "../helpers/server.ts";
import { writeFakeBuild } from "../release/fake-binary.ts";

const t = tempDir("rn-deploy-src-");
afterAll(() => t.cleanup());
const ARM = { os: "linux", arch: "arm64" };
const FILE = "runicorn-9.9.9-linux-arm64";
const built = join(t.dir, "built");
mkdirSync(built, { recursive: true });
/** The "real" arm64 build whose release hash the local binary carries. */
const armBytes = writeFakeBuild(join(built, FILE));
const sums = new Map([["linux-arm64", releaseHash(armBytes)!]]);

let n = 0;
let src: ReleaseSources;
beforeEach(() => {
  const d = join(t.dir, `case-${n++}`);
  mkdirSync(join(d, "exe"), { recursive: true });
  src = { version: "9.9.9", execDir: join(d, "exe"), cacheDir: join(d, "cache", "releases", "9.9.9"), releaseUrl: "", sums };
});

async function failure(p: Promise<unknown>): Promise<ServerBuildError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ServerBuildError);
  return e as ServerBuildError;
}

/** A release server on 127.0.0.1 serving `files`; counts requests. */
function serveFiles(files: Record<string, Buffer>) {
  const hits: string[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      hits.push(path);
      const body = files[path];
      return body ? new Response(new Uint8Array(body)) : new Response("not found", { status: 404 });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, hits, stop: () => server.stop(true) };
}

describe("finding the server's build", () => {
  it("uses the build next to the running executable (an unpacked release)", async () => {
    writeFileSync(join(src.execDir!, FILE), armBytes);
    expect(await findServerBuild(ARM, src)).toBe(join(src.execDir!, FILE));
  });

  it("falls back to the user cache", async () => {
    mkdirSync(src.cacheDir, { recursive: true });
    writeFileSync(join(src.cacheDir, FILE), armBytes);
    expect(await findServerBuild(ARM, src)).toBe(join(src.cacheDir, FILE));
  });

  it("skips a file with the right name but other bytes, and says why", async () => {
    writeFakeBuild(join(src.execDir!, FILE)); // another build: different release hash
    mkdirSync(src.cacheDir, { recursive: true });
    writeFileSync(join(src.cacheDir, FILE), armBytes);
    const said: string[] = [];
    expect(await findServerBuild(ARM, src, (m) => said.push(m))).toBe(join(src.cacheDir, FILE));
    expect(said.join("\n")).toContain(`ignoring ${join(src.execDir!, FILE)}`);
  });

  it("downloads from the release URL into the cache, verified, and uses the cache next time", async () => {
    const srv = serveFiles({ [`/v9.9.9/${FILE}`]: armBytes });
    try {
      src.releaseUrl = `${srv.url}/v{version}/`;
      const path = await findServerBuild(ARM, src);
      expect(path).toBe(join(src.cacheDir, FILE));
      expect(Buffer.compare(readFileSync(path), armBytes)).toBe(0);
      expect(statSync(path).mode & 0o111).not.toBe(0);
      expect(await findServerBuild(ARM, src)).toBe(path);
      expect(srv.hits).toEqual([`/v9.9.9/${FILE}`]);
    } finally {
      srv.stop();
    }
  });

  it("refuses a download whose checksum differs and keeps nothing of it", async () => {
    const other = writeFakeBuild(join(t.dir, "evil"));
    const srv = serveFiles({ [`/${FILE}`]: other });
    try {
      src.releaseUrl = srv.url;
      const e = await failure(findServerBuild(ARM, src));
      expect(e.message).toBe(`refusing ${srv.url}/${FILE}: it is not the build this runicorn expects (checksum differs)`);
      expect(existsSync(src.cacheDir) ? readdirSync(src.cacheDir) : []).toEqual([]);
    } finally {
      srv.stop();
    }
  });

  it("says which file is missing when the release server answers 404", async () => {
    const srv = serveFiles({});
    try {
      src.releaseUrl = srv.url;
      const e = await failure(findServerBuild(ARM, src));
      expect(e.message).toContain(`cannot download ${srv.url}/${FILE}: HTTP 404; put ${FILE} in ${src.cacheDir}`);
    } finally {
      srv.stop();
    }
  });

  it("refuses a download larger than the limit", async () => {
    const srv = serveFiles({ [`/${FILE}`]: armBytes });
    try {
      src.releaseUrl = srv.url;
      src.maxDownloadBytes = 1000;
      const e = await failure(findServerBuild(ARM, src));
      expect(e.message).toContain("larger than 1000 bytes");
      expect(readdirSync(src.cacheDir)).toEqual([]);
    } finally {
      srv.stop();
    }
  });

  it("names the file needed and where to put it, in one line, when there is no build anywhere", async () => {
    const e = await failure(findServerBuild(ARM, src));
    expect(e.message).toBe(
      `the server runs linux-arm64: put ${FILE} (from the runicorn 9.9.9 release) next to this executable (${src.execDir}) ` +
        `or in ${src.cacheDir}, or set RUNICORN_RELEASE_URL to the release's download URL`,
    );
    expect(e.message).not.toContain("\n");
  });

  it("says clearly that Windows servers are not supported", async () => {
    const e = await failure(findServerBuild({ os: "windows", arch: "x64" }, src));
    expect(e.message).toContain("the server runs Windows, which runicorn remote does not support as a server");
  });

  it("refuses a platform without a build, and a build whose checksum this binary does not carry", async () => {
    expect((await failure(findServerBuild({ os: "freebsd", arch: "x64" }, src))).message).toContain("the server runs freebsd-x64, for which there is no runicorn build");
    writeFileSync(join(src.execDir!, "runicorn-9.9.9-linux-x64"), armBytes);
    const e = await failure(findServerBuild({ os: "linux", arch: "x64" }, src));
    expect(e.message).toContain("does not carry the checksum of the linux-x64 build");
  });
});

describe("release sources", () => {
  it("take the cache under XDG_CACHE_HOME or ~/.cache, and RUNICORN_RELEASE_URL over the built-in URL", () => {
    const info = { sums, releaseUrl: "https://example.invalid/v{version}" };
    const a = releaseSources({ homeDir: "/home/u", env: {} }, "/opt/rn/runicorn", info, "1.0.0");
    expect(a).toMatchObject({ execDir: "/opt/rn", cacheDir: "/home/u/.cache/runicorn/releases/1.0.0", releaseUrl: info.releaseUrl });
    const b = releaseSources({ homeDir: "/home/u", env: { XDG_CACHE_HOME: "/c", RUNICORN_RELEASE_URL: "http://127.0.0.1:1/r" } }, undefined, info, "1.0.0");
    expect(b).toMatchObject({ execDir: undefined, cacheDir: "/c/runicorn/releases/1.0.0", releaseUrl: "http://127.0.0.1:1/r" });
    expect(releaseFileUrl(info.releaseUrl, "1.0.0", "x")).toBe("https://example.invalid/v1.0.0/x");
  });
});

describe("the probe's platform names", () => {
  it("maps uname to Bun's names and recognises Windows shells", () => {
    expect(normalizePlatform("Linux", "aarch64")).toEqual({ os: "linux", arch: "arm64" });
    expect(normalizePlatform("Darwin", "arm64")).toEqual({ os: "darwin", arch: "arm64" });
    expect(normalizePlatform("Linux", "x86_64")).toEqual({ os: "linux", arch: "x64" });
    expect(normalizePlatform("MINGW64_NT-10.0-19045", "x86_64")).toEqual({ os: "windows", arch: "x64" });
    expect(normalizePlatform("CYGWIN_NT-10.0", "x86_64").os).toBe("windows");
    expect(looksLikeWindowsShell("'printf' is not recognized as an internal or external command,\r\noperable program or batch file.")).toBe(true);
    expect(looksLikeWindowsShell("printf : The term 'printf' is not recognized as the name of a cmdlet, function")).toBe(true);
    expect(looksLikeWindowsShell("home=/home/u\nuname=Linux x86_64\n")).toBe(false);
  });
});
