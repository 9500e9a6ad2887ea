// `runicorn serve`: assembles every service of the server once (storage, metrics, live push, samplers, remote sessions) and starts the HTTP server.
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../api/app.ts";
import { isLoopbackHost, MAX_UPLOAD_BODY, parseHostHeader } from "../api/guard.ts";
import { randomBytes } from "node:crypto";
import { isIP } from "node:net";
import { AllowedOrigins, normalizeOrigin } from "../config/allowed-origins.ts";
import { createRemoteManager } from "../api/remote.ts";
import { warmUpHistogramCode } from "../index/histogram-index.ts";
import { warmUpMetricCode } from "../index/metric-store.ts";
import { sharedIngestWorker } from "../metrics/ingest-pool.ts";
import { LiveHub } from "../live/live-hub.ts";
import type { RemoteManager } from "../remote/manager.ts";
import { isAddressInUse, portInUseMessage } from "../util/listen.ts";
import type { AppContext } from "../api/context.ts";
import { Fleet } from "../fleet/fleet.ts";
import { LOCAL_LABEL, UiFleet } from "../fleet/ui-fleet.ts";
import { applyUpstreamTokens, parseUpstreamFlags } from "../fleet/upstream-flag.ts";
import { type Config, LOG_LEVELS, type LogLevel, loadConfig } from "../config/config.ts";
import { FileIngestSink } from "../ingest/file-sink.ts";
import { Storage } from "../index/storage.ts";
import { startSystemSamplers } from "../system/samplers.ts";
import { createLogger, type Logger } from "../util/log.ts";
import { VERSION } from "../version.ts";
import { type FlagSpec, flagHelp, parseArgs, parsePort, ROOT_FLAGS, UsageError } from "./args.ts";
import { announceViewer } from "./viewer-file.ts";
import { teamServeCommand } from "../team/serve.ts";

const SPECS: FlagSpec[] = [
  ...ROOT_FLAGS,
  { name: "host", kind: "string", valueName: "HOST", help: "address to listen on (default 127.0.0.1)" },
  { name: "port", kind: "string", valueName: "PORT", help: "port to listen on (default 23300; 0 = any free port)" },
  { name: "token", kind: "string", valueName: "TOKEN", help: "require this API token (shows in ps: prefer --token-file or $RUNICORN_TOKEN)" },
  { name: "token-file", kind: "string", valueName: "PATH", help: "require the token in this file (mode 600); default: $RUNICORN_TOKEN, generated off loopback" },
  { name: "cors-origin", kind: "list", valueName: "ORIGIN", help: "also allow browser calls from this origin, e.g. http://localhost:5173 (repeatable)" },
  { name: "allowed-host", kind: "list", valueName: "NAME", help: "also answer to this Host name, e.g. behind a reverse proxy (repeatable)" },
  { name: "trusted-proxy", kind: "list", valueName: "ADDR", help: "believe X-Forwarded-For from this proxy address (repeatable)" },
  { name: "full-sweep", kind: "string", valueName: "SECONDS", help: "re-check every run this often (0 = never; default: 300 on network filesystems, else 3600)" },
  { name: "public-url", kind: "string", valueName: "URL", help: "the URL users open when it differs from the listening one (a proxy, runicorn remote); shown by the SDKs' init line" },
  { name: "db", kind: "string", valueName: "URL", help: "team mode: serve from PostgreSQL, e.g. postgresql://user@host:5432/runicorn (docs/TEAM.md)" },
  { name: "upstream", kind: "list", valueName: "LABEL=URL", help: "fleet mode: merge this host's viewer, e.g. gpu1=http://127.0.0.1:23301 (repeatable; docs/FLEET.md)" },
  { name: "upstream-token", kind: "list", valueName: "LABEL=@FILE", help: "fleet mode: send that host the token in FILE (mode 600); or $RUNICORN_UPSTREAM_TOKEN_<LABEL>" },
  { name: "log-level", kind: "string", valueName: "LEVEL", help: "debug | info | warn | error (default info)" },
  { name: "help", short: "h", kind: "boolean", help: "show this help" },
];

export const SERVE_HELP = `Usage: runicorn serve [options]

Serve the web UI and the API for a storage root.

${flagHelp(SPECS)}`;

/** A running server, for the CLI and for tests that start it in-process. */
export interface RunningServer {
  url: string;
  port: number;
  ctx: AppContext;
  stop(): Promise<void>;
}

