// The Remote page builds a fleet from two saved sshd hosts in Chromium (the compiled binary deploys itself): both hosts' runs in the list with a host column, a host filter, a cross-host compare, a System section per host, disconnect one, disconnect all.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { cpSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { copyBinary, eventually, FIXTURES, sshFingerprint } from "../remote/helpers.ts";
import { startSshd, type TestSshd } from "../remote/sshd.ts";
import { type BinaryServer, launchBrowser, shot, startBinary, tempDir, type TestBrowser } from "../ui/browser.ts";
import { writeRun } from "./helpers.ts";

// the first start uploads the ~110 MB binary to each host over SFTP; a shared 2-core machine is slow
setDefaultTimeout(240_000);

const ON_B = "20250101_000001_bbbbb1";
const LOCAL = "20250101_000009_c0ffee";

let a: TestSshd;
let b: TestSshd;
let bin: { path: string; cleanup(): void };
let tmp: { dir: string; cleanup(): void };
let server: BinaryServer;
let browser: TestBrowser;
let page: Page;
const jsErrors: string[] = [];
const viewerDirs = (s: TestSshd) => readdirSync(s.remoteTmp).filter((n) => n.startsWith("runicorn-viewer."));
const row = (label: string) => page.locator(`[data-testid="fleet-builder-hosts"] tr[data-host="${label}"]`);

beforeAll(async () => {
  [a, b] = await Promise.all([startSshd(), startSshd()]);
  bin = copyBinary();
  tmp = tempDir("rn-ui-fleet-build-");
  mkdirSync(join(a.remoteHome, "r1"), { recursive: true });
  cpSync(join(FIXTURES, "rn-data2"), join(a.remoteHome, "r1"), { recursive: true });
  writeRun(join(b.remoteHome, "r2"), "gen/b", ON_B, { created: 1900000000 });
  writeRun(join(tmp.dir, "root"), "local/exp", LOCAL, { created: 1900000009 });
  const home = join(tmp.dir, "home");
  mkdirSync(join(home, ".ssh"), { recursive: true });
  writeFileSync(join(home, ".ssh", "known_hosts"), `[127.0.0.1]:${a.port} ${a.hostPublicKey}\n[127.0.0.1]:${b.port} ${b.hostPublicKey}\n`);
  server = await startBinary(join(tmp.dir, "root"), tmp.dir, [], undefined, bin.path);
  const saved = [
    { kind: "server", id: "srv_a", name: "gpu-a", host: "127.0.0.1", port: a.port, username: a.user, authMethod: "key", privateKeyPath: a.userKey, createdAt: 1 },
    { kind: "connection", id: "prof_a", serverId: "srv_a", name: "r1", remoteRoot: "~/r1", createdAt: 1 },
    { kind: "server", id: "srv_b", name: "gpu-b", host: "127.0.0.1", port: b.port, username: b.user, authMethod: "key", privateKeyPath: b.userKey, createdAt: 1 },
    { kind: "connection", id: "prof_b", serverId: "srv_b", name: "r2", remoteRoot: "~/r2", createdAt: 1 },
    // host a under another name: its key is not known under that name yet
    { kind: "server", id: "srv_new", name: "gpu-new", host: "localhost", port: a.port, username: a.user, authMethod: "key", privateKeyPath: a.userKey, createdAt: 1 },
    // nothing listens there: its row says why, and the other hosts work meanwhile
    { kind: "server", id: "srv_dead", name: "dead", host: "127.0.0.3", port: 1, username: a.user, authMethod: "key", privateKeyPath: a.userKey, createdAt: 1 },
  ];
  const r = await fetch(`${server.url}/api/remote/connections/saved`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(saved) });
  expect(r.status).toBe(200);
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on("pageerror", (e) => jsErrors.push(e.message));
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await Promise.all([a?.stop(), b?.stop()]);
  bin?.cleanup();
  tmp?.cleanup();
});

