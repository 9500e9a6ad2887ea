// The UI preference routes (column widths, dismissed alerts; spec §3.8) over a preference store: a file in local mode, a PostgreSQL row per token in team mode.
import { Elysia, t } from "elysia";
import { isObject, type JsonObject } from "../store/json.ts";

/** One user's UI preferences. */
export interface Prefs {
  column_widths: JsonObject;
  dismissed_alerts: string[];
}

/** Where preferences live; `c` is the request context (team mode keys preferences by its token name). */
export interface PrefsStore {
  read(c: object): Prefs | Promise<Prefs>;
  /** Changes the preferences atomically (read, `fn`, write). */
  update(c: object, fn: (p: Prefs) => void): void | Promise<void>;
}

/** Stored preferences as Prefs, whatever was stored (missing or mistyped parts are empty). */
export function prefsOf(raw: unknown): Prefs {
  const p = isObject(raw) ? raw : {};
  return {
    column_widths: isObject(p.column_widths) ? p.column_widths : {},
    dismissed_alerts: Array.isArray(p.dismissed_alerts) ? p.dismissed_alerts.filter((x): x is string => typeof x === "string") : [],
  };
}

const name = t.String({ minLength: 1, maxLength: 200 });
const sizeQuery = { query: t.Object({ table: name, size: t.Optional(name) }), detail: { summary: "Forget column widths (one size, or every size of a table)" } };

/** The preference routes over `store` (`pluginName` keeps the modes' plugins apart). */
export function uiPrefsRoutes(store: PrefsStore, pluginName: string) {
  const resetWidths = async (c: object, table: string, size: string | undefined) => {
    await store.update(c, (p) => {
      for (const key of Object.keys(p.column_widths)) {
        if (size ? key === `${table}@${size}` : key.startsWith(`${table}@`)) delete p.column_widths[key];
      }
    });
    return { ok: true, message: "Column width preferences reset" };
  };
  return new Elysia({ name: pluginName })
    .get(
      "/api/config/column-widths",
      async (c) => {
        const entry = (await store.read(c)).column_widths[`${c.query.table}@${c.query.size}`];
        const widths = isObject(entry) && isObject(entry.widths) ? entry.widths : {};
        return { table: c.query.table, size: c.query.size, widths };
      },
      { query: t.Object({ table: name, size: name }), detail: { summary: "Saved column widths of a table" } },
    )
    .post(
      "/api/config/column-widths",
      async (c) => {
        const body = c.body;
        await store.update(c, (p) => {
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
        detail: { summary: "Save column widths of a table" },
      },
    )
    .delete("/api/config/column-widths", (c) => resetWidths(c, c.query.table, c.query.size), sizeQuery)
    .post("/api/config/column-widths/reset", (c) => resetWidths(c, c.query.table, c.query.size), sizeQuery)
    .get("/api/config/dismissed-alerts", async (c) => ({ dismissed_alerts: (await store.read(c)).dismissed_alerts }), {
      detail: { summary: "Alerts the user dismissed" },
    })
    .post(
      "/api/config/dismissed-alerts/dismiss",
      async (c) => {
        const id = c.body.alert_id;
        await store.update(c, (p) => {
          if (!p.dismissed_alerts.includes(id)) p.dismissed_alerts.push(id);
        });
        return { ok: true, message: `Alert '${id}' dismissed` };
      },
      { body: t.Object({ alert_id: name }), detail: { summary: "Dismiss an alert" } },
    )
    .post(
      "/api/config/dismissed-alerts/undismiss",
      async (c) => {
        const id = c.body.alert_id;
        await store.update(c, (p) => {
          p.dismissed_alerts = p.dismissed_alerts.filter((a) => a !== id);
        });
        return { ok: true, message: `Alert '${id}' restored` };
      },
      { body: t.Object({ alert_id: name }), detail: { summary: "Show a dismissed alert again" } },
    )
    .post(
      "/api/config/dismissed-alerts/clear",
      async (c) => {
        await store.update(c, (p) => {
          p.dismissed_alerts = [];
        });
        return { ok: true, message: "All dismissed alerts cleared" };
      },
      { detail: { summary: "Show every dismissed alert again" } },
    );
}
