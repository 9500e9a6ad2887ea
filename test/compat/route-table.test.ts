// Every route of the original's complete route table (spec §3.14) is served with its method and documented in /openapi.json.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PROJECT, startTestServer, type TestServer } from "../helpers/server.ts";

const SPEC = join(PROJECT, "../shared/spec/runicorn-0.6.md");

/** `METHOD /api/path/{param}` pairs parsed from the code block of spec §3.14. */
function specRoutes(): string[] {
  const text = readFileSync(SPEC, "utf8");
  const at = text.indexOf("### 3.14 ");
  const block = text.slice(text.indexOf("```", at) + 3, text.indexOf("```", text.indexOf("```", at) + 3));
  const out: string[] = [];
  let methods: string[] = [];
  for (const token of block.split(/\s+/)) {
    if (/^(GET|POST|PATCH|PUT|DELETE|WS)(\|(GET|POST|PATCH|PUT|DELETE))*$/.test(token)) methods = token.split("|");
    else if (token.startsWith("/api/")) {
      const alt = /^(.*)\{([a-z_]+(?:,[a-z_]+)+)\}$/.exec(token); // `/x/{a,b,c}` is three routes, `{run_id}` a parameter
      const paths = alt ? alt[2].split(",").map((s) => alt[1] + s) : [token];
      for (const m of methods) for (const p of paths) out.push(`${m} ${p}`);
    }
  }
  return out;
}

const RUN = "20261129_032935_bfa7ab"; // rn-probe: cv/yolo "baseline", with logs.txt and assets
const UNKNOWN_RUN = "20990101_000000_abcdef";
const ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
/** An empty zip archive: just the end-of-central-directory record. */
const EMPTY_ZIP = new Uint8Array([0x50, 0x4b, 0x05, 0x06, ...new Array(18).fill(0)]);

/** A valid request for one route: the concrete path and body (JSON, or a multipart form); `$ROOT` is the temp root. */
interface Call {
  path: string;
  json?: unknown;
  form?: () => FormData;
}

/**
 * One valid call per route of spec §3.14, in an order that keeps later calls meaningful (the root is
 * re-pointed last). Remote calls use unknown sessions and a closed port: they answer without SSH.
 */
