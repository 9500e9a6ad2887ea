// Storage-root configuration and the UI preference endpoints (spec §3.8).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Elysia, t } from "elysia";
import { expandPath } from "../config/config.ts";
import { readUserFile, updateUserFile } from "../config/user-files.ts";
import { isObject, type JsonObject } from "../store/json.ts";
import type { AppContext } from "./context.ts";
import { HttpError } from "./errors.ts";

const PREFS = "ui_preferences.json";

/** `os.path.expandvars`: `$VAR` and `${VAR}` from the environment; unknown variables are left as written. */
export function expandVars(p: string, env: Record<string, string | undefined>): string {
  return p.replace(/\$(\w+)|\$\{([^}]+)\}/g, (m, a, b) => env[a ?? b] ?? m);
}

function prefs(ctx: AppContext): { column_widths: JsonObject; dismissed_alerts: string[] } {
  const p = readUserFile(ctx.config.configDir, PREFS);
  return {
    column_widths: isObject(p.column_widths) ? p.column_widths : {},
    dismissed_alerts: Array.isArray(p.dismissed_alerts) ? p.dismissed_alerts.filter((x) => typeof x === "string") : [],
  };
}

function savePrefs(ctx: AppContext, fn: (p: ReturnType<typeof prefs>) => void): void {
  updateUserFile(ctx.config.configDir, PREFS, () => {
    const p = prefs(ctx);
    fn(p);
    return p;
  });
}

const name = t.String({ minLength: 1, maxLength: 200 });

/** Configuration routes. */
export function configRoutes(ctx: AppContext) {
  return new Elysia({ name: "config" })
    .get(
      "/api/config",
      () => {
        const cfg = readUserFile(ctx.config.configDir, "config.json");
        return {
          user_root_dir: typeof cfg.user_root_dir === "string" ? cfg.user_root_dir : "",
          storage: ctx.root(),
          config_file: join(ctx.config.configDir, "config.json"),
        };
      },
      { detail: { summary: "The storage root in use and the saved user root" } },
    )
    .post(
      "/api/config/user_root_dir",
      async ({ body }) => {
        let root: string;
        try {
          root = expandPath(expandVars(body.path, ctx.config.env), ctx.config.homeDir, process.cwd());
          if (body.path.includes("\0")) throw new Error("path contains a NUL byte");
          mkdirSync(root, { recursive: true });
          updateUserFile(ctx.config.configDir, "config.json", (cur) => ({ ...cur, user_root_dir: root }));
        } catch (e) {
          throw new HttpError(400, `Invalid path or permission error: ${(e as Error).message}`);
        }
        try {
          await ctx.storage.switchRoot(root);
        } catch (e) {
          throw new HttpError(500, `Failed to reinitialize storage root: ${(e as Error).message}`);
        }
        return { ok: true, user_root_dir: root, storage: ctx.root() };
      },
      {
        body: t.Object({ path: t.String({ minLength: 1, maxLength: 4096 }) }),
        detail: { summary: "Save a new user root and switch the running server to it" },
      },
    )
    .get(
      "/api/config/column-widths",
      ({ query }) => {
        const entry = prefs(ctx).column_widths[`${query.table}@${query.size}`];
        const widths = isObject(entry) && isObject(entry.widths) ? entry.widths : {};
        return { table: query.table, size: query.size, widths };
      },
      { query: t.Object({ table: name, size: name }), detail: { summary: "Saved column widths of a table" } },
    )
    .post(
      "/api/config/column-widths",
      ({ body }) => {
        savePrefs(ctx, (p) => {
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
    .delete("/api/config/column-widths", ({ query }) => resetWidths(ctx, query.table, query.size), {
      query: t.Object({ table: name, size: t.Optional(name) }),
      detail: { summary: "Forget column widths (one size, or every size of a table)" },
    })
    .post("/api/config/column-widths/reset", ({ query }) => resetWidths(ctx, query.table, query.size), {
      query: t.Object({ table: name, size: t.Optional(name) }),
      detail: { summary: "Forget column widths (one size, or every size of a table)" },
    })
    .get("/api/config/dismissed-alerts", () => ({ dismissed_alerts: prefs(ctx).dismissed_alerts }), {
      detail: { summary: "Alerts the user dismissed" },
    })
    .post(
      "/api/config/dismissed-alerts/dismiss",
      ({ body }) => {
        savePrefs(ctx, (p) => {
          if (!p.dismissed_alerts.includes(body.alert_id)) p.dismissed_alerts.push(body.alert_id);
        });
        return { ok: true, message: `Alert '${body.alert_id}' dismissed` };
      },
      { body: t.Object({ alert_id: name }), detail: { summary: "Dismiss an alert" } },
    )
    .post(
      "/api/config/dismissed-alerts/undismiss",
      ({ body }) => {
        savePrefs(ctx, (p) => {
          p.dismissed_alerts = p.dismissed_alerts.filter((a) => a !== body.alert_id);
        });
        return { ok: true, message: `Alert '${body.alert_id}' restored` };
      },
      { body: t.Object({ alert_id: name }), detail: { summary: "Show a dismissed alert again" } },
    )
    .post(
      "/api/config/dismissed-alerts/clear",
      () => {
        savePrefs(ctx, (p) => {
          p.dismissed_alerts = [];
        });
        return { ok: true, message: "All dismissed alerts cleared" };
      },
      { detail: { summary: "Show every dismissed alert again" } },
    );
}

function resetWidths(ctx: AppContext, table: string, size: string | undefined) {
  savePrefs(ctx, (p) => {
    for (const key of Object.keys(p.column_widths)) {
      if (size ? key === `${table}@${size}` : key.startsWith(`${table}@`)) delete p.column_widths[key];
    }
  });
  return { ok: true, message: "Column width preferences reset" };
}
