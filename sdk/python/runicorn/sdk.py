"""The Run object and `init()`: the on-disk run layout of Runicorn 0.6, faster and crash-safe, plus resume."""
from __future__ import annotations

import json
import logging
import math
import os
import platform
import re
import socket
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from . import _runtime
from ._io import lock_for, read_json_dict, warn_once, write_json
from .assets.archive import archive_dir, archive_file, dir_stat_fingerprint, stat_fingerprint
from .assets.assets_json import ensure_assets_file, update_assets_atomic
from .assets.outputs_scan import scan_outputs_once as _scan_outputs_once
from .assets.snapshot import snapshot_workspace
from .config import resolve_storage_root
from .console import ConsoleCapture, LogManager, RunicornLoggingHandler
from .enabled import NoOpRun, is_enabled
from .histogram import Histogram
from .table import Table
from .audio import Audio
from .workspace import get_workspace_root

logger = logging.getLogger(__name__)

_PATH_RE = re.compile(r"^[a-zA-Z0-9_\-/]+$")
_time = time.time
_frepr = float.__repr__
_GiB = 1024 * 1024 * 1024

try:
    from json.encoder import c_make_encoder as _c_make_encoder, encode_basestring as _encode_str
except ImportError:  # pragma: no cover - Python without the _json accelerator
    _c_make_encoder = None
    from json.encoder import py_encode_basestring as _encode_str  # type: ignore[no-redef]


def _to_jsonable(o: Any) -> Any:
    # numpy scalars/arrays and torch tensors: the original raised TypeError; convert them instead.
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    raise TypeError("Object of type %s is not JSON serializable" % type(o).__name__)


def _make_encoder() -> Any:
    """A reusable encoder equal to json.dumps(o, ensure_ascii=False) (NaN/Infinity tokens kept)."""
    if _c_make_encoder is not None:
        c = _c_make_encoder(None, _to_jsonable, _encode_str, None, ": ", ", ", False, False, True)
        return lambda o: "".join(c(o, 0))
    enc = json.JSONEncoder(ensure_ascii=False, default=_to_jsonable)
    return enc.encode


_encode = _make_encoder()


def _heartbeat_interval() -> float:
    try:
        v = float(os.environ.get("RUNICORN_HEARTBEAT_INTERVAL", "5"))
        return v if v > 0 else 5.0
    except ValueError:
        return 5.0


def _normalize_path(path: Optional[str]) -> str:
    """None → "default"; "/" or "" → "" (root); strip slashes; [A-Za-z0-9_-/]; ≤ 200 chars."""
    if path is None:
        return "default"
    path = str(path).replace("\\", "/")
    if path in ("/", ""):
        return ""
    path = path.strip("/")
    if not _PATH_RE.match(path):
        raise ValueError("Invalid path: '%s'. Path can only contain letters, numbers, underscores, hyphens, and forward slashes." % path)
    if ".." in path:
        raise ValueError("Invalid path: '%s'. Path cannot contain '..'" % path)
    if len(path) > 200:
        raise ValueError("Path too long: %d characters. Maximum is 200." % len(path))
    # spec §10.12: the original kept "a//b" in meta.json while the folder was a/b; keep them equal
    return re.sub(r"/{2,}", "/", path)


_RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def _check_run_id(run_id: str) -> str:
    """A custom run id becomes a folder name: one safe name (the original took anything)."""
    if not _RUN_ID_RE.match(run_id):
        raise ValueError("Invalid run_id: %r. Use letters, digits, '_', '-' or '.', starting with a letter or digit (max 128)." % run_id)
    return run_id


def _gen_run_id() -> str:
    """Local time YYYYmmdd_HHMMSS + "_" + 6 hex."""
    return "%s_%s" % (time.strftime("%Y%m%d_%H%M%S", time.localtime()), uuid.uuid4().hex[:6])


_RESUME_MODES = (None, "allow", "must", "never")
_CHARTABLE = (int, float, bool, str, type(None))


def _flatten(prefix: str, d: Dict[str, Any], out: Dict[str, Any]) -> None:
    for k, v in d.items():
        key = "%s/%s" % (prefix, k)
        if type(v) is dict:
            _flatten(key, v, out)
        else:
            out[key] = v


def _config_dict(obj: Any) -> Dict[str, Any]:
    """A config object as a dict: a dict, an argparse.Namespace, a dataclass, a mapping or anything with __dict__."""
    if isinstance(obj, dict):
        return obj
    import dataclasses
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if hasattr(obj, "keys") and hasattr(obj, "__getitem__"):
        return {k: obj[k] for k in obj.keys()}
    if hasattr(obj, "__dict__"):
        return dict(vars(obj))
    raise TypeError("a config must be a dict, an argparse.Namespace, a dataclass or a mapping, got %s" % type(obj).__name__)


def _as_step(step: Any) -> int:
    """`step` as an int: ints (numpy/torch integers too) and whole floats; anything else is refused."""
    if isinstance(step, bool):
        raise TypeError("step must be an integer, got a bool (%r)" % step)
    try:
        import operator
        return operator.index(step)
    except TypeError:
        pass
    if isinstance(step, float) and step.is_integer():
        return int(step)
    if hasattr(step, "item") and not isinstance(step, (str, bytes)):
        try:
            return _as_step(step.item())
        except (TypeError, ValueError):
            pass
    if isinstance(step, float):
        raise ValueError("step must be a whole number, got %r (round it yourself, e.g. step=int(x))" % step)
    raise TypeError("step must be an integer, got %s %r" % (type(step).__name__, step))


def _last_step_in(events_path: Path) -> int:
    """The largest global_step of the metrics events in the last 1 MiB of events.jsonl (0 when none)."""
    try:
        with open(events_path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - (1 << 20)))
            tail = f.read()
    except OSError:
        return 0
    best = 0
    for m in re.finditer(rb'"global_step": (-?\d+)', tail):
        best = max(best, int(m.group(1)))
    for m in re.finditer(rb'"step": (-?\d+)', tail):  # image events and legacy lines
        best = max(best, int(m.group(1)))
    return best