const CALLS: Record<string, Call> = {
  "GET /api/health": { path: "/api/health" },
  "POST /api/status/check": { path: "/api/status/check" },
  "GET /api/runs": { path: "/api/runs" },
  "GET /api/runs/{run_id}": { path: `/api/runs/${RUN}` },
  "PATCH /api/runs/{run_id}": { path: `/api/runs/${RUN}`, json: { tags: ["route-table"] } },
  "GET /api/runs/{run_id}/metrics": { path: `/api/runs/${RUN}/metrics` },
  "GET /api/runs/{run_id}/metrics_step": { path: `/api/runs/${RUN}/metrics_step?downsample=100` },
  "GET /api/runs/{run_id}/progress": { path: `/api/runs/${RUN}/progress` },
  "WS /api/runs/{run_id}/logs/ws": { path: `/api/runs/${RUN}/logs/ws` },
  "GET /api/metrics/cache/stats": { path: "/api/metrics/cache/stats" },
  "GET /api/runs/{run_id}/assets": { path: `/api/runs/${RUN}/assets` },
  "GET /api/runs/{run_id}/assets/download": { path: `/api/runs/${RUN}/assets/download?path=$ROOT/runs/cv/yolo/${RUN}/logs.txt` },
  "GET /api/runs/{run_id}/assets/refs": { path: `/api/runs/${RUN}/assets/refs` },
  "DELETE /api/runs/{run_id}/permanent": { path: `/api/runs/${RUN}/permanent?dry_run=true` },
  "POST /api/runs/permanent-delete": { path: "/api/runs/permanent-delete", json: { run_ids: [RUN], dry_run: true } },
  "POST /api/runs/soft-delete": { path: "/api/runs/soft-delete", json: { run_ids: [UNKNOWN_RUN] } },
  "GET /api/recycle-bin": { path: "/api/recycle-bin" },
  "POST /api/recycle-bin/restore": { path: "/api/recycle-bin/restore", json: { run_ids: [UNKNOWN_RUN] } },
  "POST /api/recycle-bin/empty": { path: "/api/recycle-bin/empty", json: { confirm: true } },
  "GET /api/paths": { path: "/api/paths?include_stats=true" },
  "GET /api/paths/tree": { path: "/api/paths/tree" },
  "GET /api/paths/runs": { path: "/api/paths/runs?path=cv" },
  "GET /api/paths/export": { path: "/api/paths/export?path=cv/yolo&format=json" },
  "POST /api/paths/soft-delete": { path: "/api/paths/soft-delete", json: { path: "no/such/path" } },
  "GET /api/projects": { path: "/api/projects" },
  "GET /api/projects/{project}/names": { path: "/api/projects/cv/names" },
  "GET /api/projects/{project}/names/{name}/runs": { path: "/api/projects/cv/names/yolo/runs" },
  "GET /api/config": { path: "/api/config" },
  "GET /api/config/ssh_connections": { path: "/api/config/ssh_connections" },
  "POST /api/config/ssh_connections": { path: "/api/config/ssh_connections", json: { host: "h1", port: 2222, username: "u" } },
  "GET /api/config/ssh_connections/{key}/details": { path: "/api/config/ssh_connections/h1:2222@u/details" },
  "DELETE /api/config/ssh_connections/{key}": { path: "/api/config/ssh_connections/h1:2222@u" },
  "GET /api/config/column-widths": { path: "/api/config/column-widths?table=t&size=1x1" },
  "POST /api/config/column-widths": { path: "/api/config/column-widths", json: { table: "t", size: "1x1", widths: { a: 1 } } },
  "DELETE /api/config/column-widths": { path: "/api/config/column-widths?table=t&size=1x1" },
  "POST /api/config/column-widths/reset": { path: "/api/config/column-widths/reset?table=t" },
  "GET /api/config/dismissed-alerts": { path: "/api/config/dismissed-alerts" },
  "POST /api/config/dismissed-alerts/dismiss": { path: "/api/config/dismissed-alerts/dismiss", json: { alert_id: "a" } },
  "POST /api/config/dismissed-alerts/undismiss": { path: "/api/config/dismissed-alerts/undismiss", json: { alert_id: "a" } },
  "POST /api/config/dismissed-alerts/clear": { path: "/api/config/dismissed-alerts/clear" },
  "GET /api/gpu/telemetry": { path: "/api/gpu/telemetry" },
  "GET /api/system/monitor": { path: "/api/system/monitor" },
  "GET /api/system/temperatures": { path: "/api/system/temperatures" },
  "GET /api/storage/stats": { path: "/api/storage/stats" },
  "POST /api/import/archive": {
    path: "/api/import/archive",
    form: () => {
      const f = new FormData();
      f.append("file", new File([EMPTY_ZIP], "empty.zip", { type: "application/zip" }));
      return f;
    },
  },
  "GET /api/environment/{run_id}": { path: `/api/environment/${RUN}` },
  "GET /api/export/{run_id}/csv": { path: `/api/export/${RUN}/csv` },
  "GET /api/export/{run_id}/report": { path: `/api/export/${RUN}/report?format=markdown` },
  "POST /api/experiments/tag": { path: "/api/experiments/tag", json: { run_id: RUN, tags: ["x"] } },
  "GET /api/experiments/search": { path: "/api/experiments/search?text=x" },
  "DELETE /api/experiments/delete": { path: `/api/experiments/delete?run_id=${RUN}` },
  "POST /api/remote/connect": { path: "/api/remote/connect", json: { host: "127.0.0.1", port: 1, username: "u", password: "p" } },
  "POST /api/remote/disconnect": { path: "/api/remote/disconnect", json: { host: "h", username: "u" } },
  "POST /api/remote/viewer/start": {
    path: "/api/remote/viewer/start",
    json: { host: "127.0.0.1", port: 1, username: "u", password: "p", remote_root: "/data/runs" },
  },
  "POST /api/remote/viewer/stop": { path: "/api/remote/viewer/stop", json: { session_id: "nope" } },
  "GET /api/remote/sessions": { path: "/api/remote/sessions" },
  "GET /api/remote/status": { path: "/api/remote/status" },
  "GET /api/remote/viewer/sessions": { path: "/api/remote/viewer/sessions" },
  "GET /api/remote/viewer/status/{session_id}": { path: "/api/remote/viewer/status/nope" },
  "GET /api/remote/conda-envs": { path: "/api/remote/conda-envs?connection_id=u@h:22" },
  "GET /api/remote/config": { path: "/api/remote/config?connection_id=u@h:22" },
  "GET /api/remote/fs/list": { path: "/api/remote/fs/list?connection_id=u@h:22&path=/tmp" },
  "GET /api/remote/fs/exists": { path: "/api/remote/fs/exists?connection_id=u@h:22&path=/tmp" },
  "POST /api/remote/known-hosts/accept": {
    path: "/api/remote/known-hosts/accept",
    json: { host: "example.com", port: 2222, key_type: "ssh-ed25519", public_key: ED25519, fingerprint_sha256: "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU" },
  },
  "POST /api/remote/known-hosts/remove": { path: "/api/remote/known-hosts/remove", json: { host: "example.com", port: 2222, key_type: "ssh-ed25519" } },
  "GET /api/remote/known-hosts/list": { path: "/api/remote/known-hosts/list" },
  "GET /api/remote/connections/saved": { path: "/api/remote/connections/saved" },
  "POST /api/remote/connections/saved": { path: "/api/remote/connections/saved", json: [] },
  "POST /api/config/user_root_dir": { path: "/api/config/user_root_dir", json: { path: "$ROOT" } },
};

