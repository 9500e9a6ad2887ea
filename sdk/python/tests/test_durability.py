"""Crash safety across processes: periodic flush, kill -9, SIGTERM, crashes, heartbeat, shared runs, lock files."""
from __future__ import annotations

import json
import os
import signal
import sys
import time
import unittest
from pathlib import Path

from tests.support import TempDirCase, only_run_dir, run_python, spawn_python, stop

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

POSIX = os.name == "posix"


def read_events(run_dir: Path) -> list:
    p = run_dir / "events.jsonl"
    if not p.exists():
        return []
    return [json.loads(x) for x in p.read_text(encoding="utf-8").splitlines()]


def status(run_dir: Path) -> dict:
    return json.loads((run_dir / "status.json").read_text(encoding="utf-8"))


def wait_for(pred, timeout: float = 10.0, every: float = 0.02) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(every)
    return False


class LiveRunIsFlushedAndWatched(TempDirCase):
    def test_logged_lines_reach_the_disk_within_a_second_while_the_script_runs(self) -> None:
        code = ("import runicorn as rn, time, sys\n"
                "r = rn.init(path='live/a', storage=%r)\n"
                "for i in range(100): r.log({'i': i})\n"
                "r.log_text('hello')\n"
                "print('logged', flush=True)\n"
                "time.sleep(30)\n" % str(self.tmp / "root"))
        p = spawn_python(code, self.tmp)
        try:
            self.assertEqual(p.stdout.readline().strip(), "logged")
            t0 = time.time()
            run_dir = only_run_dir(self.tmp / "root")
            self.assertTrue(wait_for(lambda: len(read_events(run_dir)) == 100, timeout=3.0))
            self.assertLess(time.time() - t0, 1.5)
            self.assertTrue(wait_for(lambda: (run_dir / "logs.txt").exists(), timeout=1.5))
            self.assertEqual(status(run_dir)["status"], "running")
        finally:
            stop(p)

    def test_heartbeat_advances_while_the_process_lives(self) -> None:
        code = ("import runicorn as rn, time\n"
                "r = rn.init(path='hb/a', storage=%r)\n"
                "print('ready', flush=True)\n"
                "time.sleep(30)\n" % str(self.tmp / "root"))
        p = spawn_python(code, self.tmp, env={"RUNICORN_HEARTBEAT_INTERVAL": "0.2"})
        try:
            self.assertEqual(p.stdout.readline().strip(), "ready")
            run_dir = only_run_dir(self.tmp / "root")
            first = status(run_dir)["heartbeat_at"]
            self.assertTrue(wait_for(lambda: status(run_dir)["heartbeat_at"] > first + 0.3, timeout=5.0))
        finally:
            stop(p)

    def test_a_run_marked_heartbeat_lost_is_revived_by_its_live_writer(self) -> None:
        code = ("import runicorn as rn, time\n"
                "r = rn.init(path='hb/b', storage=%r)\n"
                "print('ready', flush=True)\n"
                "time.sleep(30)\n" % str(self.tmp / "root"))
        p = spawn_python(code, self.tmp, env={"RUNICORN_HEARTBEAT_INTERVAL": "0.2"})
        try:
            self.assertEqual(p.stdout.readline().strip(), "ready")
            run_dir = only_run_dir(self.tmp / "root")
            st = status(run_dir)
            st.update({"status": "failed", "ended_at": time.time(), "exit_reason": "heartbeat_lost"})
            (run_dir / "status.json").write_text(json.dumps(st))
            self.assertTrue(wait_for(lambda: status(run_dir)["status"] == "running", timeout=5.0))
            self.assertNotIn("exit_reason", status(run_dir))
        finally:
            stop(p)


