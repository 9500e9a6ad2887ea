// Builds the Elysia app: guard, error envelope, OpenAPI, then the features of api/features.ts in order (the embedded UI last).
import { Elysia } from "elysia";
import { openapi } from "@elysiajs/openapi";
import { VERSION } from "../version.ts";
import type { AppContext } from "./context.ts";
import { HttpError, storageError } from "./errors.ts";
import { featuresFor } from "./features.ts";
import { guard } from "./guard.ts";

/** Builds the whole HTTP/WebSocket application for a context. */
export function createApp(ctx: AppContext) {
  const app = new Elysia()
    .use(guard(ctx, ctx.origins))
    // early in a fresh index's first build, API answers wait briefly for it (health answers at once)
    .onRequest(async ({ request }) => {
      if (ctx.fleet) return;
      const path = new URL(request.url).pathname;
      if (path.startsWith("/api/") && path !== "/api/health") await ctx.storage.runs.settled();
    })
    .onError(({ code, error: thrown, set, request }) => {
      // Elysia wraps whatever a body parser throws in a ParseError; the guard's 413 is one of ours
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
      ctx.log.error(`${request.method} ${pathOf(request.url)} failed`, error);
      const io = storageError(error);
      if (io) {
        set.status = io.status;
        return { detail: io.detail };
      }
      set.status = 500;
      return { detail: "Internal server error" };
    })
    .use(
      openapi({
        // the spec only; docs.ts serves an embedded Swagger UI (the plugin's page loads from a CDN)
        provider: null,
        path: "/openapi",
        specPath: "/openapi.json",
        documentation: {
          info: {
            title: "Runicorn Viewer",
            version: VERSION,
            description: "Runicorn 0.6-compatible experiment tracker API, with additive improvements.",
          },
        },
      }),
    );
  for (const feature of featuresFor(!!ctx.fleet)) app.use(feature.routes(ctx));
  return app;
}

/** The path of a request URL for a log line; the guard refuses unparsable URLs, but an error path must never throw. */
function pathOf(url: string): string {
  return URL.canParse(url) ? new URL(url).pathname : url.slice(0, 200);
}

/** The 422 detail of a body that is not JSON (FastAPI's wording). */
export const PARSE_DETAIL = [{ type: "json_invalid", loc: ["body"], msg: "JSON decode error", input: null }];

/** FastAPI-style 422 items (`{type, loc, msg, input}`) from an Elysia validation error. */
export function validationDetail(error: unknown): unknown[] {
  const e = error as { type?: string; all?: { path?: string; message?: string; summary?: string; value?: unknown }[] };
  const where = e.type ?? "body";
  const items = Array.isArray(e.all) && e.all.length ? e.all : [{ path: "", message: String((error as Error).message) }];
  return items.map((it) => {
    const loc = [where, ...String(it.path ?? "").split("/").filter(Boolean)];
    // a required field that is absent: pydantic v2's wording, as the original's clients expect
    if (it.value === undefined) return { type: "missing", loc, msg: "Field required", input: null };
    return { type: "value_error", loc, msg: it.summary ?? it.message ?? "Invalid value", input: it.value };
  });
}
