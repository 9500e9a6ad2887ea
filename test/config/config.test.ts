import { describe, expect, it } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/config.ts";
import { tempDir } from "../helpers/server.ts";

describe("storage root resolution (spec §1.1)", () => {
  const t = tempDir();
  const home = join(t.dir, "home");
  const cfgHome = join(home, ".config");
  mkdirSync(join(cfgHome, "runicorn"), { recursive: true });
  writeFileSync(join(cfgHome, "runicorn", "config.json"), JSON.stringify({ user_root_dir: "~/from-config" }));
  const env = { HOME: home, XDG_CONFIG_HOME: cfgHome };

  it("takes the flag first, expanding ~", () => {
    const c = loadConfig({ root: "~/flag" }, { ...env, RUNICORN_DIR: "/env" }, "/cwd");
    expect(c).toMatchObject({ root: join(home, "flag"), rootSource: "flag" });
  });

  it("then RUNICORN_DIR", () => {
    expect(loadConfig({}, { ...env, RUNICORN_DIR: "rel/dir" }, "/cwd")).toMatchObject({ root: "/cwd/rel/dir", rootSource: "env" });
  });

  it("then user_root_dir from the per-user config.json", () => {
    expect(loadConfig({}, env, "/cwd")).toMatchObject({ root: join(home, "from-config"), rootSource: "user_config" });
  });

  it("then ./.runicorn in the working directory", () => {
    expect(loadConfig({}, { HOME: home, XDG_CONFIG_HOME: join(t.dir, "nowhere") }, "/cwd")).toMatchObject({ root: "/cwd/.runicorn", rootSource: "default" });
  });

  it("defaults to 127.0.0.1:23300", () => {
    expect(loadConfig({}, env, "/cwd")).toMatchObject({ host: "127.0.0.1", port: 23300 });
  });
});
