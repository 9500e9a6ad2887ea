// WS /api/live: one connection subscribes to runs and receives metric rows, log lines, status and run changes.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { waitFor } from "../helpers/server.ts";
import { type MetricsServer, openWs, sdkLine, startMetricsServer } from "../metrics/harness.ts";

const YOLO = "20261129_032935_bfa7ab";
const YOLO_DIR = "runs/cv/yolo/20261129_032935_bfa7ab";
const RESNET = "20261129_032935_01576c";
const RESNET_DIR = "runs/cv/resnet/20261129_032935_01576c";

let srv: MetricsServer;
beforeAll(async () => {
  srv = await startMetricsServer({ fixture: "rn-probe" });
});
afterAll(async () => {
  await srv.stop();
});

const ofType = (c: { json(): any[] }, type: string) => c.json().filter((m) => m.type === type);

describe("WS /api/live", () => {
  it("pushes the status at once, then new rows (NaN as null), log lines and status changes of subscribed runs", async () => {
    const c = await openWs(`${srv.wsUrl}/api/live`);
    c.send({ op: "subscribe", run_ids: [YOLO], logs: true });
    await waitFor(() => ofType(c, "status").length >= 1, 3000, "status");
    expect(ofType(c, "status")[0]).toEqual({ type: "status", run_id: YOLO, status: "finished" });
    const events = join(srv.root, YOLO_DIR, "events.jsonl");
    appendFileSync(events, sdkLine(301, { loss: 0.5, lr: 0.001 }, 1795923000) + sdkLine(302, { loss: NaN, note: "x", flag: true }, 1795923001));
    await waitFor(() => ofType(c, "metrics").length >= 1, 3000, "metrics push");
    const rows = ofType(c, "metrics").flatMap((m) => m.rows);
    expect(ofType(c, "metrics")[0].run_id).toBe(YOLO);
    expect(rows).toEqual([
      { step: 301, time: 1795923000, values: { loss: 0.5, lr: 0.001, time: 1795923000 } },
      { step: 302, time: 1795923001, values: { loss: null, note: "x", flag: true, time: 1795923001 } },
    ]);
    // a later event merging into an existing step pushes the merged row
    appendFileSync(events, sdkLine(302, { val_acc: 0.9 }, 1795923002));
    await waitFor(() => ofType(c, "metrics").length >= 2, 3000, "merge push");
    expect(ofType(c, "metrics")[1].rows).toEqual([
      { step: 302, time: 1795923002, values: { loss: null, note: "x", flag: true, time: 1795923002, val_acc: 0.9 } },
    ]);
    appendFileSync(join(srv.root, YOLO_DIR, "logs.txt"), "\x1b[1mbold\x1b[0m\n");
    await waitFor(() => ofType(c, "logs").length >= 1, 3000, "logs push");
    expect(ofType(c, "logs")[0]).toEqual({ type: "logs", run_id: YOLO, lines: ["\x1b[1mbold\x1b[0m"] });
    writeFileSync(join(srv.root, YOLO_DIR, "status.json"), JSON.stringify({ status: "failed", exit_reason: "x" }));
    await waitFor(() => ofType(c, "status").length >= 2, 3000, "status push");
    expect(ofType(c, "status")[1]).toEqual({ type: "status", run_id: YOLO, status: "failed" });
    // the compatible endpoint sees the pushed rows too
    const body = (await srv.get(`/api/runs/${YOLO}/metrics_step`)).body;
    expect(body.total).toBe(302);
    c.close();
  });

  it("stops pushing after unsubscribe, and logs only when asked for", async () => {
    const c = await openWs(`${srv.wsUrl}/api/live`);
    c.send({ op: "subscribe", run_ids: [RESNET] });
    await waitFor(() => ofType(c, "status").length >= 1, 3000, "status");
    const events = join(srv.root, RESNET_DIR, "events.jsonl");
    appendFileSync(join(srv.root, RESNET_DIR, "logs.txt"), "not wanted\n");
    appendFileSync(events, sdkLine(3, { loss: 0.8 }));
    await waitFor(() => ofType(c, "metrics").length >= 1, 3000, "metrics push");
    expect(ofType(c, "metrics")[0].rows.map((r: any) => r.step)).toEqual([3]);
    c.send({ op: "unsubscribe", run_ids: [RESNET] });
    await waitFor(async () => (await srv.get("/api/metrics/cache/stats")).body.live_watched_runs === 0, 2000, "unwatched");
    appendFileSync(events, sdkLine(4, { loss: 0.7 }));
    await Bun.sleep(700);
    expect(ofType(c, "metrics").length).toBe(1);
    expect(ofType(c, "logs").length).toBe(0);
    c.close();
  });

  it("sends the last log lines on subscribe when logs_tail is given", async () => {
    const c = await openWs(`${srv.wsUrl}/api/live`);
    c.send({ op: "subscribe", run_ids: [YOLO], logs: true, logs_tail: 2 });
    await waitFor(() => ofType(c, "logs").length >= 1, 3000, "tail");
    expect(ofType(c, "logs")[0].lines).toEqual(["03:29:35 | epoch 1 done", "\x1b[1mbold\x1b[0m"]);
    c.close();
  });

  it("reports run changes to subscribe_runs", async () => {
    const c = await openWs(`${srv.wsUrl}/api/live`);
    c.send({ op: "subscribe_runs" });
    await Bun.sleep(100);
    appendFileSync(join(srv.root, RESNET_DIR, "events.jsonl"), sdkLine(10, { loss: 0.1 }));
    writeFileSync(join(srv.root, RESNET_DIR, "status.json"), JSON.stringify({ status: "finished" }));
    await waitFor(() => ofType(c, "run_changed").length >= 1, 15000, "run_changed");
    expect(ofType(c, "run_changed")[0]).toMatchObject({ type: "run_changed", run_id: RESNET });
    expect(["added", "updated", "removed"]).toContain(ofType(c, "run_changed")[0].kind);
    c.close();
  });

  it("answers bad messages with an error message and keeps the connection", async () => {
    const c = await openWs(`${srv.wsUrl}/api/live`);
    c.send("not json");
    c.send({ nop: 1 });
    c.send({ op: "dance" });
    c.send({ op: "subscribe" });
    c.send({ op: "subscribe", run_ids: [1, 2] });
    c.send({ op: "unsubscribe", run_ids: "x" });
    c.send({ op: "subscribe", run_ids: ["20990101_000000_000000"] });
    await waitFor(() => c.messages.length >= 7, 3000, "errors");
    const msgs = c.json();
    expect(msgs.every((m) => m.type === "error" && typeof m.message === "string")).toBe(true);
    expect(msgs[6].message).toBe("run not found: 20990101_000000_000000");
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    c.close();
  });
});
