// Team mode's live pushes: the /api/live socket and the logs socket, fed by PostgreSQL LISTEN/NOTIFY, so a
// browser on any replica sees what any replica stored.
import { Elysia } from "elysia";
import { rowsForSteps } from "../metrics/query.ts";
import type { RunData } from "../metrics/run-data.ts";
import type { TeamChange, TeamService } from "../team/service.ts";
import type { Logger } from "../util/log.ts";
import { HttpError } from "./errors.ts";
import { LOG_WS_LINES } from "./metrics.ts";

const MAX_LIVE_RUNS = 200;
/** Most rows one push carries (a bigger change sends its last rows, marked `truncated`). */
const MAX_PUSH_ROWS = 20000;

/** The steps with a row in [from, to], ascending. */
function stepsBetween(run: RunData, from: number, to: number): number[] {
  const out: number[] = [];
  for (const ref of run.chunks) {
    if (ref.rows === 0 || ref.lastStep < from || ref.firstStep > to) continue;
    const chunk = run.load(ref, 0);
    for (let r = chunk.lowerBound(from); r < chunk.n && chunk.steps[r] <= to; r++) out.push(chunk.steps[r]);
  }
  return out;
}

interface Conn {
  /** Subscribed runs: whether log lines are wanted, and the last status sent. */
  runs: Map<string, { logs: boolean; status?: string }>;
  listRuns: boolean;
  off: () => void;
  /** Pushes are sent in notification order. */
  chain: Promise<void>;
}

/** The live socket and the logs socket of a team-mode server. */
export function teamLiveRoutes(svc: TeamService, log: Logger) {
  const conns = new WeakMap<object, Conn>();
  const logConns = new WeakMap<object, () => void>();

  const push = async (conn: Conn, send: (o: unknown) => void, c: TeamChange) => {
    if (conn.listRuns) send({ type: "run_changed", run_id: c.run_id, kind: c.kind === "created" ? "added" : c.kind === "deleted" ? "removed" : "updated" });
    const sub = conn.runs.get(c.run_id);
    if (!sub || c.kind !== "batch") return;
    const run = await svc.runData(c.run_id);
    if (c.from !== undefined && c.to !== undefined) {
      const steps = stepsBetween(run.state, c.from, c.to);
      const truncated = steps.length > MAX_PUSH_ROWS;
      const out: Record<string, unknown> = { type: "metrics", run_id: c.run_id, rows: rowsForSteps(run.state, truncated ? steps.slice(-MAX_PUSH_ROWS) : steps) };
      if (truncated) out.truncated = true;
      send(out);
    }
    if (sub.logs) {
      const lines = (await svc.batchLogs(c.run_id, c.seq)).filter((l) => l !== "");
      if (lines.length) send({ type: "logs", run_id: c.run_id, lines });
    }
    const row = await svc.runRow(c.run_id);
    const status = typeof row.status.status === "string" ? row.status.status : "finished";
    if (status !== sub.status) {
      sub.status = status;
      send({ type: "status", run_id: c.run_id, status });
    }
  };

  return new Elysia({ name: "team-live" })
    .ws("/api/live", {
      open(ws) {
        const send = (o: unknown) => ws.send(JSON.stringify(o));
        const conn: Conn = { runs: new Map(), listRuns: false, off: () => {}, chain: Promise.resolve() };
        conn.off = svc.onChange((c) => {
          conn.chain = conn.chain.then(() => push(conn, send, c)).catch((e) => log.warn(`live push for ${c.run_id} failed: ${(e as Error).message}`));
        });
        conns.set(ws.raw, conn);
      },
      message(ws, message) {
        const conn = conns.get(ws.raw);
        if (!conn) return;
        const send = (o: unknown) => ws.send(JSON.stringify(o));
        const msg = (typeof message === "string" ? safeParse(message) : message) as Record<string, unknown> | undefined;
        if (!msg || typeof msg !== "object" || Array.isArray(msg)) return send({ type: "error", message: "messages must be JSON objects with an op" });
        const ids = msg.run_ids;
        switch (msg.op) {
          case "subscribe":
            if (!Array.isArray(ids) || !ids.every((x) => typeof x === "string")) return send({ type: "error", message: "subscribe needs run_ids: a list of run ids" });
            for (const id of ids as string[]) {
              if (conn.runs.size >= MAX_LIVE_RUNS && !conn.runs.has(id)) return send({ type: "error", message: `cannot subscribe to more than ${MAX_LIVE_RUNS} runs` });
              conn.runs.set(id, { logs: msg.logs === true });
              conn.chain = conn.chain.then(async () => {
                try {
                  const row = await svc.runRow(id);
                  const sub = conn.runs.get(id);
                  if (sub) sub.status = typeof row.status.status === "string" ? row.status.status : "finished";
                } catch (e) {
                  conn.runs.delete(id);
                  // an unknown run is the page's mistake; anything else is the server's and is logged
                  if (!(e instanceof HttpError && e.status === 404)) log.error(`live subscription to ${id} failed`, e);
                  send({ type: "error", message: e instanceof HttpError && e.status === 404 ? `run not found: ${id}` : `cannot follow ${id} right now` });
                }
              });
            }
            return;
          case "unsubscribe":
            if (!Array.isArray(ids)) return send({ type: "error", message: "unsubscribe needs run_ids: a list of run ids" });
            for (const id of ids) conn.runs.delete(String(id));
            return;
          case "subscribe_runs":
            conn.listRuns = true;
            return;
          case "unsubscribe_runs":
            conn.listRuns = false;
            return;
          default:
            return send({ type: "error", message: `unknown op: ${String(msg.op)}` });
        }
      },
      close(ws) {
        conns.get(ws.raw)?.off();
        conns.delete(ws.raw);
      },
    })
    .ws("/api/runs/:run_id/logs/ws", {
      async open(ws) {
        const id = (ws.data as { params: { run_id: string } }).params.run_id;
        let chain = Promise.resolve();
        let lastSeq = -1;
        // lines of batches stored while the tail was read arrive by notification; skip those already sent
        const off = svc.onChange((c) => {
          if (c.run_id !== id || c.kind !== "batch") return;
          chain = chain
            .then(async () => {
              if (c.seq <= lastSeq) return;
              for (const line of await svc.batchLogs(id, c.seq)) ws.send(line);
            })
            .catch((e) => log.warn(`log push for ${id} failed: ${(e as Error).message}`));
        });
        logConns.set(ws.raw, off);
        try {
          const row = await svc.runRow(id);
          lastSeq = Number(row.last_seq);
          const lines = await svc.logLines(id, { tail: LOG_WS_LINES + 1 });
          if (lines.length > LOG_WS_LINES) ws.send(`[info] Showing last ${LOG_WS_LINES} lines. Full log file: logs.txt`);
          for (const line of lines.slice(-LOG_WS_LINES)) ws.send(line);
          if (!lines.length) ws.send("[info] No logs available yet. Waiting for logs to be created...");
        } catch (e) {
          // an unknown run is the client's mistake; anything else is the server's and is logged
          if (!(e instanceof HttpError && e.status === 404)) log.error(`log stream of ${id} failed`, e);
          ws.send(e instanceof HttpError && e.status === 404 ? "[error] run not found" : "[error] the log stream failed on the server");
          ws.close();
        }
      },
      close(ws) {
        logConns.get(ws.raw)?.();
        logConns.delete(ws.raw);
      },
    });
}

function safeParse(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined; // a message that is not JSON is ignored like one of an unknown type
  }
}
