// The one ordered list of API features that app.ts mounts, each saying whether a fleet-mode server serves it.
import type { Elysia } from "elysia";
import type { AppContext } from "./context.ts";
import { assetLibraryRoutes } from "./asset-library.ts";
import { assetsRoutes } from "./assets.ts";
import { configRoutes } from "./config.ts";
import { corsRoutes } from "./cors.ts";
import { deleteRoutes } from "./delete.ts";
import { docsRoutes } from "./docs.ts";
import { experimentsRoutes } from "./experiments.ts";
import { exportRoutes } from "./export.ts";
import { fleetRoutes } from "./fleet.ts";
import { fleetHostsRoutes, singleRootFleetRoute } from "./fleet-hosts.ts";
import { healthRoutes } from "./health.ts";
import { histogramsRoutes } from "./histograms.ts";
import { mediaAudioRoutes } from "./media-audio.ts";
import { fileRunMedia } from "./media-events.ts";
import { mediaTablesRoutes } from "./media-tables.ts";
import { ingestRoutes } from "./ingest.ts";
import { metricsRoutes } from "./metrics.ts";
import { pathsRoutes } from "./paths.ts";
import { fileRecycleStore, recycleRoutes } from "./recycle.ts";
import { remoteRoutes } from "./remote.ts";
import { runsRoutes } from "./runs.ts";
import { staticRoutes } from "./static.ts";
import { systemRoutes } from "./system.ts";

/**
 * One feature: its routes, built from the context (route factories only read `ctx`), and where it is
 * served: `local` on a server of its own root, `fleet` only in fleet mode (the hosts answer for the local
 * features there), `both` in either.
 */
export interface Feature {
  name: string;
  serve: "local" | "fleet" | "both";
  routes(ctx: AppContext): Elysia<any, any, any, any, any, any, any>;
}

/** Mounted in this order; the static UI (a catch-all) comes last. Add a feature with one line. */
export const features: Feature[] = [
  { name: "docs", serve: "both", routes: () => docsRoutes() },
  { name: "health", serve: "both", routes: (ctx) => healthRoutes(ctx) },
  { name: "fleet", serve: "fleet", routes: (ctx) => fleetRoutes(ctx.fleet!) },
  { name: "fleet-hosts", serve: "both", routes: (ctx) => fleetHostsRoutes(ctx) },
  { name: "fleet-single", serve: "local", routes: (ctx) => singleRootFleetRoute(ctx) },
  { name: "runs", serve: "local", routes: (ctx) => runsRoutes(ctx) },
  { name: "recycle", serve: "local", routes: (ctx) => recycleRoutes(fileRecycleStore(ctx)) },
  { name: "paths", serve: "local", routes: (ctx) => pathsRoutes(ctx) },
  { name: "config", serve: "both", routes: (ctx) => configRoutes(ctx) },
  { name: "cors", serve: "both", routes: (ctx) => corsRoutes(ctx.origins) },
  { name: "metrics", serve: "local", routes: (ctx) => metricsRoutes(ctx) },
  { name: "histograms", serve: "local", routes: (ctx) => histogramsRoutes(ctx) },
  { name: "media-tables", serve: "local", routes: (ctx) => mediaTablesRoutes(fileRunMedia(ctx)) },
  { name: "media-audio", serve: "local", routes: (ctx) => mediaAudioRoutes(fileRunMedia(ctx)) },
  { name: "assets", serve: "local", routes: (ctx) => assetsRoutes(ctx) },
  { name: "asset-library", serve: "local", routes: (ctx) => assetLibraryRoutes(ctx) },
  { name: "delete", serve: "local", routes: (ctx) => deleteRoutes(ctx) },
  { name: "export", serve: "local", routes: (ctx) => exportRoutes(ctx) },
  { name: "experiments", serve: "local", routes: (ctx) => experimentsRoutes(ctx) },
  { name: "system", serve: "local", routes: (ctx) => systemRoutes(ctx) },
  { name: "remote", serve: "both", routes: (ctx) => remoteRoutes(ctx) },
  { name: "ingest", serve: "local", routes: (ctx) => ingestRoutes(ctx.ingest) },
  { name: "static", serve: "both", routes: (ctx) => staticRoutes(ctx) },
];

/** The features a server mounts: fleet mode keeps `fleet` and `both`, a local server `local` and `both`. */
export function featuresFor(fleetMode: boolean): Feature[] {
  return features.filter((f) => f.serve === "both" || f.serve === (fleetMode ? "fleet" : "local"));
}
