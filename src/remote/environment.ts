// Python environments on the server (spec §5.2): conda envs and the system python, and whether runicorn is importable there.
import type { SshConnection } from "./connection.ts";
import { shq } from "./shell-quote.ts";

/** One environment as `GET /api/remote/conda-envs` lists it. */
export interface PythonEnv {
  name: string;
  type: "conda" | "system";
  python_version: string;
  path: string;
  is_default: boolean;
}

const CONDA_CANDIDATES = [
  "$HOME/anaconda3/bin/conda",
  "$HOME/miniconda3/bin/conda",
  "$HOME/anaconda/bin/conda",
  "$HOME/miniconda/bin/conda",
  "$HOME/miniforge3/bin/conda",
  "$HOME/mambaforge/bin/conda",
  "/opt/anaconda3/bin/conda",
  "/opt/miniconda3/bin/conda",
  "/opt/conda/bin/conda",
  "/usr/local/anaconda3/bin/conda",
  "/usr/local/miniconda3/bin/conda",
];

/** Finds a conda executable: PATH, CONDA_EXE, the usual install places, then the shell rc files. */
export async function findConda(conn: SshConnection): Promise<string | undefined> {
  const script = [
    `c=$(command -v conda 2>/dev/null) && [ -x "$c" ] && { echo "$c"; exit 0; }`,
    `for c in "$CONDA_EXE" "\${CONDA_PREFIX:+$CONDA_PREFIX/bin/conda}" ${CONDA_CANDIDATES.map((c) => `"${c}"`).join(" ")}; do`,
    `  [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; exit 0; }`,
    `done`,
    `for rc in "$HOME/.bashrc" "$HOME/.bash_profile" "$HOME/.zshrc" "$HOME/.profile"; do`,
    `  [ -f "$rc" ] || continue`,
    `  for r in $(grep -oE "[^'\\" =(]+/(bin/conda|etc/profile.d/conda.sh)" "$rc" 2>/dev/null); do`,
    `    c="\${r%/etc/profile.d/conda.sh}"; c="\${c%/bin/conda}/bin/conda"`,
    `    [ -x "$c" ] && { echo "$c"; exit 0; }`,
    `  done`,
    `done`,
    `exit 1`,
  ].join("\n");
  const r = await conn.exec(script);
  const path = r.stdout.trim().split("\n")[0];
  return r.code === 0 && path ? path : undefined;
}

/** Parses `conda info --envs`: name (first token), path (last token), `*` marks the active one. */
export function parseCondaEnvs(text: string): { name: string; path: string; isDefault: boolean }[] {
  const out: { name: string; path: string; isDefault: boolean }[] = [];
  for (const line of text.split("\n")) {
    const s = line.trim();
    if (!s || s.startsWith("#")) continue;
    const tokens = s.split(/\s+/);
    const path = tokens.at(-1)!;
    if (!path.startsWith("/")) continue;
    const isDefault = tokens.includes("*");
    const name = tokens.length > 1 && tokens[0] !== "*" ? tokens[0]! : path.split("/").at(-1)!;
    out.push({ name, path, isDefault });
  }
  return out;
}

/** Lists conda environments and the system python (spec §5.2), with their versions. */
export async function listPythonEnvs(conn: SshConnection): Promise<PythonEnv[]> {
  const envs: PythonEnv[] = [];
  const conda = await findConda(conn);
  if (conda) {
    const r = await conn.exec(`${shq(conda)} info --envs`, { timeoutMs: 30_000 });
    const found = r.code === 0 ? parseCondaEnvs(r.stdout) : [];
    if (found.length) {
      const script = found
        .map((e) => `v=$(${shq(`${e.path}/bin/python`)} --version 2>&1) || v=Unknown; printf '%s\\n' "$v"`)
        .join("\n");
      const versions = (await conn.exec(script, { timeoutMs: 30_000 })).stdout.split("\n");
      found.forEach((e, i) =>
        envs.push({
          name: e.name,
          type: "conda",
          python_version: versions[i]?.trim() || "Unknown",
          path: `${e.path}/bin/python`,
          is_default: e.isDefault,
        }),
      );
    }
  }
  const sys = await conn.exec(
    `p=$(command -v python3 2>/dev/null || command -v python 2>/dev/null) || exit 1; printf '%s\\n' "$p"; "$p" --version 2>&1`,
  );
  if (sys.code === 0) {
    const [path = "", version = ""] = sys.stdout.trim().split("\n");
    envs.push({ name: "system", type: "system", python_version: version.trim() || "Unknown", path, is_default: true });
  }
  return envs;
}

/**
 * The python of an environment: `system` → python3 (or python) on PATH; a conda env name → its
 * `bin/python`. Undefined when there is no such environment.
 */
export async function pythonForEnv(conn: SshConnection, env: string): Promise<string | undefined> {
  if (env === "system" || env === "") {
    const r = await conn.exec(`command -v python3 2>/dev/null || command -v python 2>/dev/null`);
    const p = r.stdout.trim().split("\n")[0];
    return r.code === 0 && p ? p : undefined;
  }
  if (env.startsWith("/")) {
    const r = await conn.exec(`[ -x ${shq(env)} ]`);
    return r.code === 0 ? env : undefined;
  }
  const conda = await findConda(conn);
  if (!conda) return undefined;
  const r = await conn.exec(`${shq(conda)} info --envs`, { timeoutMs: 30_000 });
  const hit = parseCondaEnvs(r.stdout).find((e) => e.name === env);
  return hit ? `${hit.path}/bin/python` : undefined;
}

/** `<python> --version`, or undefined when that python does not run. */
export async function pythonVersion(conn: SshConnection, python: string): Promise<string | undefined> {
  const r = await conn.exec(`${shq(python)} --version 2>&1`);
  return r.code === 0 ? r.stdout.trim() || undefined : undefined;
}

/** The version of the Python runicorn importable by `python`, or undefined when it is not installed. */
export async function pythonRunicornVersion(conn: SshConnection, python: string): Promise<string | undefined> {
  const code = `import runicorn; print(getattr(runicorn, "__version__", "unknown"))`;
  const r = await conn.exec(`${shq(python)} -c ${shq(code)}`);
  return r.code === 0 ? r.stdout.trim() || "unknown" : undefined;
}

/** The storage root the server would use by default: $RUNICORN_DIR, the Python runicorn's user root, else ~/runicorn_data. */
export async function defaultRemoteRoot(conn: SshConnection, python: string | undefined, home: string): Promise<string> {
  const env = (await conn.exec(`printf '%s' "$RUNICORN_DIR"`)).stdout.trim();
  if (env) return env.startsWith("~/") ? `${home}/${env.slice(2)}` : env;
  if (python) {
    const code = `from runicorn.config import get_user_root_dir; d = get_user_root_dir(); print(d if d else "")`;
    const r = await conn.exec(`${shq(python)} -c ${shq(code)}`);
    if (r.code === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return `${home.replace(/\/+$/, "")}/runicorn_data`;
}
