"""log_image, rn.Histogram and SummaryWriter with the real numpy, torch, PIL and matplotlib (Debian's /usr/bin/python3)."""
from __future__ import annotations

import json
import subprocess
import unittest
from pathlib import Path

from tests.support import SDK_DIR, TempDirCase

SYSTEM_PYTHON = "/usr/bin/python3"


def _has(mods: str) -> bool:
    try:
        return subprocess.run([SYSTEM_PYTHON, "-c", "import " + mods], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


HAVE = _has("numpy, torch, PIL, matplotlib")
WHY = "needs numpy, torch, PIL and matplotlib for %s (apt: python3-torch python3-pil python3-matplotlib)" % SYSTEM_PYTHON


def system_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(SDK_DIR), "XDG_CONFIG_HOME": str(cwd / "xdg"), "RUNICORN_QUIET": "1", "MPLBACKEND": "Agg",
           "PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run([SYSTEM_PYTHON, "-c", code], cwd=str(cwd), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=300)


@unittest.skipUnless(HAVE, WHY)
class RealLibraries(TempDirCase):
    def test_log_image_saves_arrays_tensors_pil_images_and_figures_with_the_right_pixels(self) -> None:
        code = r"""
import json, numpy as np, torch, runicorn as rn
from PIL import Image
import matplotlib.pyplot as plt
r = rn.init(path="img", storage="root")
out = {}
def px(rel):
    im = Image.open(r.run_dir / rel); im.load()
    return {"size": list(im.size), "mode": im.mode, "first": list(np.asarray(im).reshape(-1)[:4].tolist())}
g = np.zeros((4, 6), dtype=np.float32); g[0, 0] = 1.0; g[0, 1] = 0.5
out["float_gray"] = px(r.log_image("a", g, step=1))
rgb = np.zeros((4, 6, 3), dtype=np.uint8); rgb[0, 0] = [10, 20, 30]
out["uint8_hwc"] = px(r.log_image("b", rgb))
chw = np.zeros((3, 4, 6), dtype=np.float64); chw[:, 0, 0] = [1.0, 0.0, 2.0]
out["float_chw_clipped"] = px(r.log_image("c", chw))
out["uint16"] = px(r.log_image("d", np.full((2, 2), 65535, dtype=np.uint16)))
out["int64"] = px(r.log_image("e", np.array([[300, -5], [7, 8]], dtype=np.int64)))
out["bool"] = px(r.log_image("f", np.array([[True, False]])))
out["rgba"] = px(r.log_image("g", np.ones((2, 2, 4), dtype=np.float32)))
out["tensor_chw"] = px(r.log_image("h", torch.ones(3, 5, 7) * 0.5))
out["tensor_hwc_uint8"] = px(r.log_image("i", torch.full((5, 7, 3), 200, dtype=torch.uint8)))
out["tensor_grad"] = px(r.log_image("j", torch.rand(1, 3, 3, requires_grad=True)))
out["pil"] = px(r.log_image("k", Image.new("RGB", (9, 8), (1, 2, 3))))
out["pil_jpg"] = r.log_image("k2", Image.new("RGBA", (9, 8), (1, 2, 3, 4)), format="jpg")
fig, ax = plt.subplots(figsize=(2, 2)); ax.plot([0, 1], [1, 0])
out["figure"] = px(r.log_image("l", fig, caption="curve"))
errs = []
for bad in (np.zeros((2, 2, 2, 3)), np.zeros((2, 2, 5)), np.array([["a"]]), torch.zeros(0, 3)):
    try:
        r.log_image("bad", bad)
        errs.append("accepted")
    except (TypeError, ValueError) as e:
        errs.append(type(e).__name__)
out["errors"] = errs
r.finish()
print(json.dumps(out))
"""
        p = system_python(code, self.tmp)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout.strip().splitlines()[-1])
        self.assertEqual(out["float_gray"], {"size": [6, 4], "mode": "L", "first": [255, 128, 0, 0]})
        self.assertEqual(out["uint8_hwc"], {"size": [6, 4], "mode": "RGB", "first": [10, 20, 30, 0]})
        self.assertEqual(out["float_chw_clipped"]["first"][:3], [255, 0, 255])
        self.assertEqual(out["uint16"]["first"][:1], [255])
        self.assertEqual(out["int64"]["first"], [255, 0, 7, 8])
        self.assertEqual(out["bool"]["first"][:2], [255, 0])
        self.assertEqual(out["rgba"]["mode"], "RGBA")
        self.assertEqual((out["tensor_chw"]["size"], out["tensor_chw"]["first"][:3]), ([7, 5], [128, 128, 128]))
        self.assertEqual(out["tensor_hwc_uint8"]["first"][:3], [200, 200, 200])
        self.assertEqual(out["tensor_grad"]["size"], [3, 3])
        self.assertEqual((out["pil"]["size"], out["pil"]["first"][:3]), ([9, 8], [1, 2, 3]))
        self.assertTrue(out["pil_jpg"].endswith(".jpg"))
        self.assertEqual(out["figure"]["mode"], "RGBA")
        self.assertEqual(out["errors"], ["ValueError", "ValueError", "TypeError", "ValueError"])

    def test_histograms_of_numpy_arrays_and_tensors_match_numpy(self) -> None:
        code = r"""
import json, numpy as np, torch, runicorn as rn
vals = np.random.default_rng(0).normal(size=10000)
h = rn.Histogram(vals, bins=16)
c, e = np.histogram(vals, bins=16)
t = rn.Histogram(torch.tensor([[1.0, 2.0], [float("inf"), 3.0]]), bins=2)
print(json.dumps({"same": h.counts == c.tolist() and h.edges == e.tolist(), "count": h.count, "t": [t.counts, t.nonfinite]}))
"""
        p = system_python(code, self.tmp)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout.strip())
        self.assertEqual(out, {"same": True, "count": 10000, "t": [[1, 2], 1]})


if __name__ == "__main__":
    unittest.main()
