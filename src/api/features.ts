// The API features beyond the foundation (metrics, system, remote, …), mounted by app.ts in this order.
import type { Elysia } from "elysia";
import type { AppContext } from "./context.ts";
import { remoteRoutes } from "./remote.ts";
import { systemRoutes } from "./system.ts";

/** Each entry builds one feature's Elysia instance. */
export const extraFeatures: ((ctx: AppContext) => Elysia<any, any, any, any, any, any, any>)[] = [
  (ctx) => systemRoutes(ctx),
  (ctx) => remoteRoutes(ctx),
];
