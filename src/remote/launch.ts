// Chooses how to run the viewer on the server (our deployed binary, or a Python runicorn there), deploys, and starts it.
import type { SshConnection } from "./connection.ts";
import { describeLocalBinary, ensureBinary, type DeployResult, type LocalBinary, type ProgressFn } from "./deploy.ts";
import { findServerBuild, ServerBuildError, type ReleaseSources } from "./deploy-source.ts";
import { pythonForEnv, pythonRunicornVersion } from "./environment.ts";
import { pickRemotePort, probeHost, UnsupportedServerError, type HostProbe } from "./host-probe.ts";
import { shq, shPath } from "./shell-quote.ts";
import { osName } from "../release/targets.ts";
import { startRemoteViewer, TOKEN_FILE_WORD, type RemoteViewer } from "./viewer.ts";

/** What to launch and where. */
export interface LaunchOptions {
  /** Remote storage root as the user gave it (`~/…` allowed); undefined lets the server's runicorn choose. */
  root?: string;
  remotePort?: number;
  localPort?: number;
  /** A Python environment on the server (`system`, a conda env name, or a python path). */
  python?: string;
  /** Use that environment's Python runicorn when it has one, even if our binary could run (API `conda_env`). */
  pythonFirst?: boolean;
  /** This runicorn's executable, to deploy; undefined when running from source. */
  selfPath?: string;
  version: string;
  /** Where the server's build is found when its platform differs from ours (see deploy-source.ts). */
  releases?: ReleaseSources;
  onProgress?: ProgressFn;
  onStatus?: (message: string) => void;
  healthTimeoutMs?: number;
}

/** A started viewer and how it was started. */
export interface Launched {
  viewer: RemoteViewer;
  kind: "binary" | "python";
  probe: HostProbe;
  deploy?: DeployResult;
  python?: string;
}

/** This process's platform in Bun's naming. */
export function localPlatform(): { os: string; arch: string } {
  return { os: osName(process.platform), arch: process.arch };
}

/** An explained reason why the viewer cannot be started on this server. */
export class LaunchError extends Error {}

/** Probes the server, picks binary or Python, deploys if needed, and starts the viewer. */
export async function launchViewer(conn: SshConnection, opts: LaunchOptions): Promise<Launched> {
  const probe = await probeHost(conn, opts.version).catch((e: unknown) => {
    throw e instanceof UnsupportedServerError ? new LaunchError(e.message) : e;
  });
  const status = opts.onStatus ?? (() => undefined);
  const pickPort = (avoid: Set<number>) => pickRemotePort(probe.listening, avoid);
  const common = { remotePort: opts.remotePort, localPort: opts.localPort, pickPort, healthTimeoutMs: opts.healthTimeoutMs };

  const startPython = async (python: string): Promise<Launched> => {
    status(`starting the Python runicorn viewer (${python})`);
    const storage = opts.root ? ` --storage ${shPath(opts.root)}` : "";
    const viewer = await startRemoteViewer(conn, {
      ...common,
      // The original's viewer takes no token: anyone on the server can reach it on 127.0.0.1 (docs/SECURITY.md).
      withToken: false,
      command: (p) => `${shq(python)} -m runicorn viewer${storage} --host 127.0.0.1 --port ${p} --remote-mode --log-level INFO`,
      healthTimeoutMs: opts.healthTimeoutMs ?? 30_000,
    });
    return { viewer, kind: "python", probe, python };
  };
  const findPythonRunicorn = async (): Promise<string | undefined> => {
    if (!opts.python) return undefined;
    const python = await pythonForEnv(conn, opts.python);
    if (!python) return undefined;
    return (await pythonRunicornVersion(conn, python)) ? python : undefined;
  };

  if (opts.python && opts.pythonFirst) {
    const python = await findPythonRunicorn();
    if (python) return await startPython(python);
  }
  const local = localPlatform();
  const sameArch = probe.os === local.os && probe.arch === local.arch;
  // The build to deploy: this executable on a server like us, else the server's build of this version.
  let build: LocalBinary | undefined;
  let buildProblem: string | undefined;
  if (sameArch && opts.selfPath) build = await describeLocalBinary(opts.selfPath);
  else if (!sameArch && opts.releases) {
    try {
      build = await describeLocalBinary(await findServerBuild(probe, opts.releases, status));
    } catch (e) {
      if (!(e instanceof ServerBuildError)) throw e;
      buildProblem = e.message;
    }
  }
  if (build) {
    const name = `${probe.os}-${probe.arch}`;
    status(`checking runicorn ${opts.version} on the server (${name})`);
    const deploy = await ensureBinary(conn, probe, build, opts.version, opts.onProgress);
    status(deploy.uploaded ? `deployed ${deploy.remotePath}` : `using ${deploy.remotePath}`);
    const root = opts.root ? ` --root ${shPath(opts.root)}` : "";
    const viewer = await startRemoteViewer(conn, {
      ...common,
      withToken: true,
      // --public-url: the training scripts' init line then names the URL to open here, not the server's own port
      command: (p, local) =>
        `${shq(deploy.remotePath)} serve${root} --host 127.0.0.1 --port ${p} --token-file ${TOKEN_FILE_WORD} --public-url http://localhost:${local}`,
      // the first start of a ~100 MB file just written is read from disk, not the page cache
      healthTimeoutMs: opts.healthTimeoutMs ?? (deploy.uploaded ? 60_000 : undefined),
    });
    return { viewer, kind: "binary", probe, deploy };
  }
  if (opts.python && !opts.pythonFirst) {
    const python = await findPythonRunicorn();
    if (python) return await startPython(python);
    throw new LaunchError(
      `runicorn is not installed in the Python environment '${opts.python}' on the server ` +
        `(install it there with: python -m pip install runicorn)`,
    );
  }
  if (buildProblem) throw new LaunchError(buildProblem);
  if (!opts.selfPath) {
    throw new LaunchError(
      "this runicorn is not a compiled executable, so it cannot deploy itself; " +
        "use the runicorn binary, or --python ENV to start a Python runicorn installed on the server",
    );
  }
  throw new LaunchError(
    `the server runs ${probe.os}-${probe.arch} but this runicorn is built for ${local.os}-${local.arch}; ` +
      `run a ${probe.os}-${probe.arch} build of runicorn, or pass --python ENV to use a Python runicorn installed on the server`,
  );
}

/** This process's executable when it is the compiled runicorn binary (bun build --compile), else undefined. */
export function compiledSelfPath(): string | undefined {
  const main = Bun.main;
  return main.startsWith("/$bunfs/") || main.includes("~BUN") ? process.execPath : undefined;
}
