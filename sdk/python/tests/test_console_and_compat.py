"""Console capture (tqdm modes), the logging handler and the torchvision-style MetricLogger (spec §2.5, §2.6)."""
from __future__ import annotations

import io
import json
import logging
import re
import sys
import warnings
from pathlib import Path
from typing import List

from tests.support import TempDirCase

import runicorn as rn  # noqa: E402
from runicorn.console import ConsoleCapture, LogManager  # noqa: E402
from runicorn.log_compat import MetricLogger, SmoothedValue  # noqa: E402


def log_lines(path: Path) -> List[str]:
    LogManager.get_instance(path).flush()
    LogManager.release_instance(path)
    return [re.sub(r"^\[\d\d:\d\d:\d\d\] ", "", x) for x in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


class ConsoleModes(TempDirCase):
    def _capture(self, mode: str, chunks: List[str]) -> List[str]:
        path = self.tmp / ("%s.txt" % mode)
        term = io.StringIO()
        saved = sys.stdout
        sys.stdout = term
        try:
            cap = ConsoleCapture(path, tqdm_mode=mode, capture_stderr=False)
            cap.start()
            for c in chunks:
                sys.stdout.write(c)
            cap.stop()
        finally:
            sys.stdout = saved
        self.assertEqual(term.getvalue(), "".join(chunks))  # the terminal still sees everything
        return log_lines(path)

    def test_smart_mode_keeps_the_final_progress_state_and_joins_partial_writes(self) -> None:
        chunks = ["progress 10%\rprogress 50%\rprogress 100%\n", "a", "b\n", "\n", "   \n", "tail without newline"]
        self.assertEqual(self._capture("smart", chunks), ["progress 100%", "ab", "tail without newline"])

    def test_all_mode_turns_carriage_returns_into_lines_per_write(self) -> None:
        self.assertEqual(self._capture("all", ["p 1\rp 2\n", "a", "b\n"]), ["p 1", "p 2", "a", "b"])

    def test_none_mode_drops_writes_with_carriage_returns(self) -> None:
        self.assertEqual(self._capture("none", ["p 1\rp 2\n", "kept\n"]), ["kept"])

    def test_lines_carry_a_local_time_prefix(self) -> None:
        path = self.tmp / "ts.txt"
        saved = sys.stdout
        sys.stdout = io.StringIO()
        try:
            with ConsoleCapture(path, capture_stderr=False):
                print("x")
        finally:
            sys.stdout = saved
        LogManager.get_instance(path).flush()
        LogManager.release_instance(path)
        self.assertRegex(path.read_text(encoding="utf-8"), r"^\[\d\d:\d\d:\d\d\] x\n$")

    def test_init_capture_console_tees_stdout_and_stderr_until_finish(self) -> None:
        out, err = io.StringIO(), io.StringIO()
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        try:
            r = rn.init(path="c/x", storage=str(self.tmp / "root"), capture_console=True)
            print("to stdout")
            print("to stderr", file=sys.stderr)
            r.finish()
            print("after finish")
        finally:
            sys.stdout, sys.stderr = saved
        lines = log_lines(Path(r.run_dir) / "logs.txt")
        self.assertEqual(lines, ["to stdout", "to stderr"])
        self.assertIn("after finish", out.getvalue())


class LoggingHandler(TempDirCase):
    def test_default_format_and_custom_format(self) -> None:
        r = rn.init(path="l/x", storage=str(self.tmp / "root"))
        lg = logging.getLogger("rn-test-handler")
        lg.setLevel(logging.DEBUG)
        lg.propagate = False
        h1 = r.get_logging_handler()
        h2 = r.get_logging_handler(level=logging.WARNING, fmt="%(levelname)s:%(message)s")
        lg.addHandler(h1)
        lg.addHandler(h2)
        try:
            lg.debug("hidden")
            lg.info("shown")
            lg.warning("both")
        finally:
            lg.removeHandler(h1)
            lg.removeHandler(h2)
            h1.close()
            h2.close()
        r.finish()
        text = (Path(r.run_dir) / "logs.txt").read_text(encoding="utf-8").splitlines()
        self.assertEqual([re.sub(r"^\d\d:\d\d:\d\d", "T", x) for x in text],
                         ["T | INFO | rn-test-handler | shown", "T | WARNING | rn-test-handler | both", "WARNING:both"])

    def test_a_handler_without_a_run_follows_the_active_run(self) -> None:
        from runicorn.console import RunicornLoggingHandler
        h = RunicornLoggingHandler()
        rec = logging.LogRecord("n", logging.INFO, __file__, 1, "msg", None, None)
        with rn.enabled(False):
            rn.init()
        h.emit(rec)  # no active run: dropped silently
        r = rn.init(path="l/y", storage=str(self.tmp / "root"))
        h.emit(rec)
        h.close()
        h.emit(rec)  # closed: ignored
        r.finish()
        self.assertEqual(len((Path(r.run_dir) / "logs.txt").read_text(encoding="utf-8").splitlines()), 1)


class TorchvisionCompat(TempDirCase):
    def test_smoothed_value_statistics(self) -> None:
        v = SmoothedValue(window_size=3)
        for x in (1.0, 5.0, 3.0, 4.0):
            v.update(x)
        self.assertEqual((v.median, v.avg, v.max, v.value, v.global_avg), (4.0, 4.0, 5.0, 4.0, 13.0 / 4))
        self.assertEqual(str(v), "4.0000 (3.2500)")
        w = SmoothedValue()
        w.update(2.0, n=3)
        self.assertEqual(w.global_avg, 2.0)

    def test_update_logs_numbers_to_the_active_run_and_skips_others_with_a_warning(self) -> None:
        r = rn.init(path="m/x", storage=str(self.tmp / "root"))
        ml = MetricLogger(delimiter="  ")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ml.update(loss=0.5, lr=0.1, name="text")
        self.assertTrue(any(issubclass(w.category, UserWarning) for w in caught))
        ml.update(loss=0.25)
        r.finish()
        evs = [json.loads(x)["data"] for x in (Path(r.run_dir) / "events.jsonl").read_text(encoding="utf-8").splitlines()]
        self.assertEqual([(e.get("loss"), e.get("lr"), e["global_step"]) for e in evs], [(0.5, 0.1, 1), (0.25, None, 2)])
        self.assertIs(ml.loss, ml.meters["loss"])
        self.assertEqual(str(ml), "loss: 0.2500 (0.3750)  lr: 0.1000 (0.1000)")

    def test_log_every_prints_progress_and_always_the_total_time(self) -> None:
        ml = MetricLogger(delimiter="  ")
        out = io.StringIO()
        saved = sys.stdout
        sys.stdout = out
        try:
            with self.assertRaises(KeyError):
                for i in ml.log_every(range(5), 2, header="Epoch: [0]"):
                    ml.meters["x"].update(float(i))
                    if i == 3:
                        raise KeyError("stop")
        finally:
            sys.stdout = saved
        lines = out.getvalue().splitlines()
        self.assertRegex(lines[0], r"^Epoch: \[0\]  \[0/5\]  eta: \d:\d\d:\d\d  x: 0\.0000 \(0\.0000\)  time: \d\.\d{4}  data: \d\.\d{4}$")
        self.assertRegex(lines[-1], r"^Epoch: \[0\] Total time: 0:00:00 \(\d\.\d{4} s / it\)$")
        self.assertEqual(len(lines), 3)
