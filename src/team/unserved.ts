// The routes the file mode serves that a team server does not, each with why (docs/TEAM.md): they answer 501
// with that reason, so a client learns the difference; any other unknown /api path is a plain 404.
// test/team/route-walk.test.ts walks the file mode's routes and fails when one is neither served nor listed here.
import { Elysia } from "elysia";

const HOST = "it describes the server's own machine, which in team mode is not where training runs";
const FILES = "a team server keeps no run folders or archives (they stay where the runs were logged)";
const REMOTE = "a team server is not where SSH sessions live: use runicorn remote from a workstation";

/** [method, path template, why]. */
export const UNSERVED: readonly [string, string, string][] = [
  ["POST", "/api/config/user_root_dir", "its state is in PostgreSQL: the storage root cannot be switched"],
  ["GET", "/api/config/cors_origins", "it takes no cross-origin browser calls"],
  ["PUT", "/api/config/cors_origins", "it takes no cross-origin browser calls"],
  ["GET", "/api/metrics/cache/stats", "its metric cache is per replica and not reported"],
  ["GET", "/api/runs/:run_id/assets/download", "archived files (code snapshots, outputs, datasets) stay on the training machine: the ingest API carries a run's assets.json, not its archives"],
  ["POST", "/api/import/archive", "runs come in through the ingest API (runicorn push)"],
  ["POST", "/api/experiments/tag", "use PATCH /api/runs/{id}"],
  ["GET", "/api/experiments/search", "use GET /api/runs?filter="],
  ["DELETE", "/api/experiments/delete", "use POST /api/runs/soft-delete"],
  ["GET", "/api/gpu/telemetry", HOST],
  ["GET", "/api/gpu/history", HOST],
  ["GET", "/api/system/monitor", HOST],
  ["GET", "/api/system/temperatures", HOST],
  ["GET", "/api/storage/stats", FILES],
  ["POST", "/api/remote/connect", REMOTE],
  ["GET", "/api/remote/sessions", REMOTE],
  ["POST", "/api/remote/disconnect", REMOTE],
  ["GET", "/api/remote/conda-envs", REMOTE],
  ["GET", "/api/remote/config", REMOTE],
  ["GET", "/api/remote/fs/list", REMOTE],
  ["GET", "/api/remote/fs/exists", REMOTE],
  ["POST", "/api/remote/viewer/start", REMOTE],
  ["POST", "/api/remote/viewer/stop", REMOTE],
  ["GET", "/api/remote/viewer/sessions", REMOTE],
  ["GET", "/api/remote/viewer/status/:session_id", REMOTE],
  ["GET", "/api/remote/status", REMOTE],
  ["POST", "/api/remote/known-hosts/accept", REMOTE],
  ["GET", "/api/remote/known-hosts/list", REMOTE],
  ["POST", "/api/remote/known-hosts/remove", REMOTE],
  ["GET", "/api/remote/connections/saved", REMOTE],
  ["POST", "/api/remote/connections/saved", REMOTE],
  ["GET", "/api/config/ssh_connections", REMOTE],
  ["POST", "/api/config/ssh_connections", REMOTE],
  ["GET", "/api/config/ssh_connections/:key/details", REMOTE],
  ["DELETE", "/api/config/ssh_connections/:key", REMOTE],
  ["GET", "/api/fleet/hosts", REMOTE],
  ["POST", "/api/fleet/hosts", REMOTE],
  ["DELETE", "/api/fleet/hosts", REMOTE],
  ["DELETE", "/api/fleet/hosts/:label", REMOTE],
];

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

/** Each unserved route answering 501 with its reason. */
export function unservedRoutes() {
  let app = new Elysia({ name: "team-unserved" });
  for (const [method, path, why] of UNSERVED) {
    app = app.route(method, path, ({ request }) => {
      const shown = new URL(request.url).pathname.slice(0, 200);
      return json(501, { detail: `${method} ${shown} is not available on a team (PostgreSQL) server: ${why} (docs/TEAM.md)` });
    });
  }
  return app;
}
