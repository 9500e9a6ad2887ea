// The TypeScript SDK's server mode (RUNICORN_SERVER / init({ server })): the run's staging copy is cut into
// sequenced batches in the same spool as the Python SDK's (remote_sink.py), uploaded in order in the background.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync, openSync, readSync, closeSync } from "node:fs";
import { join } from "node:path";
import { spoolRoot, stagingRoot, uploadSpoolDir } from "../ingest/client.ts";
import type { Env } from "./locate.ts";

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
const BUDGET = 4 * 1024 * 1024;

/** The staging root of a run sent to a server (shared with the Python SDK). */
export function remoteStagingRoot(env: Env, homeDir: string): string {
  return stagingRoot(env, homeDir);
}

function writeAtomic(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

/** Cuts a run's staging copy into spooled batches and uploads them; `close()` waits a bounded time. */
export class RemoteShipper {
  private readonly spool: string;
  private readonly offsets: Record<string, number> = {};
  private readonly whole: Record<string, string> = {};
  private readonly media = new Set<string>();
  private seq = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  private draining: Promise<boolean> | undefined;
  /** Resolves with true once everything reached the server after finish(), false when the bound ran out. */
  done: Promise<boolean> | undefined;

  constructor(
    private readonly runId: string,
    path: string,
    private readonly runDir: string,
    private readonly server: string,
    private readonly token: string | undefined,
    private readonly env: Env,
    private readonly homeDir: string,
  ) {
    this.spool = join(spoolRoot(env, homeDir), runId);
    mkdirSync(this.spool, { recursive: true });
    const obj = (n: string) => {
      try {
        return JSON.parse(readFileSync(join(runDir, n), "utf8"));
      } catch {
        return {};
      }
    };
    for (const [file] of WHOLE) if (existsSync(join(runDir, file))) this.whole[file] = readFileSync(join(runDir, file), "utf8");
    const create = { run_id: runId, path, meta: obj("meta.json"), status: obj("status.json"), assets: obj("assets.json") };
    writeAtomic(join(this.spool, "run.json"), JSON.stringify({ server, run_id: runId, path, run_dir: runDir, create }));
    this.timer = setInterval(() => this.tick(), 500);
    this.timer.unref?.();
  }

  private tick(): void {
    while (this.cut());
    if (!this.draining) this.draining = this.drain().finally(() => (this.draining = undefined));
  }

  private drain(): Promise<boolean> {
    return uploadSpoolDir(this.spool, this.server, this.token, remoteStagingRoot(this.env, this.homeDir), true).then((r) => !r.error);
  }

  /** Puts what is new into the next spooled batch; false when nothing was. */
  cut(): boolean {
    const parts: string[] = [];
    const seen: string[] = [];
    let budget = BUDGET;
    for (const [file, field] of APPENDED) {
      const p = join(this.runDir, file);
      if (!existsSync(p)) continue;
      const off = this.offsets[file] ?? 0;
      const size = statSync(p).size;
      if (size <= off) continue;
      const buf = Buffer.alloc(Math.min(size - off, Math.max(1, budget)));
      const fd = openSync(p, "r");
      const n = readSync(fd, buf, 0, buf.length, off);
      closeSync(fd);
      const end = buf.subarray(0, n).lastIndexOf(10);
      if (end < 0) continue;
      budget -= end + 1;
      this.offsets[file] = off + end + 1;
      const lines = buf.subarray(0, end + 1).toString("utf8").split("\n").slice(0, -1);
      seen.push(...lines);
      const kept = field === "logs" ? lines.map((l) => JSON.stringify(l)) : lines.filter((l) => l.trim() !== "");
      if (kept.length) parts.push(`"${field}": [${kept.join(", ")}]`);
    }
    const text = seen.join("\n");
    const media: string[] = [];
    const mdir = join(this.runDir, "media");
    for (const m of existsSync(mdir) ? readdirSync(mdir).sort() : []) {
      // the SDK writes a media file whole before the event naming it
      if (!this.media.has(m) && (text.includes(m) || this.timer === undefined)) {
        this.media.add(m);
        media.push(m);
      }
    }
    // a table's image cells are named in its .table.json (written after them), not in events.jsonl
    for (const m of media.filter((n) => n.endsWith(".table.json"))) {
      for (const ref of readFileSync(join(mdir, m), "utf8").matchAll(/"path": "media\/([^"\\/]+)"/g)) {
        if (!this.media.has(ref[1]) && existsSync(join(mdir, ref[1]))) {
          this.media.add(ref[1]);
          media.unshift(ref[1]);
        }
      }
    }
    for (const [file, field] of WHOLE) {
      const p = join(this.runDir, file);
      if (!existsSync(p)) continue;
      const t = readFileSync(p, "utf8");
      if (t === this.whole[file] || !/^\s*\{/.test(t)) continue;
      this.whole[file] = t;
      parts.push(`"${field}": ${t}`);
    }
    if (!parts.length && !media.length) return false;
    this.seq++;
    const stem = String(this.seq).padStart(6, "0");
    if (media.length) writeAtomic(join(this.spool, `${stem}.media`), media.join("\n"));
    writeAtomic(join(this.spool, `${stem}.json`), parts.length ? `{"seq": ${this.seq}, ${parts.join(", ")}}` : `{"seq": ${this.seq}}`);
    return true;
  }

  /** After finish(): the last cut, then uploads for at most `timeoutMs` (the process stays alive that long at most). */
  close(timeoutMs: number): Promise<boolean> {
    if (this.done) return this.done;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    while (this.cut());
    const deadline = Date.now() + timeoutMs;
    this.done = (async () => {
      await this.draining;
      for (;;) {
        const r = await uploadSpoolDir(this.spool, this.server, this.token, remoteStagingRoot(this.env, this.homeDir));
        if (!r.error && !r.rejected) return true;
        if (Date.now() + 250 >= deadline) break;
        await Bun.sleep(250);
      }
      const left = existsSync(this.spool) ? readdirSync(this.spool).filter((n) => /^\d+\.json$/.test(n)).length : 0;
      process.stderr.write(
        `runicorn: ${left} batch(es) of run ${this.runId} not yet uploaded to ${this.server}; they wait in ${this.spool} and \`runicorn sync\` will upload them\n`,
      );
      return false;
    })();
    return this.done;
  }
}
