"""Console capture into logs.txt (tee of stdout/stderr, tqdm modes) and the logging handler."""
from __future__ import annotations

import atexit
import logging
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any, ClassVar, Dict, List, Optional, TextIO

from ._runtime import Appender, flusher


class LogManager:
    """Per-path, ref-counted buffered writer of a log file, shared by console capture, log_text and handlers.

    Writes are queued and appended by the background flusher (at least twice a second) under
    `<file>.lock`, instead of the original's open-flush per line.
    """

    _instances: ClassVar[Dict[Path, "LogManager"]] = {}
    _global_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, log_path: Path) -> None:
        self.log_path = Path(log_path)
        self._appender = Appender(str(self.log_path))
        self.write = self._appender.write
        self._ref_count = 0
        self._dir_ready = False

    @classmethod
    def get_instance(cls, log_path: Path) -> "LogManager":
        """The shared manager for `log_path` (reference count +1)."""
        key = Path(log_path).resolve()
        with cls._global_lock:
            inst = cls._instances.get(key)
            if inst is None:
                inst = cls._instances[key] = cls(key)
                flusher.register(inst)
            inst._ref_count += 1
            return inst

    @classmethod
    def release_instance(cls, log_path: Path) -> None:
        """Reference count −1; the last release flushes and forgets the manager."""
        key = Path(log_path).resolve()
        with cls._global_lock:
            inst = cls._instances.get(key)
            if inst is None:
                return
            inst._ref_count -= 1
            if inst._ref_count <= 0:
                del cls._instances[key]
                flusher.unregister(inst)
            else:
                return
        inst.close()

    @classmethod
    def get_ref_count(cls, log_path: Path) -> int:
        """Current reference count (0 when unknown)."""
        with cls._global_lock:
            inst = cls._instances.get(Path(log_path).resolve())
            return inst._ref_count if inst else 0

    @classmethod
    def clear_all(cls) -> None:
        """Flush and forget every manager (tests)."""
        with cls._global_lock:
            insts = list(cls._instances.values())
            cls._instances.clear()
        for inst in insts:
            flusher.unregister(inst)
            inst.close()

    def flush(self) -> None:
        """Append what is queued now."""
        if not self._dir_ready and self._appender.pending():
            try:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                self._dir_ready = True
            except OSError:
                pass
        self._appender.flush()

    def close(self) -> None:
        """Flush; the manager stays usable."""
        self.flush()

    def sync(self) -> None:
        """fsync the file if it was appended to."""
        self._appender.sync()

    @property
    def is_open(self) -> bool:
        """Kept for compatibility: files are opened per flush."""
        return False

    def _tick(self) -> None:
        self.flush()

    def _after_fork_child(self) -> None:
        self._appender._drop_after_fork()


def _stamp() -> str:
    return time.strftime("%H:%M:%S")


# A line that starts with its own time ("12:01:02", "2026-12-04 12:01:02,123", "[12:01:02]"): no second stamp.
_HAS_STAMP = re.compile(r"^\[?(\d{4}-\d{2}-\d{2}[ T])?\d{2}:\d{2}:\d{2}")


def _logging_record_in_progress() -> Any:
    """The LogRecord whose handler is writing to the console right now (None when the write is not from logging)."""
    f = sys._getframe(2)
    depth = 0
    while f is not None and depth < 12:
        if f.f_code.co_name == "emit":
            h = f.f_locals.get("self")
            if isinstance(h, logging.Handler):
                return f.f_locals.get("record")
        f = f.f_back
        depth += 1
    return None


def _written_by_runicorn_handler(record: Any, log_path: Path) -> bool:
    """Whether `record` reaches (or reached) a RunicornLoggingHandler writing to `log_path`."""
    c: Any = logging.getLogger(record.name) if record.name != "root" else logging.getLogger()
    while c is not None:
        for h in c.handlers:
            if isinstance(h, RunicornLoggingHandler) and record.levelno >= h.level and h.writes_to(log_path):
                return True
        if not c.propagate:
            break
        c = c.parent
    return False


