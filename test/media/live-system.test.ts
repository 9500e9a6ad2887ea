// WS /api/live pushes a watched run's new system.jsonl samples as `system` messages, apart from its metric rows; nothing already on disk is re-sent.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { waitFor } from "../helpers/server.ts";
import { type MetricsServer, openWs, sdkLine, startMetricsServer } from "../metrics/harness.ts";

const YOLO = "20261129_032935_bfa7ab";
const YOLO_DIR = "runs/cv/yolo/20261129_032935_bfa7ab";

let srv: MetricsServer;
beforeAll(async () => {
  srv = await startMetricsServer({ fixture: "rn-probe" });
});
afterAll(async () => {
  await srv.stop();
});

const ofType = (c: { json(): any[] }, type: string) => c.json().filter((m) => m.type === type);
const sysLine = (t: number, values: Record<string, number>) =>
  JSON.stringify({ ts: t, type: "system", data: { ...values, step: Math.round(t * 1000), time: t } }) + "\n";

describe("system samples on WS /api/live", () => {
  it("are pushed as `system` messages as they are appended, and the samples already there are not re-sent", async () => {
    const file = join(srv.root, YOLO_DIR, "system.jsonl");
    writeFileSync(file, sysLine(1795923000, { "sys/cpu_percent": 10 }) + sysLine(1795923001, { "sys/cpu_percent": 11 }));
    const c = await openWs(`${srv.wsUrl}/api/live`);
    c.send({ op: "subscribe", run_ids: [YOLO] });
    await waitFor(() => ofType(c, "status").length >= 1, 3000, "status");
    await Bun.sleep(600); // the subscription's first sync has read the two samples
    appendFileSync(file, sysLine(1795923002, { "sys/cpu_percent": 12.5, "sys/host_mem_percent": 40 }));
    await waitFor(() => ofType(c, "system").length >= 1, 5000, "system push");
    const msgs = ofType(c, "system");
    expect(msgs[0].run_id).toBe(YOLO);
    expect(msgs.flatMap((m) => m.rows)).toEqual([
      { step: 1795923002000, time: 1795923002, values: { "sys/cpu_percent": 12.5, time: 1795923002, "sys/host_mem_percent": 40 } },
    ]);
    // a metric row goes out as `metrics`, never as `system`
    appendFileSync(join(srv.root, YOLO_DIR, "events.jsonl"), sdkLine(900, { loss: 0.25 }, 1795923003));
    await waitFor(() => ofType(c, "metrics").length >= 1, 5000, "metrics push");
    expect(ofType(c, "metrics").flatMap((m) => m.rows).map((r: any) => r.step)).toEqual([900]);
    expect(ofType(c, "system").flatMap((m) => m.rows).length).toBe(1);
    // and the served series has the pushed sample
    const series = (await srv.get(`/api/runs/${YOLO}/series?x=time&keys=sys/cpu_percent`)).body;
    expect(series.series["sys/cpu_percent"]).toEqual([10, 11, 12.5]);
    c.close();
  });
});
