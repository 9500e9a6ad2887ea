// Runs a short-lived helper binary (nvidia-smi) with a hard deadline: a hanging binary is killed with its whole process group.

/** What a finished (or killed) helper produced. */
export interface SpawnResult {
  /** Exit code; null when the process was killed by a signal. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** True when the deadline passed and the process group was killed. */
  timedOut: boolean;
}

/** Options for `runWithTimeout`. */
export interface SpawnOptions {
  timeoutMs: number;
  /** Aborting kills the process group at once (used when a sampler stops). */
  signal?: AbortSignal;
  /** Environment of the child; the parent's when omitted. */
  env?: Record<string, string | undefined>;
}

/** How long to keep reading pipes after the process ended (a grandchild may still hold them open). */
const PIPE_GRACE_MS = 100;

/**
 * Spawns `argv` in its own process group, collects stdout/stderr, and kills the whole group with
 * SIGKILL when `timeoutMs` passes or `signal` aborts. Never rejects for a failing binary: a binary
 * that cannot be started reads as code 127 with the error in `stderr`.
 */
export async function runWithTimeout(argv: string[], opts: SpawnOptions): Promise<SpawnResult> {
  let proc: ReturnType<typeof Bun.spawn<"ignore", "pipe", "pipe">>;
  try {
    proc = Bun.spawn(argv, {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      // own process group, so that a shell wrapper's children die with it
      detached: true,
      env: opts.env,
    });
  } catch (err) {
    return { code: 127, stdout: "", stderr: String((err as Error).message ?? err), timedOut: false };
  }
  let timedOut = false;
  const killGroup = () => {
    try {
      process.kill(-proc.pid, "SIGKILL");
    } catch {
      proc.kill("SIGKILL"); // the group is already gone; make sure the leader is too
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, opts.timeoutMs);
  const onAbort = () => killGroup();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  if (opts.signal?.aborted) killGroup();

  const stdoutP = new Response(proc.stdout).text();
  const stderrP = new Response(proc.stderr).text();
  const code = await proc.exited;
  clearTimeout(timer);
  opts.signal?.removeEventListener("abort", onAbort);
  if (timedOut || proc.signalCode) killGroup(); // leftovers of the group must not outlive the leader
  const [stdout, stderr] = await Promise.all([drain(stdoutP), drain(stderrP)]);
  return { code: proc.signalCode ? null : code, stdout, stderr, timedOut };
}

/** Waits briefly for a pipe's text; a pipe held open by a stray grandchild reads as what arrived so far (nothing). */
async function drain(p: Promise<string>): Promise<string> {
  let t: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string>((res) => {
    t = setTimeout(() => res(""), PIPE_GRACE_MS);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(t);
  }
}
