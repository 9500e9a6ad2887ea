"""Run semantics of spec §2.2-§2.3: init arguments, path rules, steps, stages, summary, enabled switch."""
from __future__ import annotations

import json
import math
import os
import re
import warnings
from pathlib import Path
from typing import Any, List

from tests.support import TempDirCase, only_run_dir

import runicorn as rn  # noqa: E402
from runicorn.config import save_user_config  # noqa: E402


def events(run: Any) -> List[dict]:
    run.flush()
    path = Path(run.run_dir) / "events.jsonl"
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


class StepAndStage(TempDirCase):
    def setUp(self) -> None:
        super().setUp()
        self.run = rn.init(path="t/steps", storage=str(self.tmp / "root"))

    def tearDown(self) -> None:
        self.run.finish()
        super().tearDown()

    def test_auto_steps_start_at_one_and_continue_from_an_explicit_step_even_backwards(self) -> None:
        r = self.run
        r.log({"a": 1})
        r.log({"a": 2})
        r.log({"a": 3}, step=10)
        r.log({"a": 4})
        r.log({"a": 5}, step=2)
        r.log({"a": 6})
        self.assertEqual([e["data"]["global_step"] for e in events(r)], [1, 2, 10, 11, 2, 3])

    def test_user_step_keys_are_dropped_and_stage_moves_to_the_tail(self) -> None:
        self.run.log({"step": 99, "global_step": 98, "stage": "val", "loss": 1.5, "acc": 0.1})
        data = events(self.run)[0]["data"]
        self.assertEqual(list(data), ["loss", "acc", "global_step", "time", "stage"])
        self.assertEqual((data["global_step"], data["stage"]), (1, "val"))

    def test_explicit_stage_overrides_the_stage_in_the_dict(self) -> None:
        self.run.log({"stage": "val", "x": 1}, stage="train")
        self.run.log({"x": 2}, stage="eval")
        self.run.log({"x": 3})
        evs = events(self.run)
        self.assertEqual([e["data"].get("stage") for e in evs], ["train", "eval", None])
        self.assertNotIn("stage", evs[2]["data"])

    def test_keyword_metrics_are_merged_after_the_dict(self) -> None:
        self.run.log({"a": 1, "b": 2}, b=3, c=4)
        self.run.log(loss=0.5)
        evs = events(self.run)
        self.assertEqual(list(evs[0]["data"])[:3], ["a", "b", "c"])
        self.assertEqual((evs[0]["data"]["b"], evs[1]["data"]["loss"]), (3, 0.5))

    def test_a_step_that_is_not_a_whole_number_is_refused_and_the_counter_kept(self) -> None:
        self.run.log({"a": 1}, step=5)
        with self.assertRaisesRegex(TypeError, "step must be an integer, got str"):
            self.run.log({"a": 2}, step="not-a-number")  # type: ignore[arg-type]
        with self.assertRaisesRegex(ValueError, "whole number, got 3.7"):
            self.run.log({"a": 2}, step=3.7)
        with self.assertRaises(TypeError):
            self.run.log({"a": 2}, step=True)
        self.run.log({"a": 3}, step=7.0)  # a whole float is that step
        self.run.log({"a": 4})
        self.assertEqual([e["data"]["global_step"] for e in events(self.run)], [5, 7, 8])

    def test_non_finite_values_use_python_json_tokens(self) -> None:
        self.run.log({"n": float("nan"), "p": float("inf"), "m": float("-inf"), "u": "ü"})
        self.run.flush()
        line = (Path(self.run.run_dir) / "events.jsonl").read_text(encoding="utf-8")
        self.assertIn('"n": NaN, "p": Infinity, "m": -Infinity, "u": "ü"', line)

    def test_array_scalars_are_converted_instead_of_crashing(self) -> None:
        class Scalar:  # what numpy.float32 / a 0-d tensor look like to the encoder
            def tolist(self) -> float:
                return 0.25
        self.run.log({"x": Scalar(), "nested": {"y": [Scalar()]}})
        self.assertEqual(events(self.run)[0]["data"]["x"], 0.25)
        self.assertEqual(events(self.run)[0]["data"]["nested/y"], [0.25])
        with self.assertRaises(TypeError):
            self.run.log({"bad": object()})

    def test_an_empty_log_still_records_step_and_time(self) -> None:
        self.run.log()
        self.run.log({}, stage="s")
        evs = events(self.run)
        self.assertEqual(list(evs[0]["data"]), ["global_step", "time"])
        self.assertEqual(list(evs[1]["data"]), ["global_step", "time", "stage"])

    def test_the_callers_dict_is_not_modified(self) -> None:
        d = {"step": 3, "stage": "x", "v": 1}
        self.run.log(d)
        self.assertEqual(d, {"step": 3, "stage": "x", "v": 1})


