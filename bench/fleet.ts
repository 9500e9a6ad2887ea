// Benchmark of fleet mode (issue 18): `runicorn remote` over 3 real sshd hosts on loopback × 10,000 runs each (`--local`: 3 local viewers under `serve --upstream`).
import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyBinary } from "../test/remote/helpers.ts";
import { startSshd, type TestSshd } from "../test/remote/sshd.ts";
import { finish, miss, report, reportValue, spawnServe, time } from "./lib.ts";
import { rssMb } from "./scale.ts";

const N = Number(process.env.BENCH_RUNS ?? 10000);
/** How long a downed host's sshd stays down before it listens again. */
const DOWN_MS = Number(process.env.BENCH_DOWN_S ?? 5) * 1000;
const LOCAL = process.argv.includes("--local");
const HOSTS = 3;
const LABELS = Array.from({ length: HOSTS }, (_, h) => `gpu-${h}`);
const base = join(tmpdir(), `rn-bench-fleet-${process.pid}`);
const envFor = (home: string) => ({ PATH: process.env.PATH ?? "/usr/bin:/bin", USER: process.env.USER ?? "root", HOME: home, XDG_CONFIG_HOME: join(home, ".config"), XDG_CACHE_HOME: join(home, ".cache") });

/** Writes N runs as SDK 0.6 would (meta, status, summary, events); ids differ per host except every 100th, which all hosts share (copied data). */
function generate(root: string, host: number): void {
  const statuses = ["finished", "finished", "finished", "failed", "running"];
  for (let i = 0; i < N; i++) {
    const path = `team${i % 5}/project${Math.floor(i / 5) % 10}`;
    const day = i % 100 === 0 ? "20250100" : `2025010${host + 1}`;
    const id = `${day}_${String(100000 + (i % 900000)).slice(-6)}_${((i * 2654435761) % 0xffffff).toString(16).padStart(6, "0")}`;
    const dir = join(root, "runs", path, id);
    mkdirSync(dir, { recursive: true });
    const created = 1735689600 + i * HOSTS + host;
    writeFileSync(join(dir, "meta.json"), JSON.stringify({ id, path, alias: null, created_at: created, python: "3.11.2", platform: "Linux", hostname: `host${host}`, pid: 100 + i }));
    const status = statuses[i % statuses.length];
    writeFileSync(join(dir, "status.json"), JSON.stringify(status === "running" ? { status, started_at: created } : { status, started_at: created, ended_at: created + 60 }));
    writeFileSync(join(dir, "summary.json"), JSON.stringify({ best_metric_value: (i % 1000) / 1000, best_metric_name: "acc" }));
    writeFileSync(join(dir, "events.jsonl"), `{"ts": ${created}, "type": "metrics", "data": {"loss": 0.5, "global_step": 1, "time": ${created}}}\n`);
  }
}

/** Reads a child's stdout until `re` matches; keeps draining it afterwards. */
async function readUntil(stream: ReadableStream<Uint8Array>, re: RegExp, what: string): Promise<RegExpExecArray> {
  const reader = stream.getReader();
  let out = "";
  for (;;) {
    const m = re.exec(out);
    if (m) {
      reader.releaseLock();
      void stream.pipeTo(new WritableStream()).catch(() => undefined);
      return m;
    }
    const { value, done } = await reader.read();
    if (done) throw new Error(`${what} ended: ${out}`);
    out += new TextDecoder().decode(value);
  }
}

/** One way of taking a host down and bringing it back; `back` resolves at the moment it is available again (null: the fleet restarts it itself). */
interface Fault {
  name: string;
  host: number;
  down(): Promise<void>;
  back(): Promise<number | null>;
}

/** What the measuring part needs from either setup. */
interface Setup {
  url: string;
  /** The process that serves the merged API (for its RSS). */
  pid: number;
  roots: string[];
  faults: Fault[];
  stop(): Promise<void>;
}

/** Three local viewers merged by `runicorn serve --upstream` (no SSH): the cheap mode. */
async function localSetup(): Promise<Setup> {
  const roots = LABELS.map((l) => join(base, l, "root"));
  roots.forEach((r, h) => generate(r, h));
  const viewers = await Promise.all(roots.map((r, h) => spawnServe(r, envFor(join(base, LABELS[h], "home")))));
  const ports = viewers.map((v) => Number(new URL(v.url).port));
  const fleetRoot = join(base, "fleet-root");
  mkdirSync(fleetRoot, { recursive: true });
  const fleet = await spawnServe(fleetRoot, envFor(join(base, "fleet-home")), viewers.flatMap((v, h) => ["--upstream", `${LABELS[h]}=${v.url}`]));
  return {
    url: fleet.url,
    pid: fleet.proc.pid,
    roots,
    faults: [
      {
        name: "killed viewer",
        host: 1,
        async down() {
          viewers[1].proc.kill("SIGKILL");
          await viewers[1].proc.exited;
        },
        async back() {
          viewers[1] = await spawnServe(roots[1], envFor(join(base, LABELS[1], "home")), ["--port", String(ports[1])]);
          return performance.now();
        },
      },
    ],
    async stop() {
      for (const p of [fleet, ...viewers]) {
        p.proc.kill();
        await p.proc.exited;
      }
    },
  };
}

