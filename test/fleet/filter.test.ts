// The filter language over a fleet: the filter sent to every host, `host` evaluated by the merging server, sort and paging across hosts, checked against each host's own answer.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseFilter } from "../../src/analysis/filter.ts";
import { filterToString, specialiseForHost } from "../../src/fleet/fleet-filter.ts";
import { tempDir, waitFor } from "../helpers/server.ts";
import { startFleetServer, Viewer, writeRun } from "./helpers.ts";

type Item = { id: string; host: string; summary?: { acc?: number }; config?: { lr?: number } };

let tmp: ReturnType<typeof tempDir>;
let viewers: Viewer[] = [];
let fleet: Awaited<ReturnType<typeof startFleetServer>>;
const LABELS = ["gpu-a", "gpu-b", "gpu-c"];

beforeAll(async () => {
  tmp = tempDir("rn-fleet-filter-");
  viewers = [];
  for (let h = 0; h < 3; h++) {
    const root = join(tmp.dir, `h${h}`);
    for (let i = 0; i < 5; i++) {
      const n = h * 5 + i;
      const dir = writeRun(root, h === 2 ? "nlp/bert" : "vision/resnet", `2025010${h + 1}_00000${i}_ccccc${h}`, { created: 1800000000 + ((n * 7) % 15) });
      // accuracy and learning rate interleave across hosts; host c's runs have no lr (a field only two hosts know)
      writeFileSync(join(dir, "summary.json"), JSON.stringify({ best_metric_value: n, best_metric_name: "acc", acc: ((n * 11) % 15) / 15 }));
      if (h < 2) writeFileSync(join(dir, "assets.json"), JSON.stringify({ config: { args: { lr: [0.1, 0.01, 0.001][n % 3], seed: n } } }));
    }
    viewers.push(await new Viewer(root, join(tmp.dir, `env${h}`)).start());
  }
  fleet = await startFleetServer(LABELS.map((label, i) => ({ label, baseUrl: viewers[i].url })));
  await waitFor(() => fleet.fleet.hosts.every((h) => h.online), 15000, "every host online");
});

afterAll(async () => {
  await fleet?.server.stop();
  await Promise.all(viewers.map((v) => v.stop()));
  tmp?.cleanup();
});

/** The union of each host's own answer to `filter` (with include=summary,config), labelled. */
async function union(filter: string, hosts = LABELS): Promise<Item[]> {
  const out: Item[] = [];
  for (const label of hosts) {
    const v = viewers[LABELS.indexOf(label)];
    const res = await fetch(`${v.url}/api/runs?include=summary,config&filter=${encodeURIComponent(filter)}`);
    expect(res.status).toBe(200);
    for (const r of (await res.json()) as Item[]) out.push({ ...r, host: label });
  }
  return out;
}

