// The Remote page's fleet (issue 18): add a saved connection as a host, disconnect one host or all, and every host's state.
import { Elysia, t } from "elysia";
import type { AppContext } from "./context.ts";
import { HttpError } from "./errors.ts";
import type { FleetAnswer, UiFleetAnswer, UiFleetChangeAnswer } from "../wire/fleet.ts";
import { runStatusCounts } from "../index/run-queries.ts";
import type { UiFleet } from "../fleet/ui-fleet.ts";

/** The fleet's controller; a fleet started from the command line has none (its hosts are managed there). */
function controller(ctx: AppContext): UiFleet {
  if (ctx.uiFleet) return ctx.uiFleet;
  throw new HttpError(409, "This server's fleet was started from the command line (runicorn remote HOST HOST… or serve --upstream); change its hosts there");
}

/** `GET|POST /api/fleet/hosts`, `DELETE /api/fleet/hosts[/{label}]`. */
export function fleetHostsRoutes(ctx: AppContext) {
  const answer = (ui: UiFleet, message: string, extra: Partial<UiFleetChangeAnswer> = {}): UiFleetChangeAnswer => {
    const s = ui.status();
    return { ok: true, message, fleet_port: s.fleet_port, home_port: s.home_port, ...extra };
  };
  return new Elysia({ name: "fleet-hosts" })
    .get(
      "/api/fleet/hosts",
      (): UiFleetAnswer => ctx.uiFleet?.status() ?? { managed: false, fleet_port: null, home_port: null, hosts: [] },
      { detail: { summary: "The fleet built on the Remote page: its view's port and each host's state, latency, runs and GPU summary" } },
    )
    .post(
      "/api/fleet/hosts",
      async ({ body, set }) => {
        const ui = controller(ctx);
        const host = await ui.add(body);
        set.status = 202;
        return answer(ui, `Connecting ${host.host}`, { host });
      },
      {
        body: t.Object({
          connection: t.String({ minLength: 1, maxLength: 256, description: "A saved server or profile id (GET /api/remote/connections/saved)" }),
          password: t.Optional(t.String({ maxLength: 4096, description: "Only when none is saved; used for this host's sessions, never stored or returned" })),
        }),
        detail: { summary: "Add a saved connection to the fleet: deploy and start its viewer over SSH, forward it, merge it (202; watch GET /api/fleet/hosts)" },
      },
    )
    .delete(
      "/api/fleet/hosts/:label",
      async ({ params }) => {
        const ui = controller(ctx);
        await ui.remove(params.label);
        return answer(ui, `Disconnected ${params.label}`);
      },
      { params: t.Object({ label: t.String({ maxLength: 512 }) }), detail: { summary: "Disconnect one host: close its forward, stop its remote viewer, drop its runs from the list" } },
    )
    .delete(
      "/api/fleet/hosts",
      async () => {
        const ui = controller(ctx);
        const home = ui.status().home_port;
        await ui.disconnectHosts();
        // when the fleet view itself answers this, it stops once the answer is out
        if (ctx.fleet) {
          const stop = ui.detachView();
          setTimeout(() => void stop().catch((e) => ctx.log.error("stopping the fleet view failed", e)), 100);
        } else await ui.stopView();
        return { ok: true as const, message: "Disconnected every host", fleet_port: null, home_port: home };
      },
      { detail: { summary: "Disconnect every host and stop the fleet view" } },
    );
}

/**
 * `GET /api/fleet` on a server of its own root: not a fleet, so no hosts (a fleet-mode server answers its hosts
 * there). The UI asks it on every page to know whether to show hosts; an answer, not a 404, keeps the
 * browser's console clean.
 */
export function singleRootFleetRoute(ctx: AppContext) {
  return new Elysia({ name: "fleet-single" }).get(
    "/api/fleet",
    async (): Promise<FleetAnswer> => ({ hosts: [], total_runs: (await runStatusCounts(ctx.index().db)).total }),
    { detail: { summary: "Fleet hosts; a server of its own root is no fleet: no hosts, and its own run count" } },
  );
}