/** Starts the server for a resolved configuration. Throws with a one-line message when it cannot. */
export async function startServer(
  config: Config,
  /** `uiFleet`: the Remote page's fleet this fleet view belongs to (it shares the remote manager, which its owner closes). */
  opts: { fleet?: Fleet; remote?: RemoteManager; uiFleet?: UiFleet } = {},
): Promise<RunningServer> {
  const log = createLogger(config.logLevel);
  if (!opts.fleet) {
    // the ingest worker builds part of a first read (issue 13): its code is compiled on the other core
    // while this thread opens the index, so that a chart asked for right after the start is not parsed cold
    void sharedIngestWorker()
      .warmUp()
      .catch((e) => log.debug(`ingest worker warm-up stopped: ${(e as Error).message}`));
  }
  try {
    mkdirSync(join(config.root, "runs"), { recursive: true });
  } catch (e) {
    accessOrThrow(config.root);
    log.warn(`storage root ${config.root} is read-only (${(e as NodeJS.ErrnoException).code}); serving it read-only`);
  }
  accessOrThrow(config.root);
  const cacheDir = join(config.env.XDG_CACHE_HOME || join(config.homeDir, ".cache"), "runicorn");
  const storage = await Storage.open(config.root, cacheDir, log, {
    sweepSeconds: config.sweepSeconds,
    fullSweepSeconds: config.fullSweepSeconds,
    firstAnswerWaitMs: config.firstAnswerWaitMs,
  });
  const closers: (() => void | Promise<void>)[] = [];
  const onClose = (fn: () => void | Promise<void>) => void closers.push(fn);
  const root = () => storage.root;
  // GPU history exists before the first page opens
  const system = startSystemSamplers({ log, root, onClose }, { pathEnv: config.env.PATH });
  const remote = opts.remote ?? createRemoteManager(config, log);
  let port = 0;
  // a server of its own root can build a fleet from saved connections (the Remote page); its view is a second server
  const uiFleet: UiFleet | undefined =
    opts.uiFleet ??
    (opts.fleet
      ? undefined
      : new UiFleet({
          manager: remote,
          log: log.child("fleet"),
          local: () => ({ label: LOCAL_LABEL, baseUrl: `http://${loopbackHost(config.host)}:${port}`, token: config.token }),
          homePort: () => port,
          freePort,
          startFleetServer: async (fleet): Promise<{ port: number; stop(): Promise<void> }> => {
            const fleetRoot = mkdtempSync(join(tmpdir(), "runicorn-fleet-"));
            const s: RunningServer = await startServer({ ...config, root: fleetRoot, port: 0 }, { fleet, remote, uiFleet }).catch((e) => {
              rmSync(fleetRoot, { recursive: true, force: true });
              throw e;
            });
            return {
              port: s.port,
              stop: async () => {
                await s.stop();
                rmSync(fleetRoot, { recursive: true, force: true });
              },
            };
          },
        }));
  // the fleet view's hosts and the remote sessions belong to the server that built them
  // closers run last-registered first: the fleet's hosts stop (no reconnects) before the sessions close
  if (!opts.uiFleet) {
    onClose(() => remote.closeAll());
    if (uiFleet) onClose(() => uiFleet.removeAll());
  }
  // file changes reach the hub even before any page subscribes (prompt ingest of known runs)
  const live = new LiveHub({ runs: () => storage, store: () => storage.metrics, log: log.child("live") });
  onClose(() => live.close());
  const ctx: AppContext = {
    config,
    log,
    root,
    index: () => storage.idx,
    metrics: () => storage.metrics,
    runs: storage,
    storage,
    live,
    system,
    remote,
    origins: new AllowedOrigins(config.configDir, config.corsOrigins),
    onClose,
    fleet: opts.fleet,
    uiFleet,
    ingest: new FileIngestSink(storage),
  };
  if (opts.fleet) {
    opts.fleet.start();
    onClose(() => opts.fleet!.stop());
  }
  // requests in flight (the warm-ups step aside meanwhile); the server is made below
  let served: { pendingRequests: number } | undefined;
  const busy = () => (served?.pendingRequests ?? 0) > 0;
  if (!opts.fleet) warmUpMetrics(ctx, storage, busy);
  const app = createApp(ctx);
  try {
    app.listen({
      hostname: config.host,
      port: config.port,
      maxRequestBodySize: MAX_UPLOAD_BODY,
      // Elysia turns reusePort on: a second server on the same port would then share it silently (issue 20.1)
      reusePort: false,
      // never Bun's development error page (it shows paths and source), whatever NODE_ENV says
      development: false,
      error(e: Error) {
        log.error("request failed outside the API's error handling", e);
        return new Response(JSON.stringify({ detail: "Internal server error" }), { status: 500, headers: { "content-type": "application/json" } });
      },
    });
  } catch (e) {
    await storage.close();
    if (isAddressInUse(e)) throw new Error(portInUseMessage(config.host, config.port));
    throw new Error(`cannot listen on ${config.host}:${config.port}: ${(e as Error).message}`);
  }
  port = app.server!.port as number;
  served = app.server!;
  // warm the router and JSON paths so the first real request does not pay for them
  void app.handle(new Request("http://localhost/api/health")).catch(() => {});
  warmRunRoutes(app, log, busy, opts.fleet ? undefined : () => warmUpHistogramCode(ctx.index().db));
  const shownHost = config.host.includes(":") ? `[${config.host}]` : config.host;
  let stopped: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${port}`,
    port,
    ctx,
    stop: () =>
      (stopped ??= (async () => {
        await app.stop(true);
        for (const fn of closers.reverse()) await fn();
        await storage.close();
      })()),
  };
}

/**
 * Elysia compiles a route's handler on its first request (about 15 ms each): asks the per-run routes a
 * run page uses first once, for a run id that cannot exist (a 404 without file access), in the background,
 * then runs `more` (code the routes call past the 404). Each step waits while a real request is in flight
 * (`busy`, at most 2 s), so a user's first request does not queue behind a warm-up.
 */
function warmRunRoutes(app: { handle(r: Request): Promise<Response> }, log: Logger, busy: () => boolean, more?: () => Promise<void>): void {
  const id = "00000000_000000_warmup";
  const paths = ["", "/metrics_step?downsample=2000", "/series?points=2000", "/keys", "/histograms", "/images"];
  const idle = async () => {
    for (let waited = 0; busy() && waited < 2000; waited += 5) await Bun.sleep(5);
  };
  setTimeout(async () => {
    for (const p of paths) {
      await idle();
      // a warm-up request only compiles the route; its answer does not matter
      await app.handle(new Request(`http://localhost/api/runs/${id}${p}`)).catch((e) => log.debug(`route warm-up of ${p || "/"}: ${(e as Error).message}`));
    }
    await idle();
    await more?.().catch((e) => log.debug(`code warm-up stopped: ${(e as Error).message}`));
  }, 50);
}