class BestMetricAndSummary(TempDirCase):
    def _run(self) -> Any:
        return rn.init(path="t/best", storage=str(self.tmp / "root"))

    def _summary(self, r: Any) -> dict:
        return json.loads((Path(r.run_dir) / "summary.json").read_text(encoding="utf-8"))

    def test_best_max_value_and_its_step_are_written_at_finish_only(self) -> None:
        r = self._run()
        r.set_primary_metric("acc", mode="max")
        for step, acc in [(1, 0.5), (2, 0.9), (3, 0.7), (4, 0.9)]:
            r.log({"acc": acc}, step=step)
        self.assertFalse((Path(r.run_dir) / "summary.json").exists())
        r.finish()
        self.assertEqual(self._summary(r), {"best_metric_value": 0.9, "best_metric_name": "acc", "best_metric_step": 2, "best_metric_mode": "max"})

    def test_min_mode_ignores_nan_and_non_numbers(self) -> None:
        r = self._run()
        r.set_primary_metric("loss", mode="min")
        r.log({"loss": float("nan")})
        r.log({"loss": "n/a"})
        r.log({"loss": 0.3})
        r.log({"loss": 0.1})
        r.log({"other": 0.0})
        r.finish()
        self.assertEqual((self._summary(r)["best_metric_value"], self._summary(r)["best_metric_step"]), (0.1, 4))

    def test_a_bad_mode_is_rejected(self) -> None:
        r = self._run()
        with self.assertRaises(ValueError):
            r.set_primary_metric("acc", mode="best")
        r.finish()

    def test_summary_merges_shallowly_and_keeps_user_keys_next_to_the_best_metric(self) -> None:
        r = self._run()
        r.summary({"a": 1, "nested": {"x": 1}})
        r.summary({"b": 2, "nested": {"y": 2}})
        r.set_primary_metric("acc")
        r.log({"acc": 1})
        r.finish()
        self.assertEqual(list(self._summary(r)), ["a", "nested", "b", "best_metric_value", "best_metric_name", "best_metric_step", "best_metric_mode"])
        self.assertEqual(self._summary(r)["nested"], {"y": 2})

    def test_log_text_appends_time_prefixed_lines(self) -> None:
        r = self._run()
        r.log_text("one")
        r.log_text("two")
        r.finish()
        lines = (Path(r.run_dir) / "logs.txt").read_text(encoding="utf-8").splitlines()
        self.assertEqual([re.sub(r"^\d\d:\d\d:\d\d", "T", x) for x in lines], ["T | one", "T | two"])


class StatusLifecycle(TempDirCase):
    def _status(self, r: Any) -> dict:
        return json.loads((Path(r.run_dir) / "status.json").read_text(encoding="utf-8"))

    def test_a_live_run_is_running_with_a_heartbeat(self) -> None:
        r = rn.init(path="t/s", storage=str(self.tmp / "root"))
        st = self._status(r)
        self.assertEqual(st["status"], "running")
        self.assertAlmostEqual(st["heartbeat_at"], st["started_at"], delta=1.0)
        r.finish("interrupted")
        self.assertEqual(self._status(r)["status"], "interrupted")
        self.assertIn("ended_at", self._status(r))

    def test_context_manager_marks_failed_on_exception_and_finished_otherwise(self) -> None:
        with rn.init(path="t/ok", storage=str(self.tmp / "root")) as ok:
            ok.log({"a": 1})
        with self.assertRaises(RuntimeError):
            with rn.init(path="t/bad", storage=str(self.tmp / "root")) as bad:
                raise RuntimeError("boom")
        self.assertEqual((self._status(ok)["status"], self._status(bad)["status"]), ("finished", "failed"))
        self.assertEqual(len(events(ok)), 1)

    def test_finishing_twice_rewrites_ended_at(self) -> None:
        r = rn.init(path="t/twice", storage=str(self.tmp / "root"))
        r.finish()
        first = self._status(r)["ended_at"]
        r.finish()
        self.assertGreaterEqual(self._status(r)["ended_at"], first)

    def test_events_logged_after_finish_still_reach_the_file(self) -> None:
        r = rn.init(path="t/late", storage=str(self.tmp / "root"))
        r.finish()
        r.log({"late": 1})
        self.assertEqual(events(r)[0]["data"]["late"], 1)

    def test_init_sets_the_active_run(self) -> None:
        r = rn.init(path="t/active", storage=str(self.tmp / "root"))
        self.assertIs(rn.get_active_run(), r)
        r.finish()
        self.assertIs(rn.get_active_run(), r)  # never cleared by finish(), as in 0.6


