// Test helper: the real app of a test server plus this area's routes (until app.ts mounts them), on port 0.
import { Elysia } from "elysia";
import { createApp } from "../../src/api/app.ts";
import { assetsRoutes } from "../../src/api/assets.ts";
import { deleteRoutes } from "../../src/api/delete.ts";
import { exportRoutes } from "../../src/api/export.ts";
import { MAX_UPLOAD_BODY } from "../../src/api/guard.ts";
import type { RunningServer } from "../../src/cli/serve.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

/** A second listener over a running server's context whose app also has this area's routes. */
export function mountDataRoutes(server: RunningServer): { url: string; stop(): Promise<void> } {
  const ctx = server.ctx;
  const app: Elysia<any, any, any, any, any, any, any> = createApp(ctx);
  app.use(assetsRoutes(ctx)).use(deleteRoutes(ctx)).use(exportRoutes(ctx));
  app.listen({ hostname: "127.0.0.1", port: 0, maxRequestBodySize: MAX_UPLOAD_BODY });
  return {
    url: `http://127.0.0.1:${app.server!.port}`,
    stop: async () => {
      await app.stop(true);
    },
  };
}

/** A running server over a temp copy of a fixture with the data-management routes mounted. */
export interface DataServer {
  url: string;
  root: string;
  dir: string;
  base: TestServer;
  api(path: string, init?: RequestInit & { json?: unknown }): Promise<{ status: number; headers: Headers; body: any }>;
  raw(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

/** Starts a test server and a second listener whose app also has the assets/delete/export routes. */
export async function startDataServer(fixture?: string): Promise<DataServer> {
  const base = await startTestServer({ fixture });
  const mounted = mountDataRoutes(base);
  const url = mounted.url;
  const raw = (path: string, init: RequestInit = {}) => fetch(url + path, init);
  const api: DataServer["api"] = async (path, init = {}) => {
    const headers = new Headers(init.headers);
    let body = init.body;
    if (init.json !== undefined) {
      headers.set("content-type", "application/json");
      body = JSON.stringify(init.json);
    }
    const res = await raw(path, { ...init, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, headers: res.headers, body: parsed };
  };
  return {
    url,
    root: base.root,
    dir: base.dir,
    base,
    api,
    raw,
    close: async () => {
      await mounted.stop();
      await base.close();
    },
  };
}