def _viewer_url(root: Path) -> Optional[str]:
    """The URL of a viewer serving `root` (from ROOT/.viewer.json, written by `runicorn serve`), if it is alive."""
    try:
        info = json.loads((root / ".viewer.json").read_text(encoding="utf-8"))
        pid = int(info["pid"])
        url = str(info["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except OSError:
        pass  # alive, owned by someone else
    return url


def _announce(run: "Run", root_source: str) -> None:
    """The one line init() prints to stderr (RUNICORN_QUIET=1 silences it)."""
    if (os.environ.get("RUNICORN_QUIET") or "").strip().lower() in ("1", "true", "yes", "on"):
        return
    verb = "resumed" if run.resumed else "started"
    url = _viewer_url(run.storage_root)
    where = (" | view: %s/runs/%s" % (url.rstrip("/"), run.id)) if url else ""
    line = "runicorn: %s run %s in %s%s" % (verb, run.id, run.run_dir, where)
    if run._remote is not None:
        line = "runicorn: %s run %s | sending to %s/runs/%s" % (verb, run.id, run._remote.server, run.id)
    elif root_source == "default":
        line += ("\nrunicorn: no storage root configured, so runs go to ./.runicorn here; set one with RUNICORN_DIR=PATH, "
                 "rn.init(storage=PATH) or `runicorn config --set-user-root-dir PATH`")
    cap = run._console_capture
    stream = getattr(cap, "_orig_err", None) or sys.stderr  # said once on the terminal, not copied into logs.txt
    try:
        stream.write(line + "\n")
    except Exception:
        pass


_active_run_lock = threading.Lock()
_active_run: Optional["Run"] = None


def get_active_run() -> Optional["Run"]:
    """The Run created by the last init() (None after init() while disabled)."""
    return _active_run


class Run:
    """One experiment run: writes ROOT/runs/<path>/<run_id>/ exactly like Runicorn 0.6.

    Metrics and text are queued in memory and appended by a background thread at least twice a
    second (also on finish(), at exit and on SIGTERM); status.json carries a `heartbeat_at` while
    the run is live. Disk trouble is reported once as a RuntimeWarning and never raised.
    """

    def __init__(self, path: Optional[str] = None, storage: Optional[str] = None, run_id: Optional[str] = None,
                 alias: Optional[str] = None, capture_env: bool = False, snapshot_code: bool = False,
                 workspace_root: Optional[str] = None, snapshot_format: str = "zip", force_snapshot: bool = False,
                 capture_console: bool = False, tqdm_mode: str = "smart", tags: Optional[List[str]] = None,
                 notes: Optional[str] = None, config: Optional[Dict[str, Any]] = None, resume: Optional[str] = None,
                 system_metrics: Optional[bool] = None, system_interval: Optional[float] = None,
                 server: Optional[str] = None, token: Optional[str] = None) -> None:
        self.path = _normalize_path(path)
        self._remote: Any = None
        server = server or os.environ.get("RUNICORN_SERVER") or None
        if server and storage is None:  # logging to a server: the local copy is a staging area (remote_sink.py)
            from .remote_sink import staging_root
            storage = str(staging_root())
        from .system_metrics import resolve_interval
        sys_interval = resolve_interval(system_metrics, system_interval)
        if resume not in _RESUME_MODES:
            raise ValueError("resume must be 'allow', 'must', 'never' or None, got %r" % (resume,))
        if resume and not run_id:
            raise ValueError("resume=%r needs run_id= (the id of the run to continue)" % (resume,))
        if tags is not None:
            if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
                raise TypeError("tags must be a list of strings, e.g. tags=['baseline', 'resnet']")
            tags = [t.strip() for t in tags if t.strip()]
        if notes is not None and not isinstance(notes, str):
            raise TypeError("notes must be a string, got %s" % type(notes).__name__)
        if config is not None and not isinstance(config, dict):
            config = _config_dict(config)
        if snapshot_code and snapshot_format != "zip":
            raise ValueError("snapshot_format currently only supports 'zip'")
        if tqdm_mode not in ("smart", "all", "none"):
            raise ValueError("tqdm_mode must be 'smart', 'all' or 'none', got %r" % (tqdm_mode,))
        self.alias = alias
        self.storage_root = resolve_storage_root(storage)
        self.id = _check_run_id(str(run_id)) if run_id else _gen_run_id()
        self.runs_dir = self.storage_root / "runs"
        if self.path:
            self.runs_dir = self.runs_dir.joinpath(*[p for p in self.path.split("/") if p])
        self.run_dir = self.runs_dir / self.id
        self.media_dir = self.run_dir / "media"
        self.resumed = False
        existed = run_id is not None and (self.run_dir / "meta.json").exists()
        if run_id is not None:
            self._refuse_id_elsewhere()
        if resume == "must" and not existed:
            raise ValueError("resume='must': no run %r under path %r in %s" % (self.id, self.path, self.storage_root))
        if resume == "never" and existed:
            raise ValueError("resume='never': run %r already exists in %s; pick another run_id or resume='allow'" % (self.id, self.run_dir))
        self.workspace_root = get_workspace_root(workspace_root)

        self._events_path = self.run_dir / "events.jsonl"
        self._summary_path = self.run_dir / "summary.json"
        self._status_path = self.run_dir / "status.json"
        self._meta_path = self.run_dir / "meta.json"
        self._logs_txt_path = self.run_dir / "logs.txt"
        self._assets_path = self.run_dir / "assets.json"
        self._outputs_state_path = self.run_dir / ".outputs_state.json"
        self._env_path = self.run_dir / "environment.json"
        self._hist_path = self.run_dir / "histograms.jsonl"

        self._global_step = 0
        self._primary_metric_name: Optional[str] = None
        self._primary_metric_mode = "max"
        self._best_metric_value: Optional[float] = None
        self._best_metric_step: Optional[int] = None
        self._stage_obj: Any = None
        self._stage_tail = ""
        self._finished = False
        self._logs_released = False
        self._finish_lock = threading.RLock()
        self._owner_pid = os.getpid()
        self._hb_interval = _heartbeat_interval()
        self._last_hb = 0.0
        self._outputs_watch_thread: Optional[threading.Thread] = None
        self._outputs_watch_stop = threading.Event()
        self._env_thread: Optional[threading.Thread] = None
        self._console_capture: Optional[ConsoleCapture] = None
        self._hists: Any = None
        self._checked_keys: set = set()
        self._best_written: Any = None
        self._last_best_write = 0.0
        if resume and existed:
            self.resumed = True
            self._global_step = _last_step_in(self._events_path)
            if alias is None:
                self.alias = read_json_dict(self._meta_path).get("alias")

        try:
            self.media_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            warn_once("mkdir:" + str(self.run_dir), "cannot create run directory %s (%s); metrics will be kept in memory" % (self.run_dir, e))

        from ._runtime import Appender
        self._events = Appender(str(self._events_path))
        self._emit = self._events.write
        self._logs = LogManager.get_instance(self._logs_txt_path)

        created_at = _time()
        self._write_initial_files(created_at, tags, notes)

        self._index_db: Any = None
        try:
            from .index import IndexDb
            self._index_db = IndexDb(self.storage_root)
            self._index_db.upsert_run(run_id=self.id, path=self.path, alias=self.alias, created_at=float(created_at),
                                      status="running", run_dir=str(self.run_dir), workspace_root=str(self.workspace_root))
        except Exception as e:
            warn_once("index:" + str(self.storage_root), "index/runicorn.db not updated (%s)" % e)
            self._index_db = None

        self._safe("assets", ensure_assets_file, self._assets_path)
        if config:
            self.log_config(extra=config)

        if snapshot_code:
            self._snapshot_code(force_snapshot, created_at)

        if capture_env:
            t = threading.Thread(target=self._capture_env, name="runicorn-env", daemon=True)
            self._env_thread = t
            t.start()

        if capture_console:
            try:
                self._console_capture = ConsoleCapture(self._logs_txt_path, tqdm_mode=tqdm_mode)
                self._console_capture.start()
            except Exception as e:
                warn_once("console", "console capture not started: %s" % e)
                self._console_capture = None

        if server:
            from .remote_sink import RemoteSink
            self._remote = RemoteSink(self.id, self.path, self.run_dir, server, token or os.environ.get("RUNICORN_TOKEN"))

        _runtime.flusher.register(self)
        _runtime.track_run(self)
        self._system: Any = None
        if sys_interval > 0:
            from .system_metrics import SystemSampler
            self._system = SystemSampler(str(self.run_dir / "system.jsonl"), sys_interval)
            self._safe("system metrics", self._system.start)

    # ------------------------------------------------------------------ setup helpers

    def _safe(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run an I/O step; OSError/sqlite trouble becomes a one-time warning."""
        try:
            return fn(*args, **kwargs)
        except OSError as e:
            warn_once("%s:%s" % (what, self.run_dir), "%s failed for run %s: %s" % (what, self.id, e))
            return None

    def _refuse_id_elsewhere(self) -> None:
        """A custom run id names one run: refuse it when the index knows it under another path."""
        db_path = self.storage_root / "index" / "runicorn.db"
        if not db_path.exists():
            return
        try:
            from .index import IndexDb
            row = IndexDb(self.storage_root).get_run(self.id)
        except Exception as e:
            warn_once("index-read:" + str(self.storage_root), "index/runicorn.db not readable (%s)" % e)
            return
        if not row or row.get("path") == self.path:
            return
        other = Path(str(row.get("run_dir") or ""))
        if (other / "meta.json").exists() and other != self.run_dir:
            raise ValueError("run_id %r is already used by the run at path %r (%s); a run id names one run: pick another "
                             "run_id, or pass path=%r to continue that run" % (self.id, row.get("path"), other, row.get("path")))

    def _write_initial_files(self, created_at: float, tags: Optional[List[str]] = None, notes: Optional[str] = None) -> None:
        meta = {
            "id": self.id,
            "path": self.path,
            "alias": self.alias,
            "created_at": created_at,
            "python": sys.version.split(" ")[0],
            "platform": "%s %s (%s)" % (platform.system(), platform.release(), platform.machine()),
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "storage_dir": str(self.storage_root),
            "workspace_root": str(self.workspace_root),
        }

        if tags is not None:
            meta["tags"] = tags
        if notes is not None:
            meta["notes"] = notes

        def write_meta() -> None:
            # A second process joining the same run (e.g. another DDP rank) keeps the first meta.json.
            with lock_for(self._meta_path):
                cur = read_json_dict(self._meta_path)
                if not cur:
                    write_json(self._meta_path, meta)
                    return
                changed = False
                if tags:
                    merged = list(cur.get("tags") or [])
                    merged += [t for t in tags if t not in merged]
                    changed = merged != cur.get("tags")
                    cur["tags"] = merged
                if notes is not None and cur.get("notes") != notes:
                    cur["notes"] = notes
                    changed = True
                if self.resumed and self.alias is not None and cur.get("alias") != self.alias:
                    cur["alias"] = self.alias
                    changed = True
                if changed:
                    write_json(self._meta_path, cur)

        def write_status() -> None:
            now = _time()
            with lock_for(self._status_path):
                cur = read_json_dict(self._status_path)
                if cur:
                    cur.pop("ended_at", None)
                    cur.pop("exit_reason", None)
                    cur["status"] = "running"
                    cur.setdefault("started_at", now)
                    cur["heartbeat_at"] = now
                else:
                    cur = {"status": "running", "started_at": now, "heartbeat_at": now}
                write_json(self._status_path, cur)
            self._last_hb = now

        self._safe("meta.json", write_meta)
        self._safe("status.json", write_status)

    def _snapshot_code(self, force_snapshot: bool, created_at: float) -> None:
        zip_path = self.run_dir / "code_snapshot.zip"
        try:
            snap = snapshot_workspace(self.workspace_root, zip_path, force_snapshot=force_snapshot,
                                      exclude_paths=[self.storage_root, self.run_dir])
            archived = archive_file(zip_path, self.storage_root / "archive", category="code")
        except OSError as e:
            warn_once("snapshot:" + str(self.run_dir), "code snapshot failed: %s" % e)
            return
        entry = {"saved": True, "workspace_root": snap.get("workspace_root"), "format": "zip", "created_at": int(_time()),
                 "archive_path": archived.get("archive_path"), "fingerprint_kind": archived.get("fingerprint_kind"),
                 "fingerprint": archived.get("fingerprint")}

        def upd(a: Dict[str, Any]) -> Dict[str, Any]:
            a["code"] = {"snapshot": entry}
            return a

        self._safe("assets.json", update_assets_atomic, self._assets_path, upd)
        self._index_asset(role="code", asset_type="code_snapshot", name="code_snapshot.zip", source_uri=str(self.workspace_root),
                          archive_uri=archived.get("archive_path"), is_archived=True,
                          fingerprint_kind=archived.get("fingerprint_kind"), fingerprint=archived.get("fingerprint"),
                          created_at=float(created_at), metadata={"format": "zip", "workspace_root": str(self.workspace_root)})

    def _capture_env(self) -> None:
        try:
            from .environment import capture_environment
            env = capture_environment(self.workspace_root)
            write_json(self._env_path, env)
        except Exception as e:
            warn_once("env:" + str(self.run_dir), "environment capture failed: %s" % e)

    def _index_asset(self, **kwargs: Any) -> None:
        if self._index_db is None:
            return
        try:
            self._index_db.record_asset_for_run(run_id=self.id, **kwargs)
        except Exception as e:
            warn_once("index-asset:" + str(self.storage_root), "index/runicorn.db not updated (%s)" % e)

    # ------------------------------------------------------------------ background work

    def _tick(self) -> None:
        """Called by the flusher thread: append queued events, refresh the heartbeat when due."""
        self._events.flush()
        if self._hists is not None:
            self._hists.flush()
        if self._finished or os.getpid() != self._owner_pid:
            return
        now = _time()
        if now - self._last_hb >= self._hb_interval:
            self._last_hb = now
            self._heartbeat(now)
        if self._best_metric_value is not None and now - self._last_best_write >= self._hb_interval:
            self._write_best(now)

    def _write_best(self, now: float) -> None:
        """Puts the primary metric's best value and step in summary.json while the run is live (when it changed)."""
        cur = (self._best_metric_value, self._best_metric_step, self._primary_metric_name, self._primary_metric_mode)
        self._last_best_write = now
        if cur == self._best_written:
            return
        self._best_written = cur
        self.summary({"best_metric_value": cur[0], "best_metric_name": cur[2], "best_metric_step": cur[1], "best_metric_mode": cur[3]})

    def _heartbeat(self, now: float) -> None:
        try:
            with lock_for(self._status_path):
                if self._finished:
                    return
                cur = read_json_dict(self._status_path)
                if cur.get("status") != "running" and cur.get("exit_reason") in ("heartbeat_lost", "process_not_found"):
                    # A viewer gave up on us while we were stalled (suspend, NFS hiccup): we are alive after all.
                    cur["status"] = "running"
                    cur.pop("ended_at", None)
                    cur.pop("exit_reason", None)
                if not cur:
                    cur = {"status": "running", "started_at": now}
                cur["heartbeat_at"] = now
                write_json(self._status_path, cur)
        except OSError as e:
            warn_once("heartbeat:" + str(self.run_dir), "cannot update heartbeat in %s: %s" % (self._status_path, e))

    def _after_fork_child(self) -> None:
        self._events._drop_after_fork()

    def flush(self) -> None:
        """Write everything queued so far to disk now (it happens on its own at least twice a second)."""
        self._events.flush()
        if self._hists is not None:
            self._hists.flush()
        self._logs.flush()

    # ------------------------------------------------------------------ public API

    def set_primary_metric(self, metric_name: str, mode: str = "max") -> None:
        """Track the best value of one metric; it is kept in summary.json while the run is live and at finish().

        Args:
            metric_name: the key you pass to log(), e.g. "val/acc".
            mode: "max" when higher is better (accuracy), "min" when lower is better (loss).

        Example::

            run.set_primary_metric("val_loss", mode="min")
        """
        if mode not in ("max", "min"):
            raise ValueError("Mode must be 'max' or 'min', got '%s'" % mode)
        self._primary_metric_name = metric_name
        self._primary_metric_mode = mode
        self._best_metric_value = None
        self._best_metric_step = None
        if self.resumed:
            prev = read_json_dict(self._summary_path)
            if prev.get("best_metric_name") == metric_name and prev.get("best_metric_mode") == mode \
                    and isinstance(prev.get("best_metric_value"), (int, float)):
                self._best_metric_value = prev["best_metric_value"]
                self._best_metric_step = prev.get("best_metric_step")

    def log(self, data: Optional[Dict[str, Any]] = None, *, step: Optional[int] = None, stage: Optional[Any] = None,
            **kwargs: Any) -> None:
        """Record metrics at a step.

        Args:
            data: metric names and values. Numbers (Python, numpy or 0-d torch), bools and strings are
                charted; nested dicts are flattened with "/" ({"val": {"acc": 0.9}} → "val/acc");
                rn.Histogram values go to histograms.jsonl, rn.Table and rn.Audio to media/. Lists and other objects are stored but
                cannot be charted (one warning per key).
            step: the step (an integer); by default one more than the last step. A float that is
                not a whole number is an error.
            stage: a label for this part of training ("train", "val"); shown as bands on charts.
            **kwargs: more metrics, merged into `data`.

        Example::

            run.log({"loss": loss.item(), "val": {"acc": acc}}, step=global_step, stage="train")
            run.log(epoch=3, lr=1e-4)
        """
        ts = _time()
        if kwargs:
            payload = dict(data) if data else {}
            payload.update(kwargs)
        elif data is None:
            payload = {}
        elif type(data) is dict:
            payload = data
        else:
            payload = dict(data)
        if "step" in payload or "global_step" in payload or "stage" in payload:
            payload = dict(payload)
            payload.pop("global_step", None)
            payload.pop("step", None)
            in_stage = payload.pop("stage", None)
            if stage is None:
                stage = in_stage
        if step is None:
            self._global_step += 1
        else:
            self._global_step = step if type(step) is int else _as_step(step)
        gs = self._global_step
        checked = self._checked_keys
        for k, v in payload.items():
            t = type(v)
            if t is dict or t is Histogram or t is Table or t is Audio:
                payload = self._special_values(payload, gs, ts)
                break
            if k not in checked:
                self._check_value(k, v)
        body = _encode(payload)
        tsr = _frepr(ts)
        if stage is None:
            tail = ""
        elif stage is self._stage_obj:
            tail = self._stage_tail
        else:
            tail = ', "stage": ' + _encode(stage)
            self._stage_obj = stage
            self._stage_tail = tail
        if len(body) > 2:
            self._emit('{"ts": %s, "type": "metrics", "data": %s, "global_step": %d, "time": %s%s}}\n' % (tsr, body[:-1], gs, tsr, tail))
        else:
            self._emit('{"ts": %s, "type": "metrics", "data": {"global_step": %d, "time": %s%s}}\n' % (tsr, gs, tsr, tail))
        if self._primary_metric_name is not None:
            self._update_best_metric(payload, gs)

    def _check_value(self, key: str, v: Any) -> None:
        """Warns once per key about values no chart can show (lists, objects)."""
        self._checked_keys.add(key)
        if isinstance(v, _CHARTABLE) or getattr(v, "ndim", None) == 0:
            return
        warn_once("uncharted:%s:%s" % (self.id, key), "log(): %r is a %s; it is stored but cannot be charted "
                  "(log numbers, or rn.Histogram(values) for a distribution)" % (key, type(v).__name__))

    def _special_values(self, payload: Dict[str, Any], gs: int, ts: float) -> Dict[str, Any]:
        """Flattens nested dicts with "/" and moves rn.Histogram values to histograms.jsonl; returns the plain payload."""
        flat: Dict[str, Any] = {}
        for k, v in payload.items():
            if type(v) is dict:
                _flatten(str(k), v, flat)
            else:
                flat[k] = v
        out: Dict[str, Any] = {}
        for k, v in flat.items():
            if isinstance(v, Histogram):
                self._log_histogram(str(k), v, gs, ts)
            elif isinstance(v, (Table, Audio)):
                from ._media import log_media_value
                log_media_value(self, str(k), v, gs)
            else:
                out[k] = v
                if k not in self._checked_keys:
                    self._check_value(k, v)
        return out

    def _log_histogram(self, key: str, h: Histogram, step: int, ts: float) -> None:
        if self._hists is None:
            from ._runtime import Appender
            self._hists = Appender(str(self._hist_path))
        line = {"ts": ts, "step": step, "key": key}
        line.update(h.to_json())
        self._hists.write(_encode(line) + "\n")

    def _update_best_metric(self, payload: Dict[str, Any], gs: int) -> None:
        v = payload.get(self._primary_metric_name)  # type: ignore[arg-type]
        if not isinstance(v, (int, float)) and getattr(v, "ndim", None) == 0 and hasattr(v, "item"):
            v = v.item()  # a numpy scalar or a 0-d tensor
        if not isinstance(v, (int, float)) or (isinstance(v, float) and math.isnan(v)):
            return  # NaN never becomes "best" (the original let a first NaN stick forever)
        best = self._best_metric_value
        if best is None or (v > best if self._primary_metric_mode == "max" else v < best):
            self._best_metric_value = v
            self._best_metric_step = gs

    def log_text(self, text: str) -> None:
        """Append one line `HH:MM:SS | text` to the run's logs.txt.

        Example::

            run.log_text("checkpoint saved to ckpt/epoch3.pt")
        """
        self._logs.write("%s | %s\n" % (time.strftime("%H:%M:%S"), text))
        if self._logs_released:
            self._logs.flush()

    def get_logging_handler(self, level: int = logging.INFO, fmt: Optional[str] = None) -> RunicornLoggingHandler:
        """A logging.Handler writing `HH:MM:SS | LEVEL | logger | message` lines to this run's logs.txt.

        Args:
            level: the lowest level written (logging.INFO by default).
            fmt: a logging format string instead of the default.

        With capture_console=True as well, a record that this handler writes is not captured a second
        time from the console (one line per message).

        Example::

            logging.getLogger().addHandler(run.get_logging_handler())
        """
        return RunicornLoggingHandler(run=self, level=level, fmt=fmt)

    def log_image(self, key: str, image: Any, step: Optional[int] = None, caption: Optional[str] = None,
                  format: str = "png", quality: int = 90) -> str:
        """Save an image under media/ and record it at a step; returns its path inside the run ("media/...").

        Args:
            key: the image's name, e.g. "samples" or "val/confusion".
            image: a numpy array (HxW, HxWxC or CxHxW, C = 1, 3 or 4; floats in [0, 1], integers in
                [0, 255]), a torch tensor (same shapes), a PIL image, a matplotlib figure, a file path,
                or PNG/JPEG bytes. Anything else is a TypeError.
            step: the step it belongs to (default: none).
            caption: a short text shown under it.
            format: "png" (default) or "jpg" for PIL images; arrays and tensors are always PNG.
            quality: JPEG quality (1..95) when format="jpg".

        Example::

            run.log_image("samples", torch.rand(3, 64, 64), step=epoch, caption="epoch %d" % epoch)
            run.log_image("loss_curve", fig)  # a matplotlib figure
        """
        from ._media import image_bytes
        if step is not None:
            step = _as_step(step)
        data, ext = image_bytes(image, str(format).lower(), quality)
        safe_key = re.sub(r"[^A-Za-z0-9_.-]", "_", str(key))[:100]
        rel_name = "%d_%s_%s.%s" % (int(_time() * 1000), uuid.uuid4().hex[:6], safe_key, ext)
        dst = self.media_dir / rel_name
        try:
            self.media_dir.mkdir(parents=True, exist_ok=True)
            with open(dst, "wb") as f:
                f.write(data)
        except OSError as e:
            warn_once("media:" + str(self.run_dir), "cannot save image in %s: %s" % (self.media_dir, e))
            return ""
        rel = "media/" + rel_name
        evt = {"ts": _time(), "type": "image", "data": {"key": key, "path": rel, "step": step, "caption": caption}}
        self._emit(_encode(evt) + "\n")
        return rel

    def log_config(self, args: Optional[Any] = None, *, extra: Optional[Dict[str, Any]] = None,
                   config_files: Optional[List[Union[str, Path]]] = None) -> None:
        """Record the run's configuration (shown on the run page's config tab).

        Args:
            args: your parsed arguments: an argparse.Namespace, a dict, a dataclass or a mapping
                (positional or args=...); stored as "args".
            extra: more settings as a dict; merged into what init(config=...) and earlier calls stored.
            config_files: paths of config files used (YAML, JSON, ...), recorded by name.

        Example::

            run.log_config(parser.parse_args())
            run.log_config(extra={"optimizer": "adamw"}, config_files=["configs/base.yaml"])
        """
        holder: Dict[str, Any] = {}
        args_dict = _config_dict(args) if args is not None else None
        if extra is not None and not isinstance(extra, dict):
            extra = _config_dict(extra)

        def upd(a: Dict[str, Any]) -> Dict[str, Any]:
            cfg = dict(a.get("config") or {})
            if args_dict is not None:
                cfg["args"] = args_dict
            if extra is not None:
                prev = cfg.get("extra")
                cfg["extra"] = dict(prev, **extra) if isinstance(prev, dict) else extra
            if config_files is not None:
                cfg["config_files"] = [str(Path(p)) for p in config_files]
            a["config"] = cfg
            holder.update(cfg)
            return a

        if self._safe("assets.json", update_assets_atomic, self._assets_path, upd) is None:
            return
        self._index_asset(role="config", asset_type="config", name=None, source_uri=None, archive_uri=None, is_archived=False,
                          fingerprint_kind=None, fingerprint=None, created_at=_time(), metadata=holder)

    def log_dataset(self, name: str, root_or_uri: Union[str, Path, Dict[str, Any]], *, context: str = "train",
                    save: bool = False, description: Optional[str] = None, force_save: bool = False,
                    max_archive_bytes: int = 5 * _GiB, max_archive_files: int = 2_000_000) -> None:
        """Record a dataset the run used (fingerprinted; copied into the storage root's archive with save=True).

        Args:
            name: a name for it, e.g. "imagenet-val".
            root_or_uri: a folder, a file, a URI ("s3://bucket/x") or a dict describing it.
            context: what it was used for: "train", "val", "test", ...
            save: archive a copy (deduplicated by content).
            description: free text.
            force_save, max_archive_bytes, max_archive_files: allow archiving beyond the size limits.

        Example::

            run.log_dataset("cifar10", "~/data/cifar10", context="train")
        """
        uri: Any = root_or_uri
        fp: Any = None
        archived: Optional[Dict[str, Any]] = None
        if isinstance(root_or_uri, (str, Path)):
            raw = str(root_or_uri)
            p = Path(raw).expanduser()
            # spec §10.12: keep URIs (s3://…) intact instead of mangling them through Path().
            uri = raw if "://" in raw else str(p)
            try:
                if "://" not in raw and p.is_dir():
                    fp = dir_stat_fingerprint(p)
                    if save:
                        if (fp["total_size_bytes"] > max_archive_bytes or fp["file_count"] > max_archive_files) and not force_save:
                            raise ValueError("dataset too large to archive; set force_save=True or use save=False")
                        archived = archive_dir(p, self.storage_root / "archive", category="datasets")
                elif "://" not in raw and p.is_file():
                    fp = stat_fingerprint(p)
                    if save:
                        if fp["size_bytes"] > max_archive_bytes and not force_save:
                            raise ValueError("dataset file too large to archive; set force_save=True or use save=False")
                        archived = archive_file(p, self.storage_root / "archive", category="datasets")
            except OSError as e:
                warn_once("dataset:" + raw, "dataset %s not archived: %s" % (raw, e))
        entry: Dict[str, Any] = {"name": name, "context": context, "uri": uri, "description": description,
                                 "saved": bool(save and archived), "fingerprint": fp}
        if archived:
            entry.update(archived)

        def upd(a: Dict[str, Any]) -> Dict[str, Any]:
            a.setdefault("datasets", []).append(entry)
            return a

        self._safe("assets.json", update_assets_atomic, self._assets_path, upd)
        fp_kind, fp_val = entry.get("fingerprint_kind"), entry.get("fingerprint")
        if isinstance(fp_val, dict):
            fp_val = json.dumps(fp_val, ensure_ascii=False, sort_keys=True)
            fp_kind = fp_kind or "stat"
        self._index_asset(role="dataset", asset_type="dataset", name=name,
                          source_uri=str(entry["uri"]) if entry.get("uri") is not None else None,
                          archive_uri=entry.get("archive_path"), is_archived=bool(entry["saved"]), fingerprint_kind=fp_kind,
                          fingerprint=fp_val, created_at=_time(), metadata={"context": context, "description": description})

    def log_pretrained(self, name: str, *, path_or_uri: Optional[Union[str, Path, Dict[str, Any]]] = None, save: bool = False,
                       source_type: str = "unknown", description: Optional[str] = None, force_save: bool = False,
                       max_archive_bytes: int = 5 * _GiB, max_archive_files: int = 2_000_000) -> None:
        """Record a pretrained model the run started from (archived with save=True).

        Args:
            name: e.g. "resnet50-imagenet".
            path_or_uri: a file, folder or URI of the weights.
            save: archive a copy into the storage root.
            source_type: where it came from: "torchvision", "huggingface", "local", ...
            description: free text.
            force_save, max_archive_bytes, max_archive_files: allow archiving beyond the size limits.

        Example::

            run.log_pretrained("resnet50", path_or_uri="weights/r50.pth", source_type="local")
        """
        if save and path_or_uri is None:
            raise ValueError("save=True requires path_or_uri")
        archived: Optional[Dict[str, Any]] = None
        if save and isinstance(path_or_uri, (str, Path)):
            p = Path(path_or_uri).expanduser()
            try:
                if p.is_dir():
                    fp = dir_stat_fingerprint(p)
                    if (fp["total_size_bytes"] > max_archive_bytes or fp["file_count"] > max_archive_files) and not force_save:
                        raise ValueError("pretrained dir too large to archive; set force_save=True or use save=False")
                    archived = archive_dir(p, self.storage_root / "archive", category="pretrained")
                elif p.is_file():
                    if p.stat().st_size > max_archive_bytes and not force_save:
                        raise ValueError("pretrained file too large to archive; set force_save=True or use save=False")
                    archived = archive_file(p, self.storage_root / "archive", category="pretrained")
            except OSError as e:
                warn_once("pretrained:" + str(p), "pretrained %s not archived: %s" % (p, e))
        entry: Dict[str, Any] = {
            "name": name, "source_type": source_type,
            "path_or_uri": None if path_or_uri is None else (str(path_or_uri) if isinstance(path_or_uri, (str, Path)) else path_or_uri),
            "description": description, "saved": bool(save and archived),
        }
        if archived:
            entry.update(archived)

        def upd(a: Dict[str, Any]) -> Dict[str, Any]:
            a.setdefault("pretrained", []).append(entry)
            return a

        self._safe("assets.json", update_assets_atomic, self._assets_path, upd)
        self._index_asset(role="pretrained", asset_type="pretrained", name=name,
                          source_uri=str(entry["path_or_uri"]) if entry.get("path_or_uri") is not None else None,
                          archive_uri=entry.get("archive_path"), is_archived=bool(entry["saved"]),
                          fingerprint_kind=entry.get("fingerprint_kind"), fingerprint=entry.get("fingerprint"), created_at=_time(),
                          metadata={"source_type": source_type, "description": description})

    def scan_outputs_once(self, *, output_dirs: List[Union[str, Path]], patterns: Optional[List[str]] = None,
                          stable_required: int = 2, min_age_sec: float = 1.0, mode: str = "rolling",
                          log_snapshot_interval_sec: float = 60.0, state_gc_after_sec: float = 7 * 24 * 3600) -> Dict[str, Any]:
        """Archive stable checkpoints and snapshot logs found under `output_dirs`."""
        try:
            res = _scan_outputs_once(run_id=self.id, run_dir=self.run_dir, storage_root=self.storage_root,
                                     workspace_root=self.workspace_root, output_dirs=output_dirs, assets_path=self._assets_path,
                                     state_path=self._outputs_state_path, patterns=patterns, stable_required=stable_required,
                                     min_age_sec=min_age_sec, mode=mode, log_snapshot_interval_sec=log_snapshot_interval_sec,
                                     state_gc_after_sec=state_gc_after_sec)
        except OSError as e:
            warn_once("outputs:" + str(self.run_dir), "output scan failed: %s" % e)
            return {"run_id": self.id, "scanned": 0, "archived": 0, "changed": 0, "archived_entries": []}
        for e in res.get("archived_entries") or []:
            self._index_asset(role="output", asset_type="output", name=e.get("name"), source_uri=e.get("path"),
                              archive_uri=e.get("archive_path"), is_archived=True, fingerprint_kind=e.get("fingerprint_kind"),
                              fingerprint=e.get("fingerprint"), created_at=float(e.get("archived_at") or 0),
                              metadata={"key": e.get("key"), "kind": e.get("kind"), "mode": e.get("mode")})
        return res

    def watch_outputs(self, *, output_dirs: List[Union[str, Path]], interval_sec: float = 10.0, patterns: Optional[List[str]] = None,
                      stable_required: int = 2, min_age_sec: float = 1.0, mode: str = "rolling",
                      log_snapshot_interval_sec: float = 60.0, state_gc_after_sec: float = 7 * 24 * 3600) -> None:
        """Archive checkpoints as they appear: scan_outputs_once() every `interval_sec` in a background thread.

        Args:
            output_dirs: folders your script writes checkpoints and logs to.
            interval_sec: seconds between scans.
            patterns: file patterns to keep (default: common checkpoint and log names).
            stable_required, min_age_sec: a file must be unchanged this many scans and this old.
            mode: "rolling" (one copy per file, replaced as it changes) or "overwrite_versions" (a new entry per version).

        Example::

            run.watch_outputs(output_dirs=["checkpoints"], interval_sec=30)
        """
        if self._outputs_watch_thread and self._outputs_watch_thread.is_alive():
            return
        self._outputs_watch_stop.clear()

        def loop() -> None:
            while not self._outputs_watch_stop.is_set():
                try:
                    self.scan_outputs_once(output_dirs=output_dirs, patterns=patterns, stable_required=stable_required,
                                           min_age_sec=min_age_sec, mode=mode, log_snapshot_interval_sec=log_snapshot_interval_sec,
                                           state_gc_after_sec=state_gc_after_sec)
                except Exception as e:
                    warn_once("watch:" + str(self.run_dir), "output watcher error: %s" % e)
                self._outputs_watch_stop.wait(interval_sec)

        t = threading.Thread(target=loop, name="runicorn-outputs", daemon=True)
        self._outputs_watch_thread = t
        t.start()

    def stop_outputs_watch(self) -> None:
        """Stop the watcher thread (waits up to 2 s)."""
        self._outputs_watch_stop.set()
        t = self._outputs_watch_thread
        if t and t.is_alive() and t is not threading.current_thread():
            t.join(timeout=2.0)

    def summary(self, update: Dict[str, Any]) -> None:
        """Merge final figures into the run's summary.json (shallow: keys replace keys).

        Args:
            update: names and values, e.g. {"test_acc": 0.93, "params_m": 25.6}.

        Example::

            run.summary({"test_acc": test_acc})
        """
        def merge() -> None:
            with lock_for(self._summary_path):
                cur = read_json_dict(self._summary_path)
                cur.update(update or {})
                write_json(self._summary_path, cur)
        self._safe("summary.json", merge)

    def finish(self, status: str = "finished") -> None:
        """End the run: write everything queued, the best primary metric and the final status.

        Args:
            status: "finished" (default), "failed", "interrupted" or any word of yours.

        A script that ends without finish() is closed at exit ("failed" after an uncaught
        exception, "interrupted" after Ctrl-C or SIGTERM). Calling it again rewrites ended_at.

        Example::

            run.finish()            # or: with rn.init(...) as run: ...
        """
        self._finish(status, None)

    def _finish_from_exit(self, status: str, reason: Optional[str]) -> None:
        if not self._finished:
            self._finish(status, reason)

    def _finish(self, status: str, exit_reason: Optional[str]) -> None:
        with self._finish_lock:
            if self._console_capture is not None:
                try:
                    self._console_capture.stop()
                except Exception:
                    pass
                self._console_capture = None
            self.stop_outputs_watch()
            if getattr(self, "_system", None) is not None:
                self._system.stop()
            if self._env_thread is not None and self._env_thread is not threading.current_thread():
                self._env_thread.join(timeout=30.0)
            self._finished = True
            self.flush()
            self._events.sync()
            self._logs.sync()
            ended_at = _time()
            if self._index_db is not None:
                try:
                    self._index_db.finish_run(run_id=self.id, status=status, ended_at=ended_at)
                except Exception as e:
                    warn_once("index-finish:" + str(self.storage_root), "index/runicorn.db not updated (%s)" % e)
            if self._best_metric_value is not None:
                self.summary({"best_metric_value": self._best_metric_value, "best_metric_name": self._primary_metric_name,
                              "best_metric_step": self._best_metric_step, "best_metric_mode": self._primary_metric_mode})

            def write_status() -> None:
                with lock_for(self._status_path):
                    cur = read_json_dict(self._status_path)
                    if cur.get("exit_reason") in ("heartbeat_lost", "process_not_found"):
                        cur.pop("exit_reason", None)
                    cur.update({"status": status, "ended_at": ended_at})
                    if exit_reason:
                        cur["exit_reason"] = exit_reason
                    write_json(self._status_path, cur)

            self._safe("status.json", write_status)
            # Stay registered with the flusher: events logged after finish() still reach the disk.
            _runtime.untrack_run(self)
            if not self._logs_released:
                self._logs_released = True
                LogManager.release_instance(self._logs_txt_path)
            if self._remote is not None:
                self._remote.close()

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.finish(status="failed" if exc_type is not None else "finished")

    def __repr__(self) -> str:
        return "<runicorn.Run id=%s path=%r dir=%s>" % (self.id, self.path, self.run_dir)


def init(path: Optional[str] = None, storage: Optional[str] = None, run_id: Optional[str] = None, alias: Optional[str] = None,
         capture_env: bool = False, snapshot_code: bool = False, workspace_root: Optional[str] = None,
         snapshot_format: str = "zip", force_snapshot: bool = False, capture_console: bool = False,
         tqdm_mode: str = "smart", *, tags: Optional[List[str]] = None, notes: Optional[str] = None,
         config: Optional[Any] = None, resume: Optional[str] = None, system_metrics: Optional[bool] = None,
         system_interval: Optional[float] = None, server: Optional[str] = None,
         token: Optional[str] = None) -> Union[Run, NoOpRun]:
    """Start a run (or continue one), make it the active run and print one line saying where it is.

    Args:
        path: where the run sits in the tree of runs, e.g. "cv/resnet50" (letters, digits, _, -, /).
        storage: the storage root. Default: $RUNICORN_DIR, then the root set with
            `runicorn config --set-user-root-dir`, then ./.runicorn.
        run_id: your own id for the run (default: a time-based one). Needed to resume.
        alias: a readable name shown next to the id.
        capture_env: record the Python environment, git state and hardware (in the background).
        snapshot_code: zip the workspace's source files into the run.
        workspace_root: the project folder for snapshot_code (default: the nearest folder with .git).
        snapshot_format: "zip" (the only format).
        force_snapshot: snapshot even a very large workspace.
        capture_console: copy everything printed (stdout/stderr) into the run's logs.txt.
        tqdm_mode: how progress bars are captured: "smart" (final state), "all" or "none".
        tags: labels for the run, e.g. ["baseline", "resnet"] (merged into existing tags on resume).
        notes: a free-text description of the run.
        config: a dict (or argparse.Namespace/dataclass) of settings, stored like log_config(extra=config).
        resume: with run_id: "allow" continues that run if it exists (step counter, alias, tags, status)
            and starts it otherwise; "must" fails if it does not exist; "never" fails if it does.
        system_metrics: sample CPU, memory and GPU of this process into system.jsonl (default on;
            $RUNICORN_SYSTEM_METRICS=0 turns it off).
        system_interval: seconds between samples (default 10, or $RUNICORN_SYSTEM_INTERVAL; 0 = off).
        server: send the run to a Runicorn server (http://host:port) instead of a storage root; default
            $RUNICORN_SERVER. Uploads happen in the background through a local spool (docs/SDK.md).
        token: the server's API token; default $RUNICORN_TOKEN.

    Example::

        run = rn.init(path="cv/resnet50", tags=["baseline"], config={"lr": 3e-4, "batch": 128})
        run = rn.init(path="cv/resnet50", run_id="resnet-a", resume="allow")  # continue after a crash

    Set RUNICORN_QUIET=1 to silence the line init() prints on stderr.
    """
    global _active_run
    with _active_run_lock:
        if not is_enabled():
            _active_run = None
            return NoOpRun(path=path, alias=alias)
        root_source = "argument" if storage else ("env" if os.environ.get("RUNICORN_DIR") else None)
        if root_source is None:
            from .config import get_user_root_dir
            root_source = "user" if get_user_root_dir() else "default"
        r = Run(path=path, storage=storage, run_id=run_id, alias=alias, capture_env=capture_env, snapshot_code=snapshot_code,
                workspace_root=workspace_root, snapshot_format=snapshot_format, force_snapshot=force_snapshot,
                capture_console=capture_console, tqdm_mode=tqdm_mode, tags=tags, notes=notes, config=config, resume=resume,
                system_metrics=system_metrics, system_interval=system_interval,
                server=server, token=token)
        _active_run = r
    _announce(r, root_source)
    return r
