// `runicorn remote user@host:port host:port … -p -i --root --local-port` over two real sshd and a host that never answers: qualified ids in every per-run endpoint, live changes from every host, a viewer killed and a connection dropped, Ctrl-C.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseTarget } from "../../src/cli/remote.ts";
import { copyFixture, tempDir, waitFor } from "../helpers/server.ts";
import { copyBinary } from "../remote/helpers.ts";
import { freePort, startSshd, type TestSshd } from "../remote/sshd.ts";
import { writeRun } from "./helpers.ts";

setDefaultTimeout(240_000);

const ENTRY = join(import.meta.dir, "remote-entry.ts");
const SHARED = "20250105_000001_cafe01"; // in both roots: listed qualified
const PNG = Buffer.from("89504e470d0a1a0a0000000d4948445200000001000000010806000000", "hex");

let a: TestSshd;
let b: TestSshd;
let bin: { path: string; cleanup(): void };
let tmp: ReturnType<typeof tempDir>;
let silent: { port: number; stop(closeActive?: boolean): void };
let proc: ReturnType<typeof Bun.spawn>;
let url: string;
const err: string[] = [];
let A: string;
let B: string;
let DEAD: string;
let uiPort: number;
type Item = { id: string; host: string; run_dir: string };

const fleetHosts = async () => (await fetch(`${url}/api/fleet`).then((r) => r.json())) as { hosts: { host: string; state: string; reason: string | null }[] };
const stateOf = async (label: string) => (await fleetHosts()).hosts.find((h) => h.host === label)?.state;
const list = async () => (await fetch(`${url}/api/runs`).then((r) => r.json())) as Item[];

/** The pid of the viewer `runicorn remote` started on `sshd` (the guard's pid file in the host's TMPDIR). */
function viewerPid(sshd: TestSshd): number {
  for (const d of readdirSync(sshd.remoteTmp).filter((n) => n.startsWith("runicorn-viewer."))) {
    const f = join(sshd.remoteTmp, d, "viewer.pid");
    try {
      return Number(readFileSync(f, "utf8").trim());
    } catch {
      continue; // a guard dir still being written
    }
  }
  throw new Error("no viewer on the host");
}

beforeAll(async () => {
  [a, b] = await Promise.all([startSshd(), startSshd()]);
  bin = copyBinary();
  tmp = tempDir("rn-fleet-forms-");
  // a host that accepts TCP and never says a word: its SSH handshake times out
  silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  A = `${a.user}@127.0.0.1:${a.port}`;
  B = `127.0.0.1:${b.port}`;
  DEAD = `127.0.0.1:${silent.port}`;
  const home = join(tmp.dir, "home");
  mkdirSync(join(home, ".ssh"), { recursive: true, mode: 0o700 });
  writeFileSync(join(home, ".ssh", "known_hosts"), [a, b].map((s) => `[127.0.0.1]:${s.port} ${s.hostPublicKey}\n`).join(""));
  // the same fixture on both hosts (every fixture id collides), plus one generated run on each under the same id
  copyFixture("rn-probe", join(a.remoteHome, "ra"));
  copyFixture("rn-probe", join(b.remoteHome, "rb"));
  for (const [s, root] of [[a, "ra"], [b, "rb"]] as const) {
    const dir = writeRun(join(s.remoteHome, root), "gen/exp", SHARED, { steps: root === "ra" ? 3 : 5 });
    writeFileSync(join(dir, "logs.txt"), `hello from ${root}\n`);
    writeFileSync(join(dir, "media", "plot.png"), Buffer.concat([PNG, Buffer.from(root)]));
    writeFileSync(join(dir, "assets.json"), JSON.stringify({ config: { args: { host_root: root } } }));
  }
  uiPort = await freePort();
  proc = Bun.spawn(
    [process.execPath, ENTRY, A, B, DEAD, "-p", "1", "-i", a.userKey, "-i", b.userKey, "--root", "~/ra", "--root", `${B}=~/rb`, "--local-port", String(uiPort), "--no-browser"],
    { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, USER: a.user, XDG_CONFIG_HOME: join(home, ".config"), RN_TEST_SELF: bin.path }, stdin: "ignore", stdout: "pipe", stderr: "pipe" },
  );
  void (async () => {
    const r = (proc.stderr as ReadableStream<Uint8Array>).getReader();
    for (;;) {
      const { value, done } = await r.read();
      if (done) return;
      err.push(new TextDecoder().decode(value));
    }
  })();
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let out = "";
  while (!/is at (http:\/\/\S+)/.test(out)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`exited: ${out} ${err.join("")}`);
    out += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  url = /is at (http:\/\/\S+)/.exec(out)![1]!;
});

afterAll(async () => {
  if (proc && proc.exitCode === null) {
    proc.kill("SIGINT");
    await proc.exited;
  }
  silent?.stop(true);
  await Promise.all([a?.stop(), b?.stop()]);
  bin?.cleanup();
  tmp?.cleanup();
});

