// A logged `epoch`: left out of the compatible metrics_step only, shown by keys, series, compare and live rows.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir, waitFor } from "../helpers/server.ts";
import { type MetricsServer, openWs, sdkLine, startMetricsServer } from "./harness.ts";

const RUN = "20261201_100000_e0e0e0";
const RUN_DIR = `runs/epochs/${RUN}`;
const STEPS = 40;
const PER_EPOCH = 10;

let srv: MetricsServer;

beforeAll(async () => {
  const tmp = tempDir("rn-epoch-");
  const root = join(tmp.dir, "root");
  const dir = join(root, RUN_DIR);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "meta.json"), JSON.stringify({ id: RUN, path: "epochs", created_at: 1795922975 }));
  writeFileSync(join(dir, "status.json"), JSON.stringify({ status: "finished" }));
  const lines: string[] = [];
  for (let s = 1; s <= STEPS; s++) {
    const data: Record<string, number> = { loss: 1 / s, epoch: Math.floor((s - 1) / PER_EPOCH) };
    if (s % PER_EPOCH === 0) data.val_acc = s / 100;
    lines.push(sdkLine(s, data));
  }
  writeFileSync(join(dir, "events.jsonl"), lines.join(""));
  srv = await startMetricsServer({ root, dir: tmp.dir });
});

afterAll(async () => {
  await srv.stop();
  rmSync(srv.dir, { recursive: true, force: true });
});

describe("a logged epoch", () => {
  it("stays out of metrics_step, columns and rows, like the original", async () => {
    const r = await srv.get(`/api/runs/${RUN}/metrics_step`);
    expect(r.status).toBe(200);
    expect(r.body.columns).toEqual(["global_step", "loss", "time", "val_acc"]);
    expect(r.body.rows.every((row: Record<string, unknown>) => !("epoch" in row))).toBe(true);
    const down = await srv.get(`/api/runs/${RUN}/metrics_step?downsample=100`);
    expect(down.body.columns).not.toContain("epoch");
  });

  it("is listed by /keys with its count and range", async () => {
    const r = await srv.get(`/api/runs/${RUN}/keys`);
    const epoch = r.body.keys.find((k: { key: string }) => k.key === "epoch");
    expect(epoch).toMatchObject({ key: "epoch", count: STEPS, numeric: true, min: 0, max: 3, last: 3, last_step: STEPS });
  });

  it("is a series of its own and, asked for as a column, has a value at every x kept", async () => {
    const all = await srv.get(`/api/runs/${RUN}/series`);
    expect(all.body.series.epoch).toHaveLength(STEPS);
    const r = await srv.get(`/api/runs/${RUN}/series?keys=val_acc&columns=epoch`);
    expect(r.status).toBe(200);
    expect(r.body.x).toEqual([10, 20, 30, 40]);
    expect(r.body.columns.epoch).toEqual(r.body.x.map((s: number) => Math.floor((s - 1) / PER_EPOCH)));
    // downsampled: the epoch column follows the rows the metric kept, never null where the row has an epoch
    const small = await srv.get(`/api/runs/${RUN}/series?keys=loss&columns=epoch&points=10`);
    expect(small.body.sampled).toBe(true);
    expect(small.body.columns.epoch).toEqual(small.body.x.map((s: number) => Math.floor((s - 1) / PER_EPOCH)));
    const missing = await srv.get(`/api/runs/${RUN}/series?keys=loss&columns=nope&from=1&to=2`);
    expect(missing.body.columns).toEqual({ nope: [null, null] });
  });

  it("is in the compare series of each run", async () => {
    const r = await srv.get(`/api/compare/series?runs=${RUN}&keys=loss&columns=epoch&from=9&to=11`);
    expect(r.body.runs[RUN].columns).toEqual({ epoch: [0, 0, 1] });
  });

  it("is a column of the CSV export", async () => {
    const r = await srv.get(`/api/export/${RUN}/csv`);
    expect(r.status).toBe(200);
    const [header, first] = r.text.trim().split("\n");
    expect(header.split(",")).toContain("epoch");
    const col = header.split(",").indexOf("epoch");
    expect(first.split(",")[col]).toBe("0");
  });

  it("is in the rows pushed live", async () => {
    const c = await openWs(`${srv.wsUrl}/api/live`);
    try {
      c.send({ op: "subscribe", run_ids: [RUN] });
      await waitFor(() => c.json().some((m) => m.type === "status"), 3000, "status");
      appendFileSync(join(srv.root, RUN_DIR, "events.jsonl"), sdkLine(STEPS + 1, { loss: 0.01, epoch: 4 }, 1795923100));
      await waitFor(() => c.json().some((m) => m.type === "metrics"), 3000, "metrics push");
      const rows = c.json().filter((m) => m.type === "metrics").flatMap((m) => m.rows);
      expect(rows).toEqual([{ step: STEPS + 1, time: 1795923100, values: { loss: 0.01, epoch: 4, time: 1795923100 } }]);
    } finally {
      c.close();
    }
  });
});
