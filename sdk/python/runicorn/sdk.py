"""The Run object and `init()`: the on-disk run layout of spec §1 written as by Runicorn 0.6, faster and crash-safe."""
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
    """spec §1.3: None → "default"; "/" or "" → "" (root); strip slashes; [A-Za-z0-9_-/]; ≤ 200 chars."""
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
    """A custom run id becomes a folder name: one safe name (spec §10.12: the original took anything)."""
    if not _RUN_ID_RE.match(run_id):
        raise ValueError("Invalid run_id: %r. Use letters, digits, '_', '-' or '.', starting with a letter or digit (max 128)." % run_id)
    return run_id


def _gen_run_id() -> str:
    """spec §1.4: local time YYYYmmdd_HHMMSS + "_" + 6 hex."""
    return "%s_%s" % (time.strftime("%Y%m%d_%H%M%S", time.localtime()), uuid.uuid4().hex[:6])


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
                 capture_console: bool = False, tqdm_mode: str = "smart") -> None:
        self.path = _normalize_path(path)
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
        self.workspace_root = get_workspace_root(workspace_root)

        self._events_path = self.run_dir / "events.jsonl"
        self._summary_path = self.run_dir / "summary.json"
        self._status_path = self.run_dir / "status.json"
        self._meta_path = self.run_dir / "meta.json"
        self._logs_txt_path = self.run_dir / "logs.txt"
        self._assets_path = self.run_dir / "assets.json"
        self._outputs_state_path = self.run_dir / ".outputs_state.json"
        self._env_path = self.run_dir / "environment.json"

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

        try:
            self.media_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            warn_once("mkdir:" + str(self.run_dir), "cannot create run directory %s (%s); metrics will be kept in memory" % (self.run_dir, e))

        from ._runtime import Appender
        self._events = Appender(str(self._events_path))
        self._emit = self._events.write
        self._logs = LogManager.get_instance(self._logs_txt_path)

        created_at = _time()
        self._write_initial_files(created_at)

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

        _runtime.flusher.register(self)
        _runtime.track_run(self)

    # ------------------------------------------------------------------ setup helpers

    def _safe(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run an I/O step; OSError/sqlite trouble becomes a one-time warning."""
        try:
            return fn(*args, **kwargs)
        except OSError as e:
            warn_once("%s:%s" % (what, self.run_dir), "%s failed for run %s: %s" % (what, self.id, e))
            return None

    def _write_initial_files(self, created_at: float) -> None:
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

        def write_meta() -> None:
            # A second process joining the same run (e.g. another DDP rank) keeps the first meta.json.
            if not self._meta_path.exists():
                write_json(self._meta_path, meta)

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
        if self._finished or os.getpid() != self._owner_pid:
            return
        now = _time()
        if now - self._last_hb >= self._hb_interval:
            self._last_hb = now
            self._heartbeat(now)

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
        """Write everything queued so far to disk now."""
        self._events.flush()
        self._logs.flush()

    # ------------------------------------------------------------------ public API

    def set_primary_metric(self, metric_name: str, mode: str = "max") -> None:
        """Track the best value of `metric_name` ("max" or "min"); written to summary.json at finish()."""
        if mode not in ("max", "min"):
            raise ValueError("Mode must be 'max' or 'min', got '%s'" % mode)
        self._primary_metric_name = metric_name
        self._primary_metric_mode = mode
        self._best_metric_value = None
        self._best_metric_step = None

    def log(self, data: Optional[Dict[str, Any]] = None, *, step: Optional[int] = None, stage: Optional[Any] = None,
            **kwargs: Any) -> None:
        """Record one metrics event (spec §2.3): keys in call order, then global_step, time and stage."""
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
            try:
                self._global_step = int(step)
            except (TypeError, ValueError) as e:
                logger.warning("Invalid step value '%s': %s, auto-incrementing instead", step, e)
                self._global_step += 1
        gs = self._global_step
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

    def _update_best_metric(self, payload: Dict[str, Any], gs: int) -> None:
        v = payload.get(self._primary_metric_name)  # type: ignore[arg-type]
        if not isinstance(v, (int, float)) or (isinstance(v, float) and math.isnan(v)):
            return  # NaN never becomes "best" (the original let a first NaN stick forever)
        best = self._best_metric_value
        if best is None or (v > best if self._primary_metric_mode == "max" else v < best):
            self._best_metric_value = v
            self._best_metric_step = gs

    def log_text(self, text: str) -> None:
        """Append `HH:MM:SS | text` to logs.txt."""
        self._logs.write("%s | %s\n" % (time.strftime("%H:%M:%S"), text))
        if self._logs_released:
            self._logs.flush()

    def get_logging_handler(self, level: int = logging.INFO, fmt: Optional[str] = None) -> RunicornLoggingHandler:
        """A logging.Handler writing `HH:MM:SS | LEVEL | logger | message` lines to this run's logs.txt."""
        return RunicornLoggingHandler(run=self, level=level, fmt=fmt)

    def log_image(self, key: str, image: Any, step: Optional[int] = None, caption: Optional[str] = None,
                  format: str = "png", quality: int = 90) -> str:
        """Save an image (bytes, file path, PIL image, numpy array) under media/ and record an image event."""
        fmt = str(format).lower()
        safe_key = str(key).replace("/", "_").replace("\\", "_")
        rel_name = "%d_%s_%s.%s" % (int(_time() * 1000), uuid.uuid4().hex[:6], safe_key, fmt)
        dst = self.media_dir / rel_name
        data: Optional[bytes] = None
        pil_image: Any = None
        if isinstance(image, (bytes, bytearray, memoryview)):
            data = bytes(image)
        elif hasattr(image, "save") and hasattr(image, "size") and not isinstance(image, (str, os.PathLike)):
            pil_image = image
        elif hasattr(image, "shape") and hasattr(image, "dtype"):
            try:
                from PIL import Image  # type: ignore
            except ImportError:
                raise RuntimeError("Pillow is required to save numpy arrays. Install with: pip install pillow")
            pil_image = Image.fromarray(image)
        elif isinstance(image, (str, os.PathLike)):
            src = Path(image)
            if not src.is_file():
                raise FileNotFoundError("Image file not found: %s" % image)
            data = src.read_bytes()
        else:
            raise TypeError("log_image expects bytes, a path, a PIL image or a numpy array, got %s" % type(image).__name__)
        try:
            self.media_dir.mkdir(parents=True, exist_ok=True)
            if data is not None:
                with open(dst, "wb") as f:
                    f.write(data)
            else:
                save_fmt = "JPEG" if fmt in ("jpg", "jpeg") else fmt.upper()
                if save_fmt == "JPEG":
                    pil_image.save(dst, format=save_fmt, quality=quality)
                else:
                    pil_image.save(dst, format=save_fmt)
        except OSError as e:
            warn_once("media:" + str(self.run_dir), "cannot save image in %s: %s" % (self.media_dir, e))
            return ""
        rel = "media/" + rel_name
        evt = {"ts": _time(), "type": "image", "data": {"key": key, "path": rel, "step": step, "caption": caption}}
        self._emit(_encode(evt) + "\n")
        return rel

    def log_config(self, *, args: Optional[Any] = None, extra: Optional[Dict[str, Any]] = None,
                   config_files: Optional[List[Union[str, Path]]] = None) -> None:
        """Merge args (dict or argparse.Namespace), extra and config_files into assets.json "config"."""
        holder: Dict[str, Any] = {}

        def upd(a: Dict[str, Any]) -> Dict[str, Any]:
            cfg = dict(a.get("config") or {})
            if args is not None:
                cfg["args"] = args if isinstance(args, dict) else vars(args)
            if extra is not None:
                cfg["extra"] = extra
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
        """Append a dataset to assets.json (fingerprinted; archived into the blob store with save=True)."""
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
        """Append a pretrained model reference to assets.json (archived with save=True)."""
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
        """Archive stable checkpoints and snapshot logs found under `output_dirs` (spec §2.8)."""
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
        """Run scan_outputs_once every `interval_sec` in a daemon thread until stop_outputs_watch()/finish()."""
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
        """Shallow-merge `update` into summary.json."""
        def merge() -> None:
            with lock_for(self._summary_path):
                cur = read_json_dict(self._summary_path)
                cur.update(update or {})
                write_json(self._summary_path, cur)
        self._safe("summary.json", merge)

    def finish(self, status: str = "finished") -> None:
        """Flush everything, write the best metric and the final status (calling it again rewrites ended_at)."""
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

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.finish(status="failed" if exc_type is not None else "finished")

    def __repr__(self) -> str:
        return "<runicorn.Run id=%s path=%r dir=%s>" % (self.id, self.path, self.run_dir)


def init(path: Optional[str] = None, storage: Optional[str] = None, run_id: Optional[str] = None, alias: Optional[str] = None,
         capture_env: bool = False, snapshot_code: bool = False, workspace_root: Optional[str] = None,
         snapshot_format: str = "zip", force_snapshot: bool = False, capture_console: bool = False,
         tqdm_mode: str = "smart") -> Union[Run, NoOpRun]:
    """Start a run (or return NoOpRun when tracking is disabled) and make it the active run."""
    global _active_run
    with _active_run_lock:
        if not is_enabled():
            _active_run = None
            return NoOpRun(path=path, alias=alias)
        r = Run(path=path, storage=storage, run_id=run_id, alias=alias, capture_env=capture_env, snapshot_code=snapshot_code,
                workspace_root=workspace_root, snapshot_format=snapshot_format, force_snapshot=force_snapshot,
                capture_console=capture_console, tqdm_mode=tqdm_mode)
        _active_run = r
    return r
