"""Files written by this SDK compared key by key with the storage roots written by the original 0.6 SDK."""
from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
import unittest
from pathlib import Path
from typing import Any

from tests.support import FIXTURES, TempDirCase, only_run_dir, run_python

import runicorn as rn  # noqa: E402  (support puts the SDK on sys.path)
from runicorn.log_compat import MetricLogger  # noqa: E402


def keys_tree(obj: Any) -> Any:
    """Structure of a JSON value: key names in order for objects, element structure for lists."""
    if isinstance(obj, dict):
        return [(k, keys_tree(v)) for k, v in obj.items()]
    if isinstance(obj, list):
        return [keys_tree(obj[0])] if obj else []
    return None


def data_files(d: Path) -> list:
    """Relative names of the files under `d`, without lock files and SQLite side files (readers ignore both)."""
    return sorted(str(p.relative_to(d)) for p in d.rglob("*")
                  if p.is_file() and not p.name.endswith((".lock", "-wal", "-shm")))


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def table_columns(db: Path, scratch: Path) -> dict:
    # Work on a copy: even a read-only SQLite open may create -wal/-shm files next to the fixture.
    copy = scratch / ("schema-%s.db" % abs(hash(str(db))))
    copy.write_bytes(db.read_bytes())
    conn = sqlite3.connect(str(copy))
    try:
        out = {}
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table','index') AND name NOT LIKE 'sqlite_%' ORDER BY name"):
            out[name] = [tuple(r[1:6]) for r in conn.execute("PRAGMA table_info(%s)" % name)] if not name.startswith("idx_") else "index"
        return out
    finally:
        conn.close()


FIX1 = FIXTURES / "rn-data" / "runs" / "demo" / "exp1" / "20261129_031703_34b3d6"
FIX2 = FIXTURES / "rn-data2" / "runs" / "cv" / "yolo" / "20261129_031719_94b4ef"


