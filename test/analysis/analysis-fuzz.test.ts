// Fuzz of the analysis API's inputs (issue 16): mutated filter expressions (metric.* included), sort keys and
// grouped-series parameters never get a 5xx — always 200, or 400 with a clear detail (a column for filters).
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { startTestServer, type TestServer, waitFor } from "../helpers/server.ts";
import { writeSweep } from "./sweep.ts";

let server: TestServer;
let ids: string[];

beforeAll(async () => {
  server = await startTestServer();
  writeSweep(server.root, join(server.dir, "xdg"), 4, 10);
  ids = await waitFor(async () => {
    const b = (await server.api("/api/runs")).body;
    return b.length === 4 ? b.map((r: any) => r.id) : undefined;
  }, 15000, "the sweep in the index");
}, 60000);

afterAll(async () => {
  await server?.close();
});

const SEEDS = [
  "metric.loss.min < 0.5 and status == \"finished\"",
  "config.lr <= 0.001 and summary.final_acc > 0.8",
  "not (config.seed in [0, 1]) or metric.acc.count >= 3",
  "metric.`train/loss`.last != null and tags contains \"x\"",
  'path ~ "sweep/*" and metric.loss.max in [1, 2.5, -3e-2]',
];
const NOISE = ["(", ")", "[", "]", ".", ",", "\"", "`", "=", "<", ">", "!", "~", " ", "and", "or", "not", "in", "metric.", ".min", "1e", "-", "\\", "\u0000", "é", "null"];

function rng(seed: number) {
  let s = seed;
  return (n: number) => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s % n;
  };
}

function mutate(src: string, rand: (n: number) => number): string {
  let s = src;
  for (let k = 0, m = 1 + rand(3); k < m; k++) {
    const at = rand(s.length + 1);
    switch (rand(3)) {
      case 0:
        s = s.slice(0, at) + s.slice(at + 1 + rand(4));
        break;
      case 1:
        s = s.slice(0, at) + NOISE[rand(NOISE.length)] + s.slice(at);
        break;
      default:
        s = s.slice(0, at) + NOISE[rand(NOISE.length)] + s.slice(at + 1);
    }
  }
  return s;
}

describe("analysis input fuzz", () => {
  it("answers 300 mutated filter expressions with 200, or 400 naming a column", async () => {
    const rand = rng(16);
    for (let i = 0; i < 300; i++) {
      const expr = mutate(SEEDS[i % SEEDS.length], rand);
      const res = await server.api(`/api/runs?include=metrics&filter=${encodeURIComponent(expr)}`);
      if (res.status !== 200) {
        expect({ expr, status: res.status }).toEqual({ expr, status: 400 });
        expect(res.body.detail).toMatch(/column \d+/);
      } else {
        expect(Array.isArray(res.body)).toBe(true);
      }
    }
  }, 60000);

  it("answers mutated sort keys with 200 or a 400 detail", async () => {
    const rand = rng(7);
    for (let i = 0; i < 100; i++) {
      const sort = mutate(["metric.loss.min", "config.lr", "summary.final_acc", "metric.`a b`.max"][i % 4], rand);
      const res = await server.api(`/api/runs?sort=${encodeURIComponent(sort)}`);
      expect([200, 400, 422]).toContain(res.status);
      if (res.status !== 200) expect(res.body.detail).toBeDefined();
    }
  }, 30000);

  it("answers mutated grouped-series parameters with 200 or a 400 detail", async () => {
    const rand = rng(3);
    const base = { run_ids: ids.join(","), key: "loss", group_by: "config.lr,metric.loss.min", agg: "mean,std,min,max", x: "step", points: "50" };
    for (let i = 0; i < 150; i++) {
      const params: Record<string, string> = { ...base };
      const name = Object.keys(base)[rand(6)] as keyof typeof base;
      params[name] = mutate(base[name], rand);
      const res = await server.api(`/api/compare/series?${new URLSearchParams(params)}`);
      if (res.status !== 200) {
        expect({ params, status: res.status }).toEqual({ params, status: res.status === 422 ? 422 : 400 });
        expect(res.body.detail).toBeDefined();
      } else {
        for (const s of res.body.series) for (const g of s.groups) expect(g.x.length).toBe(g.count.length);
      }
    }
  }, 60000);
});
