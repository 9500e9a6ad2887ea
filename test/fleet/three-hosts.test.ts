// `runicorn remote a b c` (the compiled binary) over three real sshd: the original SDK's fixture on a, ids colliding with a's on b, a small root on c; the merged list against each host's own viewer, a filter and a sort, Ctrl-C.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { copyFixture, FIXTURES, tempDir, waitFor } from "../helpers/server.ts";
import { copyBinary } from "../remote/helpers.ts";
import { startSshd, type TestSshd } from "../remote/sshd.ts";

setDefaultTimeout(300_000);

const LABELS = ["gpu-a", "gpu-b", "gpu-c"] as const;
/** The runs of rn-probe that host b holds too (copied data): their ids collide. */
const COPIED = "cv/yolo";

type Item = { id: string; host?: string; path: string | null; created_time: number | null; [k: string]: unknown };
/** Each host's own viewer, reached directly on the host's loopback with the token its guard wrote. */
type OwnViewer = { label: string; url: string; token: string };

let hosts: TestSshd[] = [];
let bin: { path: string; cleanup(): void };
let tmp: ReturnType<typeof tempDir>;
let proc: ReturnType<typeof Bun.spawn> | undefined;
let url: string;
const err: string[] = [];

/** The viewer `runicorn remote` started on `sshd`: its port from the log line it printed, its token from the guard's 0600 file. */
function ownViewer(label: string, sshd: TestSshd): OwnViewer {
  const dirs = readdirSync(sshd.remoteTmp).filter((n) => n.startsWith("runicorn-viewer."));
  expect(dirs.length).toBe(1);
  const d = join(sshd.remoteTmp, dirs[0]!);
  const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(readFileSync(join(d, "viewer.log"), "utf8"));
  if (!m) throw new Error(`${label}: the viewer did not say where it listens`);
  return { label, url: m[1]!, token: readFileSync(join(d, "token"), "utf8").trim() };
}

async function ownGet(v: OwnViewer, path: string): Promise<unknown> {
  const res = await fetch(v.url + path, { headers: { authorization: `Bearer ${v.token}` } });
  expect(res.status).toBe(200);
  return await res.json();
}

/** `v` with every `id`/`run_id` equal to `from` reading `to`: the host's answer as the fleet should relay it. */
function withId(v: unknown, from: string, to: string): unknown {
  if (Array.isArray(v)) return v.map((x) => withId(x, from, to));
  if (!v || typeof v !== "object") return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, (k === "id" || k === "run_id") && x === from ? to : withId(x, from, to)]));
}

