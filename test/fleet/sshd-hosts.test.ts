// Per-host tokens and the filter language across hosts on real sshd hosts: viewers started over SSH with their own --token-file, reached through `ssh -L`, merged by `serve --upstream`.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { chmodSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { upstreamTokenEnvName } from "../../src/fleet/upstream-flag.ts";
import { isolatedEnv, PROJECT, tempDir, waitFor } from "../helpers/server.ts";
import { copyBinary } from "../remote/helpers.ts";
import { freePort, startSshd, type TestSshd } from "../remote/sshd.ts";
import { writeRun } from "./helpers.ts";

setDefaultTimeout(120_000);

const MAIN = join(PROJECT, "src", "cli", "main.ts");
const TOKENS = { "gpu-a": "tok-a-sshd-0123456789abcdef", "gpu-b": "tok-b-sshd-0123456789abcdef", "gpu-c": "tok-c-sshd-0123456789abcdef" } as const;
type Label = keyof typeof TOKENS;
type Item = { id: string; host: string; summary?: { acc?: number }; config?: { lr?: number } };

let a: TestSshd;
let b: TestSshd;
let bin: { path: string; cleanup(): void };
let tmp: ReturnType<typeof tempDir>;
/** Each host's viewer: the `ssh -L` client, the forwarded local port and the remote viewer's pid. */
const hosts = new Map<Label, { ssh: ReturnType<typeof Bun.spawn>; port: number; pid: number }>();
let fleetProc: ReturnType<typeof Bun.spawn> | undefined;
let fleetUrl: string;

/** Reads stdout until `re` matches. */
async function readUntil(stream: ReadableStream<Uint8Array>, re: RegExp, what: string): Promise<RegExpExecArray> {
  const reader = stream.getReader();
  let out = "";
  for (;;) {
    const m = re.exec(out);
    if (m) {
      reader.releaseLock();
      return m;
    }
    const { value, done } = await reader.read();
    if (done) throw new Error(`${what} ended: ${out}`);
    out += new TextDecoder().decode(value);
  }
}

/**
 * Starts `runicorn serve --token-file` on an sshd host over `ssh -L`: the token goes over the session's
 * stdin into a 0600 file there (never into an argv), the viewer's pid comes back on stdout.
 */
async function startHostViewer(sshd: TestSshd, label: Label, root: string): Promise<void> {
  const [local, remote] = [await freePort(), await freePort()];
  const tokFile = `$HOME/${label}.token`;
  const script = `umask 077; IFS= read -r t; printf '%s\\n' "$t" > "${tokFile}"; t=; echo "pid $$"; exec '${bin.path}' serve --root "$HOME/${root}" --host 127.0.0.1 --port ${remote} --token-file "${tokFile}" --log-level error`;
  const ssh = Bun.spawn(
    ["ssh", "-F", "/dev/null", "-p", String(sshd.port), "-i", sshd.userKey, "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", `UserKnownHostsFile=${join(sshd.clientHome, ".ssh", "known_hosts")}`, "-o", "StrictHostKeyChecking=yes", "-o", "ExitOnForwardFailure=yes", "-L", `${local}:127.0.0.1:${remote}`, `${sshd.user}@127.0.0.1`, script],
    { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: sshd.clientHome }, stdin: "pipe", stdout: "pipe", stderr: "pipe" },
  );
  ssh.stdin.write(`${TOKENS[label]}\n`);
  await ssh.stdin.flush();
  const pid = Number((await readUntil(ssh.stdout, /pid (\d+)\n/, `ssh to ${label}`))[1]);
  hosts.set(label, { ssh, port: local, pid });
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${local}/api/health`, { headers: { authorization: `Bearer ${TOKENS[label]}` } }).catch(() => undefined))?.ok,
    30_000,
    `${label}'s viewer through the forward`,
  );
}