/** Routes of §3.14 that ours does not serve yet (spec §3.11: they answer 501 in the original). */

let srv: TestServer;
let openapi: { paths: Record<string, Record<string, unknown>> };

beforeAll(async () => {
  srv = await startTestServer({ fixture: "rn-probe" });
  openapi = (await srv.api("/openapi.json")).body;
});

afterAll(async () => {
  await srv?.close();
});

/** Calls a route once; the status and `detail` of the answer (WebSocket: 101 once a frame arrives). */
async function call(route: string): Promise<{ status: number; detail?: unknown }> {
  const [method] = route.split(" ");
  const c = CALLS[route];
  const path = c.path.replaceAll("$ROOT", srv.root);
  if (method === "WS") {
    const ws = new WebSocket(srv.url.replace(/^http/, "ws") + path);
    const first = await new Promise<string>((resolve, reject) => {
      ws.onmessage = (e) => resolve(String(e.data));
      ws.onerror = () => reject(new Error("WebSocket refused"));
      setTimeout(() => reject(new Error("no frame within 5 s")), 5000);
    });
    ws.close();
    return { status: first.startsWith("[error]") ? 404 : 101, detail: first };
  }
  const init: RequestInit = { method };
  if (c.form) init.body = c.form();
  else if (c.json !== undefined) {
    init.body = JSON.stringify(c.json).replaceAll("$ROOT", srv.root);
    init.headers = { "content-type": "application/json" };
  }
  const res = await fetch(srv.url + path, init);
  const text = await res.text();
  let detail: unknown;
  try {
    detail = (JSON.parse(text) as { detail?: unknown }).detail;
  } catch {
    // a file, a zip or a CSV: no detail
  }
  return { status: res.status, detail };
}

describe("the route table of the original (spec §3.14)", () => {
  const routes = specRoutes();

  it("has a valid call here for every route of the spec's table, and no other", () => {
    expect(routes.length).toBe(69); // the original's 72 routes are these and FastAPI's /docs, /redoc, /openapi.json
    expect([...routes].sort()).toEqual(Object.keys(CALLS).sort());
  });

  for (const route of Object.keys(CALLS)) {
    const [method, template] = route.split(" ");
    const serves = async () => {
      const { status, detail } = await call(route);
      expect(status).not.toBe(405);
      expect({ status, detail }).not.toEqual({ status: 404, detail: "Not Found" });
      expect(status).not.toBe(422); // the call shape is valid: a 422 would mean the route reads other parameters
    };
    const documented = () => {
      const ops = openapi.paths[template];
      expect(ops).toBeDefined();
      expect(Object.keys(ops)).toContain(method === "WS" ? "ws" : method.toLowerCase());
    };
    it(`serves ${route}`, serves);
    it(`documents ${route} in /openapi.json`, documented);
  }

  it("still serves the storage root after it is re-pointed to itself (the last call of the table)", async () => {
    const res = await srv.api("/api/config");
    expect(res.status).toBe(200);
    expect(res.body.storage).toBe(srv.root);
  });

  it("serves Swagger UI at /docs and the OpenAPI document at /openapi.json, like FastAPI (spec §3.0)", async () => {
    const docs = await fetch(srv.url + "/docs");
    expect(docs.status).toBe(200);
    expect(docs.headers.get("content-type")).toStartWith("text/html");
    expect((await docs.text()).toLowerCase()).toContain("swagger");
    expect(openapi.paths["/api/health"]).toBeDefined();
    expect((openapi as unknown as { info: { title: string } }).info.title).toBe("Runicorn Viewer");
  });

  it("sends /redoc (FastAPI's second documentation page, spec §3.0) to the Swagger UI at /docs", async () => {
    const res = await fetch(srv.url + "/redoc", { redirect: "manual" });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("/docs");
  });

  it("answers 404 Not Found for paths of the original's docs that 0.6 never served (spec §3.13)", async () => {
    for (const path of ["/api/v2/experiments", "/api/experiments", "/api/gpu", "/api/unified/status", "/api/remote/health"]) {
      const res = await srv.api(path);
      expect({ path, status: res.status, body: res.body }).toEqual({ path, status: 404, body: { detail: "Not Found" } });
    }
  });
});
