// Assembles a team-mode (PostgreSQL) server's HTTP/WebSocket app: token auth against the database's
// tokens on every API call, the error envelope, the team routes, and the embedded UI.
import { Elysia, ParseError } from "elysia";
import { HttpError } from "../api/errors.ts";
import { presentedToken, SECURITY_HEADERS } from "../api/guard.ts";
import { staticRoutes } from "../api/static.ts";
import type { AppContext } from "../api/context.ts";
import { PARSE_DETAIL, validationDetail } from "../api/app.ts";
import { bodyLimitFor, readBodyLimited } from "../api/guard.ts";
import { ingestRoutes } from "../api/ingest.ts";
import { parseTolerant } from "../store/json.ts";
import { teamLiveRoutes } from "../api/team-live.ts";
import { teamPathsRoutes } from "../api/team-paths.ts";
import { teamRecycleRoutes } from "../api/team-recycle.ts";
import { recycleRoutes } from "../api/recycle.ts";
import { teamRecycleStore } from "./recycle.ts";
import { teamHistogramsRoutes } from "../api/team-histograms.ts";
import { teamAssetsRoutes } from "../api/team-assets.ts";
import { teamConfigRoutes } from "../api/team-config.ts";
import { teamExportRoutes } from "../api/team-export.ts";
import { mediaTablesRoutes } from "../api/media-tables.ts";
import { mediaAudioRoutes } from "../api/media-audio.ts";
import { unservedRoutes } from "./unserved.ts";
import { teamRunsRoutes } from "../api/team-runs.ts";
import type { Logger } from "../util/log.ts";
import { VERSION } from "../version.ts";
import type { TeamService } from "./service.ts";

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

/** The team server's app; `who` (the token's name) is available to handlers. */
export function createTeamApp(svc: TeamService, log: Logger) {
  return (
    new Elysia()
      // the file mode's headers on every answer (api/guard.ts): CSP, no framing, no sniffing, no Referer
      .onRequest(({ set }) => {
        Object.assign(set.headers, SECURITY_HEADERS);
      })
      // every API call and socket needs a live token; the UI's files do not (they hold no data)
      .derive({ as: "global" }, async ({ request, set }) => {
        const url = new URL(request.url);
        const path = url.pathname;
        const token = presentedToken(request, url);
        const who = token ? await svc.tokens.who(token) : null;
        // the page opened with ?token=… keeps working without the token in every URL (as the file mode's guard does)
        const fromQuery = url.searchParams.get("token");
        if (who && fromQuery) set.headers["set-cookie"] = `runicorn_token=${encodeURIComponent(fromQuery)}; Path=/; HttpOnly; SameSite=Strict`;
        if (!path.startsWith("/api/") && path !== "/openapi.json") return { who };
        if (!who) throw new HttpError(401, "Missing or invalid token");
        return { who };
      })
      // bodies are read as the file mode's guard reads them (api/guard.ts): counted against the same limits, a
      // media file as raw bytes, an ingest batch with Python's NaN/Infinity tokens
      .onParse({ as: "global" }, async ({ request, contentType }) => {
        // every body is counted as it arrives, against the file mode's limits (1 MiB; ingest batches 8 MiB,
        // media 64 MiB): Content-Length may be absent, and no route here takes an upload
        const path = new URL(request.url).pathname;
        const type = contentType.toLowerCase();
        if (type.startsWith("multipart/")) throw new HttpError(415, "A team server takes no multipart uploads (runs come in through the ingest API)");
        const media = request.method === "PUT" && /^\/api\/ingest\/runs\/[^/]+\/media\/[^/]+$/.test(path);
        const bytes = await readBodyLimited(request, bodyLimitFor(path, false), log);
        if (media || type === "application/octet-stream") return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
        if (bytes.byteLength === 0) return;
        const text = new TextDecoder().decode(bytes);
        if (type === "application/x-www-form-urlencoded") return Object.fromEntries(new URLSearchParams(text));
        if (type !== "application/json" && !type.endsWith("+json")) return text;
        try {
          return path.startsWith("/api/ingest/") ? parseTolerant(text, "infinity") : JSON.parse(text);
        } catch (e) {
          throw new ParseError(e as Error);
        }
      })
      .onError(({ code, error: thrown, set, request }) => {
        const cause = code === "PARSE" ? (thrown as { cause?: unknown }).cause : undefined;
        const error = cause instanceof HttpError ? cause : thrown;
        if (error instanceof HttpError) {
          set.status = error.status;
          Object.assign(set.headers, error.headers);
          return { detail: error.detail, ...error.extra };
        }
        if (code === "VALIDATION") {
          set.status = 422;
          return { detail: validationDetail(error) };
        }
        if (code === "PARSE") {
          set.status = 422;
          return { detail: PARSE_DETAIL };
        }
        if (code === "NOT_FOUND") {
          set.status = 404;
          return { detail: "Not Found" };
        }
        log.error(`${request.method} ${new URL(request.url).pathname} failed`, error);
        set.status = 500;
        return { detail: "Internal server error" };
      })
      .get("/api/health", async () => {
        await svc.sql`select 1`;
        return { status: "ok", version: VERSION, mode: "team", index: { state: "ready" } };
      })
      .use(ingestRoutes(svc.sink))
      .use(teamRunsRoutes(svc))
      .use(teamPathsRoutes(svc))
      .use(recycleRoutes(teamRecycleStore(svc)))
      .use(teamRecycleRoutes(svc))
      .use(teamHistogramsRoutes(svc))
      .use(teamAssetsRoutes(svc))
      .use(teamConfigRoutes(svc))
      .use(teamExportRoutes(svc))
      .use(mediaTablesRoutes(svc.media))
      .use(mediaAudioRoutes(svc.media))
      .use(teamLiveRoutes(svc, log))
      // what the file mode serves and a team server cannot: a clear 501, never a 500 or a hang (docs/TEAM.md)
      .use(unservedRoutes())
      .get("/api/*", () => json(404, { detail: "Not Found" }))
      .all("/api/*", () => json(404, { detail: "Not Found" }))
      // the UI's files (static.ts reads nothing of the context)
      .use(staticRoutes(undefined as unknown as AppContext))
  );
}