@unittest.skipUnless(POSIX, "signals")
class ProcessEndings(TempDirCase):
    def _script(self, tail: str) -> str:
        return ("import runicorn as rn, time, sys, os, signal\n"
                "r = rn.init(path='end/a', storage=%r)\n"
                "for i in range(1000): r.log({'i': i}, stage='train')\n" % str(self.tmp / "root")) + tail

    def test_kill_9_loses_at_most_the_last_second(self) -> None:
        code = self._script("print('logged', flush=True)\ntime.sleep(1.2)\nprint('slept', flush=True)\n"
                            "for i in range(1000, 1010): r.log({'i': i})\ntime.sleep(30)\n")
        p = spawn_python(code, self.tmp)
        try:
            self.assertEqual(p.stdout.readline().strip(), "logged")
            self.assertEqual(p.stdout.readline().strip(), "slept")
        finally:
            p.send_signal(signal.SIGKILL)
            stop(p)
        run_dir = only_run_dir(self.tmp / "root")
        evs = read_events(run_dir)
        self.assertGreaterEqual(len(evs), 1000)  # everything logged more than a second before the kill
        self.assertEqual([e["data"]["i"] for e in evs[:1000]], list(range(1000)))
        st = status(run_dir)
        self.assertEqual(st["status"], "running")  # the server turns this into heartbeat_lost after 60 s
        self.assertIn("heartbeat_at", st)

    def test_sigterm_flushes_marks_interrupted_and_still_dies_by_the_signal(self) -> None:
        p = spawn_python(self._script("print('logged', flush=True)\ntime.sleep(30)\n"), self.tmp)
        self.assertEqual(p.stdout.readline().strip(), "logged")
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=10), -signal.SIGTERM)
        stop(p)
        run_dir = only_run_dir(self.tmp / "root")
        self.assertEqual(len(read_events(run_dir)), 1000)
        st = status(run_dir)
        self.assertEqual((st["status"], st.get("exit_reason")), ("interrupted", "sigterm"))

    def test_sigterm_while_this_thread_is_inside_a_flush_still_ends_the_process(self) -> None:
        # the handler runs on the main thread between two bytecodes: here it interrupts a flush that holds
        # the events file's lock (as r.finish() or a full queue would), and must not wait for it forever
        code = self._script("time.sleep(1.2)\nr._events._flush_lock.acquire()\nr.log({'i': 1000})\nprint('holding', flush=True)\ntime.sleep(30)\n")
        p = spawn_python(code, self.tmp)
        try:
            self.assertEqual(p.stdout.readline().strip(), "holding")
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(timeout=15), -signal.SIGTERM)
        finally:
            stop(p)
        run_dir = only_run_dir(self.tmp / "root")
        self.assertEqual(len(read_events(run_dir)), 1000)  # flushed by the flusher before the lock was taken
        self.assertEqual((status(run_dir)["status"], status(run_dir).get("exit_reason")), ("interrupted", "sigterm"))

    def test_sigterm_with_a_user_handler_flushes_and_calls_it(self) -> None:
        code = ("import runicorn as rn, time, signal, sys\n"
                "def bye(s, f):\n    print('user handler', flush=True)\n    sys.exit(3)\n"
                "signal.signal(signal.SIGTERM, bye)\n"
                "r = rn.init(path='end/b', storage=%r)\n"
                "for i in range(500): r.log({'i': i})\n"
                "print('logged', flush=True)\ntime.sleep(30)\n" % str(self.tmp / "root"))
        p = spawn_python(code, self.tmp)
        self.assertEqual(p.stdout.readline().strip(), "logged")
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=10), 3)
        self.assertEqual(p.stdout.readline().strip(), "user handler")
        stop(p)
        run_dir = only_run_dir(self.tmp / "root")
        self.assertEqual(len(read_events(run_dir)), 500)
        self.assertEqual(status(run_dir)["status"], "finished")  # SystemExit is a normal ending

    def test_an_uncaught_exception_marks_the_run_failed(self) -> None:
        res = run_python(self._script("raise RuntimeError('boom')\n"), self.tmp)
        self.assertEqual(res.returncode, 1)
        self.assertIn("RuntimeError: boom", res.stderr)
        run_dir = only_run_dir(self.tmp / "root")
        self.assertEqual(len(read_events(run_dir)), 1000)
        st = status(run_dir)
        self.assertEqual((st["status"], st.get("exit_reason")), ("failed", "uncaught_exception"))

    def test_a_script_that_forgets_finish_ends_finished_with_everything_written(self) -> None:
        res = run_python(self._script("r.log_text('bye')\n"), self.tmp)
        self.assertEqual(res.returncode, 0, res.stderr)
        run_dir = only_run_dir(self.tmp / "root")
        self.assertEqual(len(read_events(run_dir)), 1000)
        self.assertIn("bye", (run_dir / "logs.txt").read_text(encoding="utf-8"))
        st = status(run_dir)
        self.assertEqual(st["status"], "finished")
        self.assertNotIn("exit_reason", st)


class SharedRunAcrossProcesses(TempDirCase):
    def test_two_processes_logging_into_one_run_never_tear_a_line(self) -> None:
        root = str(self.tmp / "root")
        code = ("import runicorn as rn, sys\n"
                "r = rn.init(path='ddp/x', storage=%r, run_id='20260101_000000_abcdef')\n"
                "rank = int(sys.argv[1]) if len(sys.argv) > 1 else 0\n"
                "for i in range(20000):\n"
                "    r.log({'rank': RANK, 'i': i, 'pad': 'x' * 200})\n"
                "    if i %% 5000 == 0: r.flush()\n"
                "r.finish()\n" % root)
        procs = [spawn_python(code.replace("RANK", str(rank)), self.tmp) for rank in (0, 1)]
        for p in procs:
            out, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0, err)
        run_dir = only_run_dir(self.tmp / "root")
        evs = read_events(run_dir)  # json.loads of every line: a torn line would raise
        self.assertEqual(len(evs), 40000)
        for rank in (0, 1):
            self.assertEqual([e["data"]["i"] for e in evs if e["data"]["rank"] == rank], list(range(20000)))

    @unittest.skipUnless(fcntl is not None, "flock")
    def test_appends_wait_for_a_lock_held_by_another_program(self) -> None:
        code = ("import runicorn as rn, time, sys\n"
                "r = rn.init(path='lock/x', storage=%r, run_id='locked')\n"
                "print('ready', flush=True)\n"
                "sys.stdin.readline()\n"
                "r.log({'a': 1})\n"
                "print('logged', flush=True)\n"
                "time.sleep(30)\n" % str(self.tmp / "root"))
        p = spawn_python(code, self.tmp, stdin=True)
        try:
            self.assertEqual(p.stdout.readline().strip(), "ready")
            run_dir = self.tmp / "root" / "runs" / "lock" / "x" / "locked"
            with open(str(run_dir / "events.jsonl.lock"), "a") as lf:
                fcntl.flock(lf.fileno(), fcntl.LOCK_EX)  # what the original SDK's filelock does
                p.stdin.write("go\n")
                p.stdin.flush()
                self.assertEqual(p.stdout.readline().strip(), "logged")
                time.sleep(1.0)
                self.assertEqual(read_events(run_dir), [])
                fcntl.flock(lf.fileno(), fcntl.LOCK_UN)
            self.assertTrue(wait_for(lambda: len(read_events(run_dir)) == 1, timeout=3.0))
        finally:
            stop(p)


if __name__ == "__main__":
    unittest.main()