beforeAll(async () => {
  hosts = await Promise.all(LABELS.map(() => startSshd()));
  bin = copyBinary();
  tmp = tempDir("rn-fleet-three-");
  const [a, b, c] = hosts as [TestSshd, TestSshd, TestSshd];
  // a: the original SDK's fixture root; b: another fixture root plus a copy of a's cv/yolo runs (same ids); c: a small root of its own
  copyFixture("rn-probe", join(a.remoteHome, "root"));
  copyFixture("rn-data2", join(b.remoteHome, "root"));
  copyFixture(join("rn-probe", "runs", COPIED), join(b.remoteHome, "root", "runs", COPIED));
  copyFixture("rn-data", join(c.remoteHome, "root"));
  const home = join(tmp.dir, "home");
  mkdirSync(join(home, ".ssh"), { recursive: true, mode: 0o700 });
  writeFileSync(
    join(home, ".ssh", "config"),
    hosts.map((s, i) => `Host ${LABELS[i]}\n  HostName 127.0.0.1\n  Port ${s.port}\n  User ${s.user}\n  IdentityFile ${s.userKey}\n  IdentitiesOnly yes\n`).join(""),
  );
  writeFileSync(join(home, ".ssh", "known_hosts"), hosts.map((s) => `[127.0.0.1]:${s.port} ${s.hostPublicKey}\n`).join(""));
  proc = Bun.spawn([bin.path, "remote", ...LABELS, "--root", "~/root", "--no-browser"], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, USER: a.user, XDG_CONFIG_HOME: join(home, ".config") },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  void (async () => {
    const r = (proc!.stderr as ReadableStream<Uint8Array>).getReader();
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
  await Promise.all(hosts.map((h) => h.stop()));
  bin?.cleanup();
  tmp?.cleanup();
});

describe("runicorn remote over three sshd hosts", () => {
  it("lists every run of the three hosts with its host, qualifies the colliding ids, answers each id as its host's own viewer does, filters and sorts the merged list, and leaves nothing in any host's TMPDIR on Ctrl-C", async () => {
    // every host deployed, online and indexed
    await waitFor(
      async () => {
        const f = (await fetch(`${url}/api/fleet`).then((r) => r.json())) as { hosts: { host: string; state: string; index_state?: string }[] };
        const res = await fetch(`${url}/api/runs`);
        return f.hosts.length === 3 && f.hosts.every((h) => h.state === "online" && (h.index_state ?? "ready") === "ready") && res.headers.get("x-index-state") === "ready";
      },
      240_000,
      `three hosts online and indexed (${err.join("")})`,
    );
    const own = LABELS.map((l, i) => ownViewer(l, hosts[i]!));
    const ownLists = await Promise.all(own.map(async (v) => (await ownGet(v, "/api/runs")) as Item[]));
    const [aIds, bIds, cIds] = ownLists.map((l) => new Set(l.map((r) => r.id))) as [Set<string>, Set<string>, Set<string>];
    expect(aIds.size).toBeGreaterThanOrEqual(5); // the fixture's runs, nested paths and the legacy layout
    const shared = [...aIds].filter((id) => bIds.has(id));
    // the copied runs both hosts list (one of them is in the recycle bin: `.deleted`, listed by neither)
    const listed = readdirSync(join(FIXTURES, "rn-probe", "runs", COPIED)).filter((id) => !existsSync(join(FIXTURES, "rn-probe", "runs", COPIED, id, ".deleted")));
    expect(shared.sort()).toEqual(listed.sort());
    expect(shared.length).toBeGreaterThan(0);
    expect([...cIds].some((id) => aIds.has(id) || bIds.has(id))).toBe(false);

    // the merged list: every run of every host, with its host; shared ids qualified for every holder, the rest plain
    const res = await fetch(`${url}/api/runs`);
    const merged = (await res.json()) as Item[];
    const total = ownLists.reduce((n, l) => n + l.length, 0);
    expect(merged.length).toBe(total);
    expect(res.headers.get("x-total-count")).toBe(String(total));
    const expected = ownLists.flatMap((l, i) => l.map((r) => `${LABELS[i]} ${shared.includes(r.id) ? `${LABELS[i]}--${r.id}` : r.id}`));
    expect(merged.map((r) => `${r.host} ${r.id}`).sort()).toEqual(expected.sort());
    expect(merged.filter((r) => r.id.includes("--")).length).toBe(shared.length * 2);

    // every listed id: the run and its metrics as the host's own viewer gives them, under the fleet id
    for (const item of merged) {
      const h = LABELS.indexOf(item.host as (typeof LABELS)[number]);
      const hostId = item.id.includes("--") ? item.id.slice(item.id.indexOf("--") + 2) : item.id;
      for (const suffix of ["", "/metrics_step"]) {
        const got = await fetch(`${url}/api/runs/${encodeURIComponent(item.id)}${suffix}`);
        expect(got.status).toBe(200);
        const want = withId(await ownGet(own[h]!, `/api/runs/${encodeURIComponent(hostId)}${suffix}`), hostId, item.id);
        expect({ id: item.id, suffix, body: await got.json() }).toEqual({ id: item.id, suffix, body: want });
      }
    }
    // a plain id two hosts hold is ambiguous; a qualified one names its host
    expect((await fetch(`${url}/api/runs/${shared[0]}`)).status).toBe(409);

    // a filter over the merged list: host a and b's runs under cv/, each host evaluating its part
    const filter = encodeURIComponent('host != "gpu-c" and path ~ "cv/*"');
    const filtered = (await fetch(`${url}/api/runs?filter=${filter}`).then((r) => r.json())) as Item[] | { items: Item[] };
    const fItems = Array.isArray(filtered) ? filtered : filtered.items;
    const fWant = ownLists.flatMap((l, i) => (LABELS[i] === "gpu-c" ? [] : l.filter((r) => (r.path ?? "").startsWith("cv/")).map((r) => `${LABELS[i]} ${r.id}`)));
    expect(fWant.length).toBeGreaterThan(shared.length);
    expect(fItems.map((r) => `${r.host} ${r.id.replace(/^.*--/, "")}`).sort()).toEqual(fWant.sort());

    // a sort over the merged list: newest first across the three hosts, every run once
    const sorted = (await fetch(`${url}/api/runs?sort=created_time&order=desc`).then((r) => r.json())) as Item[];
    expect(sorted.map((r) => r.id).sort()).toEqual(merged.map((r) => r.id).sort());
    const times = sorted.map((r) => r.created_time ?? -Infinity);
    expect(times).toEqual([...times].sort((x, y) => y - x));
    expect(times.filter((t) => t !== -Infinity).length).toBeGreaterThan(1);
    // ordered by time, not host after host: the hosts interleave (the fixture roots were written at different times)
    expect(sorted.map((r) => r.host)).not.toEqual(merged.map((r) => r.host));

    // Ctrl-C: every viewer stopped, nothing left in any host's TMPDIR
    proc!.kill("SIGINT");
    expect(await proc!.exited).toBe(0);
    for (const h of hosts) expect(readdirSync(h.remoteTmp)).toEqual([]);
  });
});
