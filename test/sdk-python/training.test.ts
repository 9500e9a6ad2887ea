// Cross test: real PyTorch training loops (Debian's python3-torch) log with rn.init and the SummaryWriter; our server reads them.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const REPO = join(import.meta.dir, "..", "..");
const SDK = join(REPO, "sdk", "python");
const SYSTEM_PYTHON = "/usr/bin/python3";
const hasTorch =
  existsSync(SYSTEM_PYTHON) &&
  Bun.spawnSync([SYSTEM_PYTHON, "-c", "import torch, numpy, matplotlib"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
if (!hasTorch) console.warn(`skipping: ${SYSTEM_PYTHON} has no torch/numpy/matplotlib (apt: python3-torch python3-matplotlib)`);

const root = mkdtempSync(join(tmpdir(), "rn-torch-"));
const data = join(root, "data"); // does not exist yet: serve creates it
const env = { PATH: "/usr/bin:/bin", HOME: root, PYTHONPATH: SDK, XDG_CONFIG_HOME: join(root, "xdg"), RUNICORN_DIR: data, MPLBACKEND: "Agg" };

async function torchPy(code: string): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn([SYSTEM_PYTHON, "-c", code], { cwd: root, env, stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code: await p.exited, out, err };
}

const TRAIN = (resume: boolean, epochs: number[]) => `
import torch, torch.nn as nn, runicorn as rn
import matplotlib.pyplot as plt
torch.manual_seed(0)
run = rn.init(path="torch/mlp", run_id="mlp-1", ${resume ? 'resume="must"' : 'tags=["torch"], notes="tiny MLP", config={"lr": 0.05, "hidden": 16}'})
run.set_primary_metric("val/acc", mode="max")
model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
opt = torch.optim.SGD(model.parameters(), lr=0.05)
x = torch.randn(256, 8); y = (x[:, 0] > 0).long()
for epoch in ${JSON.stringify(epochs)}:
    for i in range(10):
        idx = torch.randint(0, 256, (32,))
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(); loss.backward(); opt.step()
        run.log({"epoch": epoch, "train": {"loss": loss.item()}}, stage="train")
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean()
    run.log({"val": {"acc": acc}}, stage="val")
    run.log({"fc1/weight": rn.Histogram(model[0].weight, bins=32)})
    run.log_image("weights", model[0].weight.detach().abs() / model[0].weight.abs().max(), caption="epoch %d" % epoch)
fig, ax = plt.subplots(figsize=(2, 2)); ax.plot([1, 2, 3])
run.log_image("curve", fig)
run.finish()
print(run.id)
`;

const WRITER = `
import torch, torch.nn as nn
from runicorn.tensorboard import SummaryWriter
torch.manual_seed(1)
writer = SummaryWriter("runs/tb1", tags=["tensorboard"])
model = nn.Linear(4, 1)
opt = torch.optim.Adam(model.parameters(), lr=0.01)
step = 0
for epoch in range(2):
    for i in range(15):
        step += 1
        xb = torch.randn(16, 4); loss = ((model(xb) - xb.sum(1, keepdim=True)) ** 2).mean()
        opt.zero_grad(); loss.backward(); opt.step()
        writer.add_scalar("train/loss", loss, step)
        writer.add_scalars("lr", {"group0": opt.param_groups[0]["lr"]}, step)
    writer.add_histogram("linear/weight", model.weight, step)
    writer.add_image("input", torch.rand(3, 8, 8), step)
writer.add_hparams({"lr": 0.01}, {"hparam/final_loss": loss.item()})
writer.close()
print(writer.get_logdir())
`;

let server: ReturnType<typeof Bun.spawn> | undefined;
let url = "";
let serveOut = "";
const out: Record<string, { code: number; out: string; err: string }> = {};

async function get(path: string): Promise<any> {
  const r = await fetch(url + path);
  expect(r.status).toBe(200);
  return r.json();
}

beforeAll(async () => {
  if (!hasTorch) return;
  const srv = Bun.spawn([process.execPath, join(REPO, "src", "cli", "main.ts"), "serve", "--root", data, "--port", "0"], {
    cwd: REPO,
    env: { ...process.env, XDG_CONFIG_HOME: join(root, "xdg"), XDG_CACHE_HOME: join(root, "cache") },
    stdout: "pipe",
    stderr: "inherit",
  });
  server = srv;
  const reader = (srv.stdout as ReadableStream<Uint8Array>).getReader();
  while (!/listening on (http:\/\/\S+)/.test(serveOut)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited: ${serveOut}`);
    serveOut += new TextDecoder().decode(value);
  }
  url = /listening on (http:\/\/\S+)/.exec(serveOut)![1];
  out.train = await torchPy(TRAIN(false, [0, 1, 2]));
  out.resume = await torchPy(TRAIN(true, [3]));
  out.writer = await torchPy(WRITER);
  // the server learns of new runs and of status.json changes through file watches a few ms after the
  // writes (longer on a loaded machine): wait until both runs are listed as finished
  for (let i = 0; i < 200; i++) {
    const runs = (await (await fetch(`${url}/api/runs`)).json()) as { id: string; status: string }[];
    if (runs.length >= 2 && runs.every((r) => r.status === "finished")) break;
    await Bun.sleep(50);
  }
}, 300_000);

afterAll(async () => {
  server?.kill();
  await server?.exited;
  rmSync(root, { recursive: true, force: true });
});

describe.skipIf(!hasTorch)("a PyTorch training loop recorded with the Python SDK", () => {
  it("serve says it creates the missing root, and init's line points at the run on that viewer", () => {
    expect(serveOut).toContain(`storage root ${data} does not exist: creating a new empty root`);
    expect(out.train.code).toBe(0);
    expect(out.train.err).toContain(`runicorn: started run mlp-1 in ${join(data, "runs", "torch", "mlp", "mlp-1")} | view: ${url}/runs/mlp-1`);
    expect(out.resume.code).toBe(0);
    expect(out.resume.err).toContain("runicorn: resumed run mlp-1");
  });

  it("keeps counting steps after a resume, and the tags, notes and config of the first start", async () => {
    const keys = await get("/api/runs/mlp-1/keys");
    expect(keys.last_step).toBe(4 * 12); // 4 epochs of 10 train steps + 1 val + 1 histogram step
    const meta = JSON.parse(readFileSync(join(data, "runs", "torch", "mlp", "mlp-1", "meta.json"), "utf8"));
    expect(meta).toMatchObject({ tags: ["torch"], notes: "tiny MLP" });
    const assets = await get("/api/runs/mlp-1/assets");
    expect(JSON.stringify(assets)).toContain('"extra":{"lr":0.05,"hidden":16}');
    const list = (await get("/api/runs")) as any[];
    const run = list.find((r) => r.id === "mlp-1");
    expect(run.status).toBe("finished");
    expect(run.tags).toEqual(["torch"]);
    expect(run.best_metric_value).toBeGreaterThan(0.5);
  });

  it("shows the logged epoch in keys and as a series column, not in metrics_step, and the client puts it back", async () => {
    const keys = await get("/api/runs/mlp-1/keys");
    const names = keys.keys.map((k: { key: string }) => k.key);
    expect(names).toEqual(expect.arrayContaining(["epoch", "train/loss", "val/acc"]));
    const s = await get("/api/runs/mlp-1/series?keys=train/loss&columns=epoch");
    const epochs = s.columns.epoch as number[];
    expect(epochs.slice(0, 10)).toEqual(Array(10).fill(0));
    expect(epochs.at(-1)).toBe(3);
    const step = await get("/api/runs/mlp-1/metrics_step");
    expect(step.columns).not.toContain("epoch");
    const p = Bun.spawn(["python3", "-c", `import json, runicorn.api as api
m = api.connect(${JSON.stringify(url)}).get_metrics("mlp-1")
print(json.dumps({"columns": m["columns"], "first": m["rows"][0], "last": m["rows"][-1]}))`], {
      env: { ...process.env, PYTHONPATH: SDK },
      stdout: "pipe",
      stderr: "inherit",
    });
    const m = JSON.parse(await new Response(p.stdout).text());
    expect(await p.exited).toBe(0);
    expect(m.columns.slice(0, 2)).toEqual(["global_step", "epoch"]);
    expect(m.first.epoch).toBe(0);
    expect(m.last.epoch).toBe(null); // the last step holds the histogram only
  });

  it("serves the weight histograms per step and the images (tensor and figure) as PNG files", async () => {
    const hk = await get("/api/runs/mlp-1/histograms");
    expect(hk.keys).toEqual([{ key: "fc1/weight", steps: 4, first_step: 12, last_step: 48 }]);
    const h = await get("/api/runs/mlp-1/histograms?key=fc1/weight&points=2");
    expect(h.total).toBe(4);
    expect(h.steps.map((e: { step: number }) => e.step)).toEqual([12, 48]);
    for (const e of h.steps) {
      expect(e.counts).toHaveLength(32);
      expect(e.edges).toHaveLength(33);
      expect(e.counts.reduce((a: number, b: number) => a + b, 0)).toBe(16 * 8);
    }
    const imgs = (await get("/api/runs/mlp-1/images")).images as { key: string; url: string; caption: string | null }[];
    expect(imgs.filter((i) => i.key === "weights")).toHaveLength(4);
    expect(imgs.filter((i) => i.key === "curve")).toHaveLength(2); // once per process
    for (const img of [imgs[0], imgs.at(-1)!]) {
      const r = await fetch(url + img.url);
      expect(r.headers.get("content-type")).toBe("image/png");
      expect(new Uint8Array(await r.arrayBuffer()).slice(0, 4)).toEqual(new Uint8Array([0x89, 0x50, 0x4e, 0x47]));
    }
  });

  it("records a TensorBoard-style loop under runs/tb1 inside the storage root", async () => {
    expect(out.writer.code).toBe(0);
    const dir = out.writer.out.trim();
    expect(dir.startsWith(join(data, "runs", "runs", "tb1") + "/")).toBe(true);
    const id = dir.split("/").at(-1)!;
    const keys = await get(`/api/runs/${id}/keys`);
    const names = keys.keys.map((k: { key: string }) => k.key);
    expect(names).toEqual(expect.arrayContaining(["train/loss", "lr/group0", "hparam/final_loss"]));
    expect(keys.keys.find((k: { key: string }) => k.key === "train/loss").count).toBe(30);
    const h = await get(`/api/runs/${id}/histograms?key=linear/weight`);
    expect(h.steps.map((e: { step: number }) => e.step)).toEqual([15, 30]);
    expect((await get(`/api/runs/${id}/images`)).images).toHaveLength(2);
    const list = (await get("/api/runs")) as any[];
    expect(list.find((r) => r.id === id)).toMatchObject({ status: "finished", tags: ["tensorboard"] });
  });

  it("answers an unknown histogram key with no steps and bad parameters with 422", async () => {
    const none = await get("/api/runs/mlp-1/histograms?key=nope");
    expect(none).toMatchObject({ steps: [], total: 0 });
    for (const q of ["points=1", "points=x", "points=10001", "from=abc"]) {
      const r = await fetch(`${url}/api/runs/mlp-1/histograms?key=fc1/weight&${q}`);
      expect(r.status).toBe(422);
      expect((await r.json()).detail).toBeDefined();
    }
    expect((await fetch(`${url}/api/runs/nope-nope/histograms`)).status).toBe(404);
  });
});
