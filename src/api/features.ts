// The API features beyond the foundation (metrics, system, remote, …), mounted by app.ts in this order.
import type { Elysia } from "elysia";
import type { AppContext } from "./context.ts";
import { assetLibraryRoutes } from "./asset-library.ts";
import { assetsRoutes } from "./assets.ts";
import { deleteRoutes } from "./delete.ts";
import { experimentsRoutes } from "./experiments.ts";
import { exportRoutes } from "./export.ts";
import { histogramsRoutes } from "./histograms.ts";
import { ingestRoutes } from "./ingest.ts";
import { metricsRoutes } from "./metrics.ts";
import { remoteRoutes } from "./remote.ts";
import { systemRoutes } from "./system.ts";

/** Each entry builds one feature's Elysia instance. */
export const extraFeatures: ((ctx: AppContext) => Elysia<any, any, any, any, any, any, any>)[] = [
  (ctx) => metricsRoutes(ctx),
  (ctx) => histogramsRoutes(ctx),
  (ctx) => assetsRoutes(ctx),
  (ctx) => assetLibraryRoutes(ctx),
  (ctx) => deleteRoutes(ctx),
  (ctx) => exportRoutes(ctx),
  (ctx) => experimentsRoutes(ctx),
  (ctx) => systemRoutes(ctx),
  (ctx) => remoteRoutes(ctx),
  (ctx) => ingestRoutes(ctx),
];

/** The features a fleet-mode server keeps local (the remote page); the hosts answer for the others. */
export const fleetFeatures: ((ctx: AppContext) => Elysia<any, any, any, any, any, any, any>)[] = [(ctx) => remoteRoutes(ctx)];
