// Storage-root configuration and the UI preference endpoints (spec §3.8).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Elysia, t } from "elysia";
import { expandPath } from "../config/config.ts";
import { readUserFile, updateUserFile } from "../config/user-files.ts";
import type { AppContext } from "./context.ts";
import { HttpError } from "./errors.ts";
import { type PrefsStore, prefsOf, uiPrefsRoutes } from "./ui-prefs.ts";

const PREFS = "ui_preferences.json";

/** `os.path.expandvars`: `$VAR` and `${VAR}` from the environment; unknown variables are left as written. */
export function expandVars(p: string, env: Record<string, string | undefined>): string {
  return p.replace(/\$(\w+)|\$\{([^}]+)\}/g, (m, a, b) => env[a ?? b] ?? m);
}

/** The preferences in the per-user config dir (ui_preferences.json), shared by every root. */
function filePrefs(ctx: AppContext): PrefsStore {
  return {
    read: () => prefsOf(readUserFile(ctx.config.configDir, PREFS)),
    update: (_c, fn) => {
      updateUserFile(ctx.config.configDir, PREFS, (cur) => {
        const p = prefsOf(cur);
        fn(p);
        return { ...p };
      });
    },
  };
}

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
    .use(uiPrefsRoutes(filePrefs(ctx), "config-prefs"));
}
