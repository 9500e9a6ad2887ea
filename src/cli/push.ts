// `runicorn push`: uploads runs of a local storage root to a server through the ingest API, sending only what is new.
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync } from "node:fs";
import { hostname as osHostname } from "node:os";
import { join } from "node:path";
import { expandPath, loadConfig } from "../config/config.ts";
import { resolveToken } from "../config/token.ts";
import { IngestClient, userCacheDir } from "../ingest/client.ts";
import { deathReason, lastSignOfLife } from "../index/liveness.ts";
import { discoverRuns } from "../store/discover.ts";
import { writeJsonAtomic } from "../store/run-files.ts";
import { flagHelp, parseArgs, ROOT_FLAGS, type FlagSpec, UsageError } from "./args.ts";

type Env = Record<string, string | undefined>;

const FLAGS: FlagSpec[] = [
  { name: "server", kind: "string", valueName: "URL", help: "the server to send to (http://host:port)" },
  { name: "path", kind: "string", valueName: "P", help: "only runs under this experiment path" },
  { name: "token-file", kind: "string", valueName: "FILE", help: "the server's API token (default: $RUNICORN_TOKEN)" },
  ...ROOT_FLAGS,
  { name: "help", short: "h", kind: "boolean", help: "show this help" },
];

const APPENDED = [
  ["events.jsonl", "events"],
  ["logs.txt", "logs"],
  ["system.jsonl", "system"],
  ["histograms.jsonl", "histograms"],
] as const;
const WHOLE = [
  ["status.json", "status"],
  ["summary.json", "summary"],
  ["meta.json", "meta"],
  ["assets.json", "assets"],
] as const;
/** Bytes of lines per batch (the server takes 8 MiB). */
const BUDGET = 4 * 1024 * 1024;

/** What was sent of one run to one server: its last seq, the bytes of each appended file, the JSON files' hashes, media. */
interface PushState {
  seq: number;
  offsets: Record<string, number>;
  whole: Record<string, string>;
  media: string[];
}

/**
 * Runs of a root as the file mode finds them (src/store/discover.ts: runs/<path>/<id> and the legacy
 * <project>/<name>/runs/<id>), in scan order, the first of a repeated id only; soft-deleted runs stay home.
 */
function localRuns(root: string): { id: string; path: string; dir: string }[] {
  const seen = new Set<string>();
  const out: { id: string; path: string; dir: string }[] = [];
  for (const e of discoverRuns(root)) {
    if (seen.has(e.id) || existsSync(join(e.dir, ".deleted"))) continue;
    seen.add(e.id);
    out.push({ id: e.id, path: e.entryPath ?? "", dir: e.dir });
  }
  return out;
}

/**
 * A run's status as the file mode would serve it: a `running` run whose process is gone from this machine
 * (or whose heartbeat is lost) is failed, ended at its last sign of life (src/index/liveness.ts). The team
 * server cannot see this machine's processes, so push sends the verdict; status.json itself is not changed.
 */
function servedStatus(dir: string, status: Record<string, unknown>, meta: Record<string, unknown>, now = Date.now() / 1000): Record<string, unknown> {
  if (status.status !== "running") return status;
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : null);
  const facts = {
    run_dir: dir,
    has_meta: existsSync(join(dir, "meta.json")),
    pid: typeof meta.pid === "number" && Number.isInteger(meta.pid) ? meta.pid : null,
    hostname: typeof meta.hostname === "string" ? meta.hostname : null,
    heartbeat_at: num(status.heartbeat_at),
  };
  const reason = deathReason(facts, now, osHostname());
  if (!reason) return status;
  return { ...status, status: "failed", ended_at: lastSignOfLife(dir, facts.heartbeat_at, now), exit_reason: reason };
}

/** Complete lines of `file` from `offset`, about `budget` bytes at most. */
function newLines(file: string, offset: number, budget: number): { lines: string[]; bytes: number } {
  if (!existsSync(file)) return { lines: [], bytes: 0 };
  const fd = openSync(file, "r");
  try {
    const buf = Buffer.alloc(Math.max(0, Math.min(budget, statSync(file).size - offset)));
    const n = buf.length ? readSync(fd, buf, 0, buf.length, offset) : 0;
    const end = buf.subarray(0, n).lastIndexOf(10);
    if (end < 0) return { lines: [], bytes: 0 };
    const text = buf.subarray(0, end + 1).toString("utf8");
    return { lines: text.split("\n").slice(0, -1), bytes: end + 1 };
  } finally {
    closeSync(fd);
  }
}

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