class TeeWriter:
    """Text stream that writes through to the original stream and sends lines to a LogManager.

    tqdm_mode "smart": `\\r` discards the pending line, `\\n` emits it if not blank (final state of a
    progress bar only); "all": every `\\r` is a line break and each write() chunk is split on its own;
    "none": chunks containing `\\r` are dropped, others as "all".
    """

    def __init__(self, original: TextIO, log_manager: LogManager, tqdm_mode: str = "smart", add_timestamp: bool = True) -> None:
        self.original = original
        self.log_manager = log_manager
        self.tqdm_mode = tqdm_mode
        self.add_timestamp = add_timestamp
        self._cr_buffer = ""
        self._lock = threading.Lock()
        self._log_path = Path(log_manager.log_path)

    def write(self, text: str) -> int:
        """Write to the terminal and capture complete lines."""
        if not text:
            return 0
        from_logging = RunicornLoggingHandler.active > 0 or "\n" in text
        record = _logging_record_in_progress() if from_logging else None
        with self._lock:
            try:
                self.original.write(text)
            except Exception:
                pass
            if record is not None:
                try:
                    if _written_by_runicorn_handler(record, self._log_path):
                        return len(text)  # the run's logging handler writes this record once, with one stamp
                    for line in text.splitlines():
                        if line.strip():
                            self._line(line, stamp=not _HAS_STAMP.match(line))
                except Exception:
                    pass  # capture must never break printing
                return len(text)
            try:
                if self.tqdm_mode == "smart":
                    self._smart(text)
                elif self.tqdm_mode == "none" and "\r" in text:
                    pass
                else:
                    for piece in text.replace("\r", "\n").split("\n"):
                        if piece:
                            self._line(piece)
            except Exception:
                pass  # capture must never break printing
        return len(text)

    def _smart(self, text: str) -> None:
        buf = self._cr_buffer
        if "\r" not in text:
            # Fast path: plain prints.
            parts = text.split("\n")
            if len(parts) == 1:
                self._cr_buffer = buf + text
                return
            parts[0] = buf + parts[0]
            for line in parts[:-1]:
                if line.strip():
                    self._line(line)
            self._cr_buffer = parts[-1]
            return
        for ch in text:
            if ch == "\r":
                buf = ""
            elif ch == "\n":
                if buf.strip():
                    self._line(buf)
                buf = ""
            else:
                buf += ch
        self._cr_buffer = buf

    def _line(self, line: str, stamp: bool = True) -> None:
        prefix = "[%s] " % _stamp() if self.add_timestamp and stamp else ""
        self.log_manager.write(prefix + line + "\n")

    def flush(self) -> None:
        """Flush the terminal stream (the log file is flushed by the background thread)."""
        try:
            self.original.flush()
        except Exception:
            pass

    def close(self) -> None:
        """Emit a pending, unterminated line."""
        with self._lock:
            if self._cr_buffer.strip():
                self._line(self._cr_buffer)
            self._cr_buffer = ""

    @property
    def encoding(self) -> str:
        """The original stream's encoding."""
        return getattr(self.original, "encoding", "utf-8")

    @property
    def errors(self) -> Optional[str]:
        """The original stream's error mode."""
        return getattr(self.original, "errors", None)

    def fileno(self) -> int:
        """The original stream's file descriptor."""
        return self.original.fileno()

    def isatty(self) -> bool:
        """Whether the original stream is a terminal."""
        try:
            return self.original.isatty()
        except Exception:
            return False

    def readable(self) -> bool:
        """Write-only."""
        return False

    def writable(self) -> bool:
        """Writable."""
        return True

    def seekable(self) -> bool:
        """Not seekable."""
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