beforeAll(async () => {
  [a, b] = await Promise.all([startSshd(), startSshd()]);
  bin = copyBinary();
  tmp = tempDir("rn-fleet-sshd-");
  for (const s of [a, b]) writeFileSync(join(s.clientHome, ".ssh", "known_hosts"), `[127.0.0.1]:${s.port} ${s.hostPublicKey}\n`);
  // three roots of five runs each; accuracy and learning rate interleave across hosts, gpu-c has no lr
  const roots: [TestSshd, Label, string][] = [[a, "gpu-a", "ra"], [b, "gpu-b", "rb"], [b, "gpu-c", "rc"]];
  roots.forEach(([s, , root], h) => {
    for (let i = 0; i < 5; i++) {
      const n = h * 5 + i;
      const dir = writeRun(join(s.remoteHome, root), h === 2 ? "nlp/bert" : "vision/resnet", `2025010${h + 1}_00000${i}_ddddd${h}`, { created: 1800000000 + ((n * 7) % 15) });
      writeFileSync(join(dir, "summary.json"), JSON.stringify({ best_metric_value: n, best_metric_name: "acc", acc: ((n * 11) % 15) / 15 }));
      if (h < 2) writeFileSync(join(dir, "assets.json"), JSON.stringify({ config: { args: { lr: [0.1, 0.01, 0.001][n % 3], seed: n } } }));
    }
  });
  await Promise.all(roots.map(([s, label, root]) => startHostViewer(s, label, root)));

  // the merging server: gpu-a's token from a 0600 file, gpu-b's from the environment, gpu-c given gpu-a's (wrong there)
  const fileA = join(tmp.dir, "gpu-a.token");
  writeFileSync(fileA, TOKENS["gpu-a"] + "\n");
  chmodSync(fileA, 0o600);
  const env = isolatedEnv(join(tmp.dir, "cli"), { [upstreamTokenEnvName("gpu-b")]: TOKENS["gpu-b"], [upstreamTokenEnvName("gpu-c")]: TOKENS["gpu-a"] });
  const url = (l: Label) => `http://127.0.0.1:${hosts.get(l)!.port}`;
  fleetProc = Bun.spawn(
    [process.execPath, MAIN, "serve", "--root", join(tmp.dir, "local"), "--port", "0", "--upstream", `gpu-a=${url("gpu-a")}`, "--upstream-token", `gpu-a=@${fileA}`, "--upstream", `gpu-b=${url("gpu-b")}`, "--upstream", `gpu-c=${url("gpu-c")}`],
    { env, stdout: "pipe", stderr: "pipe" },
  );
  fleetUrl = (await readUntil(fleetProc.stdout as ReadableStream<Uint8Array>, /listening on (http:\/\/\S+)/, "the fleet server"))[1];
});

afterAll(async () => {
  fleetProc?.kill();
  await fleetProc?.exited;
  for (const h of hosts.values()) {
    try {
      process.kill(h.pid, "SIGTERM");
    } catch {
      // already gone with its session
    }
    h.ssh.kill();
    await h.ssh.exited;
  }
  await Promise.all([a?.stop(), b?.stop()]);
  bin?.cleanup();
  tmp?.cleanup();
});

type FleetHosts = { hosts: { host: string; state: string; reason: string | null; attempts: number }[] };
const fleetHosts = async () => (await fetch(`${fleetUrl}/api/fleet`).then((r) => r.json())) as FleetHosts;

async function fleetList(query: string) {
  const r = await fetch(`${fleetUrl}/api/runs?${query}`);
  const body = await r.json();
  expect(r.status, JSON.stringify(body)).toBe(200);
  return { items: body as Item[], total: Number(r.headers.get("x-total-count")) };
}

/** The union of each host's own answer to `filter`, asked through its forward with its token. */
async function union(filter: string, labels: Label[]): Promise<Item[]> {
  const out: Item[] = [];
  for (const label of labels) {
    const res = await fetch(`http://127.0.0.1:${hosts.get(label)!.port}/api/runs?include=summary,config&filter=${encodeURIComponent(filter)}`, { headers: { authorization: `Bearer ${TOKENS[label]}` } });
    expect(res.status).toBe(200);
    for (const r of (await res.json()) as Item[]) out.push({ ...r, host: label });
  }
  return out;
}

