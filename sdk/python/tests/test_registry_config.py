"""rn.get_config (registry) and rn.get_effective_rnconfig, including the TOML fallback used before Python 3.11."""
from __future__ import annotations

from tests.support import TempDirCase

import runicorn as rn  # noqa: E402
from runicorn import _toml  # noqa: E402
from runicorn.registry import clear_registry_cache  # noqa: E402

SAMPLE = '''# comment
value = "root"
n = 1_000
f = 0.5
ok = true
list = [1, "two", [3]]
inline = { a = 1, "b c" = 'lit' }
[model]
name = "resnet"   # trailing comment
[model.opt]
lr = 1e-3
'''


class Registry(TempDirCase):
    def test_longest_prefix_file_wins_and_subkeys_are_looked_up(self) -> None:
        reg = self.tmp / "xdg" / "runicorn" / "registry"
        (reg / "data").mkdir(parents=True)
        (reg / "data.toml").write_text('value = "/data"\n[imagenet]\ntrain = "/data/in/train"\n')
        (reg / "data" / "coco.toml").write_text('value = "/coco"\n')
        clear_registry_cache()
        self.assertEqual(rn.get_config("data"), "/data")
        self.assertEqual(rn.get_config("data/imagenet/train"), "/data/in/train")
        self.assertEqual(rn.get_config("data/coco"), "/coco")
        with self.assertRaises(KeyError) as missing:
            rn.get_config("nothing/here")
        self.assertIn("Minimal template", str(missing.exception))
        with self.assertRaises(KeyError):
            rn.get_config("data/imagenet/val")
        with self.assertRaises(ValueError):
            rn.get_config("")

    def test_effective_rnconfig_deep_merges_project_over_user(self) -> None:
        (self.tmp / "xdg" / "runicorn").mkdir(parents=True)
        (self.tmp / "xdg" / "runicorn" / "rnconfig.toml").write_text('[a]\nx = 1\ny = 2\n[b]\nz = 3\n')
        ws = self.tmp / "ws"
        ws.mkdir()
        (ws / "rnconfig.toml").write_text('[a]\ny = 20\n')
        self.assertEqual(rn.get_effective_rnconfig(str(ws)), {"a": {"x": 1, "y": 20}, "b": {"z": 3}})

    def test_fallback_parser_reads_common_toml_like_tomllib(self) -> None:
        expected = {"value": "root", "n": 1000, "f": 0.5, "ok": True, "list": [1, "two", [3]],
                    "inline": {"a": 1, "b c": "lit"}, "model": {"name": "resnet", "opt": {"lr": 0.001}}}
        self.assertEqual(_toml._MiniToml(SAMPLE).parse(), expected)
        self.assertEqual(_toml.loads(SAMPLE), expected)
