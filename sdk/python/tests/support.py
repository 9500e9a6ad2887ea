"""Shared helpers for the SDK tests: import path, temp dirs, fixture location, subprocess runner."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from typing import Dict, Optional

SDK_DIR = Path(__file__).resolve().parent.parent
if str(SDK_DIR) not in sys.path:
    sys.path.insert(0, str(SDK_DIR))

REPO = SDK_DIR.parent.parent
FIXTURES = (REPO.parent / "shared" / "fixtures" / "runicorn-0.6").resolve()


class TempDirCase(unittest.TestCase):
    """A TestCase with a fresh temp dir (self.tmp) and an isolated per-user config dir."""

    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="rn-py-test-"))
        self._env = dict(os.environ)
        os.environ["XDG_CONFIG_HOME"] = str(self.tmp / "xdg")
        os.environ.pop("RUNICORN_DIR", None)
        os.environ.pop("RUNICORN_ON", None)
        os.environ["RUNICORN_QUIET"] = "1"  # init()'s line on stderr; tests of that line clear it

    def tearDown(self) -> None:
        os.environ.clear()
        os.environ.update(self._env)
        shutil.rmtree(self.tmp, ignore_errors=True)


def run_python(code: str, cwd: Path, env: Optional[Dict[str, str]] = None, timeout: float = 30.0) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter with the SDK importable; returns the completed process."""
    e = dict(os.environ)
    e["PYTHONPATH"] = str(SDK_DIR)
    e["XDG_CONFIG_HOME"] = str(cwd / "xdg")  # never the developer's own config
    e.pop("RUNICORN_DIR", None)
    e.setdefault("RUNICORN_QUIET", "1")
    e.update(env or {})
    return subprocess.run([sys.executable, "-c", code], cwd=str(cwd), env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout)


def spawn_python(code: str, cwd: Path, env: Optional[Dict[str, str]] = None, stdin: bool = False) -> subprocess.Popen:
    """Start `code` in a fresh interpreter (stdout piped) and return the process."""
    e = dict(os.environ)
    e["PYTHONPATH"] = str(SDK_DIR)
    e["XDG_CONFIG_HOME"] = str(cwd / "xdg")  # never the developer's own config
    e.pop("RUNICORN_DIR", None)
    e.update(env or {})
    return subprocess.Popen([sys.executable, "-u", "-c", code], cwd=str(cwd), env=e, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                            universal_newlines=True)


def only_run_dir(root: Path) -> Path:
    """The single run directory under ROOT/runs (the one holding meta.json)."""
    dirs = [p.parent for p in (root / "runs").rglob("meta.json")]
    if len(dirs) != 1:
        raise AssertionError("expected one run under %s, found %d" % (root, len(dirs)))
    return dirs[0]


def stop(p: subprocess.Popen) -> None:
    """Kill (if still running) and reap a spawned process and close its pipes."""
    if p.poll() is None:
        p.kill()
    p.wait()
    for stream in (p.stdin, p.stdout, p.stderr):
        if stream is not None:
            stream.close()
