// Team mode (PostgreSQL): GET /api/config and the UI preferences (column widths, dismissed alerts) with the file
// mode's requests and answers (api/config.ts), kept per token name in team_pref so every replica sees them.
// The storage root cannot be switched on a team server (POST /api/config/user_root_dir answers 501).
import { Elysia, t } from "elysia";
import type { SQL } from "bun";
import type { TeamService } from "../team/service.ts";
import { isObject, type JsonObject } from "../store/json.ts";

interface Prefs {
  column_widths: JsonObject;
  dismissed_alerts: string[];
}

const name = t.String({ minLength: 1, maxLength: 200 });

/** The token's name the team app derived (every API call has one). */
function whoOf(c: object): string {
  const who = (c as { who?: unknown }).who;
  return typeof who === "string" ? who : "";
}

function prefsOf(raw: unknown): Prefs {
  const p = isObject(raw) ? raw : {};
  return {
    column_widths: isObject(p.column_widths) ? p.column_widths : {},
    dismissed_alerts: Array.isArray(p.dismissed_alerts) ? p.dismissed_alerts.filter((x): x is string => typeof x === "string") : [],
  };
}

async function readPrefs(sql: SQL, who: string): Promise<Prefs> {
  const rows = (await sql`select prefs from team_pref where who = ${who}`) as { prefs: unknown }[];
  return prefsOf(rows[0]?.prefs);
}

/** Changes one user's preferences under the row's lock (two replicas never lose each other's change). */
async function updatePrefs(sql: SQL, who: string, fn: (p: Prefs) => void): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`insert into team_pref (who) values (${who}) on conflict (who) do nothing`;
    const rows = (await tx`select prefs from team_pref where who = ${who} for update`) as { prefs: unknown }[];
    const p = prefsOf(rows[0]?.prefs);
    fn(p);
    await tx`update team_pref set prefs = ${p as unknown as JsonObject}::jsonb where who = ${who}`;
  });
}

async function resetWidths(sql: SQL, who: string, table: string, size: string | undefined) {
  await updatePrefs(sql, who, (p) => {
    for (const key of Object.keys(p.column_widths)) {
      if (size ? key === `${table}@${size}` : key.startsWith(`${table}@`)) delete p.column_widths[key];
    }
  });
  return { ok: true, message: "Column width preferences reset" };
}

export function teamConfigRoutes(svc: TeamService) {
  const sql = svc.sql;
  return new Elysia({ name: "team-config" })
    .get("/api/config", () => ({ user_root_dir: "", storage: svc.root, config_file: "", mode: "team" }), {
      detail: { summary: "Where a team server keeps media (its state is in PostgreSQL); the root cannot be switched" },
    })
    .get(
      "/api/config/column-widths",
      async (c) => {
        const { query } = c;
        const entry = (await readPrefs(sql, whoOf(c))).column_widths[`${query.table}@${query.size}`];
        const widths = isObject(entry) && isObject(entry.widths) ? entry.widths : {};
        return { table: query.table, size: query.size, widths };
      },
      { query: t.Object({ table: name, size: name }), detail: { summary: "Saved column widths of a table (team mode: per token name)" } },
    )
    .post(
      "/api/config/column-widths",
      async (c) => {
        const { body } = c;
        await updatePrefs(sql, whoOf(c), (p) => {
          p.column_widths[`${body.table}@${body.size}`] = {
            widths: body.widths,
            window_width: body.window_width ?? null,
            window_height: body.window_height ?? null,
            updated_at: Date.now() / 1000,
          };
        });
        return { ok: true, message: "Column width preferences saved" };
      },
      {
        body: t.Object({
          table: name,
          size: name,
          widths: t.Record(t.String({ maxLength: 200 }), t.Integer({ minimum: 0, maximum: 100000 })),
          window_width: t.Optional(t.Integer({ minimum: 0, maximum: 100000 })),
          window_height: t.Optional(t.Integer({ minimum: 0, maximum: 100000 })),
        }),
        detail: { summary: "Save column widths of a table (team mode)" },
      },
    )
    .delete("/api/config/column-widths", (c) => resetWidths(sql, whoOf(c), c.query.table, c.query.size), {
      query: t.Object({ table: name, size: t.Optional(name) }),
      detail: { summary: "Forget column widths (team mode)" },
    })
    .post("/api/config/column-widths/reset", (c) => resetWidths(sql, whoOf(c), c.query.table, c.query.size), {
      query: t.Object({ table: name, size: t.Optional(name) }),
      detail: { summary: "Forget column widths (team mode)" },
    })
    .get("/api/config/dismissed-alerts", async (c) => ({ dismissed_alerts: (await readPrefs(sql, whoOf(c))).dismissed_alerts }), {
      detail: { summary: "Alerts the user dismissed (team mode)" },
    })
    .post(
      "/api/config/dismissed-alerts/dismiss",
      async (c) => {
        const id = c.body.alert_id;
        await updatePrefs(sql, whoOf(c), (p) => {
          if (!p.dismissed_alerts.includes(id)) p.dismissed_alerts.push(id);
        });
        return { ok: true, message: `Alert '${id}' dismissed` };
      },
      { body: t.Object({ alert_id: name }), detail: { summary: "Dismiss an alert (team mode)" } },
    )
    .post(
      "/api/config/dismissed-alerts/undismiss",
      async (c) => {
        const id = c.body.alert_id;
        await updatePrefs(sql, whoOf(c), (p) => {
          p.dismissed_alerts = p.dismissed_alerts.filter((a) => a !== id);
        });
        return { ok: true, message: `Alert '${id}' restored` };
      },
      { body: t.Object({ alert_id: name }), detail: { summary: "Show a dismissed alert again (team mode)" } },
    )
    .post(
      "/api/config/dismissed-alerts/clear",
      async (c) => {
        await updatePrefs(sql, whoOf(c), (p) => {
          p.dismissed_alerts = [];
        });
        return { ok: true, message: "All dismissed alerts cleared" };
      },
      { detail: { summary: "Show every dismissed alert again (team mode)" } },
    );
}