@unittest.skipUnless(FIX1.is_dir(), "shared fixtures not present")
class MinimalRunMatchesOriginal(TempDirCase):
    """The spec §1.12 script, run with our SDK, against fixture rn-data."""

    def setUp(self) -> None:
        super().setUp()
        self.root = self.tmp / "rn-data"
        r = rn.init(path="demo/exp1", storage=str(self.root), alias="first")
        r.set_primary_metric("acc", mode="max")
        r.log({"loss": 0.5, "acc": 0.7}, step=1)
        r.log({"loss": 0.4, "acc": 0.8}, stage="train")
        r.log({"loss": float("nan"), "acc": 0.75, "epoch": 1, "note": "hello", "flag": True, "lst": [1, 2]}, stage="eval")
        r.log_text("hello text")
        r.summary({"final_loss": 0.4})
        r.log_config(args={"lr": 0.1}, extra={"bs": 32})
        r.finish()
        self.run_dir = only_run_dir(self.root)

    def test_creates_the_same_file_names_as_the_original(self) -> None:
        self.assertEqual(data_files(self.run_dir), data_files(FIX1))
        self.assertTrue((self.run_dir / "media").is_dir())
        self.assertEqual(data_files(self.root / "index"), ["runicorn.db"])
        self.assertTrue((self.root / "index" / "runicorn.db.lock").exists())

    def test_meta_summary_and_assets_have_the_original_keys_in_order(self) -> None:
        for name in ("meta.json", "summary.json", "assets.json"):
            self.assertEqual(keys_tree(load(self.run_dir / name)), keys_tree(load(FIX1 / name)), name)
        self.assertEqual(load(self.run_dir / "summary.json"), load(FIX1 / "summary.json"))
        self.assertEqual(load(self.run_dir / "assets.json"), load(FIX1 / "assets.json"))
        meta = load(self.run_dir / "meta.json")
        self.assertEqual((meta["path"], meta["alias"], meta["storage_dir"], meta["pid"]), ("demo/exp1", "first", str(self.root), os.getpid()))

    def test_json_files_are_pretty_printed_like_the_original(self) -> None:
        for name in ("meta.json", "status.json", "summary.json", "assets.json"):
            text = (self.run_dir / name).read_text(encoding="utf-8")
            self.assertTrue(text.startswith("{\n  \""), name)
            self.assertFalse(text.endswith("\n"), name)

    def test_status_keeps_the_original_keys_plus_heartbeat(self) -> None:
        ours = list(load(self.run_dir / "status.json"))
        theirs = list(load(FIX1 / "status.json"))
        self.assertEqual([k for k in ours if k != "heartbeat_at"], theirs)
        self.assertEqual(load(self.run_dir / "status.json")["status"], "finished")

    def test_event_lines_match_the_original_byte_layout(self) -> None:
        ours = (self.run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()
        theirs = (FIX1 / "events.jsonl").read_text(encoding="utf-8").splitlines()
        self.assertEqual(len(ours), len(theirs))
        num = re.compile(r"\d+\.\d+(e[-+]?\d+)?")
        for a, b in zip(ours, theirs):
            self.assertEqual(num.sub("T", a), num.sub("T", b))
            ev = json.loads(a)
            self.assertEqual(ev["ts"], ev["data"]["time"])
        self.assertIn('"loss": NaN', ours[2])

    def test_logs_line_has_the_log_text_format(self) -> None:
        self.assertRegex((self.run_dir / "logs.txt").read_text(encoding="utf-8"), r"^\d\d:\d\d:\d\d \| hello text\n$")

    def test_index_db_has_the_original_schema_and_rows(self) -> None:
        ours, theirs = self.root / "index" / "runicorn.db", FIXTURES / "rn-data" / "index" / "runicorn.db"
        self.assertEqual(table_columns(ours, self.tmp), table_columns(theirs, self.tmp))
        conn = sqlite3.connect(str(ours))
        try:
            run = conn.execute("SELECT path, alias, status, run_dir, ended_at IS NOT NULL FROM runs").fetchall()
            self.assertEqual(run, [("demo/exp1", "first", "finished", str(self.run_dir), 1)])
            assets = conn.execute("SELECT asset_type, is_archived, metadata_json FROM assets").fetchall()
            links = conn.execute("SELECT role FROM run_assets").fetchall()
            self.assertEqual(conn.execute("PRAGMA journal_mode").fetchone()[0], "wal")
        finally:
            conn.close()
        self.assertEqual(assets, [("config", 0, '{"args": {"lr": 0.1}, "extra": {"bs": 32}}')])
        self.assertEqual(links, [("config",)])


@unittest.skipUnless(FIX2.is_dir(), "shared fixtures not present")
class AssetRichRunMatchesOriginal(unittest.TestCase):
    """Snapshot, console, image, dataset, pretrained, outputs and MetricLogger against fixture rn-data2."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = Path(tempfile.mkdtemp(prefix="rn-py-test-"))
        ws = cls.tmp / "rnws"
        (ws / "src").mkdir(parents=True)
        (ws / "README.md").write_text("hello\n")
        (ws / ".gitignore").write_text("*.tmp\n")
        (ws / "src" / "train.py").write_text("print(1)\n")
        (ws / "pre").mkdir()
        (ws / "pre" / "model.bin").write_bytes(b"weights\n")
        ds = ws / "data" / "ds1"
        ds.mkdir(parents=True)
        blobs = FIXTURES / "rn-data2" / "archive" / "blobs"
        (ds / "a.csv").write_bytes((blobs / "5b" / "5be08c9684a1d25efcee09318204824278b08bbfb4aef973ffefd0b9d7478313").read_bytes())
        (ds / "b.csv").write_bytes((blobs / "94" / "941539c2bda44dd034f6e20dbf5e548f118afacf89121ce53aad167350ce474b").read_bytes())
        out = ws / "outputs"
        out.mkdir()
        (out / "train.log").write_text("epoch1\n")
        (out / "last.pth").write_bytes(b"ckpt!!")
        old = time.time() - 120
        for f in (out / "train.log", out / "last.pth"):
            os.utime(f, (old, old))
        cls.root = cls.tmp / "rn-data2"
        code = (
            "import runicorn as rn, logging\n"
            "from runicorn.log_compat import MetricLogger\n"
            "r = rn.init(path='cv/yolo', storage=%r, workspace_root=%r, snapshot_code=True, capture_console=True)\n"
            "print('hello stdout')\n"
            "import sys; print('err line', file=sys.stderr)\n"
            "sys.stdout.write('progress 10%%\\rprogress 50%%\\rprogress 100%%\\n')\n"
            "lg = logging.getLogger('train'); lg.setLevel(logging.INFO); lg.addHandler(r.get_logging_handler()); lg.info('from logging')\n"
            "p = r.log_image('sample', b'\\x89PNG fake data', step=3, caption='cap'); print('image path', p)\n"
            "r.log_dataset('ds1', %r, save=True, description='tiny')\n"
            "r.log_dataset('remote-ds', 's3://bucket/x', context='eval')\n"
            "r.log_pretrained('backbone', path_or_uri=%r, save=True, source_type='local')\n"
            "r.log_pretrained('hf', path_or_uri='bert-base', source_type='huggingface')\n"
            "s1 = r.scan_outputs_once(output_dirs=[%r]); s2 = r.scan_outputs_once(output_dirs=[%r])\n"
            "s1.pop('archived_entries'); s2.pop('archived_entries'); print('scan1', s1, 'scan2', s2)\n"
            "ml = MetricLogger(delimiter='  ')\n"
            "for i in ml.log_every(range(3), 2, header='Epoch: [0]'):\n"
            "    ml.update(loss=i / 10, lr=0.01)\n"
            "r.finish()\n" % (str(cls.root), str(ws), str(ds), str(ws / "pre" / "model.bin"), str(out), str(out)))
        res = run_python(code, cls.tmp)
        if res.returncode != 0:
            raise AssertionError(res.stderr)
        cls.run_dir = only_run_dir(cls.root)

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_writes_the_same_file_names_as_the_original(self) -> None:
        def names(d: Path) -> list:
            return [re.sub(r"^media/\d+_[0-9a-f]{6}_", "media/X_", n) for n in data_files(d)]
        self.assertEqual([n for n in names(self.run_dir) if n != "media/X_sample.png"], [n for n in names(FIX2) if n != "media/X_sample.png"])
        self.assertIn("media/X_sample.png", names(self.run_dir))

    def test_assets_json_has_the_original_structure(self) -> None:
        ours, theirs = load(self.run_dir / "assets.json"), load(FIX2 / "assets.json")
        self.assertEqual(keys_tree(ours["code"]), keys_tree(theirs["code"]))
        self.assertEqual([keys_tree(d) for d in ours["datasets"]], [keys_tree(d) for d in theirs["datasets"]])
        self.assertEqual([keys_tree(d) for d in ours["pretrained"]], [keys_tree(d) for d in theirs["pretrained"]])
        self.assertEqual(sorted(keys_tree(d) for d in ours["outputs"]), sorted(keys_tree(d) for d in theirs["outputs"]))
        # Same dataset bytes → the same content-addressed fingerprint as the original computed.
        self.assertEqual(ours["datasets"][0]["fingerprint"], theirs["datasets"][0]["fingerprint"])
        self.assertEqual(ours["datasets"][1]["uri"], "s3://bucket/x")  # spec §10.12: not mangled to s3:/
        self.assertEqual(ours["pretrained"][0]["fingerprint"], "1b465fa6b6bcbc06a3199e3d2d8aec35d37494a712f888b6d5536684dd89d0f0")
        self.assertEqual({o["key"] for o in ours["outputs"]}, {"outputs/train.log", "outputs/last.pth"})
        snap = ours["code"]["snapshot"]
        self.assertTrue(Path(snap["archive_path"]).is_file())
        self.assertEqual(Path(snap["archive_path"]).name, snap["fingerprint"])

    def test_archive_layout_matches_the_original(self) -> None:
        def rel(root: Path) -> list:
            return sorted(str(p.relative_to(root / "archive")) for p in (root / "archive").rglob("*") if p.is_file())
        ours, theirs = rel(self.root), rel(FIXTURES / "rn-data2")
        self.assertEqual([x for x in ours if x.startswith("manifests")], [x for x in theirs if x.startswith("manifests")])
        strip = lambda xs: sorted(re.sub(r"rolling/[^/]+/", "rolling/RUN/", x) for x in xs if x.startswith("outputs"))  # noqa: E731
        self.assertEqual(strip(ours), strip(theirs))
        manifest = next((self.root / "archive" / "manifests").rglob("*.json"))
        fix_manifest = next((FIXTURES / "rn-data2" / "archive" / "manifests").rglob("*.json"))
        self.assertEqual(keys_tree(load(manifest)), keys_tree(load(fix_manifest)))
        self.assertEqual(load(manifest)["files"], load(fix_manifest)["files"])

    def test_outputs_state_has_the_original_keys(self) -> None:
        ours, theirs = load(self.run_dir / ".outputs_state.json"), load(FIX2 / ".outputs_state.json")
        self.assertEqual(keys_tree(ours), keys_tree(theirs))

    def test_logs_have_the_original_line_formats(self) -> None:
        ours = (self.run_dir / "logs.txt").read_text(encoding="utf-8").splitlines()
        theirs = (FIX2 / "logs.txt").read_text(encoding="utf-8").splitlines()
        norm = lambda s: re.sub(r"\d\d:\d\d:\d\d", "T", re.sub(r"\d+_[0-9a-f]{6}_sample", "X", re.sub(r"'run_id': '[^']+'", "ID", re.sub(r"\d+\.\d{4}", "F", s))))  # noqa: E731
        self.assertEqual([norm(x) for x in ours], [norm(x) for x in theirs])

    def test_image_and_metric_events_have_the_original_shape(self) -> None:
        ours = [json.loads(x) for x in (self.run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()]
        theirs = [json.loads(x) for x in (FIX2 / "events.jsonl").read_text(encoding="utf-8").splitlines()]
        self.assertEqual([keys_tree(e) for e in ours], [keys_tree(e) for e in theirs])
        self.assertEqual(ours[0]["data"]["step"], 3)
        self.assertEqual((self.run_dir / ours[0]["data"]["path"]).read_bytes(), b"\x89PNG fake data")

    def test_snapshot_holds_the_workspace_files(self) -> None:
        import zipfile
        with zipfile.ZipFile(str(self.run_dir / "code_snapshot.zip")) as z:
            names = set(z.namelist())
        self.assertTrue({"README.md", ".gitignore", "src/train.py", "data/ds1/a.csv", "outputs/last.pth"} <= names, names)
        self.assertFalse(any(n.startswith("rn-data2") for n in names))

    def test_index_records_every_asset_kind(self) -> None:
        conn = sqlite3.connect(str(self.root / "index" / "runicorn.db"))
        try:
            rows = sorted(conn.execute("SELECT a.asset_type, ra.role, a.is_archived FROM assets a JOIN run_assets ra USING(asset_id)"))
        finally:
            conn.close()
        self.assertEqual(rows, sorted([("code_snapshot", "code", 1), ("dataset", "dataset", 1), ("dataset", "dataset", 0),
                                       ("pretrained", "pretrained", 1), ("pretrained", "pretrained", 0),
                                       ("output", "output", 1), ("output", "output", 1)]))


if __name__ == "__main__":
    unittest.main()
