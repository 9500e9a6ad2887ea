// Builds the Python SDK's pure-Python wheel (`runicorn-<version>-py3-none-any.whl`) without pip: a zip with *.dist-info.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { MemorySink } from "../store/assets/byte-sink.ts";
import { ZipWriter } from "../store/assets/zip-writer.ts";

/** A built wheel. */
export interface Wheel {
  /** `runicorn-<version>-py3-none-any.whl` */
  name: string;
  version: string;
  bytes: Uint8Array;
}

/** The fields of `pyproject.toml` [project] the wheel's METADATA needs. */
export interface PyProject {
  name: string;
  version: string;
  description: string;
  requiresPython?: string;
  license?: string;
  extras: Record<string, string[]>;
}

/** A fixed timestamp for every entry, so the same sources give the same wheel bytes. */
const ENTRY_TIME = new Date(2020, 0, 1, 0, 0, 0);

function tomlString(text: string, key: string): string | undefined {
  const m = new RegExp(`^${key}\\s*=\\s*"([^"]*)"`, "m").exec(text);
  return m?.[1];
}

/** Reads the [project] fields we use from pyproject.toml (the simple subset our file is written in). */
export function parsePyProject(text: string): PyProject {
  const project = /^\[project\]\s*$([\s\S]*?)(?=^\[)/m.exec(text + "\n[end]")?.[1] ?? "";
  const name = tomlString(project, "name");
  const version = tomlString(project, "version");
  if (!name || !version) throw new Error("pyproject.toml: [project] needs name and version");
  const extras: Record<string, string[]> = {};
  const extrasBlock = /^\[project\.optional-dependencies\]\s*$([\s\S]*?)(?=^\[)/m.exec(text + "\n[end]")?.[1] ?? "";
  for (const m of extrasBlock.matchAll(/^([A-Za-z0-9_.-]+)\s*=\s*\[([^\]]*)\]/gm)) {
    extras[m[1]!] = [...m[2]!.matchAll(/"([^"]+)"/g)].map((x) => x[1]!);
  }
  return {
    name,
    version,
    description: tomlString(project, "description") ?? "",
    requiresPython: tomlString(project, "requires-python"),
    license: /^license\s*=\s*\{\s*text\s*=\s*"([^"]*)"/m.exec(project)?.[1],
    extras,
  };
}

/** The wheel's file name for a version. */
export function wheelName(version: string): string {
  return `runicorn-${version}-py3-none-any.whl`;
}

function listPython(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      if (name === "__pycache__" || name.startsWith(".")) return [];
      const p = join(dir, name);
      if (statSync(p).isDirectory()) return listPython(p);
      return name.endsWith(".py") || name === "py.typed" ? [p] : [];
    });
}

/** RECORD's hash format: urlsafe base64 of the sha256, without padding (PEP 376/427). */
function recordHash(data: Uint8Array): string {
  return "sha256=" + createHash("sha256").update(data).digest("base64url");
}

function metadata(p: PyProject, readme: string): string {
  const lines = ["Metadata-Version: 2.1", `Name: ${p.name}`, `Version: ${p.version}`, `Summary: ${p.description}`];
  if (p.license) lines.push(`License: ${p.license}`);
  if (p.requiresPython) lines.push(`Requires-Python: ${p.requiresPython}`);
  for (const [extra, deps] of Object.entries(p.extras)) {
    lines.push(`Provides-Extra: ${extra}`);
    for (const d of deps) lines.push(`Requires-Dist: ${d}; extra == "${extra}"`);
  }
  lines.push("Description-Content-Type: text/markdown");
  return lines.join("\n") + "\n\n" + readme;
}

/** Builds the wheel from `sdk/python` (every .py under its `runicorn/` package, pyproject metadata, README). */
export async function buildWheel(sdkDir: string): Promise<Wheel> {
  const project = parsePyProject(readFileSync(join(sdkDir, "pyproject.toml"), "utf8"));
  let readme = "";
  try {
    readme = readFileSync(join(sdkDir, "README.md"), "utf8");
  } catch {
    readme = project.description; // no README: the summary is the long description
  }
  const distInfo = `${project.name}-${project.version}.dist-info`;
  const files: [string, Uint8Array][] = listPython(join(sdkDir, "runicorn")).map((p) => [
    relative(sdkDir, p).split("\\").join("/"),
    readFileSync(p),
  ]);
  const enc = new TextEncoder();
  files.push([`${distInfo}/METADATA`, enc.encode(metadata(project, readme))]);
  files.push([
    `${distInfo}/WHEEL`,
    enc.encode("Wheel-Version: 1.0\nGenerator: runicorn build.ts\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
  ]);
  files.push([`${distInfo}/top_level.txt`, enc.encode("runicorn\n")]);
  const record = files.map(([name, data]) => `${name},${recordHash(data)},${data.length}`);
  record.push(`${distInfo}/RECORD,,`);
  files.push([`${distInfo}/RECORD`, enc.encode(record.join("\n") + "\n")]);

  const sink = new MemorySink();
  const zip = new ZipWriter(sink);
  for (const [name, data] of files) await zip.addBytes(name, data, ENTRY_TIME);
  await zip.finish();
  return { name: wheelName(project.version), version: project.version, bytes: sink.bytes() };
}
