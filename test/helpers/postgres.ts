// A real, throwaway PostgreSQL for tests: `initdb` in a temp dir as the `postgres` user, started on a
// free 127.0.0.1 port (and a private unix-socket dir), stopped and deleted by `stop()`.
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The newest installed server's bin dir (Debian: /usr/lib/postgresql/<major>/bin). */
export function postgresBin(): string | undefined {
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) return undefined;
  const majors = readdirSync(base).filter((d) => existsSync(join(base, d, "bin", "postgres"))).sort((a, b) => Number(b) - Number(a));
  return majors.length ? join(base, majors[0], "bin") : undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function uidOf(user: string): { uid: number; gid: number } {
  const p = Bun.spawnSync(["id", "-u", user]);
  const g = Bun.spawnSync(["id", "-g", user]);
  if (p.exitCode !== 0) throw new Error(`no '${user}' user: install Debian's postgresql package`);
  return { uid: Number(p.stdout.toString()), gid: Number(g.stdout.toString()) };
}

/** A running throwaway cluster. */
export interface TestPostgres {
  /** `postgresql://postgres@127.0.0.1:PORT/postgres` */
  url: string;
  port: number;
  /** Creates a fresh database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Kills the server hard (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a throwaway PostgreSQL cluster (needs root, to run the server as `postgres`). */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBin();
  if (!bin) throw new Error("PostgreSQL is not installed (apt-get install postgresql)");
  const dir = mkdtempSync(join(tmpdir(), "rn-pg-"));
  const { uid, gid } = uidOf("postgres");
  chownSync(dir, uid, gid);
  const data = join(dir, "data");
  const asPg = (cmd: string[]) => ["runuser", "-u", "postgres", "--", ...cmd];
  const init = Bun.spawnSync(asPg([join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"]), { stdout: "pipe", stderr: "pipe" });
  if (init.exitCode !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${init.stderr.toString()}`);
  }
  const port = await freePort();
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
  const logFile = join(dir, "server.log");
  const start = Bun.spawnSync(asPg([join(bin, "pg_ctl"), "-D", data, "-o", opts, "-l", logFile, "-w", "-t", "60", "start"]), { stdout: "pipe", stderr: "pipe" });
  if (start.exitCode !== 0) {
    const log = existsSync(logFile) ? readFileSync(logFile, "utf8") : "";
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`postgres did not start: ${start.stderr.toString()} ${log}`);
  }
  const url = `postgresql://postgres@127.0.0.1:${port}/postgres`;
  let stopped = false;
  const stop = async (mode: "fast" | "kill") => {
    if (stopped) return;
    stopped = true;
    if (mode === "kill") {
      // SIGKILL the postmaster as a crash would; its backends notice and exit
      const pid = Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0]);
      if (pid > 0) process.kill(pid, "SIGKILL");
      for (let i = 0; i < 100 && Bun.spawnSync(["pgrep", "-u", "postgres", "-f", data]).exitCode === 0; i++) await Bun.sleep(50);
      Bun.spawnSync(["pkill", "-KILL", "-u", "postgres", "-f", data]);
    } else {
      Bun.spawnSync(asPg([join(bin, "pg_ctl"), "-D", data, "-m", "fast", "-w", "-t", "30", "stop"]), { stdout: "ignore", stderr: "ignore" });
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    url,
    port,
    async createDatabase(name: string) {
      const { SQL } = await import("bun");
      const admin = new SQL(url);
      try {
        await admin.unsafe(`create database "${name.replace(/"/g, '""')}"`);
      } finally {
        await admin.close();
      }
      return `postgresql://postgres@127.0.0.1:${port}/${encodeURIComponent(name)}`;
    },
    kill: () => stop("kill"),
    stop: () => stop("fast"),
  };
}
