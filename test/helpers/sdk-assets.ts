// Writes runs with every kind of asset through the real Python SDK: a code snapshot, a config, a dataset, a pretrained model and outputs.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PROJECT } from "./server.ts";

const SCRIPT = `
import json, os, sys, time, runicorn as rn
root, ws = sys.argv[1], sys.argv[2]
os.chdir(ws)
ids = []
for alias in ("assets-a", "assets-b"):
    r = rn.init(path="vision/assets", storage=root, alias=alias, snapshot_code=True, workspace_root=ws)
    r.log_config(args={"lr": 0.01, "epochs": 3})
    r.log_dataset("digits", os.path.join(ws, "data"), context="train", save=True, description="tiny digits")
    r.log_pretrained("backbone", path_or_uri=os.path.join(ws, "pre", "model.bin"), save=True, source_type="local")
    r.log_pretrained("hub-model", path_or_uri="bert-base-uncased", source_type="huggingface")
    out = os.path.join(ws, "out-" + alias)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "model.pt"), "wb") as f:
        f.write(alias.encode() * 100)
    os.utime(os.path.join(out, "model.pt"), (time.time() - 30, time.time() - 30))
    for _ in range(3):
        r.scan_outputs_once(output_dirs=[out], patterns=["*.pt"], stable_required=1, min_age_sec=0)
    r.log({"loss": 1.0}, step=1)
    r.finish()
    ids.append(r.id)
print(json.dumps(ids))
`;

/** Writes two runs (`assets-a`, `assets-b`) that share a dataset, a pretrained model and a config; returns their ids. */
export function writeSdkAssets(root: string, dir: string, env: Record<string, string> = {}): string[] {
  const ws = join(dir, "workspace");
  mkdirSync(join(ws, "data", "train"), { recursive: true });
  mkdirSync(join(ws, "pre"), { recursive: true });
  mkdirSync(join(ws, ".git"), { recursive: true });
  writeFileSync(join(ws, "train.py"), "print('training')\n");
  writeFileSync(join(ws, "data", "train", "0.txt"), "zero\n");
  writeFileSync(join(ws, "data", "train", "1.txt"), "one\n");
  writeFileSync(join(ws, "pre", "model.bin"), Buffer.alloc(4096, 7));
  const py = Bun.spawnSync(["python3", "-c", SCRIPT, root, ws], {
    env: { ...process.env, HOME: join(dir, "home"), ...env, PYTHONPATH: join(PROJECT, "sdk/python"), RUNICORN_ON: "1" },
    cwd: ws,
  });
  if (py.exitCode !== 0) throw new Error(`python SDK failed: ${py.stderr.toString()}`);
  return JSON.parse(py.stdout.toString().trim().split("\n").pop() ?? "[]") as string[];
}
