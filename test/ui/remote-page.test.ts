// The Remote page in headless Chromium against the compiled binary and a real sshd: wizard, host keys, viewer start/open/stop, errors.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { copyBinary, eventually, FIXTURES, sshFingerprint, startPasswordServer } from "../remote/helpers.ts";
import { startSshd, type TestSshd } from "../remote/sshd.ts";
import { type BinaryServer, launchBrowser, shot, startBinary, tempDir, type TestBrowser } from "./browser.ts";

// The first start uploads the ~110 MB binary over SFTP; sshd round trips take seconds on a shared 2-core machine.
setDefaultTimeout(120_000);

const RUN_ID = "20261129_031719_94b4ef"; // the one run of fixture rn-data2 (cv/yolo)
const PASSWORD = "right-password";

let sshd: TestSshd;
let bin: { path: string; cleanup(): void };
let tmp: { dir: string; cleanup(): void };
let server: BinaryServer;
let browser: TestBrowser;
let pwServer: Awaited<ReturnType<typeof startPasswordServer>>;
let page: Page;
let knownHostsFile: string;
const jsErrors: string[] = [];

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const viewerDirs = () => readdirSync(sshd.remoteTmp).filter((n) => n.startsWith("runicorn-viewer."));
const dialog = (name: string) => page.getByRole("dialog", { name });

beforeAll(async () => {
  sshd = await startSshd();
  bin = copyBinary();
  tmp = tempDir("rn-ui-remote-");
  // The remote storage root holds one run written by the original SDK.
  cpSync(join(FIXTURES, "rn-data2"), join(sshd.remoteHome, "data"), { recursive: true });
  // A password-only SSH server on another loopback address, its host key already trusted, so the
  // wrong-password case is one attempt and does not count against 127.0.0.1's 5 per minute.
  pwServer = await startPasswordServer(tmp.dir, sshd.user, PASSWORD, "127.0.0.2");
  const cfg = join(tmp.dir, "home", ".config", "runicorn");
  mkdirSync(cfg, { recursive: true });
  knownHostsFile = join(cfg, "known_hosts");
  writeFileSync(knownHostsFile, `[127.0.0.2]:${pwServer.port} ${pwServer.hostPublicKey}\n`);
  mkdirSync(join(tmp.dir, "root"), { recursive: true });
  server = await startBinary(join(tmp.dir, "root"), tmp.dir, [], undefined, bin.path);
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on("pageerror", (e) => jsErrors.push(e.message));
  await page.goto(`${server.url}/remote`);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await pwServer?.stop();
  await sshd?.stop();
  bin?.cleanup();
  tmp?.cleanup();
});

