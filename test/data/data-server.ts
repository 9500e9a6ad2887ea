// Test helper: a real test server over a temp copy of a fixture, with a raw fetch for downloads and uploads.
import { startTestServer, type TestServer } from "../helpers/server.ts";

/** A running server over a temp copy of a fixture (the data-management routes are part of every app). */
export interface DataServer extends TestServer {
  base: TestServer;
  raw(path: string, init?: RequestInit): Promise<Response>;
}

/** Starts a test server over `fixture` (or an empty root). */
export async function startDataServer(fixture?: string): Promise<DataServer> {
  const base = await startTestServer({ fixture });
  return { ...base, base, raw: (path, init = {}) => fetch(base.url + path, init) };
}
