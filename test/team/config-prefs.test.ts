// UI preferences on a team server: the file mode's requests and answers, kept per token name in PostgreSQL
// (every replica sees them, another user does not); the storage root cannot be switched.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { type TestServer } from "../helpers/server.ts";
import { call, type Replica, startTeamCluster, type TeamCluster } from "./team-server.ts";

const STEPS: [string, string, unknown?][] = [
  ["GET", "/api/config/column-widths?table=runs&size=1900x1000"],
  ["POST", "/api/config/column-widths", { table: "runs", size: "1900x1000", widths: { id: 120, alias: 80 }, window_width: 1900 }],
  ["POST", "/api/config/column-widths", { table: "runs", size: "1200x800", widths: { id: 90 } }],
  ["GET", "/api/config/column-widths?table=runs&size=1900x1000"],
  ["POST", "/api/config/column-widths/reset?table=runs&size=1200x800"],
  ["GET", "/api/config/column-widths?table=runs&size=1200x800"],
  ["POST", "/api/config/column-widths", { table: "runs", size: "1900x1000", widths: { id: -1 } }],
  ["GET", "/api/config/dismissed-alerts"],
  ["POST", "/api/config/dismissed-alerts/dismiss", { alert_id: "disk-low" }],
  ["POST", "/api/config/dismissed-alerts/dismiss", { alert_id: "disk-low" }],
  ["POST", "/api/config/dismissed-alerts/dismiss", { alert_id: "gpu-hot" }],
  ["GET", "/api/config/dismissed-alerts"],
  ["POST", "/api/config/dismissed-alerts/undismiss", { alert_id: "disk-low" }],
  ["GET", "/api/config/dismissed-alerts"],
  ["POST", "/api/config/dismissed-alerts/dismiss", {}],
];

describe("UI preferences on a team server", () => {
  let c: TeamCluster;
  let file: TestServer;
  let a: Replica;
  let b: Replica;
  let alice: string;
  let bob: string;
  beforeAll(async () => {
    c = await startTeamCluster("alice", { replicas: 2, file: true, tokens: ["bob"] });
    ({ file, token: alice } = c);
    bob = c.tokens.bob;
    [a, b] = c.replicas;
  }, 120_000);
  afterAll(async () => {
    await c?.close();
  });

  it("answers the same requests as the file mode does, whichever replica each goes to", async () => {
    for (const [i, [method, path, body]] of STEPS.entries()) {
      const fromFile = await file.api(path, { method, json: body });
      const fromTeam = await call(i % 2 ? a.url : b.url, alice, method, path, body);
      expect({ method, path, status: fromTeam.status, body: fromTeam.body }).toEqual({ method, path, status: fromFile.status, body: fromFile.body });
    }
  });

  it("keeps each token name's preferences apart", async () => {
    expect((await call(a.url, bob, "GET", "/api/config/dismissed-alerts")).body).toEqual({ dismissed_alerts: [] });
    expect((await call(a.url, bob, "GET", "/api/config/column-widths?table=runs&size=1900x1000")).body.widths).toEqual({});
    expect((await call(b.url, alice, "GET", "/api/config/dismissed-alerts")).body).toEqual({ dismissed_alerts: ["gpu-hot"] });
    await call(a.url, alice, "POST", "/api/config/dismissed-alerts/clear");
    expect((await call(b.url, alice, "GET", "/api/config/dismissed-alerts")).body).toEqual({ dismissed_alerts: [] });
  });

  it("says where media go and refuses to switch the storage root with a 501", async () => {
    const cfg = await call(a.url, alice, "GET", "/api/config");
    expect(cfg.body).toMatchObject({ user_root_dir: "", storage: c.root, mode: "team" });
    const res = await call(a.url, alice, "POST", "/api/config/user_root_dir", { path: "/tmp/elsewhere" });
    expect(res.status).toBe(501);
    expect(res.body.detail).toContain("not available on a team (PostgreSQL) server");
  });
});
