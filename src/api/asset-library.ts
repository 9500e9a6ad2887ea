// `GET /api/assets`: the asset library across live runs (code snapshots, configs, datasets, pretrained models, outputs) with dedupe figures.
import { Elysia } from "elysia";
import { buildAssetLibrary } from "../store/assets/library.ts";
import type { AppContext } from "./context.ts";

/** Asset library routes (downloads go through `/api/runs/{run_id}/assets/download`). */
export function assetLibraryRoutes(ctx: AppContext) {
  return new Elysia({ name: "asset-library" }).get("/api/assets", () => buildAssetLibrary(ctx.index().db, ctx.root()), {
    detail: {
      summary: "Every asset recorded by live runs, one item per distinct asset (identity: fingerprint, else archive path, else source, else name)",
    },
  });
}
