"""Process-wide write machinery: buffered appenders, the background flusher, atexit/SIGTERM/fork hooks."""
from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import weakref
from collections import deque
from typing import Any, Callable, Deque, List, Optional

from ._io import lock_for, warn_once

FLUSH_INTERVAL_SEC = 0.5
# Set by the SIGTERM handler: flushes then wait at most SIGTERM_LOCK_WAIT_SEC for a file's flush lock.
_terminating = False
SIGTERM_LOCK_WAIT_SEC = 1.0
MAX_BUFFERED_CHUNKS = 2_000_000


class Appender:
    """Append-only text file written in batches: `write()` only queues, `flush()` appends under `<file>.lock`.

    `write` is lock-free (deque.append is atomic), so the training loop never waits on disk. The
    flusher thread calls `flush()` every FLUSH_INTERVAL_SEC; finish(), atexit and SIGTERM flush too.
    I/O errors keep the data queued (bounded) and warn once.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._q: Deque[str] = deque()
        self.write = self._q.append  # fastest possible hot path
        self._flush_lock = threading.Lock()
        self._lock = lock_for(path)
        self._dirty_since_sync = False

    def pending(self) -> int:
        """Number of queued chunks not yet on disk."""
        return len(self._q)

    def flush(self) -> bool:
        """Append everything queued so far; returns False if the write failed (data kept for a retry)."""
        q = self._q
        if not q:
            return True
        # while the process ends on SIGTERM the lock may be held by the interrupted main thread for good
        if not self._flush_lock.acquire(timeout=SIGTERM_LOCK_WAIT_SEC if _terminating else -1):
            warn_once("flush-stuck:" + self.path, "could not flush %s while ending on SIGTERM" % self.path)
            return False
        try:
            n = len(q)
            if n == 0:
                return True
            popleft = q.popleft
            chunks = [popleft() for _ in range(n)]
            data = "".join(chunks).encode("utf-8", "surrogatepass")
            try:
                with self._lock:
                    fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
                    try:
                        view = memoryview(data)
                        while view:
                            written = os.write(fd, view)
                            view = view[written:]
                    finally:
                        os.close(fd)
                self._dirty_since_sync = True
                return True
            except OSError as e:
                warn_once("append:" + self.path, "cannot append to %s (%s); will retry" % (self.path, e))
                if len(q) + n <= MAX_BUFFERED_CHUNKS:
                    q.extendleft(reversed(chunks))
                return False
        finally:
            self._flush_lock.release()

    def sync(self) -> None:
        """fsync the file if anything was appended since the last sync (used by finish())."""
        if not self._dirty_since_sync:
            return
        self._dirty_since_sync = False
        try:
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            pass

    def _drop_after_fork(self) -> None:
        self._q.clear()
        self._flush_lock = threading.Lock()


class _Flusher:
    """One daemon thread per process that flushes every registered target and runs their ticks."""

    def __init__(self) -> None:
        self._targets: "weakref.WeakSet[Any]" = weakref.WeakSet()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def register(self, target: Any) -> None:
        """Add an object with a `_tick()` method; starts the thread on first use."""
        with self._lock:
            self._targets.add(target)
            if self._thread is None or not self._thread.is_alive():
                t = threading.Thread(target=self._loop, name="runicorn-flusher", daemon=True)
                self._thread = t
                t.start()

    def unregister(self, target: Any) -> None:
        """Stop ticking `target`."""
        with self._lock:
            self._targets.discard(target)

    def targets(self) -> List[Any]:
        """Snapshot of the registered targets."""
        with self._lock:
            return list(self._targets)

    def tick_all(self) -> None:
        """Flush every target now (also used at exit)."""
        for t in self.targets():
            try:
                t._tick()
            except Exception as e:  # never let one broken target stop the others
                warn_once("tick:%s" % type(t).__name__, "background flush failed: %s" % e)

    def _loop(self) -> None:
        while True:
            self._wake.wait(FLUSH_INTERVAL_SEC)
            self._wake.clear()
            self.tick_all()

    def _after_fork_child(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None
        targets = list(self._targets)
        self._targets = weakref.WeakSet()
        for t in targets:
            try:
                t._after_fork_child()
            except Exception:
                pass
        # The child may keep logging (e.g. a forked worker): give it its own flusher thread.
        for t in targets:
            self.register(t)


flusher = _Flusher()


class FlushTarget:
    """A standalone flushed appender (used by LogManager for paths outside a Run)."""

    def __init__(self, appender: Appender) -> None:
        self.appender = appender

    def _tick(self) -> None:
        self.appender.flush()

    def _after_fork_child(self) -> None:
        self.appender._drop_after_fork()


# ---------------------------------------------------------------- process exit handling

_live_runs: "weakref.WeakSet[Any]" = weakref.WeakSet()
_exit_status: Optional[str] = None
_exit_reason: Optional[str] = None
_hooks_installed = False
_prev_excepthook: Optional[Callable[..., Any]] = None
_prev_sigterm: Any = None


def track_run(run: Any) -> None:
    """Remember a live Run so that exit, uncaught exceptions and SIGTERM close it properly."""
    _live_runs.add(run)
    _install_hooks()


def untrack_run(run: Any) -> None:
    """Forget a Run after finish()."""
    _live_runs.discard(run)


def _excepthook(exc_type: Any, exc: Any, tb: Any) -> None:
    global _exit_status, _exit_reason
    if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
        _exit_status, _exit_reason = "interrupted", "keyboard_interrupt"
    elif exc_type is not None and not issubclass(exc_type, SystemExit):
        _exit_status, _exit_reason = "failed", "uncaught_exception"
    hook = _prev_excepthook or sys.__excepthook__
    hook(exc_type, exc, tb)


def _finish_live_runs(status: str, reason: Optional[str]) -> None:
    pid = os.getpid()
    for run in list(_live_runs):
        if getattr(run, "_owner_pid", None) != pid:
            continue
        try:
            run._finish_from_exit(status, reason)
        except Exception as e:
            warn_once("exit-finish", "could not close run at exit: %s" % e)


def _at_exit() -> None:
    flusher.tick_all()
    _finish_live_runs(_exit_status or "finished", _exit_reason)
    flusher.tick_all()


SIGTERM_WORK_TIMEOUT_SEC = 5.0


def _bounded(work: Callable[[], None]) -> None:
    """Run `work` on a helper thread and wait for it at most SIGTERM_WORK_TIMEOUT_SEC.

    A signal handler runs on the main thread between two bytecodes, possibly while that thread holds
    one of the SDK's locks (inside a flush or finish): doing the work in the handler itself would wait
    on the interrupted thread forever. A lock held by the flusher thread is released meanwhile.
    """
    t = threading.Thread(target=work, name="runicorn-sigterm", daemon=True)
    t.start()
    t.join(SIGTERM_WORK_TIMEOUT_SEC)


def _on_sigterm(signum: int, frame: Any) -> None:
    global _terminating
    _terminating = True
    prev = _prev_sigterm
    if callable(prev):
        # The program handles SIGTERM itself (and may keep running): just make the data durable.
        _bounded(flusher.tick_all)
        prev(signum, frame)
        return
    _bounded(lambda: (flusher.tick_all(), _finish_live_runs("interrupted", "sigterm")))
    # Re-deliver with the default action so the exit status stays "killed by SIGTERM".
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    except (ValueError, OSError):
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def _install_hooks() -> None:
    global _hooks_installed, _prev_excepthook, _prev_sigterm
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_at_exit)
    _prev_excepthook = sys.excepthook
    sys.excepthook = _excepthook
    try:
        if threading.current_thread() is threading.main_thread():
            prev = signal.getsignal(signal.SIGTERM)
            if prev is not signal.SIG_IGN:
                _prev_sigterm = prev
                signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError, AttributeError):
        pass  # not the main thread / embedded interpreter: heartbeat still covers us


def _after_fork_child() -> None:
    # Runs belong to the parent; a forked worker (e.g. a DataLoader) must not finish or heartbeat them.
    flusher._after_fork_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_child)