class InitArguments(TempDirCase):
    def test_path_rules(self) -> None:
        root = self.tmp / "root"
        cases = [(None, "default", "runs/default"), ("/", "", "runs"), ("", "", "runs"), ("/cv/yolo/", "cv/yolo", "runs/cv/yolo"),
                 ("a\\b", "a/b", "runs/a/b"), ("a/b//c", "a/b/c", "runs/a/b/c")]  # "//" collapsed: spec §10.12
        for given, meta_path, parent in cases:
            r = rn.init(path=given, storage=str(root))
            r.finish()
            meta = json.loads((Path(r.run_dir) / "meta.json").read_text(encoding="utf-8"))
            self.assertEqual(meta["path"], meta_path, given)
            self.assertEqual(Path(r.run_dir).parent, root / parent, given)
        for bad_id in ("../x", "a/b", ".hidden", "", " sp"):
            if bad_id:
                with self.assertRaises(ValueError, msg=bad_id):
                    rn.init(path="ids", storage=str(root), run_id=bad_id)
        for bad in ("has space", "dots.in", "../up", "ü", "x" * 201):
            with self.assertRaises(ValueError, msg=bad):
                rn.init(path=bad, storage=str(root))

    def test_run_ids_have_the_original_format_and_custom_ids_are_kept(self) -> None:
        r = rn.init(storage=str(self.tmp / "root"))
        r.finish()
        self.assertRegex(r.id, r"^\d{8}_\d{6}_[0-9a-f]{6}$")
        c = rn.init(storage=str(self.tmp / "root"), run_id="my-run")
        c.finish()
        self.assertEqual(Path(c.run_dir).name, "my-run")

    def test_storage_root_order_is_argument_env_user_config_then_cwd(self) -> None:
        explicit, env, cfg = self.tmp / "explicit", self.tmp / "env", self.tmp / "cfg"
        save_user_config({"user_root_dir": str(cfg)})
        cwd = os.getcwd()
        os.chdir(str(self.tmp))
        try:
            r3 = rn.init()
            os.environ["RUNICORN_DIR"] = str(env)
            r2 = rn.init()
            r1 = rn.init(storage=str(explicit))
            (self.tmp / "xdg" / "runicorn" / "config.json").unlink()
            del os.environ["RUNICORN_DIR"]
            r4 = rn.init()
        finally:
            os.chdir(cwd)
        for r in (r1, r2, r3, r4):
            r.finish()
        self.assertEqual([r.storage_root for r in (r1, r2, r3, r4)], [explicit, env, cfg, (self.tmp / ".runicorn").resolve()])

    def test_workspace_root_is_the_argument_else_the_git_root_else_the_cwd(self) -> None:
        repo = self.tmp / "repo"
        (repo / ".git").mkdir(parents=True)
        (repo / "sub").mkdir()
        plain = self.tmp / "plain"
        plain.mkdir()
        cwd = os.getcwd()
        try:
            os.chdir(str(repo / "sub"))
            git = rn.init(storage=str(self.tmp / "root"))
            os.chdir(str(plain))
            cur = rn.init(storage=str(self.tmp / "root"))
            arg = rn.init(storage=str(self.tmp / "root"), workspace_root=str(repo / "sub"))
        finally:
            os.chdir(cwd)
        for r in (git, cur, arg):
            r.finish()
        self.assertEqual([git.workspace_root, cur.workspace_root, arg.workspace_root], [repo.resolve(), plain.resolve(), (repo / "sub").resolve()])
        meta = json.loads((Path(arg.run_dir) / "meta.json").read_text(encoding="utf-8"))
        self.assertEqual(meta["workspace_root"], str((repo / "sub").resolve()))

    def test_removed_and_invalid_arguments_are_rejected(self) -> None:
        with self.assertRaises(TypeError):
            rn.init(project="p", name="n", storage=str(self.tmp / "root"))  # type: ignore[call-arg]
        with self.assertRaises(ValueError):
            rn.init(storage=str(self.tmp / "root"), snapshot_code=True, snapshot_format="tar")
        with self.assertRaises(ValueError):
            rn.init(storage=str(self.tmp / "root"), tqdm_mode="sometimes")

    def test_a_second_process_joining_a_run_keeps_its_meta(self) -> None:
        a = rn.init(path="t/join", storage=str(self.tmp / "root"), run_id="shared", alias="first")
        b = rn.init(path="t/join", storage=str(self.tmp / "root"), run_id="shared", alias="second")
        a.log({"x": 1})
        b.log({"x": 2})
        a.finish()
        b.finish()
        meta = json.loads((Path(a.run_dir) / "meta.json").read_text(encoding="utf-8"))
        self.assertEqual(meta["alias"], "first")
        self.assertEqual(sorted(e["data"]["x"] for e in events(a)), [1, 2])


