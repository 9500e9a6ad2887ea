// Team mode (PostgreSQL): GET /api/config and the UI preferences (column widths, dismissed alerts) with the file
// mode's requests and answers (api/config.ts), kept per token name in team_pref so every replica sees them.
// The storage root cannot be switched on a team server (POST /api/config/user_root_dir answers 501).
import { Elysia } from "elysia";
import type { SQL } from "bun";
import type { TeamService } from "../team/service.ts";
import type { JsonObject } from "../store/json.ts";
import { type PrefsStore, prefsOf, uiPrefsRoutes } from "./ui-prefs.ts";

/** The token's name the team app derived (every API call has one). */
function whoOf(c: object): string {
  const who = (c as { who?: unknown }).who;
  return typeof who === "string" ? who : "";
}

/** Preferences per token name in team_pref; a change is made under the row's lock (two replicas never lose each other's change). */
function teamPrefs(sql: SQL): PrefsStore {
  return {
    read: async (c) => {
      const rows = (await sql`select prefs from team_pref where who = ${whoOf(c)}`) as { prefs: unknown }[];
      return prefsOf(rows[0]?.prefs);
    },
    update: async (c, fn) => {
      const who = whoOf(c);
      await sql.begin(async (tx) => {
        await tx`insert into team_pref (who) values (${who}) on conflict (who) do nothing`;
        const rows = (await tx`select prefs from team_pref where who = ${who} for update`) as { prefs: unknown }[];
        const p = prefsOf(rows[0]?.prefs);
        fn(p);
        await tx`update team_pref set prefs = ${p as unknown as JsonObject}::jsonb where who = ${who}`;
      });
    },
  };
}

export function teamConfigRoutes(svc: TeamService) {
  return new Elysia({ name: "team-config" })
    .get("/api/config", () => ({ user_root_dir: "", storage: svc.root, config_file: "", mode: "team" }), {
      detail: { summary: "Where a team server keeps media (its state is in PostgreSQL); the root cannot be switched" },
    })
    .use(uiPrefsRoutes(teamPrefs(svc.sql), "team-config-prefs"));
}