/** Sends what is new of one run; returns the number of batches sent. */
async function pushRun(client: IngestClient, run: { id: string; path: string; dir: string }, statePath: string): Promise<number> {
  const read = (n: string) => (existsSync(join(run.dir, n)) ? readFileSync(join(run.dir, n), "utf8") : undefined);
  const obj = (n: string) => {
    try {
      const v = JSON.parse(read(n) ?? "{}");
      return v && typeof v === "object" && !Array.isArray(v) ? v : {};
    } catch {
      return {};
    }
  };
  let state: PushState = existsSync(statePath) ? JSON.parse(readFileSync(statePath, "utf8")) : { seq: 0, offsets: {}, whole: {}, media: [] };
  const onDisk = obj("status.json");
  const served = servedStatus(run.dir, onDisk, obj("meta.json"));
  // true when this machine knows the run crashed and status.json does not say so yet
  const derived = served !== onDisk;
  const created = await client.createRun(JSON.stringify({ run_id: run.id, path: run.path, meta: obj("meta.json"), status: served, assets: obj("assets.json") }));
  if (created.last_seq !== state.seq) {
    if (created.last_seq !== 0) throw new Error(`the server has ${created.last_seq} batches of this run but this machine remembers sending ${state.seq}; not sending it twice`);
    state = { seq: 0, offsets: {}, whole: {}, media: [] }; // a server that lost the run (or a new one): everything again
  }
  const mediaDir = join(run.dir, "media");
  for (const m of existsSync(mediaDir) ? readdirSync(mediaDir).sort() : []) {
    if (state.media.includes(m) || !statSync(join(mediaDir, m)).isFile() || !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/.test(m) || m.includes("..")) continue;
    await client.putMedia(run.id, m, readFileSync(join(mediaDir, m)));
    state.media.push(m);
  }
  let sent = 0;
  for (;;) {
    const parts: string[] = [];
    const offsets = { ...state.offsets };
    let budget = BUDGET;
    for (const [file, field] of APPENDED) {
      const { lines, bytes } = newLines(join(run.dir, file), offsets[file] ?? 0, Math.max(1, budget));
      budget -= bytes;
      offsets[file] = (offsets[file] ?? 0) + bytes;
      const kept = field === "logs" ? lines.map((l) => JSON.stringify(l)) : lines.filter((l) => l.trim() !== "");
      if (kept.length) parts.push(`"${field}": [${kept.join(", ")}]`);
    }
    const whole = { ...state.whole };
    for (const [file, field] of WHOLE) {
      const text = read(file);
      if (text === undefined || whole[file] === sha(text)) continue;
      whole[file] = sha(text);
      if (!/^\s*\{/.test(text)) continue;
      // a crashed run's status goes as the file mode serves it (its text is the SDK's, NaN tokens and all, otherwise)
      parts.push(`"${field}": ${file === "status.json" && derived ? JSON.stringify(served) : text}`);
    }
    if (!parts.length) break;
    const seq = state.seq + 1;
    await client.postBatch(run.id, `{"seq": ${seq}, ${parts.join(", ")}}`);
    state = { ...state, seq, offsets, whole };
    writeJsonAtomic(statePath, state);
    sent++;
  }
  writeJsonAtomic(statePath, state);
  return sent;
}

/** Runs `runicorn push`; 0 when every run is up to date on the server. */
export async function pushCommand(argv: string[], env: Env, out = (l: string) => console.log(l), err = (l: string) => console.error(l)): Promise<number> {
  const { flags, positionals } = parseArgs(argv, FLAGS, "push");
  if (flags.help) {
    out(`Usage: runicorn push --server URL [--path P] [--root DIR] [RUN_ID…]\n\nUploads local runs to a server; a second push sends only what is new.\n\nOptions:\n${flagHelp(FLAGS)}`);
    return 0;
  }
  const server = flags.server as string | undefined;
  if (!server || !/^https?:\/\/[^/\s]+/.test(server)) throw new UsageError("push needs --server http://host:port");
  const config = loadConfig({}, env);
  const rootFlag = (flags.root ?? flags.storage) as string | undefined;
  const root = rootFlag ? expandPath(rootFlag, config.homeDir, process.cwd()) : config.root;
  const token = resolveToken({ tokenFile: flags["token-file"] as string | undefined }, env, config.homeDir, process.cwd())?.token;
  const prefix = ((flags.path as string | undefined) ?? "").replace(/^\/+|\/+$/g, "");
  const wanted = new Set(positionals);
  const runs = localRuns(root).filter(
    (r) => (!prefix || r.path === prefix || r.path.startsWith(prefix + "/")) && (wanted.size === 0 || wanted.has(r.id)),
  );
  for (const id of wanted) if (!runs.some((r) => r.id === id)) err(`${id}: no such run under ${root}`);
  const client = new IngestClient(server, token);
  const stateDir = join(userCacheDir(env, config.homeDir), "runicorn", "push", sha(client.server).slice(0, 16));
  mkdirSync(stateDir, { recursive: true });
  let failed = wanted.size - runs.filter((r) => wanted.has(r.id)).length;
  let total = 0;
  for (const [i, run] of runs.entries()) {
    const label = `[${i + 1}/${runs.length}] ${run.path ? run.path + "/" : ""}${run.id}`;
    try {
      const n = await pushRun(client, run, join(stateDir, `${run.id}.json`));
      total += n;
      out(n ? `${label}: ${n} batch(es) sent` : `${label}: up to date`);
    } catch (e) {
      failed++;
      err(`${label}: ${(e as Error).message}`);
    }
  }
  out(`${runs.length} run(s), ${total} batch(es) sent to ${client.server}`);
  return failed ? 1 : 0;
}