/** The address this machine reaches a server on that listens on `host` (the wildcard addresses by loopback). */
function loopbackHost(host: string): string {
  if (host === "" || host === "0.0.0.0" || host === "::" || host === "localhost") return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}

/** A port free on 127.0.0.1 right now (a fleet host's forward keeps it across restarts). */
async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = s.port;
  s.stop(true);
  return p;
}

/**
 * From the start (before the server listens) so that a first chart is quick: once the first index build
 * is done, reads ahead the runs a user opens first (`warmRecent`: those stored most recently; on a fresh
 * index the two newest, read by the ingest worker while this thread starts listening), then, unless that
 * compiled the chart code on real rows, compiles the metric code on synthetic lines. A real query warms
 * the code itself: the synthetic warm-up steps aside once one has started, and pauses while any other
 * request is in flight (`busy`).
 */
function warmUpMetrics(ctx: AppContext, storage: Storage, busy: () => boolean): void {
  const metrics = storage.metrics;
  const runs = storage.runs;
  void runs.ready
    .catch(() => undefined)
    .then(() => metrics.warmRecent(2, () => runs.newestRuns(8)))
    .catch((e) => {
      ctx.log.debug(`metrics read-ahead stopped: ${(e as Error).message}`);
      return false;
    })
    .then((compiled) => (compiled ? undefined : warmUpMetricCode(() => metrics.queried() > 0, undefined, undefined, busy)))
    .catch((e) => ctx.log.debug(`metric code warm-up stopped: ${(e as Error).message}`));
}

/** A repeatable flag's values, each checked; a bad one is a usage error naming the flag. */
function checkedList(v: unknown, flag: string, ok: (v: string) => boolean, what: string): string[] | undefined {
  if (v === undefined) return undefined;
  for (const item of v as string[]) if (!ok(item)) throw new UsageError(`--${flag} needs ${what}, got '${item}'`);
  return v as string[];
}

/** A whole number of seconds from 0 to one week, or a UsageError naming the flag. */
function parseSeconds(v: string, flag: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 604800) throw new UsageError(`--${flag} must be a whole number of seconds from 0 to 604800, got '${v}'`);
  return n;
}