class ConsoleCapture:
    """Replace sys.stdout/sys.stderr with TeeWriters into `log_path` until stop() (also at exit)."""

    _active: ClassVar[List["ConsoleCapture"]] = []
    _atexit_registered: ClassVar[bool] = False
    _class_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, log_path: Path, tqdm_mode: str = "smart", capture_stdout: bool = True, capture_stderr: bool = True,
                 add_timestamp: bool = True) -> None:
        if tqdm_mode not in ("smart", "all", "none"):
            raise ValueError("tqdm_mode must be 'smart', 'all' or 'none', got %r" % (tqdm_mode,))
        self.log_path = Path(log_path)
        self.tqdm_mode = tqdm_mode
        self.capture_stdout = capture_stdout
        self.capture_stderr = capture_stderr
        self.add_timestamp = add_timestamp
        self._orig_out: Optional[TextIO] = None
        self._orig_err: Optional[TextIO] = None
        self._out: Optional[TeeWriter] = None
        self._err: Optional[TeeWriter] = None
        self._manager: Optional[LogManager] = None
        self._started = False

    def start(self) -> None:
        """Begin capturing."""
        if self._started:
            return
        with ConsoleCapture._class_lock:
            if not ConsoleCapture._atexit_registered:
                atexit.register(ConsoleCapture._cleanup_all)
                ConsoleCapture._atexit_registered = True
        self._manager = LogManager.get_instance(self.log_path)
        if self.capture_stdout:
            self._orig_out = sys.stdout
            self._out = TeeWriter(sys.stdout, self._manager, self.tqdm_mode, self.add_timestamp)
            sys.stdout = self._out  # type: ignore[assignment]
        if self.capture_stderr:
            self._orig_err = sys.stderr
            self._err = TeeWriter(sys.stderr, self._manager, self.tqdm_mode, self.add_timestamp)
            sys.stderr = self._err  # type: ignore[assignment]
        self._started = True
        with ConsoleCapture._class_lock:
            ConsoleCapture._active.append(self)

    def stop(self) -> None:
        """Stop capturing, emit pending partial lines, restore the streams (only if still ours)."""
        if not self._started:
            return
        for tee in (self._out, self._err):
            if tee is not None:
                tee.close()
        if self._out is not None and sys.stdout is self._out:
            sys.stdout = self._orig_out  # type: ignore[assignment]
        if self._err is not None and sys.stderr is self._err:
            sys.stderr = self._orig_err  # type: ignore[assignment]
        self._out = self._err = None
        self._orig_out = self._orig_err = None
        if self._manager is not None:
            LogManager.release_instance(self.log_path)
            self._manager = None
        self._started = False
        with ConsoleCapture._class_lock:
            if self in ConsoleCapture._active:
                ConsoleCapture._active.remove(self)

    @classmethod
    def _cleanup_all(cls) -> None:
        with cls._class_lock:
            caps = list(cls._active)
        for c in reversed(caps):
            try:
                c.stop()
            except Exception:
                pass

    @property
    def is_capturing(self) -> bool:
        """Whether capture is active."""
        return self._started

    def __enter__(self) -> "ConsoleCapture":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class RunicornLoggingHandler(logging.Handler):
    """logging.Handler writing formatted records to a run's logs.txt (the active run when `run` is None)."""

    DEFAULT_FORMAT = "%(asctime)s | %(levelname)s | %(name)s | %(message)s"
    DEFAULT_DATEFMT = "%H:%M:%S"
    # How many handlers exist that are not closed (console capture looks for duplicates only then).
    active: ClassVar[int] = 0

    def __init__(self, run: Any = None, level: int = logging.INFO, fmt: Optional[str] = None) -> None:
        super().__init__(level)
        self._run = run
        self._manager: Optional[LogManager] = None
        self._path: Optional[Path] = None
        self._hlock = threading.Lock()
        self._closed = False
        if fmt:
            self.setFormatter(logging.Formatter(fmt))
        else:
            self.setFormatter(logging.Formatter(self.DEFAULT_FORMAT, datefmt=self.DEFAULT_DATEFMT))
        RunicornLoggingHandler.active += 1

    def writes_to(self, log_path: Path) -> bool:
        """Whether this handler writes to `log_path` (its run's logs.txt)."""
        run = self.run
        p = getattr(run, "_logs_txt_path", None) if run is not None else None
        return p is not None and Path(p).resolve() == Path(log_path).resolve()

    @property
    def run(self) -> Any:
        """The explicit run, else the active one."""
        if self._run is not None:
            return self._run
        from .sdk import get_active_run
        return get_active_run()

    def _manager_for_run(self) -> Optional[LogManager]:
        run = self.run
        path = getattr(run, "_logs_txt_path", None) if run is not None else None
        if path is None:
            return None
        with self._hlock:
            if self._path != path:
                if self._manager is not None and self._path is not None:
                    LogManager.release_instance(self._path)
                self._path = path
                self._manager = LogManager.get_instance(path)
            return self._manager

    def emit(self, record: logging.LogRecord) -> None:
        """Queue one formatted record."""
        if self._closed:
            return
        try:
            m = self._manager_for_run()
            if m is not None:
                m.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        """Release the log file; later records are dropped."""
        with self._hlock:
            if not self._closed:
                RunicornLoggingHandler.active -= 1
            self._closed = True
            if self._manager is not None and self._path is not None:
                LogManager.release_instance(self._path)
            self._manager = None
            self._path = None
        super().close()
