// The browser origins allowed from Settings: GET/PUT /api/config/cors_origins, callable from the UI's own origin only (issue 15.1).
import { Elysia, t } from "elysia";
import { type AllowedOrigins, normalizeOrigin } from "../config/allowed-origins.ts";
import { HttpError } from "./errors.ts";

/** Refuses a call made by a page on another origin (even an allowed one): only the UI itself or a non-browser client may edit the list. */
function sameOriginOnly(request: Request): void {
  const origin = request.headers.get("origin");
  if (origin === null) return;
  const m = /^https?:\/\/([^/]+)$/i.exec(origin);
  if (!m || m[1].toLowerCase() !== (request.headers.get("host") ?? "").toLowerCase()) {
    throw new HttpError(403, "Allowed origins can be read and changed only from the Runicorn UI itself");
  }
}

/** Routes for the saved allow-list; `--cors-origin` values are shown but cannot be changed here. */
export function corsRoutes(origins: AllowedOrigins) {
  const view = () => ({ cors_origins: origins.listSaved(), from_flags: [...origins.fromFlags] });
  return new Elysia({ name: "cors" })
    .get(
      "/api/config/cors_origins",
      ({ request }) => {
        sameOriginOnly(request);
        return view();
      },
      { detail: { summary: "Origins allowed to call the API from a browser (saved list, and --cors-origin flags)" } },
    )
    .put(
      "/api/config/cors_origins",
      ({ request, body }) => {
        sameOriginOnly(request);
        const out: string[] = [];
        for (const raw of body.cors_origins) {
          const o = normalizeOrigin(raw);
          if (!o || o === "*") {
            throw new HttpError(400, `Not an origin: ${JSON.stringify(raw)} (expected scheme://host[:port], e.g. http://localhost:5173)`);
          }
          out.push(o);
        }
        origins.save(out);
        return view();
      },
      {
        body: t.Object({ cors_origins: t.Array(t.String({ maxLength: 300 }), { maxItems: 100 }) }),
        detail: { summary: "Replace the saved list of allowed origins (takes effect at once)" },
      },
    );
}
