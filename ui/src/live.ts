// The page's one live WebSocket to `/api/live`: metric points, log lines and status of runs, and run-list changes; re-subscribed after a reconnect.
import { useEffect, useRef, useState } from "preact/hooks";
import type { LiveMessage } from "./types.ts";

type Listener = (m: LiveMessage) => void;

/** Lines of logs.txt a log subscription asks for first (the server's most, as the old logs socket sent). */
export const LOG_TAIL_LINES = 10_000;

interface RunSub {
  /** Mounted subscribers of the run. */
  count: number;
  /** How many of them want log lines. */
  logs: number;
}

const listeners = new Set<Listener>();
const stateListeners = new Set<(up: boolean) => void>();
const runSubs = new Map<string, RunSub>();
let runListSubs = 0;
let ws: WebSocket | null = null;
let up = false;
let retryMs = 500;
let retryTimer: ReturnType<typeof setTimeout> | undefined;

function url(): string {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/live`;
}

function send(msg: unknown): void {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
}

function dispatch(msg: LiveMessage): void {
  for (const fn of listeners) fn(msg);
}

function setUp(v: boolean): void {
  if (up === v) return;
  up = v;
  for (const fn of stateListeners) fn(v);
}

function wanted(): boolean {
  return runSubs.size > 0 || runListSubs > 0;
}

function connect(): void {
  if (ws || !wanted()) return;
  clearTimeout(retryTimer);
  const sock = new WebSocket(url());
  ws = sock;
  sock.onopen = () => {
    retryMs = 500;
    setUp(true);
    resubscribe();
  };
  sock.onmessage = (ev) => {
    let msg: LiveMessage;
    try {
      msg = JSON.parse(String(ev.data)) as LiveMessage;
    } catch {
      return;
    }
    dispatch(msg);
  };
  sock.onclose = () => {
    if (ws === sock) ws = null;
    setUp(false);
    if (wanted()) {
      retryTimer = setTimeout(connect, retryMs);
      retryMs = Math.min(10_000, retryMs * 1.8);
    }
  };
}

/**
 * Sends one subscribe for `ids`. A subscribe replaces the server's earlier one for the same run, so
 * a run with log listeners asks for the tail again: listeners hear `logs_reset` first (synchronously,
 * so before any line of the new tail can arrive) and start over.
 */
function subscribe(ids: string[], logs: boolean): void {
  if (!ids.length || !ws || ws.readyState !== WebSocket.OPEN) return;
  if (logs) for (const id of ids) dispatch({ type: "logs_reset", run_id: id });
  send(logs ? { op: "subscribe", run_ids: ids, logs: true, logs_tail: LOG_TAIL_LINES } : { op: "subscribe", run_ids: ids, logs: false });
}

function resubscribe(): void {
  subscribe([...runSubs].filter(([, s]) => s.logs === 0).map(([id]) => id), false);
  subscribe([...runSubs].filter(([, s]) => s.logs > 0).map(([id]) => id), true);
  if (runListSubs > 0) send({ op: "subscribe_runs" });
}

function subscribeRuns(ids: string[], logs: boolean): () => void {
  const changed: string[] = [];
  for (const id of ids) {
    const s = runSubs.get(id) ?? { count: 0, logs: 0 };
    if (s.count === 0 || (logs && s.logs === 0)) changed.push(id);
    s.count++;
    if (logs) s.logs++;
    runSubs.set(id, s);
  }
  if (ws) subscribe(changed, logs);
  else connect();
  return () => {
    const gone: string[] = [];
    const noLogs: string[] = [];
    for (const id of ids) {
      const s = runSubs.get(id);
      if (!s) continue;
      s.count--;
      if (logs) s.logs--;
      if (s.count <= 0) {
        runSubs.delete(id);
        gone.push(id);
      } else if (logs && s.logs === 0) noLogs.push(id);
    }
    if (gone.length) send({ op: "unsubscribe", run_ids: gone });
    // others still want the run's points, but nobody its lines
    subscribe(noLogs, false);
    closeIfIdle();
  };
}

function closeIfIdle(): void {
  if (wanted()) return;
  clearTimeout(retryTimer);
  const sock = ws;
  ws = null;
  setUp(false);
  sock?.close();
}

/** Calls `handler` for every live message while the component is mounted. */
export function useLiveMessages(handler: Listener): void {
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => {
    const fn: Listener = (m) => ref.current(m);
    listeners.add(fn);
    return () => void listeners.delete(fn);
  }, []);
}

/**
 * Subscribes to metric points and status of these runs while mounted; with `logs`, to their log
 * lines too: a `logs_reset`, then the last LOG_TAIL_LINES lines, then new ones (again after a reconnect).
 */
export function useLiveRuns(ids: string[], logs = false): void {
  const key = ids.join(",");
  useEffect(() => (key ? subscribeRuns(key.split(","), logs) : undefined), [key, logs]);
}

/** Subscribes to run list changes (`run_changed`, `status`) while mounted. */
export function useLiveRunList(): void {
  useEffect(() => {
    runListSubs++;
    if (ws) send({ op: "subscribe_runs" });
    else connect();
    return () => {
      runListSubs--;
      closeIfIdle();
    };
  }, []);
}

/** Whether the live socket is open now (pages poll instead while it is not). */
export function useLiveUp(): boolean {
  const [v, set] = useState(up);
  useEffect(() => {
    stateListeners.add(set);
    set(up);
    return () => void stateListeners.delete(set);
  }, []);
  return v;
}
