"""File primitives shared by the SDK: cross-process lock files, atomic JSON writes, warn-once."""
from __future__ import annotations

import errno
import json
import os
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any, Dict, Optional, Union

try:  # POSIX: flock, the same primitive the original's `filelock` package uses
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - Windows
    _fcntl = None  # type: ignore[assignment]

try:  # pragma: no cover - Windows only
    import msvcrt as _msvcrt
except ImportError:
    _msvcrt = None  # type: ignore[assignment]

PathLike = Union[str, "os.PathLike[str]"]

LOCK_TIMEOUT_SEC = 10.0
_BUSY_ERRNOS = {errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES, getattr(errno, "EDEADLK", 35), 36}

_warned_lock = threading.Lock()
_warned: set = set()


def warn_once(key: str, message: str) -> None:
    """Emit a RuntimeWarning the first time `key` is seen in this process; later calls are silent."""
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    try:
        warnings.warn("runicorn: " + message, RuntimeWarning, stacklevel=3)
    except Exception:
        pass


def _os_lock(path: str, timeout: float) -> Optional[int]:
    """Take an exclusive OS lock on `path` (created if missing); returns the fd or None on failure."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            if _fcntl is not None:
                _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
            elif _msvcrt is not None:  # pragma: no cover - Windows
                _msvcrt.locking(fd, _msvcrt.LK_NBLCK, 1)
            return fd
        except OSError as e:
            if e.errno not in _BUSY_ERRNOS:
                os.close(fd)
                return None
            if time.monotonic() >= deadline:
                os.close(fd)
                return None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def _os_unlock(fd: int) -> None:
    try:
        if _fcntl is not None:
            _fcntl.flock(fd, _fcntl.LOCK_UN)
        elif _msvcrt is not None:  # pragma: no cover - Windows
            os.lseek(fd, 0, os.SEEK_SET)
            _msvcrt.locking(fd, _msvcrt.LK_UNLCK, 1)
    except OSError:
        pass
    finally:
        try:
            os.close(fd)
        except OSError:
            pass


class FileLock:
    """Re-entrant lock held across threads (RLock) and processes (flock/msvcrt on `<path>`).

    Compatible with the `filelock` package used by Runicorn 0.6 on the same `*.lock` files. If the
    OS lock cannot be taken within the timeout (or the lock file cannot be created) the holder
    proceeds unlocked after warning once: the training loop must never stall on a stale lock.
    """

    def __init__(self, lock_path: PathLike, timeout: float = LOCK_TIMEOUT_SEC) -> None:
        self.lock_file = str(lock_path)
        self.timeout = timeout
        self._tlock = threading.RLock()
        self._depth = 0
        self._fd: Optional[int] = None

    def acquire(self) -> None:
        """Take the lock (blocking up to the timeout for the OS part)."""
        self._tlock.acquire()
        if self._depth == 0:
            self._fd = _os_lock(self.lock_file, self.timeout)
            if self._fd is None:
                warn_once("lock:" + self.lock_file, "could not lock %s; writing without it" % self.lock_file)
        self._depth += 1

    def release(self) -> None:
        """Release one level of the lock."""
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fd, self._fd = self._fd, None
            _os_unlock(fd)
        self._tlock.release()

    def __enter__(self) -> "FileLock":
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


_registry_lock = threading.Lock()
_registry: Dict[str, FileLock] = {}


def lock_for(target: PathLike) -> FileLock:
    """The process-wide FileLock guarding `target` through `<target>.lock` (one object per path)."""
    key = os.path.abspath(str(target)) + ".lock"
    with _registry_lock:
        lk = _registry.get(key)
        if lk is None:
            lk = FileLock(key)
            _registry[key] = lk
        return lk


def _reset_locks_after_fork() -> None:
    # A child must not inherit lock depth/fds held by another thread of the parent.
    global _registry_lock, _warned_lock
    _registry_lock = threading.Lock()
    _warned_lock = threading.Lock()
    _registry.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_locks_after_fork)


def dumps_pretty(obj: Any) -> str:
    """JSON as the original writes its small files: indent 2, UTF-8 kept, NaN tokens allowed."""
    return json.dumps(obj, ensure_ascii=False, indent=2)


def atomic_write_text(path: PathLike, text: str) -> None:
    """Replace `path` with `text` through a dot-prefixed temp file and rename (readers never see a torn file)."""
    p = Path(path)
    tmp = p.parent / (".%s_%s.json.tmp" % (p.stem, uuid.uuid4().hex[:8]))
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, p)
    finally:
        if tmp.exists():
            try:
                tmp.unlink()
            except OSError:
                pass


def write_json(path: PathLike, obj: Any) -> None:
    """Atomically write `obj` as pretty JSON (indent 2, no trailing newline, like the original)."""
    atomic_write_text(path, dumps_pretty(obj))


def read_json_dict(path: PathLike) -> Dict[str, Any]:
    """Read a JSON object; a missing, torn or non-object file reads as {}."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            data = json.loads(f.read())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def update_json(path: PathLike, update: Dict[str, Any]) -> Dict[str, Any]:
    """Shallow-merge `update` into the JSON object at `path` under its lock file; returns the result."""
    with lock_for(path):
        cur = read_json_dict(path)
        cur.update(update)
        write_json(path, cur)
        return cur
