// A tiny levelled logger writing one line per event to stderr.
import type { LogLevel } from "../config/config.ts";

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Levelled logger; `child` prefixes a component name. */
export interface Logger {
  debug(msg: string, ...rest: unknown[]): void;
  info(msg: string, ...rest: unknown[]): void;
  warn(msg: string, ...rest: unknown[]): void;
  error(msg: string, ...rest: unknown[]): void;
  child(name: string): Logger;
}

/** Creates a logger that prints events at or above `level`. */
export function createLogger(level: LogLevel, name = "runicorn"): Logger {
  const min = ORDER[level];
  const emit = (lvl: LogLevel, msg: string, rest: unknown[]) => {
    if (ORDER[lvl] < min) return;
    const time = new Date().toISOString().slice(11, 19);
    // process.stderr, not console.error: Bun paints console.error red on a terminal, even for info lines
    const extra = rest.map((r) => (r instanceof Error ? (r.stack ?? r.message) : typeof r === "string" ? r : Bun.inspect(r)));
    process.stderr.write([`${time} ${lvl.toUpperCase().padEnd(5)} [${name}] ${msg}`, ...extra].join(" ") + "\n");
  };
  return {
    debug: (m, ...r) => emit("debug", m, r),
    info: (m, ...r) => emit("info", m, r),
    warn: (m, ...r) => emit("warn", m, r),
    error: (m, ...r) => emit("error", m, r),
    child: (child) => createLogger(level, `${name}:${child}`),
  };
}