describe("a fleet built on the Remote page", () => {
  it("connects two saved sshd hosts as one fleet with this machine as 'local' and shows each host's state, latency and runs", async () => {
    await page.goto(`${server.url}/remote`);
    await page.locator('[data-testid="fleet-choose"] [data-option="prof_a"] input[type="checkbox"]').check();
    await page.locator('[data-testid="fleet-choose"] [data-option="prof_b"] input[type="checkbox"]').check();
    await page.locator('[data-testid="fleet-choose"] [data-option="srv_dead"] input[type="checkbox"]').check();
    await page.locator('[data-testid="fleet-connect"]').click();
    await row("gpu-a").waitFor();
    for (const h of ["local", "gpu-a", "gpu-b"]) await page.locator(`[data-testid="fleet-builder-hosts"] tr[data-host="${h}"][data-state="online"]`).waitFor({ timeout: 200_000 });
    expect(await row("gpu-b").locator("td.col-runs").textContent()).toBe("1");
    expect(await row("gpu-a").locator("td.col-latency").textContent()).toMatch(/ms$/);
    expect(await row("local").locator("button").count()).toBe(0);
    await page.waitForFunction(() => /Connection refused by 127\.0\.0\.3:1/.test(document.querySelector('[data-testid="fleet-builder-hosts"] tr[data-host="dead"] td.col-state')?.textContent ?? ""));
    expect(await row("dead").getAttribute("data-state")).not.toBe("online");
    expect(viewerDirs(a).length).toBe(1);
    expect(viewerDirs(b).length).toBe(1);
    // their sessions are listed as the fleet's (no Stop there: the fleet would restart them)
    await page.locator('[data-session] [data-fleet-host="gpu-b"]').waitFor({ timeout: 15_000 });
    expect(await page.locator('[data-session]:has([data-fleet-host="gpu-b"]) button').count()).toBe(0);
    await shot(page, "fleet-build-remote");
  });

  it("opens the fleet view: every host's runs with a Host column, filtered by host", async () => {
    const href = await page.locator('[data-testid="fleet-open"]').getAttribute("href");
    expect(href).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    await page.goto(href!);
    await page.locator(`tr[data-run-id="${ON_B}"]`).waitFor({ timeout: 20_000 });
    expect(await page.locator('th[data-sort="host"]').count()).toBe(1);
    expect(await page.locator(`tr[data-run-id="${ON_B}"] td.col-host`).textContent()).toBe("gpu-b");
    expect(await page.locator(`tr[data-run-id="${LOCAL}"] td.col-host`).textContent()).toBe("local");
    // the failing host lists nothing and blocks nothing
    const hostsShown = new Set(await page.locator('[data-testid="runs-table"] tbody td.col-host').allTextContents());
    expect(hostsShown).toEqual(new Set(["local", "gpu-a", "gpu-b"]));
    await page.locator('[data-testid="host-filter"]').selectOption("gpu-b");
    await page.waitForURL(/host=gpu-b/);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="runs-table"] tbody tr').length === 1);
    expect(await page.locator('[data-testid="runs-table"] tbody td.col-host').allTextContents()).toEqual(["gpu-b"]);
    await shot(page, "fleet-build-runs");
  });

  it("draws runs of two sshd hosts on one compare chart, and a System section for every host", async () => {
    const view = new URL(page.url()).origin;
    const runs = (await fetch(`${view}/api/runs`).then((r) => r.json())) as { id: string; host: string }[];
    const onA = runs.find((r) => r.host === "gpu-a")!.id;
    const answer = page.waitForResponse((r) => r.url().includes("/api/compare/series?"));
    await page.goto(`${view}/compare?runs=${onA},${ON_B}`);
    const body = (await (await answer).json()) as { runs: Record<string, unknown>; missing: string[] };
    expect(Object.keys(body.runs).sort()).toEqual([onA, ON_B].sort());
    expect(body.missing).toEqual([]);
    await page.locator(".u-over").first().waitFor();
    await shot(page, "fleet-build-compare");
    await page.goto(`${view}/system`);
    // every host of the fleet view, "dead" too: it never connected, and its section is greyed with its SSH reason
    await page.waitForFunction(() => document.querySelectorAll("section.host-section").length === 4);
    const sections = await page.locator("section.host-section").evaluateAll((els) => els.map((e) => `${e.getAttribute("data-host")}:${e.getAttribute("data-state")}`));
    expect(sections.filter((x) => !x.startsWith("dead:")).sort()).toEqual(["gpu-a:online", "gpu-b:online", "local:online"]);
    for (const h of ["local", "gpu-a", "gpu-b"]) expect(await page.locator(`section[data-host="${h}"] .tile`).count(), h).toBeGreaterThan(0);
    const dead = page.locator('section[data-host="dead"]');
    expect(["offline", "reconnecting"]).toContain((await dead.getAttribute("data-state")) ?? "");
    expect(await dead.getAttribute("class")).toContain("host-offline");
    await page.waitForFunction(() => /Connection refused by 127\.0\.0\.3:1/.test(document.querySelector('section[data-host="dead"]')?.textContent ?? ""));
    await shot(page, "fleet-build-system");
    expect(jsErrors).toEqual([]);
  });

  it("disconnects one host from the fleet view: its viewer stops and its runs leave the list", async () => {
    const view = new URL(page.url()).origin;
    await page.goto(`${view}/remote`);
    await row("gpu-b").locator("button", { hasText: "Disconnect" }).click();
    await row("gpu-b").waitFor({ state: "detached" });
    expect(viewerDirs(b)).toEqual([]);
    await page.goto(`${view}/`);
    await page.locator(`tr[data-run-id="${LOCAL}"]`).waitFor();
    expect(await page.locator(`tr[data-run-id="${ON_B}"]`).count()).toBe(0);
    expect(new Set(await page.locator('[data-testid="runs-table"] tbody td.col-host').allTextContents())).toEqual(new Set(["local", "gpu-a"]));
  });

  it("disconnects all: every viewer stops and the page returns to this machine's own server", async () => {
    const view = new URL(page.url()).origin;
    await page.goto(`${view}/remote`);
    await page.locator('[data-testid="fleet-disconnect-all"]').click();
    await page.getByRole("dialog").getByRole("button", { name: "Disconnect all" }).click();
    await page.waitForURL(`${server.url}/remote`);
    expect(viewerDirs(a)).toEqual([]);
    const hosts = (await fetch(`${server.url}/api/fleet/hosts`).then((r) => r.json())) as { hosts: unknown[]; fleet_port: number | null };
    expect(hosts).toMatchObject({ hosts: [], fleet_port: null });
    // the view stops just after its answer is out
    expect(await eventually(async () => (await fetch(`${view}/api/health`).then(() => "answered", () => "closed")) === "closed", 5000)).toBe(true);
    expect(jsErrors).toEqual([]);
  });

  it("shows a host's unknown key on its row, and once trusted connects the host", async () => {
    await page.goto(`${server.url}/remote`);
    await page.locator('[data-testid="fleet-choose"] [data-option="srv_new"] input[type="checkbox"]').check();
    await page.locator('[data-testid="fleet-connect"]').click();
    await row("gpu-new").locator('[data-testid="fleet-check-key"]').click({ timeout: 60_000 });
    expect(await row("gpu-new").locator("td.col-state").textContent()).toContain("is not known yet");
    const dialog = page.getByRole("dialog");
    expect(await dialog.getByTestId("fingerprint").textContent()).toBe(sshFingerprint(a.hostPublicKey));
    await dialog.getByRole("button", { name: "Trust and connect" }).click();
    await page.locator('[data-testid="fleet-builder-hosts"] tr[data-host="gpu-new"][data-state="online"]').waitFor({ timeout: 60_000 });
    expect(await row("gpu-new").locator('[data-testid="fleet-check-key"]').count()).toBe(0);
    const r = await fetch(`${server.url}/api/fleet/hosts`, { method: "DELETE" });
    expect(r.status).toBe(200);
    expect(viewerDirs(a)).toEqual([]);
    expect(jsErrors).toEqual([]);
  });
});