describe("Remote page", () => {
  it("adds a saved server through the connect wizard after the user confirms its SHA256 host key", async () => {
    await page.getByText("No saved servers").waitFor();
    await page.getByRole("button", { name: "Add server" }).click();
    const wizard = dialog("Connect a server · step 1 of 3");
    await wizard.getByLabel("Name", { exact: true }).fill("gpu-box");
    await wizard.getByLabel("Host", { exact: true }).fill("127.0.0.1");
    await wizard.getByLabel("Port", { exact: true }).fill(String(sshd.port));
    await wizard.getByLabel("Username", { exact: true }).fill(sshd.user);
    await wizard.getByLabel("Authentication").selectOption("key");
    await wizard.getByLabel("Private key path (empty: SSH agent)").fill(sshd.userKey);
    await wizard.getByRole("button", { name: "Connect", exact: true }).click();

    const confirm = dialog("Confirm the server's host key");
    await confirm.waitFor();
    expect(await confirm.getByTestId("fingerprint").textContent()).toBe(sshFingerprint(sshd.hostPublicKey));
    expect(await confirm.textContent()).toContain(`[127.0.0.1]:${sshd.port}`);
    expect(await confirm.textContent()).toContain("ssh-ed25519");
    // Nothing is trusted before the user says so.
    expect(readFileSync(knownHostsFile, "utf8")).not.toContain(sshd.hostPublicKey.split(" ")[1]!);
    await shot(page, "remote-host-key");
    await confirm.getByRole("button", { name: "Trust and connect" }).click();

    const step2 = dialog("Connect a server · step 2 of 3");
    await step2.waitFor();
    expect(await step2.textContent()).toContain(`Connected as ${sshd.user}@127.0.0.1:${sshd.port}`);
    await step2.getByRole("button", { name: "Use this environment" }).click();
    const step3 = dialog("Connect a server · step 3 of 3");
    await step3.waitFor();
    await step3.getByLabel("name", { exact: true }).fill("data");
    await step3.getByLabel("remoteRoot", { exact: true }).fill("~/data");
    await step3.getByRole("button", { name: "Save profile" }).click();

    const saved = page.locator("[data-server]");
    await saved.getByText("gpu-box").waitFor();
    expect(await saved.textContent()).toContain(`${sshd.user}@127.0.0.1:${sshd.port} · key ${sshd.userKey}`);
    expect(await saved.locator(".profiles li").textContent()).toContain("~/data");
    // The accepted key is listed on the page and recorded in CFG/known_hosts.
    await page.locator("table").getByText(sshFingerprint(sshd.hostPublicKey)).waitFor();
    expect(readFileSync(knownHostsFile, "utf8")).toContain(`[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
    const connections = JSON.parse(readFileSync(join(tmp.dir, "home", ".config", "runicorn", "connections.json"), "utf8"));
    expect(connections).toEqual([
      expect.objectContaining({ kind: "server", name: "gpu-box", host: "127.0.0.1", port: sshd.port, authMethod: "key", privateKeyPath: sshd.userKey }),
      expect.objectContaining({ kind: "connection", name: "data", remoteRoot: "~/data" }),
    ]);
    await shot(page, "remote-saved");
    expect(jsErrors).toEqual([]);
  });

  it("starts a viewer on the remote root, opens it on the remote run, and stops it with its process and files gone", async () => {
    await page.locator("[data-server] .profiles li").getByRole("button", { name: "Start viewer" }).click();
    const card = page.locator("[data-session]");
    await card.waitFor({ timeout: 90_000 });
    const text = (await card.textContent()) ?? "";
    expect(text).toContain(`${sshd.user}@127.0.0.1`);
    expect(text).toContain(`~/data · ssh ${sshd.port}`);
    const pid = Number(/pid (\d+)/.exec(text)?.[1]);
    expect(alive(pid)).toBe(true);
    expect(viewerDirs().length).toBe(1);
    expect(existsSync(join(sshd.remoteHome, ".runicorn", "bin"))).toBe(true);
    await shot(page, "remote-session");

    const link = card.getByRole("link", { name: /^Open http:\/\/localhost:\d+$/ });
    const url = (await link.getAttribute("href"))!;
    const [viewer] = await Promise.all([page.waitForEvent("popup"), link.click()]);
    await viewer.waitForLoadState();
    expect(viewer.url()).toStartWith(url);
    const runs = (await viewer.evaluate(async () => (await fetch("/api/runs")).json())) as { id: string; run_dir: string }[];
    expect(runs.map((r) => r.id)).toEqual([RUN_ID]);
    expect(runs[0]!.run_dir).toStartWith(join(sshd.remoteHome, "data"));
    await viewer.getByText("yolo").first().waitFor();
    await shot(viewer, "remote-viewer-opened");
    await viewer.close();

    await card.getByRole("button", { name: "Stop" }).click();
    await dialog("Stop remote viewer?").getByRole("button", { name: "Stop" }).click();
    await page.getByText("No remote viewer is running").waitFor();
    expect(await eventually(() => !alive(pid))).toBe(true);
    expect(await eventually(() => viewerDirs().length === 0)).toBe(true);
    expect(await fetch(`${url.replace("localhost", "127.0.0.1")}/api/health`).catch(() => null)).toBeNull();
    await shot(page, "remote-stopped");
    expect(jsErrors).toEqual([]);
  });

  it("disconnects, then refuses the server once its host key has changed and shows both fingerprints", async () => {
    // A second viewer reuses the pooled connection; Disconnect closes it so the next start meets the new key.
    await page.locator("[data-server] .profiles li").getByRole("button", { name: "Start viewer" }).click();
    const card = page.locator("[data-session]");
    await card.waitFor({ timeout: 60_000 });
    const pid = Number(/pid (\d+)/.exec((await card.textContent()) ?? "")?.[1]);
    await card.getByRole("button", { name: "Disconnect" }).click();
    await dialog("Disconnect from the server?").getByRole("button", { name: "Disconnect" }).click();
    await page.getByText("No remote viewer is running").waitFor();
    expect(await eventually(() => !alive(pid))).toBe(true);
    expect(await (await fetch(`${server.url}/api/remote/sessions`)).json()).toEqual({ sessions: [] });

    const oldKey = sshd.hostPublicKey;
    await sshd.rotateHostKey();
    await page.locator("[data-server] .profiles li").getByRole("button", { name: "Start viewer" }).click();
    const warning = dialog("Host key changed!");
    await warning.waitFor();
    expect(await warning.getByTestId("fingerprint").textContent()).toBe(sshFingerprint(sshd.hostPublicKey));
    expect(await warning.textContent()).toContain(`Expected${sshFingerprint(oldKey)}`);
    expect(await warning.textContent()).toContain("someone is intercepting the connection");
    await shot(page, "remote-host-key-changed");
    await warning.getByRole("button", { name: "Cancel" }).click();
    await page.locator(".toast-error").getByText("Cancelled").waitFor();
    expect(await page.locator("[data-session]").count()).toBe(0);
    // The recorded key is kept: a changed key is never trusted without the user's say.
    expect(readFileSync(knownHostsFile, "utf8")).toContain(`[127.0.0.1]:${sshd.port} ${oldKey}\n`);
    expect(readFileSync(knownHostsFile, "utf8")).not.toContain(sshd.hostPublicKey.split(" ")[1]!);
    expect(jsErrors).toEqual([]);
  });

  it("shows a clear error for a wrong password and keeps the wizard open", async () => {
    await page.getByRole("button", { name: "Add server" }).click();
    const wizard = dialog("Connect a server · step 1 of 3");
    await wizard.getByLabel("Host", { exact: true }).fill("127.0.0.2");
    await wizard.getByLabel("Port", { exact: true }).fill(String(pwServer.port));
    await wizard.getByLabel("Username", { exact: true }).fill(sshd.user);
    await wizard.getByLabel("Password", { exact: true }).fill("wrong-password");
    await wizard.getByRole("button", { name: "Connect", exact: true }).click();
    const error = wizard.locator(".inline-error");
    await error.waitFor();
    expect(await error.textContent()).toBe(`Connection failed: Authentication failed for ${sshd.user}@127.0.0.2:${pwServer.port}`);
    expect(pwServer.attempts).toContain("password");
    expect(await wizard.getByRole("button", { name: "Connect", exact: true }).isEnabled()).toBe(true);
    await shot(page, "remote-wrong-password");
    await wizard.getByRole("button", { name: "Cancel" }).click();
    expect(await page.locator("[data-server]").count()).toBe(1);
    expect(jsErrors).toEqual([]);
  });
});
