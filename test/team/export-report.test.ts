// Reports, archives and the asset library on a team server: the same Python script logged to a file root and through
// RUNICORN_SERVER gives byte-identical reports and equal asset libraries; a team server's zip / tar.gz exports are
// rebuilt from the database and blob store and import into a file-mode server that then answers what the team server answers.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import { MemorySink } from "../../src/store/assets/byte-sink.ts";
import { extractZipEntry, readZipEntries } from "../../src/store/assets/zip-reader.ts";
import { isolatedEnv, startTestServer, type TestServer, waitFor } from "../helpers/server.ts";
import { PY_SDK } from "../reliability/helpers.ts";
import { call, type Replica, startTeamCluster, type TeamCluster } from "./team-server.ts";

const A = "20260106_000000_a1a1a1";
const B = "20260106_000000_b2b2b2";
const BASE = Math.floor(Date.now() / 1000) - 3600;

/** A run with metrics (strings, an epoch, NaN, ±Infinity, a re-logged step), images, a table, audio, a histogram, logs, config, a dataset and a summary. */
const SCRIPT = (runId: string, path: string, base: number) => `
import itertools, re, time, uuid
import runicorn as rn, runicorn.sdk as sdk, runicorn._media as media
clock = [${base}.0]
def fixed():
    clock[0] += 0.25
    return clock[0]
time.time = fixed
sdk._time = fixed
names = itertools.count()
media._media_name = lambda key, ext: "%04d_%s.%s" % (next(names), re.sub(r"[^A-Za-z0-9_.-]", "_", key)[:100], ext)
ids = itertools.count()
class _U:
    def __init__(self): self.hex = "%032x" % next(ids)
uuid.uuid4 = _U
run = rn.init(path="${path}", run_id="${runId}", alias="alias-${runId.slice(-2)}", config={"lr": 0.1, "model": {"depth": 18, "act": "relu"}}, system_metrics=False)
run.log_dataset("cifar", {"uri": "s3://bucket/cifar", "size": 123}, context="train")
run.set_primary_metric("acc", mode="max")
png = media.encode_png(bytes([0, 255, 0] * 4), 2, 2, 3)
for i in range(120):
    v = float("nan") if i == 7 else float("inf") if i == 9 else -float("inf") if i == 11 else 1.0 / (i + 1)
    run.log({"loss": v, "acc": i / 120.0, "stage": "warmup" if i < 20 else "train", "epoch": i // 40, "flag": i % 2 == 0}, step=i)
    if i % 40 == 0:
        run.log_image("sample", png, step=i, caption="at %d" % i)
        run.log({"tbl": rn.Table(["a", "b"], [[i, "x"], [i + 1, None]]), "snd": rn.Audio([0, 1000, -1000, 0] * 20, sample_rate=800),
                 "h": rn.Histogram([1.0, 2.0, 2.5, float(i)], bins=4)}, step=i)
        run.log_text("epoch %d done" % (i // 40))
run.log({"loss": 0.5, "extra": 3}, step=5)
run.summary({"final_loss": 0.01, "notes": "ok", "a_first": 1})
run.finish()
`;

async function python(script: string, env: Record<string, string>): Promise<void> {
  const p = Bun.spawn(["python3", "-c", script], { env: { ...env, PYTHONPATH: PY_SDK, RUNICORN_QUIET: "1" }, stdout: "pipe", stderr: "pipe" });
  const stderr = await new Response(p.stderr).text();
  if ((await p.exited) !== 0) throw new Error(`python failed: ${stderr}`);
}

const RUN_QUERIES = (id: string) => [
  `/api/runs/${id}/metrics_step`,
  `/api/runs/${id}/keys`,
  `/api/runs/${id}/series?points=50`,
  `/api/runs/${id}/images`,
  `/api/runs/${id}/tables`,
  `/api/runs/${id}/audio`,
  `/api/runs/${id}/histograms?key=h`,
  `/api/export/${id}/csv`,
  `/api/export/${id}/report`,
];

