import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer } from "../helpers/server.ts";

describe("configuration API", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ fixture: "rn-data" });
  });
  afterAll(() => s.close());

  it("reports the root in use and the config file", async () => {
    const r = await s.api("/api/config");
    expect(r.body).toEqual({ user_root_dir: "", storage: s.root, config_file: join(s.ctx.config.configDir, "config.json") });
  });

  it("re-points the running server to a new root and saves it", async () => {
    const other = join(s.dir, "other-root");
    const run = join(other, "runs", "x", "20250101_000000_abcdef");
    mkdirSync(run, { recursive: true });
    writeFileSync(join(run, "meta.json"), JSON.stringify({ id: "20250101_000000_abcdef", path: "x" }));
    const r = await s.api("/api/config/user_root_dir", { method: "POST", json: { path: other } });
    expect(r.body).toEqual({ ok: true, user_root_dir: other, storage: other });
    expect((await s.api("/api/runs")).body.map((x: any) => x.id)).toEqual(["20250101_000000_abcdef"]);
    const cfg = JSON.parse(readFileSync(join(s.ctx.config.configDir, "config.json"), "utf8"));
    expect(cfg.user_root_dir).toBe(other);
    expect((await s.api("/api/health")).body.storage).toBe(other);
  });

  it("expands ~ and $VARS in a new root", async () => {
    const r = await s.api("/api/config/user_root_dir", { method: "POST", json: { path: "~/rn-$HOME_SUFFIX_UNSET/x" } });
    expect(r.body.storage).toBe(join(s.ctx.config.homeDir, "rn-$HOME_SUFFIX_UNSET/x"));
    expect(existsSync(join(r.body.storage, "runs"))).toBe(true);
  });

  it("rejects a root that cannot be created", async () => {
    writeFileSync(join(s.dir, "afile"), "x");
    const r = await s.api("/api/config/user_root_dir", { method: "POST", json: { path: join(s.dir, "afile", "sub") } });
    expect(r.status).toBe(400);
    expect(r.body.detail).toStartWith("Invalid path or permission error:");
    expect((await s.api("/api/config/user_root_dir", { method: "POST", json: {} })).status).toBe(422);
    expect((await s.api("/api/config/user_root_dir", { method: "POST", json: { path: "" } })).status).toBe(422);
  });

  it("stores column widths per table and size, and resets them", async () => {
    const q = "table=experiments&size=1920x1080";
    expect((await s.api(`/api/config/column-widths?${q}`)).body).toEqual({ table: "experiments", size: "1920x1080", widths: {} });
    const save = await s.api("/api/config/column-widths", {
      method: "POST",
      json: { table: "experiments", size: "1920x1080", widths: { path: 200 }, window_width: 1920, window_height: 1080 },
    });
    expect(save.body).toEqual({ ok: true, message: "Column width preferences saved" });
    expect((await s.api(`/api/config/column-widths?${q}`)).body.widths).toEqual({ path: 200 });
    expect((await s.api("/api/config/column-widths?table=experiments", { method: "DELETE" })).body).toEqual({ ok: true, message: "Column width preferences reset" });
    expect((await s.api(`/api/config/column-widths?${q}`)).body.widths).toEqual({});
    expect((await s.api("/api/config/column-widths?table=experiments")).status).toBe(422);
    expect((await s.api("/api/config/column-widths", { method: "POST", json: { table: "t", size: "s", widths: { a: "wide" } } })).status).toBe(422);
  });

  it("dismisses, restores and clears alerts", async () => {
    expect((await s.api("/api/config/dismissed-alerts/dismiss", { method: "POST", json: { alert_id: "welcome" } })).body).toEqual({ ok: true, message: "Alert 'welcome' dismissed" });
    expect((await s.api("/api/config/dismissed-alerts")).body).toEqual({ dismissed_alerts: ["welcome"] });
    expect((await s.api("/api/config/dismissed-alerts/undismiss", { method: "POST", json: { alert_id: "welcome" } })).body).toEqual({ ok: true, message: "Alert 'welcome' restored" });
    await s.api("/api/config/dismissed-alerts/dismiss", { method: "POST", json: { alert_id: "a" } });
    expect((await s.api("/api/config/dismissed-alerts/clear", { method: "POST" })).body).toEqual({ ok: true, message: "All dismissed alerts cleared" });
    expect((await s.api("/api/config/dismissed-alerts")).body).toEqual({ dismissed_alerts: [] });
    expect((await s.api("/api/config/dismissed-alerts/dismiss", { method: "POST", json: {} })).status).toBe(422);
  });
});
