// The SDK wheel built without pip: valid RECORD, installable by pip, importable; and `runicorn sdk --wheel DIR`.
import { afterAll, describe, expect, it } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../../src/cli/args.ts";
import { sdkCommand } from "../../src/cli/sdk.ts";
import { readZipEntries, extractZipEntry } from "../../src/store/assets/zip-reader.ts";
import { MemorySink } from "../../src/store/assets/byte-sink.ts";
import { buildWheel, parsePyProject } from "../../src/release/wheel.ts";
import { VERSION } from "../../src/version.ts";
import { PROJECT, tempDir } from "../helpers/server.ts";

const t = tempDir("rn-wheel-");
afterAll(() => t.cleanup());

async function unzip(bytes: Uint8Array): Promise<Map<string, Buffer>> {
  const blob = new Blob([new Uint8Array(bytes)]);
  const out = new Map<string, Buffer>();
  for (const e of await readZipEntries(blob, 10_000)) {
    const sink = new MemorySink();
    await extractZipEntry(blob, e, sink);
    out.set(e.name, Buffer.from(sink.bytes()));
  }
  return out;
}

describe("the SDK wheel", () => {
  it("holds every module of the package and a RECORD whose hashes and sizes match", async () => {
    const wheel = await buildWheel(join(PROJECT, "sdk", "python"));
    expect(wheel.name).toBe(`runicorn-${VERSION}-py3-none-any.whl`);
    const files = await unzip(wheel.bytes);
    expect(files.has("runicorn/__init__.py")).toBe(true);
    expect(files.has("runicorn/api/client.py")).toBe(true);
    expect([...files.keys()].some((n) => n.includes("__pycache__"))).toBe(false);
    const info = `runicorn-${VERSION}.dist-info`;
    expect(files.get(`${info}/WHEEL`)!.toString()).toContain("Tag: py3-none-any");
    const meta = files.get(`${info}/METADATA`)!.toString();
    expect(meta).toContain(`Version: ${VERSION}`);
    expect(meta).toContain('Requires-Dist: pillow; extra == "images"');
    const record = files.get(`${info}/RECORD`)!.toString().trim().split("\n");
    expect(record.length).toBe(files.size);
    for (const line of record) {
      const [name, hash, size] = line.split(",");
      if (name === `${info}/RECORD`) continue;
      const data = files.get(name!)!;
      expect(hash).toBe("sha256=" + createHash("sha256").update(data).digest("base64url"));
      expect(Number(size)).toBe(data.length);
    }
  });

  it("is the same bytes when built twice from the same sources", async () => {
    const a = await buildWheel(join(PROJECT, "sdk", "python"));
    const b = await buildWheel(join(PROJECT, "sdk", "python"));
    expect(Buffer.compare(Buffer.from(a.bytes), Buffer.from(b.bytes))).toBe(0);
  });

  it("installs with pip (no index) and imports", async () => {
    const wheel = await buildWheel(join(PROJECT, "sdk", "python"));
    const path = join(t.dir, wheel.name);
    writeFileSync(path, wheel.bytes);
    const target = join(t.dir, "site");
    const pip = Bun.spawnSync(["python3", "-m", "pip", "install", "--no-index", "--no-deps", "--quiet", "--target", target, path], { stderr: "pipe" });
    expect(pip.stderr.toString()).not.toContain("ERROR");
    expect(pip.exitCode).toBe(0);
    const py = Bun.spawnSync(["python3", "-c", "import runicorn, runicorn.api; print(runicorn.__version__)"], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", PYTHONPATH: target },
      stdout: "pipe",
    });
    expect(py.stdout.toString().trim()).toBe(VERSION);
  });

  it("reads name, version, python requirement and extras from pyproject.toml", () => {
    const p = parsePyProject(readFileSync(join(PROJECT, "sdk", "python", "pyproject.toml"), "utf8"));
    expect(p).toMatchObject({ name: "runicorn", version: VERSION, requiresPython: ">=3.8" });
    expect(p.extras.images).toEqual(["pillow"]);
    expect(() => parsePyProject("[project]\nname = \"x\"\n")).toThrow("needs name and version");
  });
});

describe("runicorn sdk --wheel DIR", () => {
  it("writes the embedded wheel into DIR (created) and prints its path", async () => {
    const wheel = await buildWheel(join(PROJECT, "sdk", "python"));
    const src = join(t.dir, "embedded.whl");
    writeFileSync(src, wheel.bytes);
    const lines: string[] = [];
    const info = { sums: new Map(), releaseUrl: "", wheel: { name: wheel.name, path: src } };
    expect(sdkCommand(["--wheel", join(t.dir, "out", "new")], (l) => lines.push(l), info)).toBe(0);
    expect(lines).toEqual([join(t.dir, "out", "new", wheel.name)]);
    expect(Buffer.compare(readFileSync(lines[0]!), Buffer.from(wheel.bytes))).toBe(0);
  });

  it("gives usage errors for a missing DIR, a file as DIR, and a build without a wheel", () => {
    const info = { sums: new Map(), releaseUrl: "", wheel: { name: "x.whl", path: join(t.dir, "embedded.whl") } };
    expect(() => sdkCommand([], () => undefined, info)).toThrow(UsageError);
    writeFileSync(join(t.dir, "a-file"), "");
    expect(() => sdkCommand(["--wheel", join(t.dir, "a-file")], () => undefined, info)).toThrow("is not a directory");
    expect(() => sdkCommand(["--wheel", t.dir], () => undefined, { sums: new Map(), releaseUrl: "" })).toThrow("built without the SDK wheel");
    expect(existsSync(join(t.dir, "x.whl"))).toBe(false);
  });
});