/** An http(s) URL without credentials, query or fragment (it is written where every training script reads it). */
function parsePublicUrl(v: string): string {
  const u = URL.canParse(v) ? new URL(v) : undefined;
  if (!u || (u.protocol !== "http:" && u.protocol !== "https:") || u.username || u.password || u.search || u.hash) {
    throw new UsageError(`--public-url needs an http(s) URL without credentials or query, e.g. http://localhost:23300, got '${v}'`);
  }
  return u.href.replace(/\/$/, "");
}

function accessOrThrow(root: string): void {
  try {
    accessSync(root, constants.R_OK | constants.X_OK);
  } catch (e) {
    throw new Error(`cannot read storage root ${root}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** The `serve` command; returns the exit code (and keeps running until a signal). */
export async function serveCommand(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const { flags, positionals } = parseArgs(argv, SPECS, "serve");
  if (flags.help) {
    console.log(SERVE_HELP);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}' for 'serve'`);
  if (flags.db !== undefined) return teamServeCommand(flags, env, flags.port !== undefined ? parsePort(flags.port as string, "port") : undefined);
  const level = flags["log-level"] as string | undefined;
  if (level !== undefined && !LOG_LEVELS.includes(level as LogLevel)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}, got '${level}'`);
  }
  const config = loadConfig(
    {
      root: (flags.root ?? flags.storage) as string | undefined,
      host: flags.host as string | undefined,
      port: flags.port !== undefined ? parsePort(flags.port as string, "port") : undefined,
      logLevel: level as LogLevel | undefined,
      token: flags.token as string | undefined,
      tokenFile: flags["token-file"] as string | undefined,
      corsOrigins: checkedList(flags["cors-origin"], "cors-origin", (v) => normalizeOrigin(v) !== undefined, "an origin such as http://localhost:5173"),
      allowedHosts: checkedList(flags["allowed-host"], "allowed-host", (v) => parseHostHeader(v)?.port === undefined && parseHostHeader(v) !== undefined, "a host name without port"),
      trustedProxies: checkedList(flags["trusted-proxy"], "trusted-proxy", (v) => isIP(v) !== 0, "an IP address"),
      fullSweepSeconds: flags["full-sweep"] !== undefined ? parseSeconds(flags["full-sweep"] as string, "full-sweep") : undefined,
    },
    env,
  );
  if (flags.token !== undefined && flags["token-file"] !== undefined) throw new UsageError("give either --token or --token-file, not both");
  if (!config.token && !isLoopbackHost(config.host)) {
    // off loopback the API can delete runs and read files: never serve it without a token
    config.token = randomBytes(24).toString("base64url");
    config.tokenSource = "generated";
  }
  let fleet: Fleet | undefined;
  if (flags["upstream-token"] !== undefined && flags.upstream === undefined) throw new UsageError("--upstream-token needs --upstream");
  if (flags.upstream !== undefined) {
    try {
      const specs = applyUpstreamTokens(parseUpstreamFlags(flags.upstream as string[]), (flags["upstream-token"] as string[] | undefined) ?? [], env, config.homeDir, process.cwd());
      fleet = new Fleet(specs, createLogger(config.logLevel));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  const publicUrl = flags["public-url"] === undefined ? undefined : parsePublicUrl(flags["public-url"] as string);
  if (!existsSync(config.root)) console.log(`storage root ${config.root} does not exist: creating a new empty root`);
  const server = await startServer(config, { fleet });
  const unannounce = announceViewer(config.root, server.url, !!config.token, publicUrl);
  console.log(`Runicorn ${VERSION} serving ${config.root}`);
  if (fleet) console.log(`fleet mode over ${fleet.hosts.map((h) => `${h.label} (${h.spec.baseUrl})`).join(", ")}`);
  // `runicorn remote`'s guard waits for this line before the tunnel sends the token (src/remote/viewer.ts LISTENING_PREFIX)
  console.log(`listening on ${server.url}`);
  // a token the user chose is not printed again (it would land in logs); a generated one must be shown once
  if (config.tokenSource === "generated") console.log(`open ${server.url}/?token=${config.token}  (API clients: Authorization: Bearer <token>)`);
  else if (config.token) console.log(`token required (from ${config.tokenSource === "env" ? "$RUNICORN_TOKEN" : config.tokenSource === "file" ? "--token-file" : "--token"}): open ${server.url}/?token=<token>`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  unannounce();
  await server.stop();
  return 0;
}
