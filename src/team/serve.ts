// `runicorn serve --db postgresql://…`: a stateless team-server replica over one PostgreSQL database,
// and `runicorn token create|list|revoke` for the database's API tokens.
import { mkdirSync } from "node:fs";
import { SQL } from "bun";
import { resolve } from "node:path";
import { UsageError } from "../cli/args.ts";
import { isAddressInUse, portInUseMessage } from "../util/listen.ts";
import type { LogLevel } from "../config/config.ts";
import { createLogger } from "../util/log.ts";
import { VERSION } from "../version.ts";
import { createTeamApp } from "./app.ts";
import { FileBlobStore } from "./blob-store.ts";
import { openTeamDb } from "./schema.ts";
import { TeamService } from "./service.ts";
import { createToken, listTokens, liveTokenCount, revokeTokens } from "./tokens.ts";

export interface TeamServerOptions {
  db: string;
  /** Where media files go (a filesystem every replica shares). */
  root: string;
  host: string;
  port: number;
  logLevel?: LogLevel;
}

export interface RunningTeamServer {
  url: string;
  port: number;
  service: TeamService;
  stop(): Promise<void>;
}

/** Checks that a --db value is a PostgreSQL URL (the password, if any, is never echoed). */
export function assertDbUrl(db: string): void {
  if (!/^postgres(ql)?:\/\//.test(db) || !URL.canParse(db)) throw new UsageError("--db needs a PostgreSQL URL: postgresql://user@host:port/database");
}

/** Connections of the run-list pool (TeamService.listSql): few, so the backends that send whole lists stay warm. */
const LIST_POOL = 2;

/** Starts one replica. Refuses to start while the database has no live token (it would answer every call 401). */
export async function startTeamServer(opts: TeamServerOptions): Promise<RunningTeamServer> {
  const log = createLogger(opts.logLevel ?? "info");
  const sql = await openTeamDb(opts.db);
  if ((await liveTokenCount(sql)) === 0) {
    await sql.close();
    throw new Error("the team database has no API token yet: create one with `runicorn token create --db <url> --name <who>`, then start again");
  }
  mkdirSync(opts.root, { recursive: true });
  const service = new TeamService(sql, new FileBlobStore(resolve(opts.root, "blobs")), resolve(opts.root), log, new SQL({ url: opts.db, max: LIST_POOL }));
  await service.start();
  const app = createTeamApp(service, log);
  try {
    app.listen({ hostname: opts.host, port: opts.port, reusePort: false, development: false, maxRequestBodySize: 80 * 1024 * 1024 });
  } catch (e) {
    await service.close();
    if (isAddressInUse(e)) throw new Error(portInUseMessage(opts.host, opts.port));
    throw e;
  }
  const port = app.server!.port as number;
  const shown = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  let stopped: Promise<void> | undefined;
  return {
    url: `http://${shown}:${port}`,
    port,
    service,
    stop: () =>
      (stopped ??= (async () => {
        await app.stop(true);
        await service.close();
      })()),
  };
}

/** The team branch of `runicorn serve` (flags already parsed by serve.ts). */
export async function teamServeCommand(flags: Record<string, unknown>, env: Record<string, string | undefined>, port: number | undefined): Promise<number> {
  const db = flags.db as string;
  assertDbUrl(db);
  if (flags.token !== undefined || flags["token-file"] !== undefined) {
    throw new UsageError("a team server takes no --token: its tokens live in the database (runicorn token create --db URL --name NAME)");
  }
  const root = (flags.root ?? flags.storage ?? env.RUNICORN_TEAM_ROOT) as string | undefined;
  if (!root) throw new UsageError("--db needs --root DIR too: where media files go (a filesystem every replica shares)");
  const server = await startTeamServer({ db, root, host: (flags.host as string | undefined) ?? "127.0.0.1", port: port ?? 23300, logLevel: flags["log-level"] as LogLevel | undefined });
  console.log(`Runicorn ${VERSION} team server (PostgreSQL), media under ${resolve(root)}`);
  console.log(`listening on ${server.url}`);
  console.log(`token required: open ${server.url}/?token=<token> (runicorn token create --db URL --name NAME)`);
  await new Promise<void>((res) => {
    process.once("SIGINT", () => res());
    process.once("SIGTERM", () => res());
  });
  await server.stop();
  return 0;
}

export const TOKEN_HELP = `Usage: runicorn token <create|list|revoke> --db postgresql://… [--name NAME]

Manage a team server's API tokens (stored hashed in its PostgreSQL database; docs/TEAM.md).
  create --name NAME   print a new token for NAME (shown once)
  list                 list tokens (names, ids, when created/revoked)
  revoke --name NAME   revoke NAME's tokens (or --name ID for one token)
--db defaults to $RUNICORN_DB.`;

/** `runicorn token …`; returns the exit code. */
export async function tokenCommand(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === "--help" || sub === "-h") {
    console.log(TOKEN_HELP);
    return sub ? 0 : 2;
  }
  let db = env.RUNICORN_DB;
  let name: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    const value = (flag: string) => {
      const v = a.includes("=") ? a.slice(a.indexOf("=") + 1) : rest[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    if (a === "--db" || a.startsWith("--db=")) db = value("--db");
    else if (a === "--name" || a.startsWith("--name=")) name = value("--name");
    else throw new UsageError(`unknown option '${a}' for 'token'`);
  }
  if (!db) throw new UsageError("token needs --db postgresql://… (or $RUNICORN_DB)");
  assertDbUrl(db);
  if ((sub === "create" || sub === "revoke") && !name) throw new UsageError(`token ${sub} needs --name NAME`);
  if (!["create", "list", "revoke"].includes(sub)) throw new UsageError(`unknown token command '${sub}' (create, list, revoke)`);
  const sql = await openTeamDb(db, 2);
  try {
    if (sub === "create") {
      const token = await createToken(sql, name!).catch((e: Error) => {
        throw new UsageError(e.message);
      });
      console.log(token);
      console.error(`token for ${name} created; it is shown only now (the database keeps its hash)`);
    } else if (sub === "list") {
      for (const t of await listTokens(sql)) {
        const created = new Date(t.created_at * 1000).toISOString();
        const revoked = t.revoked_at ? `revoked ${new Date(t.revoked_at * 1000).toISOString()}` : "active";
        console.log(`${String(t.id).padStart(4)}  ${t.name.padEnd(24)} created ${created}  ${revoked}`);
      }
    } else {
      const n = await revokeTokens(sql, name!);
      if (n === 0) {
        console.error(`no active token named ${name}`);
        return 1;
      }
      console.log(`revoked ${n} token${n === 1 ? "" : "s"} of ${name}`);
    }
  } finally {
    await sql.close();
  }
  return 0;
}
