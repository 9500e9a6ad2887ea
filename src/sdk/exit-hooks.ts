// Flushes every live run's buffers when the process ends: exit (incl. natural end and process.exit) and SIGTERM.

/** Something holding buffered writes that must reach disk before the process goes. */
export interface Flushable {
  /** Writes everything buffered, synchronously; never throws. */
  flushNow(): void;
}

const live = new Set<Flushable>();
let installed = false;

/** Registers a run so its buffers are flushed at process exit and on SIGTERM. */
export function trackForExit(f: Flushable, signals: boolean): void {
  live.add(f);
  install(signals);
}

/** Forgets a run (after finish()). */
export function untrackForExit(f: Flushable): void {
  live.delete(f);
}

function flushAll(): void {
  for (const f of live) f.flushNow();
}

let signalsInstalled = false;

function install(signals: boolean): void {
  if (!installed) {
    installed = true;
    // 'exit' runs synchronously after a natural end, process.exit() and an uncaught exception
    process.on("exit", flushAll);
  }
  if (signals && !signalsInstalled) {
    signalsInstalled = true;
    const onTerm = () => {
      flushAll();
      // Listening to SIGTERM turns off the default "terminate"; restore it unless the program
      // has its own handler, then re-raise so the parent still sees death by SIGTERM.
      if (process.listenerCount("SIGTERM") === 1) {
        process.removeListener("SIGTERM", onTerm);
        signalsInstalled = false;
        process.kill(process.pid, "SIGTERM");
      }
    };
    process.on("SIGTERM", onTerm);
  }
}