describe("runicorn remote with [user@]host:port targets", () => {
  it("parses [user@]host[:port] and [IPv6]:port, and refuses a malformed port", () => {
    expect(parseTarget("me@gpu.lab:2222")).toEqual({ user: "me", host: "gpu.lab", port: 2222 });
    expect(parseTarget("gpu-1")).toEqual({ user: undefined, host: "gpu-1", port: undefined });
    expect(parseTarget("[::1]:2200")).toEqual({ user: undefined, host: "::1", port: 2200 });
    expect(parseTarget("u@fe80::1")).toEqual({ user: "u", host: "fe80::1", port: undefined });
    for (const bad of ["gpu:", "gpu:x", "gpu:70000", "gpu:0", "[::1]:"]) expect(() => parseTarget(bad), bad).toThrow("invalid target");
  });

  it("connects each host on its own port (over -p), with the keys of -i and the roots of --root DIR and --root HOST=DIR, serves on --local-port, while a silent host times out without holding them up", async () => {
    expect(new URL(url).port).toBe(String(uiPort));
    await waitFor(async () => (await stateOf(A)) === "online" && (await stateOf(B)) === "online", 180_000, "both sshd hosts online");
    expect(await stateOf(DEAD)).not.toBe("online");
    const runs = await list();
    expect(new Set(runs.map((r) => r.host))).toEqual(new Set([A, B]));
    expect(runs.filter((r) => r.host === A).every((r) => r.run_dir.startsWith(join(a.remoteHome, "ra")))).toBe(true);
    expect(runs.filter((r) => r.host === B).every((r) => r.run_dir.startsWith(join(b.remoteHome, "rb")))).toBe(true);
    // the silent host is reported on its own line and tried again
    await waitFor(() => err.join("").includes(`[${DEAD}] session ended (exit 1); reconnecting`), 60_000, "the silent host reported and retried");
    expect(err.join("")).toContain(`[${DEAD}] runicorn: cannot connect`);
    expect(await stateOf(A)).toBe("online");
  });

  it("answers GET /api/runs/{id} for every id it lists, each with that id", async () => {
    const runs = await list();
    expect(runs.some((r) => r.id.includes("--"))).toBe(true);
    for (const r of runs) {
      const res = await fetch(`${url}/api/runs/${encodeURIComponent(r.id)}`);
      expect(res.status, r.id).toBe(200);
      expect(((await res.json()) as Item).id).toBe(r.id);
    }
  });

  it("routes a qualified id's metrics, logs WebSocket, media and assets to its own host", async () => {
    const runs = await list();
    for (const [label, root, steps] of [[A, "ra", 3], [B, "rb", 5]] as const) {
      const id = runs.find((r) => r.host === label && r.id.endsWith(`--${SHARED}`))!.id;
      const m = await fetch(`${url}/api/runs/${id}/metrics_step`).then((r) => r.json());
      expect(m.rows.length, label).toBe(steps);
      const media = await fetch(`${url}/api/runs/${id}/media/plot.png`);
      expect(media.status).toBe(200);
      expect(Buffer.from(await media.arrayBuffer()).subarray(PNG.length).toString()).toBe(root);
      const assets = await fetch(`${url}/api/runs/${id}/assets`);
      expect(assets.status).toBe(200);
      expect(JSON.stringify(await assets.json())).toContain(root);
      const ws = new WebSocket(`${url.replace("http", "ws")}/api/runs/${id}/logs/ws`);
      const lines: string[] = [];
      ws.onmessage = (ev) => lines.push(String(ev.data));
      await waitFor(() => lines.includes(`hello from ${root}`), 10_000, `${label}'s log line`);
      ws.close();
    }
  });

  it("pushes a new run from every host over one /api/live socket", async () => {
    const ws = new WebSocket(url.replace("http", "ws") + "/api/live");
    const changed = new Set<string>();
    ws.onmessage = (ev) => {
      const m = JSON.parse(String(ev.data));
      if (m.type === "run_changed") changed.add(m.run_id);
    };
    await new Promise((r) => (ws.onopen = r));
    ws.send(JSON.stringify({ op: "subscribe_runs" }));
    await Bun.sleep(300);
    writeRun(join(a.remoteHome, "ra"), "live", "20250106_000001_11aa01");
    writeRun(join(b.remoteHome, "rb"), "live", "20250106_000002_22bb02");
    await waitFor(() => changed.has("20250106_000001_11aa01") && changed.has("20250106_000002_22bb02"), 10_000, "run_changed from both hosts");
    ws.close();
  });

  it("takes a host whose viewer was killed out of the list within 5 s and restarts its viewer without user action", async () => {
    const old = viewerPid(b);
    process.kill(old, "SIGKILL");
    const t0 = Date.now();
    await waitFor(async () => !(await list()).some((r) => r.host === B), 5000, "B out of the list");
    expect(Date.now() - t0).toBeLessThan(5000);
    expect((await list()).some((r) => r.host === A)).toBe(true);
    await waitFor(async () => (await list()).some((r) => r.host === B), 30_000, "B back");
    expect(viewerPid(b)).not.toBe(old);
  });

  it("takes a host whose SSH connection dropped out of the list and brings it back without user action", async () => {
    // kill the sshd processes serving this connection (children of the listening sshd): the connection drops, sshd keeps listening
    const master = Number(readFileSync(join(a.dir, "sshd.pid"), "utf8").trim());
    const children = readdirSync("/proc")
      .filter((n) => /^\d+$/.test(n))
      .filter((n) => {
        try {
          return Number(readFileSync(`/proc/${n}/stat`, "utf8").replace(/^.*\) /, "").split(" ")[1]) === master;
        } catch {
          return false; // exited meanwhile
        }
      });
    expect(children.length).toBeGreaterThan(0);
    for (const pid of children) process.kill(Number(pid), "SIGKILL");
    const t0 = Date.now();
    await waitFor(async () => !(await list()).some((r) => r.host === A), 5000, "A out of the list");
    expect(Date.now() - t0).toBeLessThan(5000);
    await waitFor(async () => (await list()).some((r) => r.host === A), 30_000, "A back");
  });

  it("stops on Ctrl-C with exit 0 without waiting for a host still connecting, leaving nothing in either host's TMPDIR", async () => {
    const t0 = Date.now();
    proc.kill("SIGINT");
    expect(await proc.exited).toBe(0);
    // the silent host's handshake (20 s timeout) is given up, not waited for
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(readdirSync(a.remoteTmp)).toEqual([]);
    expect(readdirSync(b.remoteTmp)).toEqual([]);
  });
});
