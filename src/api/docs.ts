// Swagger UI at /docs, served from files embedded in the binary (the UI must work offline; no CDN).
import { Elysia } from "elysia";
import { contentSecurityPolicyFor } from "./guard.ts";
// @ts-ignore — a `type: "file"` import yields the embedded file's path (TypeScript has no types for it)
import bundle from "../../node_modules/swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };
// @ts-ignore — as above
import css from "../../node_modules/swagger-ui-dist/swagger-ui.css" with { type: "file" };

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Runicorn API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });</script>
</body></html>`;

/** The strict policy plus the hash of the page's one inline start-up script. */
const PAGE_POLICY = contentSecurityPolicyFor(PAGE);

const asset = (file: unknown, type: string) => () =>
  new Response(Bun.file(file as string), { headers: { "content-type": type, "cache-control": "public, max-age=86400" } });

/** The API documentation page and its two assets. */
export function docsRoutes() {
  return new Elysia({ name: "docs" })
    .get("/docs", () => new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8", "content-security-policy": PAGE_POLICY } }), {
      detail: { hide: true },
    })
    .get("/docs/swagger-ui-bundle.js", asset(bundle, "text/javascript; charset=utf-8"), { detail: { hide: true } })
    .get("/docs/swagger-ui.css", asset(css, "text/css; charset=utf-8"), { detail: { hide: true } })
    // the original (FastAPI) also served ReDoc here; one documentation page is enough
    .get("/redoc", () => Response.redirect("/docs", 302), { detail: { hide: true } });
}
