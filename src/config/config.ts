// Resolves the server's configuration once, from CLI flags and the environment (spec §1.1, §1.2).
import { homedir, platform } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { readJsonObject } from "../store/json.ts";
import { resolveToken } from "./token.ts";

/** Everything the server needs to know about where things live and how to listen. */
export interface Config {
  /** The storage root, absolute. */
  root: string;
  /** Which rule of spec §1.1 chose the root. */
  rootSource: "flag" | "env" | "user_config" | "default";
  host: string;
  port: number;
  logLevel: LogLevel;
  /** Per-user config directory `CFG` (spec §1.2). */
  configDir: string;
  homeDir: string;
  /** Seconds between full stat sweeps of the root (the watcher's safety net). */
  sweepSeconds: number;
  /** How long early API requests wait for a fresh index's first build (ms); tests set 0 to see partial lists. */
  firstAnswerWaitMs?: number;
  /** Seconds between full sweeps of every run (0 = never); undefined = automatic (short on network filesystems). */
  fullSweepSeconds?: number;
  /** Required API token (set for non-loopback binds); undefined = no token. */
  token?: string;
  /** Where the token came from (for messages; never the token itself). */
  tokenSource?: "flag" | "file" | "env" | "generated";
  /** Extra origins allowed to call the API from a browser (same origin is always allowed). */
  corsOrigins: string[];
  /** Extra Host names the server answers to besides loopback literals (DNS-rebinding guard). */
  allowedHosts: string[];
  /** Proxy addresses whose X-Forwarded-For is believed; any other peer is the client itself. */
  trustedProxies: string[];
  /** The environment the server was started with (nothing else reads process.env). */
  env: Record<string, string | undefined>;
}

export type LogLevel = "debug" | "info" | "warn" | "error";
export const LOG_LEVELS: LogLevel[] = ["debug", "info", "warn", "error"];

/** Flags as parsed by the CLI; all optional. */
export interface ConfigFlags {
  root?: string;
  host?: string;
  port?: number;
  logLevel?: LogLevel;
  sweepSeconds?: number;
  firstAnswerWaitMs?: number;
  fullSweepSeconds?: number;
  token?: string;
  /** `--token-file`: read the token from this file (must not be readable by others). */
  tokenFile?: string;
  corsOrigins?: string[];
  allowedHosts?: string[];
  trustedProxies?: string[];
}

export const DEFAULT_PORT = 23300;
export const DEFAULT_HOST = "127.0.0.1";

/** Builds the configuration; pure apart from reading `CFG/config.json`. */
export function loadConfig(
  flags: ConfigFlags,
  env: Record<string, string | undefined>,
  cwd: string = process.cwd(),
): Config {
  const homeDir = env.HOME || homedir();
  const configDir = configDirFor(env, homeDir);
  const { root, rootSource } = resolveRoot(flags.root, env, configDir, homeDir, cwd);
  const token = resolveToken(flags, env, homeDir, cwd);
  return {
    root,
    rootSource,
    host: flags.host ?? DEFAULT_HOST,
    port: flags.port ?? DEFAULT_PORT,
    logLevel: flags.logLevel ?? "info",
    configDir,
    homeDir,
    sweepSeconds: flags.sweepSeconds ?? 10,
    firstAnswerWaitMs: flags.firstAnswerWaitMs,
    fullSweepSeconds: flags.fullSweepSeconds,
    token: token?.token,
    tokenSource: token?.source,
    corsOrigins: flags.corsOrigins ?? [],
    allowedHosts: flags.allowedHosts ?? [],
    trustedProxies: flags.trustedProxies ?? [],
    env,
  };
}

/** Spec §1.2: the per-user config directory. */
export function configDirFor(env: Record<string, string | undefined>, homeDir: string): string {
  const os = platform();
  if (os === "darwin") return join(homeDir, "Library", "Application Support", "Runicorn");
  if (os === "win32") return join(env.APPDATA || join(homeDir, "AppData", "Roaming"), "Runicorn");
  return join(env.XDG_CONFIG_HOME || join(homeDir, ".config"), "runicorn");
}

/** Spec §1.1: flag, then RUNICORN_DIR, then `user_root_dir` in CFG/config.json, then ./.runicorn. */
export function resolveRoot(
  flag: string | undefined,
  env: Record<string, string | undefined>,
  configDir: string,
  homeDir: string,
  cwd: string,
): Pick<Config, "root" | "rootSource"> {
  if (flag) return { root: expandPath(flag, homeDir, cwd), rootSource: "flag" };
  if (env.RUNICORN_DIR) return { root: expandPath(env.RUNICORN_DIR, homeDir, cwd), rootSource: "env" };
  const userRoot = readJsonObject(join(configDir, "config.json"))?.user_root_dir;
  if (typeof userRoot === "string" && userRoot.trim()) {
    return { root: expandPath(userRoot, homeDir, cwd), rootSource: "user_config" };
  }
  return { root: resolve(cwd, ".runicorn"), rootSource: "default" };
}

/** Expands `~` and makes a path absolute against `cwd`. */
export function expandPath(p: string, homeDir: string, cwd: string): string {
  let out = p.trim();
  if (out === "~") out = homeDir;
  else if (out.startsWith("~/")) out = join(homeDir, out.slice(2));
  return isAbsolute(out) ? resolve(out) : resolve(cwd, out);
}
