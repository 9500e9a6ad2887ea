"""Code snapshots and ignore rules, the blob store, output scanning, the index and environment capture."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
import zipfile
from pathlib import Path

from tests.support import TempDirCase

import runicorn as rn  # noqa: E402
from runicorn.assets import snapshot_workspace  # noqa: E402
from runicorn.assets.ignore import load_ignore_matcher  # noqa: E402


def write(p: Path, text: str = "x") -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def age(p: Path, seconds: float = 120) -> None:
    t = time.time() - seconds
    os.utime(str(p), (t, t))


class SnapshotRules(TempDirCase):
    def test_gitignore_rnignore_negation_anchors_and_directory_rules(self) -> None:
        ws = self.tmp / "ws"
        write(ws / ".gitignore", "*.log\n!keep.log\n/TOP.md\nbuild/\n# comment\n")
        write(ws / ".rnignore", "secret/\n")
        for rel in ("a.py", "x.log", "sub/y.log", "keep.log", "TOP.md", "sub/TOP.md", "build/o.bin", "sub/build/o.bin",
                    "secret/k.txt", "__pycache__/c.pyc", "b.pyc", "node_modules/m.js"):
            write(ws / rel)
        res = snapshot_workspace(ws, self.tmp / "s.zip")
        with zipfile.ZipFile(str(self.tmp / "s.zip")) as z:
            names = sorted(z.namelist())
        # .rnignore exists here, so its own rules replace the defaults (__pycache__/, *.pyc, node_modules/ come back).
        self.assertEqual(names, sorted([".gitignore", ".rnignore", "__pycache__/c.pyc", "a.py", "b.pyc", "keep.log",
                                        "node_modules/m.js", "sub/TOP.md"]))
        self.assertEqual(res["file_count"], len(names))

    def test_defaults_apply_without_creating_rnignore_in_the_repo(self) -> None:
        ws = self.tmp / "ws"
        for rel in ("a.py", "b.pyc", ".git/HEAD", ".venv/bin/python", "node_modules/m.js", "__pycache__/c.pyc"):
            write(ws / rel)
        snapshot_workspace(ws, self.tmp / "s.zip")
        with zipfile.ZipFile(str(self.tmp / "s.zip")) as z:
            self.assertEqual(z.namelist(), ["a.py"])
        self.assertFalse((ws / ".rnignore").exists())

    def test_anchored_rules_match_top_level_entries(self) -> None:
        m = load_ignore_matcher(self.tmp, extra_excludes=["/README.md", "/docs/"])
        self.assertTrue(m.is_ignored("README.md", False))
        self.assertFalse(m.is_ignored("sub/README.md", False))
        self.assertTrue(m.is_ignored("docs", True))

    def test_limits_raise_unless_forced(self) -> None:
        ws = self.tmp / "ws"
        for i in range(3):
            write(ws / ("f%d.py" % i), "x" * 100)
        with self.assertRaises(ValueError):
            snapshot_workspace(ws, self.tmp / "s.zip", max_files=2)
        with self.assertRaises(ValueError):
            snapshot_workspace(ws, self.tmp / "s.zip", max_total_bytes=150)
        self.assertEqual(snapshot_workspace(ws, self.tmp / "s.zip", max_files=2, force_snapshot=True)["file_count"], 3)

    def test_a_storage_root_inside_the_workspace_is_not_zipped_into_itself(self) -> None:
        ws = self.tmp / "ws"
        write(ws / "train.py")
        r = rn.init(path="s/x", storage=str(ws / ".runicorn"), workspace_root=str(ws), snapshot_code=True)
        r.finish()
        with zipfile.ZipFile(str(Path(r.run_dir) / "code_snapshot.zip")) as z:
            self.assertEqual(z.namelist(), ["train.py"])


class ArchiveAndIndex(TempDirCase):
    def _db(self, root: Path) -> list:
        conn = sqlite3.connect(str(root / "index" / "runicorn.db"))
        try:
            return conn.execute("SELECT a.asset_type, a.fingerprint_kind, a.fingerprint, a.is_archived, ra.run_id "
                                "FROM assets a JOIN run_assets ra USING(asset_id) ORDER BY ra.run_id, a.asset_type").fetchall()
        finally:
            conn.close()

    def test_identical_datasets_share_blobs_manifest_and_index_asset(self) -> None:
        root = self.tmp / "root"
        ds = self.tmp / "ds"
        write(ds / "a.csv", "1,2\n")
        write(ds / "sub" / "b.csv", "3,4\n")
        runs = []
        for _ in range(2):
            r = rn.init(path="d/x", storage=str(root))
            r.log_dataset("ds", str(ds), save=True)
            r.finish()
            runs.append(r)
        blobs = [p for p in (root / "archive" / "blobs").rglob("*") if p.is_file()]
        manifests = list((root / "archive" / "manifests" / "datasets").rglob("*.json"))
        self.assertEqual((len(blobs), len(manifests)), (2, 1))
        manifest = json.loads(manifests[0].read_text())
        self.assertEqual(sorted(manifest["files"]), ["a.csv", "sub/b.csv"])
        rows = self._db(root)
        self.assertEqual(len({row[2] for row in rows}), 1)
        self.assertEqual(sorted(row[4] for row in rows), sorted(r.id for r in runs))

    def test_unsaved_datasets_get_stat_fingerprints_and_too_large_ones_are_refused(self) -> None:
        root = self.tmp / "root"
        f = write(self.tmp / "data.bin", "x" * 50)
        r = rn.init(path="d/y", storage=str(root))
        r.log_dataset("file", str(f))
        r.log_dataset("missing", str(self.tmp / "nope"))
        r.log_dataset("meta", {"rows": 10})
        with self.assertRaises(ValueError):
            r.log_dataset("big", str(f), save=True, max_archive_bytes=10)
        r.log_dataset("big-forced", str(f), save=True, max_archive_bytes=10, force_save=True)
        with self.assertRaises(ValueError):
            r.log_pretrained("p", save=True)
        r.finish()
        ds = json.loads((Path(r.run_dir) / "assets.json").read_text())["datasets"]
        self.assertEqual(list(ds[0]["fingerprint"]), ["size_bytes", "mtime"])
        self.assertEqual((ds[1]["fingerprint"], ds[2]["uri"], ds[3]["saved"]), (None, {"rows": 10}, True))
        kinds = [row[1] for row in self._db(root)]
        self.assertIn("stat", kinds)

    def test_config_accepts_an_argparse_namespace(self) -> None:
        import argparse
        r = rn.init(path="c/x", storage=str(self.tmp / "root"))
        r.log_config(args=argparse.Namespace(lr=0.1, bs=8), config_files=["cfg/a.yaml"])
        r.log_config(extra={"note": "n"})
        r.finish()
        cfg = json.loads((Path(r.run_dir) / "assets.json").read_text())["config"]
        self.assertEqual(cfg, {"args": {"lr": 0.1, "bs": 8}, "config_files": ["cfg/a.yaml"], "extra": {"note": "n"}})


class OutputScanning(TempDirCase):
    def setUp(self) -> None:
        super().setUp()
        self.ws = self.tmp / "ws"
        self.out = self.ws / "out"
        self.run = rn.init(path="o/x", storage=str(self.tmp / "root"), workspace_root=str(self.ws))

    def tearDown(self) -> None:
        self.run.finish()
        super().tearDown()

    def _outputs(self) -> list:
        return json.loads((Path(self.run.run_dir) / "assets.json").read_text())["outputs"]

    def test_checkpoints_are_archived_once_stable_and_logs_right_away(self) -> None:
        ck = write(self.out / "last.pth", "w1")
        lg = write(self.out / "train.log", "l1")
        fresh = write(self.out / "new.pt", "n")
        age(ck)
        age(lg)
        s1 = self.run.scan_outputs_once(output_dirs=[str(self.out)])
        s2 = self.run.scan_outputs_once(output_dirs=[str(self.out)])
        s3 = self.run.scan_outputs_once(output_dirs=[str(self.out)])
        self.assertEqual([(s["scanned"], s["archived"]) for s in (s1, s2, s3)], [(3, 1), (3, 1), (3, 0)])
        outs = {o["key"]: o for o in self._outputs()}
        self.assertEqual(sorted(outs), ["out/last.pth", "out/train.log"])
        self.assertEqual(outs["out/last.pth"]["path"], "./out/last.pth")
        self.assertEqual(Path(outs["out/last.pth"]["archive_path"]).read_text(), "w1")
        self.assertEqual(outs["out/train.log"]["fingerprint_kind"], "stat")
        self.assertTrue(fresh.exists())

    def test_a_changed_checkpoint_replaces_the_rolling_copy_and_versions_mode_appends(self) -> None:
        ck = write(self.out / "m.ckpt", "v1")
        age(ck)
        for _ in range(2):
            self.run.scan_outputs_once(output_dirs=[str(self.out)], mode="overwrite_versions")
        ck.write_text("v2")
        age(ck, 60)
        for _ in range(2):
            self.run.scan_outputs_once(output_dirs=[str(self.out)], mode="overwrite_versions")
        outs = self._outputs()
        self.assertEqual([o["mode"] for o in outs], ["overwrite_versions", "overwrite_versions"])
        self.assertEqual([Path(o["archive_path"]).read_text() for o in outs], ["v1", "v2"])  # CAS blobs, both kept

    def test_directory_patterns_archive_whole_directories(self) -> None:
        d = self.out / "ckpt-1"
        write(d / "w.bin", "w")
        age(d / "w.bin")
        age(d)
        for _ in range(2):
            self.run.scan_outputs_once(output_dirs=[str(self.out)], patterns=["ckpt-*/"])
        (o,) = self._outputs()
        self.assertEqual((o["kind"], o["fingerprint_kind"]), ("dir", "sha256_manifest"))
        self.assertEqual((Path(o["archive_path"]) / ".complete").read_text(), "ok\n")

    def test_watch_outputs_scans_in_the_background_until_finish(self) -> None:
        ck = write(self.out / "w.pt", "w")
        age(ck)
        self.run.watch_outputs(output_dirs=[str(self.out)], interval_sec=0.05)
        end = time.time() + 5
        while time.time() < end and not (Path(self.run.run_dir) / "assets.json").read_text().count("w.pt"):
            time.sleep(0.05)
        self.run.stop_outputs_watch()
        self.assertEqual([o["key"] for o in self._outputs()], ["out/w.pt"])


class EnvironmentCapture(TempDirCase):
    def test_capture_env_writes_environment_json_with_git_state(self) -> None:
        ws = self.tmp / "repo"
        write(ws / "a.py")
        git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
        try:
            subprocess.run(["git", "init", "-q", str(ws)], check=True)
            subprocess.run(git + ["-C", str(ws), "add", "."], check=True)
            subprocess.run(git + ["-C", str(ws), "commit", "-qm", "c"], check=True)
        except (OSError, subprocess.CalledProcessError):
            self.skipTest("git not available")
        write(ws / "a.py", "changed")
        r = rn.init(path="e/x", storage=str(self.tmp / "root"), workspace_root=str(ws), capture_env=True)
        r.finish()
        env = json.loads((Path(r.run_dir) / "environment.json").read_text())
        self.assertEqual(list(env)[:3], ["python_version", "platform", "platform_details"])
        self.assertRegex(env["git_info"]["commit"], r"^[0-9a-f]{40}$")
        self.assertTrue(env["git_info"]["dirty"])
        self.assertIsInstance(env["pip_packages"], list)