describe("fleet over sshd hosts with their own tokens", () => {
  it("shows the host given a wrong token as unauthorized, the others online, and keeps every token out of every process's argv", async () => {
    const f = await waitFor(async () => {
      const x = await fleetHosts();
      const s = Object.fromEntries(x.hosts.map((h) => [h.host, h.state]));
      return s["gpu-a"] === "online" && s["gpu-b"] === "online" && s["gpu-c"] === "offline" ? x : undefined;
    }, 30_000, "gpu-a and gpu-b online, gpu-c offline") as FleetHosts;
    expect(f.hosts.find((h) => h.host === "gpu-c")!.reason).toBe("unauthorized");
    const runs = (await fleetList("")).items;
    expect(new Set(runs.map((r) => r.host))).toEqual(new Set(["gpu-a", "gpu-b"]));
    expect(runs.length).toBe(10);
    // the right token works on gpu-c itself: only the fleet's was wrong
    expect((await union("summary.acc >= 0", ["gpu-c"])).length).toBe(5);
    // no process on this machine (the fleet server, ssh clients, sshd sessions, the viewers) carries a token in its argv
    const leaks: string[] = [];
    for (const pid of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
      let cmd = "";
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      } catch {
        continue; // exited meanwhile
      }
      for (const tok of Object.values(TOKENS)) if (cmd.includes(tok)) leaks.push(`${pid}: ${cmd.replace(/\0/g, " ")}`);
    }
    expect(leaks).toEqual([]);
    expect(readFileSync(`/proc/${hosts.get("gpu-a")!.pid}/cmdline`, "utf8")).toContain("--token-file");
    // a wrong token does not fix itself: not retried in the backoff loop
    await Bun.sleep(3000);
    const later = (await fleetHosts()).hosts.find((h) => h.host === "gpu-c")!;
    expect(later).toMatchObject({ state: "offline", reason: "unauthorized", attempts: f.hosts.find((h) => h.host === "gpu-c")!.attempts });
  });

  it("answers a filter with the union of the online hosts' own answers, sorted across hosts", async () => {
    const expr = "config.lr <= 0.01 or summary.acc > 0.5";
    const expected = (await union(expr, ["gpu-a", "gpu-b"])).sort((x, y) => y.summary!.acc! - x.summary!.acc!);
    expect(new Set(expected.map((r) => r.host)).size).toBe(2);
    const got = await fleetList(`filter=${encodeURIComponent(expr)}&sort=summary.acc&order=desc&include=summary`);
    expect(got.items.map((r) => `${r.host}/${r.id}`)).toEqual(expected.map((r) => `${r.host}/${r.id}`));
    expect(got.total).toBe(expected.length);
    const page = await fleetList(`filter=${encodeURIComponent("summary.acc >= 0")}&sort=created_at&order=asc&limit=3&offset=4`);
    expect(page.total).toBe(10);
    expect(page.items.length).toBe(3);
  });

  it("evaluates host on the merging server and sends each host only the rest", async () => {
    const onlyB = await fleetList(`filter=${encodeURIComponent('host == "gpu-b" and config.lr > 0.005')}`);
    const expectedB = await union("config.lr > 0.005", ["gpu-b"]);
    expect(onlyB.items.map((r) => r.id).sort()).toEqual(expectedB.map((r) => r.id).sort());
    expect(onlyB.items.every((r) => r.host === "gpu-b")).toBe(true);
    const mixed = await fleetList(`filter=${encodeURIComponent('host ~ "*-a" or summary.acc > 0.5')}`);
    const expected = [...(await union("summary.acc >= 0", ["gpu-a"])), ...(await union("summary.acc > 0.5", ["gpu-b"]))];
    expect(mixed.items.map((r) => `${r.host}/${r.id}`).sort()).toEqual(expected.map((r) => `${r.host}/${r.id}`).sort());
  });
});