class EnabledSwitch(TempDirCase):
    def test_runicorn_on_false_values_return_a_noop_run_and_clear_the_active_run(self) -> None:
        for v in ("0", "false", "No", "n", "OFF"):
            os.environ["RUNICORN_ON"] = v
            r = rn.init(path="x/y", storage=str(self.tmp / "root"))
            self.assertIsInstance(r, rn.NoOpRun)
            self.assertIsNone(rn.get_active_run())
        self.assertFalse((self.tmp / "root").exists())

    def test_unknown_or_true_values_keep_tracking_on(self) -> None:
        for v in ("1", "yes", "maybe", ""):
            os.environ["RUNICORN_ON"] = v
            self.assertTrue(rn.is_enabled(), v)

    def test_set_enabled_and_the_context_manager_override_the_environment(self) -> None:
        os.environ["RUNICORN_ON"] = "0"
        try:
            rn.set_enabled(True)
            self.assertTrue(rn.is_enabled())
            with rn.enabled(False):
                self.assertFalse(rn.is_enabled())
                with rn.enabled(True):
                    self.assertTrue(rn.is_enabled())
                self.assertFalse(rn.is_enabled())
            self.assertTrue(rn.is_enabled())
        finally:
            rn.reset_enabled()
        self.assertFalse(rn.is_enabled())

    def test_noop_run_accepts_every_run_call(self) -> None:
        with rn.enabled(False):
            r = rn.init(path=None)
        self.assertEqual((r.id, r.path), ("disabled", "default"))
        self.assertIsNone(r.log({"a": 1}, step=3, stage="x", extra=2))
        self.assertEqual(r.log_image("k", b"x"), "")
        self.assertEqual(r.scan_outputs_once(output_dirs=["."]), {"scanned": 0, "archived": 0, "changed": 0})
        for call in (lambda: r.log_text("t"), lambda: r.summary({}), lambda: r.log_config(args={}), lambda: r.set_primary_metric("a"),
                     lambda: r.log_dataset("d", "/x"), lambda: r.log_pretrained("p"), lambda: r.finish()):
            self.assertIsNone(call())
        with r as same:
            self.assertIs(same, r)


class IoTroubleNeverRaises(TempDirCase):
    def test_an_unusable_storage_root_warns_once_and_training_continues(self) -> None:
        blocker = self.tmp / "file-not-dir"
        blocker.write_text("x")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r = rn.init(path="a/b", storage=str(blocker))
            for i in range(5):
                r.log({"i": i})
                r.log_text("t")
            r.summary({"a": 1})
            r.flush()
            r.flush()
            r.finish()
        msgs = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
        self.assertTrue(msgs)
        self.assertEqual(len(msgs), len(set(msgs)), msgs)  # each problem reported once

    def test_a_failing_append_keeps_the_lines_for_a_later_retry(self) -> None:
        r = rn.init(path="a/b", storage=str(self.tmp / "root"))
        ev = Path(r.run_dir) / "events.jsonl"
        ev.mkdir()  # appending to a directory fails
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            r.log({"x": 1})
            r.flush()
        ev.rmdir()
        r.log({"x": 2})
        r.finish()
        self.assertEqual([e["data"]["x"] for e in events(r)], [1, 2])
        self.assertFalse(math.isnan(0.0))