/** The remote viewer's pid on `sshd`, from the guard's pid file (the viewer started by `runicorn remote`). */
function viewerPid(sshd: TestSshd): number | undefined {
  for (const d of readdirSync(sshd.remoteTmp).filter((n) => n.startsWith("runicorn-viewer."))) {
    try {
      const pid = Number(readFileSync(join(sshd.remoteTmp, d, "viewer.pid"), "utf8").trim());
      process.kill(pid, 0);
      return pid;
    } catch {
      continue; // a guard dir being created or removed, or a viewer already gone
    }
  }
  return undefined;
}

/** Three real sshd on 127.0.0.1, three `~/.ssh/config` aliases, `runicorn remote gpu-0 gpu-1 gpu-2` deploying dist/runicorn to each. */
async function sshdSetup(): Promise<Setup> {
  const sshds = await Promise.all(LABELS.map(() => startSshd()));
  const roots = sshds.map((s, h) => join(s.remoteHome, `root${h}`));
  roots.forEach((r, h) => generate(r, h));
  const bin = copyBinary();
  const home = join(base, "client-home");
  mkdirSync(join(home, ".ssh"), { recursive: true, mode: 0o700 });
  writeFileSync(
    join(home, ".ssh", "config"),
    sshds.map((s, h) => `Host ${LABELS[h]}\n  HostName 127.0.0.1\n  Port ${s.port}\n  User ${s.user}\n  IdentityFile ${s.userKey}\n  IdentitiesOnly yes\n`).join(""),
  );
  writeFileSync(join(home, ".ssh", "known_hosts"), sshds.map((s) => `[127.0.0.1]:${s.port} ${s.hostPublicKey}\n`).join(""));
  const d0 = performance.now();
  const proc = Bun.spawn([bin.path, "remote", ...LABELS, ...LABELS.flatMap((l, h) => ["--root", `${l}=~/root${h}`]), "--no-browser"], {
    env: envFor(home),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const log: string[] = [];
  void (async () => {
    const r = proc.stderr.getReader();
    for (;;) {
      const { value, done } = await r.read();
      if (done) return;
      log.push(new TextDecoder().decode(value));
    }
  })();
  const url = (await readUntil(proc.stdout, /is at (http:\/\/\S+)/, "runicorn remote"))[1];
  // every host deployed (the 110 MB binary over SFTP) and online
  const deadline = performance.now() + 600_000;
  for (;;) {
    const f = (await fetch(`${url}/api/fleet`).then((r) => r.json())) as { hosts: { state: string }[] };
    if (f.hosts.every((h) => h.state === "online")) break;
    if (performance.now() > deadline || proc.exitCode !== null) throw new Error(`hosts not online: ${JSON.stringify(f)}\n${log.join("")}`);
    await Bun.sleep(200);
  }
  console.log(`runicorn remote: every host deployed and online after ${((performance.now() - d0) / 1000).toFixed(1)} s`);
  const killViewer = (h: number) => {
    const pid = viewerPid(sshds[h]);
    if (pid === undefined) throw new Error(`no viewer running on ${LABELS[h]}`);
    process.kill(pid, "SIGKILL");
  };
  return {
    url,
    pid: proc.pid,
    roots,
    faults: [
      {
        name: "killed viewer (the fleet restarts it)",
        host: 1,
        async down() {
          killViewer(1);
        },
        async back() {
          return null;
        },
      },
      {
        name: `sshd and viewer down ${DOWN_MS / 1000} s`,
        host: 2,
        async down() {
          await sshds[2].pause();
          killViewer(2);
        },
        async back() {
          await Bun.sleep(DOWN_MS);
          await sshds[2].resume();
          return performance.now();
        },
      },
    ],
    async stop() {
      proc.kill("SIGINT");
      const code = await proc.exited;
      const left = sshds.flatMap((s, h) => readdirSync(s.remoteTmp).map((n) => `${LABELS[h]}:${n}`));
      if (code !== 0 || left.length > 0) {
        console.log(`Ctrl-C: exit ${code}, left on the hosts: ${left.join(", ") || "nothing"}`);
        miss("Ctrl-C leaves nothing behind");
      } else console.log("Ctrl-C: exit 0, nothing left in any host's TMPDIR");
      await Promise.all(sshds.map((s) => s.stop()));
      bin.cleanup();
    },
  };
}

rmSync(base, { recursive: true, force: true });
mkdirSync(base, { recursive: true });
console.log(`fleet benchmark: ${LOCAL ? "3 local viewers (--local)" : "3 real sshd on 127.0.0.1 via runicorn remote"} × ${N} runs; load ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
const g0 = performance.now();
const setup = LOCAL ? await localSetup() : await sshdSetup();
const url = setup.url;
console.log(`set up (data generated, hosts online) in ${((performance.now() - g0) / 1000).toFixed(1)} s`);

async function listIds(): Promise<{ id: string; host: string }[]> {
  const r = await fetch(`${url}/api/runs`);
  return (await r.json()) as { id: string; host: string }[];
}
/** Waits until every host reports its index `ready` (X-Index-State of the merged list and each host in /api/fleet). */
async function indexReady(limitMs: number): Promise<void> {
  const t = performance.now();
  for (;;) {
    const r = await fetch(`${url}/api/runs?limit=1`);
    await r.arrayBuffer();
    const f = (await fetch(`${url}/api/fleet`).then((x) => x.json())) as { hosts: { state: string; index_state?: string }[] };
    if (r.headers.get("x-index-state") === "ready" && f.hosts.every((h) => h.state === "online" && (h.index_state ?? "ready") === "ready")) return;
    if (performance.now() - t > limitMs) throw new Error(`index not ready after ${limitMs} ms: ${JSON.stringify(f.hosts)}`);
    await Bun.sleep(100);
  }
}
const t0 = performance.now();
await indexReady(600_000);
console.log(`every host's index ready ${((performance.now() - t0) / 1000).toFixed(1)} s later`);
const all = await listIds();
reportValue(`merged list size (${HOSTS} × N runs)`, all.length, HOSTS * N, "runs", "higher");

const get = (p: string) => async () => {
  const r = await fetch(url + p);
  if (!r.ok) throw new Error(`${p}: ${r.status}`);
  await r.arrayBuffer();
};
report(`GET /api/runs (merged, ${HOSTS * N} runs) warm`, await time(get("/api/runs"), 20), 100);
report("GET /api/runs?limit=50&sort=created_time", await time(get("/api/runs?limit=50&sort=created_time&order=desc&include=summary"), 20), 100);
report("GET /api/runs/{qualified id}", await time(get(`/api/runs/${encodeURIComponent(all.find((r) => r.id.includes("--"))!.id)}`), 50), 20);

// a change on a host (a new run in its root) visible through the fleet's live socket
const ws = new WebSocket(url.replace("http", "ws") + "/api/live");
await new Promise((r) => (ws.onopen = r));
ws.send(JSON.stringify({ op: "subscribe_runs" }));
const seen = new Map<string, number>();
ws.onmessage = (ev) => {
  const m = JSON.parse(String(ev.data));
  if (m.type === "run_changed" && !seen.has(m.run_id)) seen.set(m.run_id, performance.now());
};
await Bun.sleep(300);
const changeMs: number[] = [];
for (let k = 0; k < 6; k++) {
  const h = k % HOSTS;
  const id = `20260101_00000${k}_bbbbb${k}`;
  const dir = join(setup.roots[h], "runs", "live", id);
  const t = performance.now();
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "meta.json"), JSON.stringify({ id, path: "live", created_at: Date.now() / 1000 }));
  writeFileSync(join(dir, "status.json"), JSON.stringify({ status: "running", started_at: Date.now() / 1000 }));
  appendFileSync(join(dir, "events.jsonl"), "");
  while (!seen.has(id) && performance.now() - t < 5000) await Bun.sleep(5);
  changeMs.push((seen.get(id) ?? performance.now()) - t);
}
report("new run on a host → run_changed on /api/live", changeMs, 1000);
ws.close();

// each fault: the host leaves the merged list, the others keep answering, and it comes back without user action
for (const f of setup.faults) {
  const label = LABELS[f.host];
  await f.down();
  const k0 = performance.now();
  while ((await listIds()).some((r) => r.host === label) && performance.now() - k0 < 10_000) await Bun.sleep(20);
  report(`${f.name}: out of the merged list`, [performance.now() - k0], 5000);
  const others = await time(get("/api/runs?limit=50&sort=created_time&order=desc"), 10, 1);
  report(`${f.name}: other hosts meanwhile (limit=50)`, others, 100);
  const available = (await f.back()) ?? performance.now();
  while (!(await listIds()).some((r) => r.host === label) && performance.now() - available < 60_000) await Bun.sleep(50);
  report(`${f.name}: back in the list after it is available`, [performance.now() - available], 15_000);
  await indexReady(120_000);
}
const after = await listIds();
reportValue("merged list size after the faults", after.length, HOSTS * N + 6, "runs", "higher");
reportValue(`RSS of the local server (${LOCAL ? "serve --upstream" : "runicorn remote"})`, await rssMb(setup.pid), 400, "MB", "lower");

await setup.stop();
rmSync(base, { recursive: true, force: true });
finish();