describe("reports, archives and the asset library on a team server", () => {
  let c: TeamCluster;
  let file: TestServer;
  let team: Replica;
  let token: string;
  const auth = () => ({ authorization: `Bearer ${token}` });
  const teamGet = (q: string) => fetch(team.url + q, { headers: auth() });
  beforeAll(async () => {
    c = await startTeamCluster("export", { file: true });
    ({ file, team, token } = c);
    for (const [id, path, base] of [[A, "exp/one", BASE], [B, "exp/two", BASE + 600]] as const) {
      await python(SCRIPT(id, path, base), { ...isolatedEnv(join(c.dir, `file-${id}`)), RUNICORN_DIR: file.root });
      await python(SCRIPT(id, path, base), { ...isolatedEnv(join(c.dir, `team-${id}`)), RUNICORN_SERVER: team.url, RUNICORN_TOKEN: token });
    }
    await waitFor(async () => (await file.api(`/api/runs/${B}`)).body?.status === "finished", 20_000, "the file runs indexed");
  }, 120_000);
  afterAll(async () => {
    await c?.close();
  });

  it("writes byte-identical Markdown and HTML reports in both modes, and refuses a bad format or an unknown run alike", async () => {
    for (const q of [`/api/export/${A}/report`, `/api/export/${A}/report?format=html`, `/api/export/${B}/report?format=md`, `/api/export/${A}/report?format=pdf`, `/api/export/20260106_000000_000000/report`]) {
      const [a, b] = await Promise.all([fetch(file.url + q), teamGet(q)]);
      const [ta, tb] = [await a.text(), await b.text()];
      expect({ q, status: b.status, type: b.headers.get("content-type"), disposition: b.headers.get("content-disposition") }).toEqual({
        q,
        status: a.status,
        type: a.headers.get("content-type"),
        disposition: a.headers.get("content-disposition"),
      });
      expect({ q, body: tb }).toEqual({ q, body: ta });
    }
    const md = await (await teamGet(`/api/export/${A}/report`)).text();
    expect(md).toContain("| final_loss | 0.01 |");
    expect(md).toContain('"depth": 18');
  });

  it("lists the same asset library in both modes, without download links on the team server", async () => {
    const [a, b] = [(await file.api("/api/assets")).body, (await call(team.url, token, "GET", "/api/assets")).body];
    expect(b.total_runs).toBe(2);
    expect(b.runs_with_assets).toBe(2);
    expect(b.assets.map((x: { kind: string }) => x.kind).sort()).toEqual(["config", "dataset"]);
    expect(b.assets.every((x: { download: unknown }) => x.download === null)).toBe(true);
    expect(b).toEqual(a);
    const dl = await call(team.url, token, "GET", `/api/runs/${A}/assets/download?path=x`);
    expect(dl.status).toBe(501);
    expect(dl.body.detail).toContain("stay on the training machine");
  });

  for (const [label, query] of [
    ["a zip", `/api/export?format=zip&run_ids=${A},${B}`],
    ["a tar.gz", "/api/export?format=tar.gz&path=exp"],
    ["the original's paths/export zip", "/api/paths/export?path=exp&format=zip"],
  ] as const) {
    it(`exports ${label} from the database that a file-mode server imports and then answers as the team server does`, async () => {
      const res = await teamGet(query);
      expect(res.status).toBe(200);
      const archive = new Uint8Array(await res.arrayBuffer());
      const target = await startTestServer();
      try {
        const form = new FormData();
        form.append("file", new Blob([archive]), query.includes("tar.gz") ? "export.tar.gz" : "export.zip");
        const imported = await fetch(`${target.url}/api/import/archive`, { method: "POST", body: form });
        const body = (await imported.json()) as { new_run_ids: string[] };
        expect({ status: imported.status, ids: body.new_run_ids.sort() }).toEqual({ status: 200, ids: [A, B] });
        await waitFor(async () => (await target.api(`/api/runs/${B}`)).status === 200, 20_000, "the imported runs indexed");
        for (const id of [A, B]) {
          for (const q of RUN_QUERIES(id)) {
            const [a, b] = await Promise.all([fetch(target.url + q), teamGet(q)]);
            const [ta, tb] = [await a.text(), await b.text()];
            expect({ q, status: a.status }).toEqual({ q, status: b.status });
            expect({ q, body: ta }).toEqual({ q, body: tb });
          }
          const detail = (await target.api(`/api/runs/${id}`)).body;
          expect({ alias: detail.alias, path: detail.path, status: detail.status }).toEqual({ alias: `alias-${id.slice(-2)}`, path: id === A ? "exp/one" : "exp/two", status: "finished" });
          const tables = (await target.api(`/api/runs/${id}/tables`)).body.tables as { path: string }[];
          const q = `/api/runs/${id}/tables/data?path=${encodeURIComponent(tables[1].path)}`;
          expect(await (await fetch(target.url + q)).text()).toBe(await (await teamGet(q)).text());
          const audio = (await target.api(`/api/runs/${id}/audio`)).body.audio as { url: string }[];
          const [wa, wb] = await Promise.all([fetch(target.url + audio[2].url), teamGet(audio[2].url)]);
          expect(Buffer.from(await wa.arrayBuffer()).equals(Buffer.from(await wb.arrayBuffer()))).toBe(true);
        }
      } finally {
        await target.close();
      }
    }, 60_000);
  }

  it("lays the original's paths/export zip out as index.json and <run_id>/<file>", async () => {
    const res = await teamGet(`/api/paths/export?path=exp/one&format=zip`);
    expect(res.headers.get("content-type")).toBe("application/zip");
    expect(res.headers.get("content-disposition")).toContain("runicorn_export_exp_one.zip");
    const files = await unzip(new Uint8Array(await res.arrayBuffer()));
    const names = [...files.keys()];
    expect(names[0]).toBe("index.json");
    for (const f of ["meta.json", "status.json", "summary.json", "assets.json", "events.jsonl", "logs.txt", "histograms.jsonl"]) expect(names).toContain(`${A}/${f}`);
    expect(names.filter((n) => n.startsWith(`${A}/media/`)).length).toBeGreaterThan(6);
    expect(names.some((n) => n.startsWith(B))).toBe(false);
    const index = JSON.parse(files.get("index.json")!);
    const { exact, ...json } = (await call(team.url, token, "GET", "/api/paths/export?path=exp/one")).body;
    expect(exact).toBe(false);
    expect(index).toEqual(json);
  });

  it("answers bad export requests as the file mode does", async () => {
    for (const q of ["/api/export?format=rar", "/api/export?format=zip&path=nowhere", "/api/paths/export?path=nowhere&format=zip", "/api/paths/export?path=exp&format=tar.gz", "/api/paths/export?format=zip", "/api/export?format=zip&include_deleted=maybe"]) {
      const [a, b] = await Promise.all([fetch(file.url + q), teamGet(q)]);
      expect({ q, status: b.status, body: await b.json() }).toEqual({ q, status: a.status, body: await a.json() });
    }
  });

  it("exports a soft-deleted run only when asked, with its recycle-bin marker", async () => {
    expect((await call(team.url, token, "POST", "/api/runs/soft-delete", { run_ids: [B] })).status).toBe(200);
    try {
      expect((await teamGet(`/api/export?format=zip&run_ids=${B}`)).status).toBe(404);
      const res = await teamGet(`/api/export?format=zip&run_ids=${B}&include_deleted=true`);
      const files = await unzip(new Uint8Array(await res.arrayBuffer()));
      const manifest = JSON.parse(files.get("runicorn-export.json")!);
      expect(manifest.runs).toEqual([{ run_id: B, path: "exp/two", dir: `runs/exp/two/${B}`, deleted: true }]);
      expect(JSON.parse(files.get(`runs/exp/two/${B}/.deleted`)!)).toMatchObject({ reason: "user_deleted", original_status: "finished" });
    } finally {
      expect((await call(team.url, token, "POST", "/api/recycle-bin/restore", { run_ids: [B] })).status).toBe(200);
    }
  });
});

/** Every entry of a zip, name → text, in archive order (read by the importer's own zip reader). */
async function unzip(bytes: Uint8Array): Promise<Map<string, string>> {
  const blob = new Blob([bytes as Uint8Array<ArrayBuffer>]);
  const out = new Map<string, string>();
  for (const e of await readZipEntries(blob, 10_000)) {
    const sink = new MemorySink();
    await extractZipEntry(blob, e, sink);
    out.set(e.name, new TextDecoder().decode(sink.bytes()));
  }
  return out;
}
