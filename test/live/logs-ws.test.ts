// WS /api/runs/{id}/logs/ws: the original's text-frame protocol with its bugs fixed (spec §3.4, §10.6).
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { appendFileSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { waitFor } from "../helpers/server.ts";
import { type MetricsServer, openWs, startMetricsServer } from "../metrics/harness.ts";

const YOLO = "20261129_032935_bfa7ab";
const YOLO_LOGS = "runs/cv/yolo/20261129_032935_bfa7ab/logs.txt";
const BERT = "20261129_032935_5321f2"; // no logs.txt
const ROOT_RUN = "20261129_032935_b2e5a5"; // no logs.txt
const DELETED = "20261129_032935_21171f";

let srv: MetricsServer;
beforeAll(async () => {
  srv = await startMetricsServer({ fixture: "rn-probe" });
});
afterAll(async () => {
  await srv.stop();
});

const watched = async () => (await srv.get("/api/metrics/cache/stats")).body.live_watched_runs as number;

describe("WS /api/runs/{id}/logs/ws", () => {
  it("sends [error] run not found and closes for unknown and soft-deleted runs", async () => {
    for (const id of ["20990101_000000_000000", DELETED]) {
      const c = await openWs(`${srv.wsUrl}/api/runs/${id}/logs/ws`);
      await c.closed;
      expect(c.messages).toEqual(["[error] run not found"]);
    }
  });

  it("replays the file, then streams appended lines: blank lines skipped, ANSI kept, torn lines held back", async () => {
    const c = await openWs(`${srv.wsUrl}/api/runs/${YOLO}/logs/ws`);
    await waitFor(() => c.messages.length >= 1, 3000, "replay");
    expect(c.messages).toEqual(["03:29:35 | epoch 1 done"]);
    const path = join(srv.root, YOLO_LOGS);
    appendFileSync(path, "\x1b[32m[04:00:00] green\x1b[0m\n\n   \n[04:00:01] tor");
    await waitFor(() => c.messages.length >= 2, 3000, "appended line");
    await Bun.sleep(300);
    expect(c.messages.slice(1)).toEqual(["\x1b[32m[04:00:00] green\x1b[0m"]);
    appendFileSync(path, "n line\r\nprogress 10%\rprogress 50%\r\n");
    await waitFor(() => c.messages.length >= 5, 3000, "rest");
    expect(c.messages.slice(2)).toEqual(["[04:00:01] torn line", "progress 10%", "progress 50%"]);
    c.close();
    await c.closed;
    // the server notices the disconnect at once: nothing is watched any more
    await waitFor(async () => (await watched()) === 0, 2000, "unwatch");
  });

  it("sends the last 10,000 lines (not the first) with the original's notice", async () => {
    const path = join(srv.root, "runs/cv/resnet/20261129_032935_01576c/logs.txt");
    let text = "";
    for (let i = 1; i <= 10005; i++) text += `line ${i}\n${i % 1000 === 0 ? "\n" : ""}`;
    writeFileSync(path, text);
    const c = await openWs(`${srv.wsUrl}/api/runs/20261129_032935_01576c/logs/ws`);
    await waitFor(() => c.messages.length >= 10001, 5000, "10001 frames");
    expect(c.messages[0]).toBe("[info] Showing last 10000 lines. Full log file: logs.txt");
    expect(c.messages[1]).toBe("line 6");
    expect(c.messages[10000]).toBe("line 10005");
    appendFileSync(path, "line 10006\n");
    await waitFor(() => c.messages.length >= 10002, 3000, "next line");
    expect(c.messages[10001]).toBe("line 10006");
    c.close();
  });

  it("keeps the socket open while waiting for logs.txt, then streams it", async () => {
    const c = await openWs(`${srv.wsUrl}/api/runs/${BERT}/logs/ws`);
    await waitFor(() => c.messages.length >= 1, 3000, "waiting notice");
    expect(c.messages).toEqual(["[info] No logs available yet. Waiting for logs to be created..."]);
    // the original's wait loop died after ~2 s; ours stays
    await Bun.sleep(2500);
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    const path = join(srv.root, "runs/nlp/bert/20261129_032935_5321f2/logs.txt");
    expect(existsSync(path)).toBe(false);
    writeFileSync(path, "[04:10:00] first\n");
    await waitFor(() => c.messages.length >= 3, 3000, "available + line");
    expect(c.messages.slice(1)).toEqual(["[info] Logs are now available, streaming...", "[04:10:00] first"]);
    c.close();
  });

  it("serves several clients of one run from one watcher", async () => {
    const a = await openWs(`${srv.wsUrl}/api/runs/${ROOT_RUN}/logs/ws`);
    const b = await openWs(`${srv.wsUrl}/api/runs/${ROOT_RUN}/logs/ws`);
    await waitFor(() => a.messages.length >= 1 && b.messages.length >= 1, 3000, "notices");
    expect(await watched()).toBe(1);
    writeFileSync(join(srv.root, "runs/20261129_032935_b2e5a5/logs.txt"), "x\n");
    await waitFor(() => a.messages.length >= 3 && b.messages.length >= 3, 3000, "both");
    expect(a.messages).toEqual(b.messages);
    a.close();
    b.close();
    await waitFor(async () => (await watched()) === 0, 2000, "unwatch");
  });
});
