"""Daily use from a training script: resume, init extras, steps, nested keys, images, histograms, console, TensorBoard API."""
from __future__ import annotations

import json
import os
import struct
import time
import warnings
import zlib
from pathlib import Path
from typing import Any, Dict, List

from tests.support import TempDirCase, run_python

import runicorn as rn  # noqa: E402
from runicorn._media import encode_png, image_bytes  # noqa: E402
from runicorn.console import LogManager  # noqa: E402
from runicorn.tensorboard import SummaryWriter, _path_from_log_dir  # noqa: E402


def lines(path: Path) -> List[Dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def metric_events(run: Any) -> List[Dict[str, Any]]:
    run.flush()
    return [e["data"] for e in lines(Path(run.run_dir) / "events.jsonl") if e["type"] == "metrics"]


def read_png(data: bytes) -> Dict[str, Any]:
    """Width, height, colour type and raw rows of an unfiltered 8-bit PNG (what encode_png writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, ihdr = 8, b"", b""
    while pos < len(data):
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        crc = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        if kind == b"IHDR":
            ihdr = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, ctype = struct.unpack(">IIBB", ihdr[:10])
    return {"w": w, "h": h, "depth": depth, "ctype": ctype, "raw": zlib.decompress(idat)}


class InitExtras(TempDirCase):
    def test_tags_notes_and_config_are_stored_where_the_viewer_and_the_original_read_them(self) -> None:
        r = rn.init(path="p", storage=str(self.tmp / "root"), tags=["baseline", " b "], notes="first try", config={"lr": 0.1})
        r.log_config({"epochs": 3}, extra={"opt": "sgd"})
        r.finish()
        meta = json.loads((Path(r.run_dir) / "meta.json").read_text())
        self.assertEqual((meta["tags"], meta["notes"]), (["baseline", "b"], "first try"))
        cfg = json.loads((Path(r.run_dir) / "assets.json").read_text())["config"]
        self.assertEqual(cfg["args"], {"epochs": 3})
        self.assertEqual(cfg["extra"], {"lr": 0.1, "opt": "sgd"})

    def test_log_config_takes_an_argparse_namespace_positionally_and_refuses_other_things(self) -> None:
        import argparse
        ns = argparse.Namespace(lr=0.01, bs=4)
        r = rn.init(storage=str(self.tmp / "root"))
        r.log_config(ns)
        cfg = json.loads((Path(r.run_dir) / "assets.json").read_text())["config"]
        self.assertEqual(cfg["args"], {"lr": 0.01, "bs": 4})
        with self.assertRaisesRegex(TypeError, "a config must be a dict"):
            r.log_config(42)
        r.finish()

    def test_bad_tags_notes_and_resume_modes_are_clear_errors(self) -> None:
        root = str(self.tmp / "root")
        with self.assertRaisesRegex(TypeError, "tags must be a list of strings"):
            rn.init(storage=root, tags="oops")  # type: ignore[arg-type]
        with self.assertRaisesRegex(TypeError, "notes must be a string"):
            rn.init(storage=root, notes=3)  # type: ignore[arg-type]
        with self.assertRaisesRegex(ValueError, "resume must be"):
            rn.init(storage=root, run_id="x1", resume="yes")
        with self.assertRaisesRegex(ValueError, "needs run_id"):
            rn.init(storage=root, resume="allow")


class Resume(TempDirCase):
    def test_allow_continues_the_step_counter_alias_tags_best_metric_and_status(self) -> None:
        root = str(self.tmp / "root")
        a = rn.init(path="cv/r", storage=root, run_id="res-1", alias="first", tags=["a"])
        a.set_primary_metric("acc")
        a.log({"acc": 0.5})
        a.log({"acc": 0.7}, step=10)
        a._finish("failed", "uncaught_exception")
        b = rn.init(path="cv/r", storage=root, run_id="res-1", resume="allow", tags=["b"])
        self.assertTrue(b.resumed)
        self.assertEqual(b.alias, "first")
        status = json.loads((Path(b.run_dir) / "status.json").read_text())
        self.assertEqual(status["status"], "running")
        self.assertNotIn("exit_reason", status)
        b.set_primary_metric("acc")
        b.log({"acc": 0.6})
        b.finish()
        self.assertEqual([d["global_step"] for d in metric_events(b)], [1, 10, 11])
        meta = json.loads((Path(b.run_dir) / "meta.json").read_text())
        self.assertEqual((meta["tags"], meta["alias"]), (["a", "b"], "first"))
        summary = json.loads((Path(b.run_dir) / "summary.json").read_text())
        self.assertEqual((summary["best_metric_value"], summary["best_metric_step"]), (0.7, 10))
        self.assertEqual(json.loads((Path(b.run_dir) / "status.json").read_text())["status"], "finished")

    def test_allow_starts_a_new_run_must_and_never_refuse_clearly(self) -> None:
        root = str(self.tmp / "root")
        with self.assertRaisesRegex(ValueError, "resume='must': no run 'nope'"):
            rn.init(path="p", storage=root, run_id="nope", resume="must")
        fresh = rn.init(path="p", storage=root, run_id="new-1", resume="allow")
        self.assertFalse(fresh.resumed)
        fresh.finish()
        with self.assertRaisesRegex(ValueError, "resume='never': run 'new-1' already exists"):
            rn.init(path="p", storage=root, run_id="new-1", resume="never")
        again = rn.init(path="p", storage=root, run_id="new-1", resume="must")
        self.assertTrue(again.resumed)
        again.finish()

    def test_one_custom_id_under_two_paths_is_refused(self) -> None:
        root = str(self.tmp / "root")
        rn.init(path="a", storage=root, run_id="same-id").finish()
        with self.assertRaisesRegex(ValueError, "run_id 'same-id' is already used by the run at path 'a'"):
            rn.init(path="b", storage=root, run_id="same-id")
        self.assertFalse((self.tmp / "root" / "runs" / "b" / "same-id").exists())


class LogRules(TempDirCase):
    def setUp(self) -> None:
        super().setUp()
        self.run = rn.init(path="t", storage=str(self.tmp / "root"))

    def tearDown(self) -> None:
        self.run.finish()
        super().tearDown()

    def test_nested_dicts_are_flattened_with_slashes_in_order(self) -> None:
        self.run.log({"loss": 1.0, "val": {"acc": 0.5, "top": {"k5": 0.9}}, "lr": 0.1})
        d = metric_events(self.run)[0]
        self.assertEqual(list(d)[:4], ["loss", "val/acc", "val/top/k5", "lr"])
        self.assertEqual(d["val/top/k5"], 0.9)

    def test_values_no_chart_can_show_warn_once_per_key(self) -> None:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            for i in range(3):
                self.run.log({"loss": 1.0 / (i + 1), "preds": [1, 2], "ok": True, "name": "x"})
        msgs = [str(w.message) for w in seen]
        self.assertEqual(len([m for m in msgs if "'preds' is a list" in m]), 1)
        self.assertFalse([m for m in msgs if "'loss'" in m or "'ok'" in m or "'name'" in m])

    def test_the_primary_metric_best_is_in_summary_while_the_run_is_live(self) -> None:
        self.run._hb_interval = 0.1
        self.run.set_primary_metric("val/loss", mode="min")
        for i, v in enumerate([0.9, 0.4, 0.6]):
            self.run.log({"val": {"loss": v}}, step=i + 1)
        summary = self.run.run_dir / "summary.json"
        deadline = time.time() + 5
        while time.time() < deadline:
            if summary.exists() and json.loads(summary.read_text()).get("best_metric_value") == 0.4:
                break
            time.sleep(0.05)
        s = json.loads(summary.read_text())
        self.assertEqual((s["best_metric_value"], s["best_metric_step"], s["best_metric_mode"]), (0.4, 2, "min"))
        self.assertEqual(json.loads((self.run.run_dir / "status.json").read_text())["status"], "running")


class Images(TempDirCase):
    def test_png_encoder_writes_a_valid_file_with_the_exact_pixels(self) -> None:
        raw = bytes(range(2 * 3 * 3))
        png = read_png(encode_png(raw, 3, 2, 3))
        self.assertEqual((png["w"], png["h"], png["depth"], png["ctype"]), (3, 2, 8, 2))
        self.assertEqual(png["raw"], b"\x00" + raw[:9] + b"\x00" + raw[9:])

    def test_anything_that_is_not_an_image_is_a_clear_type_error(self) -> None:
        r = rn.init(storage=str(self.tmp / "root"))
        for bad in (object(), 3.5, {"a": 1}, [[0, 1]]):
            with self.assertRaisesRegex(TypeError, "cannot save a .* as an image"):
                r.log_image("x", bad)
        with self.assertRaises(FileNotFoundError):
            r.log_image("x", str(self.tmp / "missing.png"))
        r.finish()

    def test_file_paths_and_bytes_are_copied_under_media_with_an_image_event(self) -> None:
        r = rn.init(storage=str(self.tmp / "root"))
        src = self.tmp / "pic.png"
        src.write_bytes(encode_png(b"\xff" * 4, 2, 2, 1))
        rel = r.log_image("val/sample", str(src), step=3, caption="c")
        rel2 = r.log_image("raw", src.read_bytes())
        with self.assertRaisesRegex(ValueError, "whole number"):
            r.log_image("x", src.read_bytes(), step=1.5)
        r.finish()
        self.assertEqual((Path(r.run_dir) / rel).read_bytes(), src.read_bytes())
        self.assertTrue((Path(r.run_dir) / rel2).is_file())
        ev = [e for e in lines(Path(r.run_dir) / "events.jsonl") if e["type"] == "image"]
        self.assertEqual(ev[0]["data"], {"key": "val/sample", "path": rel, "step": 3, "caption": "c"})
        self.assertNotIn("/", rel[len("media/"):])
        self.assertEqual(image_bytes(b"abc", "png", 90), (b"abc", "png"))


class Histograms(TempDirCase):
    def test_values_are_stored_as_bins_in_histograms_jsonl_not_in_events(self) -> None:
        r = rn.init(storage=str(self.tmp / "root"))
        r.log({"loss": 1.0, "w": rn.Histogram([0, 1, 1, 2, 3, float("nan")], bins=3)}, step=5)
        r.log({"lat": rn.Histogram(([3, 1], [0.0, 0.5, 2.0]))}, step=6)
        r.finish()
        h = lines(Path(r.run_dir) / "histograms.jsonl")
        self.assertEqual(h[0]["step"], 5)
        self.assertEqual(h[0]["key"], "w")
        self.assertEqual((h[0]["edges"], h[0]["counts"]), ([0.0, 1.0, 2.0, 3.0], [1, 2, 2]))
        self.assertEqual((h[0]["count"], h[0]["min"], h[0]["max"], h[0]["sum"], h[0]["nonfinite"]), (5, 0.0, 3.0, 7.0, 1))
        self.assertEqual((h[1]["key"], h[1]["counts"], h[1]["count"]), ("lat", [3, 1], 4))
        self.assertEqual(metric_events(r)[0]["loss"], 1.0)
        self.assertNotIn("w", metric_events(r)[0])

    def test_bad_histograms_are_refused(self) -> None:
        with self.assertRaisesRegex(ValueError, "bins must be an integer from 1 to 512"):
            rn.Histogram([1, 2], bins=0)
        with self.assertRaisesRegex(ValueError, "len\\(edges\\) == len\\(counts\\) \\+ 1"):
            rn.Histogram(([1, 2], [0.0, 1.0]))
        with self.assertRaisesRegex(TypeError, "must be numbers"):
            rn.Histogram(["a"])
        one = rn.Histogram([2.0, 2.0])
        self.assertEqual((one.counts, one.edges), ([2], [1.5, 2.5]))


class ConsoleAndLogging(TempDirCase):
    def test_a_logging_record_is_one_line_with_one_timestamp_when_console_capture_and_the_handler_are_both_on(self) -> None:
        code = """
import logging, runicorn as rn
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
r = rn.init(path="c", storage="root", capture_console=True)
logging.getLogger().addHandler(r.get_logging_handler())
logging.getLogger("train").info("epoch %d done", 1)
print("a plain print")
solo = logging.getLogger("solo"); solo.propagate = False
h = logging.StreamHandler(); h.setFormatter(logging.Formatter("%(asctime)s solo %(message)s")); solo.addHandler(h)
solo.warning("console only")
r.finish()
print(r.run_dir)
"""
        p = run_python(code, self.tmp)
        self.assertEqual(p.returncode, 0, p.stderr)
        log = (Path(p.stdout.strip().splitlines()[-1]) / "logs.txt").read_text().splitlines()
        epoch = [x for x in log if "epoch 1 done" in x]
        self.assertEqual(len(epoch), 1, log)
        self.assertRegex(epoch[0], r"^\d\d:\d\d:\d\d \| INFO \| train \| epoch 1 done$")
        self.assertEqual(len([x for x in log if x.endswith("] a plain print")]), 1)
        solo = [x for x in log if "console only" in x]
        self.assertEqual(len(solo), 1)
        self.assertRegex(solo[0], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ solo console only$")  # no second stamp
        LogManager.clear_all()


class InitLine(TempDirCase):
    def test_init_prints_id_directory_and_the_viewer_url_when_one_serves_the_root(self) -> None:
        root = self.tmp / "root"
        root.mkdir()
        (root / ".viewer.json").write_text(json.dumps({"url": "http://127.0.0.1:5555", "pid": os.getpid()}))
        p = run_python("import runicorn as rn\nr = rn.init(path='x', storage='root')\nprint(r.id)", self.tmp, env={"RUNICORN_QUIET": ""})
        self.assertEqual(p.returncode, 0, p.stderr)
        run_id = p.stdout.strip()
        self.assertIn("runicorn: started run %s in %s" % (run_id, root / "runs" / "x" / run_id), p.stderr)
        self.assertIn("view: http://127.0.0.1:5555/runs/%s" % run_id, p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1)

    def test_a_dead_viewer_is_not_advertised_and_the_default_root_is_explained(self) -> None:
        (self.tmp / ".runicorn").mkdir()
        (self.tmp / ".runicorn" / ".viewer.json").write_text(json.dumps({"url": "http://127.0.0.1:5555", "pid": 2 ** 22 + 7}))
        p = run_python("import runicorn as rn\nrn.init()", self.tmp, env={"RUNICORN_QUIET": ""})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("view:", p.stderr)
        self.assertIn("no storage root configured, so runs go to ./.runicorn", p.stderr)
        self.assertIn("RUNICORN_DIR", p.stderr)

    def test_runicorn_quiet_silences_it(self) -> None:
        p = run_python("import runicorn as rn\nrn.init(storage='root')", self.tmp, env={"RUNICORN_QUIET": "1"})
        self.assertEqual(p.stderr, "")


class TensorBoardWriter(TempDirCase):
    def test_log_dir_becomes_the_run_path_inside_the_storage_root(self) -> None:
        self.assertEqual(_path_from_log_dir("runs/exp1", ""), "runs/exp1")
        self.assertEqual(_path_from_log_dir("./runs/exp 2", "_lr0.1"), "runs/exp_2_lr0_1")
        self.assertEqual(_path_from_log_dir(None, ""), "runs")
        self.assertEqual(_path_from_log_dir("../../etc/x", ""), "etc/x")
        self.assertEqual(_path_from_log_dir(str(Path.cwd() / "tb" / "a"), ""), "tb/a")

    def test_the_writer_records_scalars_histograms_text_and_hparams_into_one_run(self) -> None:
        os.environ["RUNICORN_DIR"] = str(self.tmp / "root")
        with SummaryWriter("runs/exp1") as w:
            for step in range(1, 4):
                w.add_scalar("train/loss", 1.0 / step, step)
                w.add_scalars("acc", {"train": 0.5, "val": 0.4}, global_step=step)
            w.add_histogram("w", [0.1, 0.2, 0.3], 3, bins=2)
            w.add_text("note", "lr dropped", 2)
            w.add_hparams({"lr": 0.1}, {"hparam/acc": 0.9})
            run_dir = Path(w.get_logdir())
        self.assertEqual(run_dir.parent, self.tmp / "root" / "runs" / "runs" / "exp1")
        rows: Dict[int, Dict[str, Any]] = {}
        for d in [e["data"] for e in lines(run_dir / "events.jsonl") if e["type"] == "metrics"]:
            rows.setdefault(d["global_step"], {}).update(d)
        self.assertEqual(rows[2]["train/loss"], 0.5)
        self.assertEqual((rows[3]["acc/train"], rows[3]["acc/val"]), (0.5, 0.4))
        self.assertEqual(lines(run_dir / "histograms.jsonl")[0]["counts"], [1, 2])
        self.assertIn("[note @ 2] lr dropped", (run_dir / "logs.txt").read_text())
        self.assertEqual(json.loads((run_dir / "assets.json").read_text())["config"]["extra"], {"hparams": {"lr": 0.1}})
        self.assertEqual(json.loads((run_dir / "summary.json").read_text())["hparam/acc"], 0.9)
        self.assertEqual(json.loads((run_dir / "status.json").read_text())["status"], "finished")

    def test_a_writer_on_an_existing_run_leaves_it_open(self) -> None:
        r = rn.init(storage=str(self.tmp / "root"))
        w = SummaryWriter(run=r)
        w.add_scalar("x", 1, 1)
        w.close()
        self.assertEqual(json.loads((r.run_dir / "status.json").read_text())["status"], "running")
        r.finish()