async function fleetList(query: string) {
  const r = await fleet.api(`/api/runs?${query}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return { items: r.body as Item[], total: Number(r.headers.get("x-total-count")), unknown: r.headers.get("x-unknown-fields") };
}

describe("filter across hosts", () => {
  it("answers a filter with the union of every host's own answer, sorted across hosts by a summary field", async () => {
    const expr = "config.lr <= 0.01 or summary.acc > 0.5";
    const expected = (await union(expr)).sort((x, y) => y.summary!.acc! - x.summary!.acc!);
    expect(expected.length).toBeGreaterThan(3);
    expect(new Set(expected.map((r) => r.host)).size).toBe(3);
    const got = await fleetList(`filter=${encodeURIComponent(expr)}&sort=summary.acc&order=desc&include=summary`);
    expect(got.items.map((r) => `${r.host}/${r.id}`)).toEqual(expected.map((r) => `${r.host}/${r.id}`));
    expect(got.total).toBe(expected.length);
    expect(got.items[0].summary?.acc).toBe(expected[0].summary!.acc!);
    // config was added only to sort by it elsewhere: not asked for, not sent
    expect(got.items[0].config).toBeUndefined();
  });

  it("pages over the merged list, counting every host in X-Total-Count", async () => {
    const expr = "summary.acc >= 0";
    const all = (await fleetList(`filter=${encodeURIComponent(expr)}&sort=created_at&order=asc`)).items;
    const expected = (await union(expr)).sort((x, y) => (x as any).created_time - (y as any).created_time || 0);
    expect(all.map((r) => (r as any).created_time)).toEqual(expected.map((r) => (r as any).created_time));
    const page = await fleetList(`filter=${encodeURIComponent(expr)}&sort=created_at&order=asc&limit=4&offset=5`);
    expect(page.total).toBe(15);
    expect(page.items.map((r) => r.id)).toEqual(all.slice(5, 9).map((r) => r.id));
  });

  it("sorts by a config field across hosts, runs without it first as the single host does", async () => {
    const got = (await fleetList("sort=config.lr&order=asc&include=config")).items;
    expect(got.length).toBe(15);
    const lrs = got.map((r) => r.config?.lr ?? null);
    expect(lrs.slice(0, 5)).toEqual([null, null, null, null, null]);
    expect(got.slice(0, 5).every((r) => r.host === "gpu-c")).toBe(true);
    const rest = lrs.slice(5) as number[];
    expect(rest).toEqual([...rest].sort((x, y) => x - y));
  });

  it("evaluates host in the merging server and sends each host only the rest of the expression", async () => {
    const onlyB = await fleetList(`filter=${encodeURIComponent('host == "gpu-b" and config.lr > 0.005')}`);
    const expectedB = await union("config.lr > 0.005", ["gpu-b"]);
    expect(onlyB.items.map((r) => r.id).sort()).toEqual(expectedB.map((r) => r.id).sort());
    expect(onlyB.items.every((r) => r.host === "gpu-b")).toBe(true);
    const mixed = await fleetList(`filter=${encodeURIComponent('host ~ "*-a" or not (host in ["gpu-a", "gpu-b"]) and summary.acc > 0.5')}`);
    const expected = [...(await union("summary.acc >= 0", ["gpu-a"])), ...(await union("summary.acc > 0.5", ["gpu-c"]))];
    expect(mixed.items.map((r) => `${r.host}/${r.id}`).sort()).toEqual(expected.map((r) => `${r.host}/${r.id}`).sort());
    expect(mixed.total).toBe(expected.length);
    expect((await fleetList(`filter=${encodeURIComponent('host == "nowhere"')}`)).total).toBe(0);
  });

  it("names a field no host has in X-Unknown-Fields, and not one that only some hosts have", async () => {
    const got = await fleetList(`filter=${encodeURIComponent("config.nope == 1 or config.lr > 0 or host == \"x\"")}`);
    expect(got.unknown).toBe("config.nope");
  });

  it("refuses a malformed filter and an unknown sort key with a 400 naming the problem", async () => {
    const bad = await fleet.api(`/api/runs?filter=${encodeURIComponent("config.lr = 1")}`);
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toContain("column");
    const sort = await fleet.api("/api/runs?sort=nonsense");
    expect(sort.status).toBe(400);
    expect(sort.body.detail).toContain("nonsense");
  });

  it("writes a host's part of an expression back as text that parses to the same tree", () => {
    for (const src of ['config.`a b`.c in [1, "x", null, true] and not (tags contains "best")', 'path ~ "v/*" or summary.acc >= -1.5e-3', "status not in []"]) {
      const tree = parseFilter(src);
      const strip = ({ column: _c, ...rest }: Record<string, unknown>) => rest;
      const norm = (n: unknown): unknown => JSON.parse(JSON.stringify(n, (k, v) => (k === "field" ? strip(v) : v)));
      expect(norm(parseFilter(filterToString(tree)))).toEqual(norm(tree));
    }
    expect(specialiseForHost(parseFilter('host == "a" and config.x > 1'), "b")).toBe(false);
    expect(specialiseForHost(parseFilter('host == "a" or config.x > 1'), "a")).toBe(true);
    expect(filterToString(specialiseForHost(parseFilter('not (host == "a") and config.x > 1'), "b") as never)).toBe("`config`.`x` > 1");
  });
});
