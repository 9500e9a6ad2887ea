"""Logging to a server (issue 19): ships a run's files to POST /api/ingest/... in sequenced batches, through a spool.

With RUNICORN_SERVER (or rn.init(server=...)) the run is written to a staging copy under the user cache dir as
always (so log() costs what it costs in file mode and never waits for the network), and a background thread
cuts what is new every ~0.5 s into a batch with the next seq, writes it to the spool
(<cache>/runicorn/spool/<run_id>/NNNNNN.json, the batch body as sent) and then uploads the spool in order. A
server that is down or slow only makes the spool longer; finish() waits a bounded time (RUNICORN_FINISH_TIMEOUT,
default 10 s) and leaves the rest for `runicorn sync`. Media files are PUT before the batch whose events name them.
Standard library only.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ._io import warn_once

#: The append-only files of a run and the batch field each one fills.
APPENDED = (("events.jsonl", "events"), ("logs.txt", "logs"), ("system.jsonl", "system"), ("histograms.jsonl", "histograms"))
#: The JSON files of a run and the batch field that carries them when they change.
WHOLE = (("status.json", "status"), ("summary.json", "summary"), ("meta.json", "meta"), ("assets.json", "assets"))
#: Bytes of lines per batch (the server takes 8 MiB bodies).
BATCH_BUDGET = 4 * 1024 * 1024
INTERVAL = 0.5


def user_cache_dir() -> Path:
    """The user's cache dir: %LOCALAPPDATA%, ~/Library/Caches, else $XDG_CACHE_HOME or ~/.cache."""
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"])
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    return Path(os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache"))


def staging_root() -> Path:
    """Where a run sent to a server keeps its local copy until it is uploaded."""
    return user_cache_dir() / "runicorn" / "staging"


def spool_root() -> Path:
    return user_cache_dir() / "runicorn" / "spool"


def finish_timeout() -> float:
    try:
        return max(0.0, float(os.environ.get("RUNICORN_FINISH_TIMEOUT", "10")))
    except ValueError:
        return 10.0


def _spooled(spool: Path) -> List[Path]:
    return sorted(p for p in spool.glob("[0-9]*.json"))


class RemoteSink:
    """Uploads one run's staging directory to a server, batch by batch, through its spool directory."""

    def __init__(self, run_id: str, path: str, run_dir: Path, server: str, token: Optional[str]) -> None:
        self.run_id = run_id
        self.run_dir = Path(run_dir)
        self.server = server.rstrip("/")
        self.token = token
        self.spool = spool_root() / run_id
        self.spool.mkdir(parents=True, exist_ok=True)
        self.offsets: Dict[str, int] = {f: 0 for f, _ in APPENDED}
        self.sent_whole: Dict[str, str] = {}
        self.media_seen: set = set()
        self.media_sizes: Dict[str, int] = {}
        existing = _spooled(self.spool)
        self.seq = int(existing[-1].stem) if existing else 0
        self.created = False
        self.retry_at = 0.0
        self.failures = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.closed: Optional[bool] = None
        create = {"run_id": run_id, "path": path, "meta": self._read_obj("meta.json"), "status": self._read_obj("status.json"),
                  "assets": self._read_obj("assets.json")}
        for name, _ in WHOLE:
            text = self._read_text(name)
            if text is not None:
                self.sent_whole[name] = text
        self._write_atomic(self.spool / "run.json", json.dumps({"server": self.server, "run_id": run_id, "path": path,
                                                                 "run_dir": str(self.run_dir), "create": create}))
        self.thread = threading.Thread(target=self._loop, name="runicorn-remote", daemon=True)
        self.thread.start()

    # ------------------------------------------------------------------ reading the staging copy

    def _read_text(self, name: str) -> Optional[str]:
        try:
            return (self.run_dir / name).read_text(encoding="utf-8")
        except OSError:
            return None

    def _read_obj(self, name: str) -> Dict[str, Any]:
        text = self._read_text(name)
        try:
            o = json.loads(text) if text else {}
        except ValueError:
            return {}
        return o if isinstance(o, dict) else {}

    def _new_bytes(self, name: str, budget: int) -> Optional[bytes]:
        """Complete lines of `name` past its offset (at most about `budget` bytes), as bytes without the last newline."""
        try:
            with open(self.run_dir / name, "rb") as f:
                f.seek(self.offsets[name])
                chunk = f.read(budget)
        except OSError:
            return None
        end = chunk.rfind(b"\n")
        if end < 0:
            return None
        self.offsets[name] += end + 1
        return chunk[:end]

    def cut(self) -> bool:
        """Puts what is new in the staging copy into the next spooled batch; False when nothing was new."""
        with self.lock:
            parts: List[bytes] = []
            budget = BATCH_BUDGET
            new_text = []
            for name, field in APPENDED:
                chunk = self._new_bytes(name, max(budget, 1))
                if chunk is None:
                    continue
                budget -= len(chunk) + 1
                new_text.append(chunk)
                lines = chunk.split(b"\n")
                if field == "logs":
                    items = [json.dumps(ln.decode("utf-8", errors="replace")).encode() for ln in lines]
                else:  # the SDK's JSON lines go as they are (Python's NaN tokens included: the server reads them)
                    items = [ln for ln in lines if ln.strip()] if b"\n\n" in chunk or not chunk.strip() else lines
                if items:
                    parts.append(b'"' + field.encode() + b'": [' + b", ".join(items) + b"]")
            media = self._ready_media(new_text)
            for name, field in WHOLE:
                text = self._read_text(name)
                if text is None or text == self.sent_whole.get(name):
                    continue
                try:
                    if not isinstance(json.loads(text), dict):
                        continue
                except ValueError:
                    continue  # caught mid-write by another process: next time
                self.sent_whole[name] = text
                parts.append(('"%s": %s' % (field, text)).encode("utf-8"))
            if not parts and not media:
                return False
            self.seq += 1
            stem = "%06d" % self.seq
            if media:
                self._write_atomic(self.spool / (stem + ".media"), "\n".join(media))
            head = ('{"seq": %d' % self.seq).encode()
            self._write_atomic(self.spool / (stem + ".json"), head + b", " + b", ".join(parts) + b"}" if parts else head + b"}")
            return True

    def _ready_media(self, new_lines: List[bytes]) -> List[str]:
        """Media files complete enough to send: named by an event just read (the SDK writes the file first), or of
        the same size as at the previous look, or anything at close."""
        try:
            names = sorted(os.listdir(self.run_dir / "media"))
        except OSError:
            return []
        ready: List[str] = []
        for name in names:
            if name in self.media_seen or name.endswith(".tmp"):
                continue
            try:
                size = (self.run_dir / "media" / name).stat().st_size
            except OSError:
                continue
            named = name.encode("utf-8")
            if any(named in chunk for chunk in new_lines) or self.stop.is_set() or self.media_sizes.get(name) == size:
                self.media_seen.add(name)
                self.media_sizes.pop(name, None)
                ready.append(name)
            else:
                self.media_sizes[name] = size
        return ready

    def _write_atomic(self, path: Path, text: Any) -> None:
        tmp = path.with_name(path.name + ".tmp")
        data = text if isinstance(text, bytes) else text.encode("utf-8")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError as e:
            warn_once("spool:" + str(self.spool), "cannot write the upload spool %s: %s" % (self.spool, e))

    # ------------------------------------------------------------------ uploading the spool

    def _request(self, method: str, path: str, data: bytes, ctype: str, timeout: float) -> Tuple[int, Any]:
        req = urllib.request.Request(self.server + path, data=data, method=method, headers={"Content-Type": ctype})
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as res:
                return res.status, res.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except (OSError, ValueError):  # refused, reset, timed out, DNS: the server is not there right now
            return 0, None

    def drain(self, timeout: float = 5.0) -> bool:
        """Uploads the spool in seq order; True when it is empty. Stops at the first batch the server did not take."""
        with self.lock:
            if not self.created:
                try:
                    create = json.loads((self.spool / "run.json").read_text(encoding="utf-8"))["create"]
                except (OSError, ValueError, KeyError):
                    return False
                status, body = self._request("POST", "/api/ingest/runs", json.dumps(create).encode(), "application/json", timeout)
                if status not in (200, 201):
                    self._failed(status, body, "create")
                    return False
                self.created = True
            for batch in _spooled(self.spool):
                side = batch.with_suffix(".media")
                if side.exists():
                    for name in [n for n in side.read_text(encoding="utf-8").split("\n") if n]:
                        try:
                            data = (self.run_dir / "media" / name).read_bytes()
                        except OSError:
                            continue  # removed since: nothing to send
                        status, body = self._request("PUT", "/api/ingest/runs/%s/media/%s" % (self.run_id, name), data,
                                                     "application/octet-stream", max(timeout, 30.0))
                        if status != 200:
                            self._failed(status, body, "media " + name)
                            if not (400 <= status < 500):
                                return False
                status, body = self._request("POST", "/api/ingest/runs/%s/batches" % self.run_id, batch.read_bytes(),
                                             "application/json", timeout)
                if status == 404:
                    self.created = False
                    return False
                if status != 200 and not (400 <= status < 500):
                    self._failed(status, body, "batch " + batch.stem)
                    return False
                if status != 200:  # refused for good (bad input): keep it aside, never block the rest behind it
                    self._failed(status, body, "batch " + batch.stem)
                    (self.spool / "rejected").mkdir(exist_ok=True)
                    os.replace(batch, self.spool / "rejected" / batch.name)
                else:
                    batch.unlink()
                if side.exists():
                    side.unlink()
            self.failures = 0
            return True

    def _failed(self, status: int, body: Any, what: str) -> None:
        self.failures += 1
        self.retry_at = time.monotonic() + min(5.0, 0.25 * (2 ** min(self.failures, 5)))
        if 400 <= status < 500:
            detail = body.decode("utf-8", "replace")[:300] if isinstance(body, bytes) else ""
            warn_once("remote-%s:%s" % (status, self.run_id), "the server refused %s of run %s (%s): %s" % (what, self.run_id, status, detail))

    def _loop(self) -> None:
        while not self.stop.wait(INTERVAL):
            try:
                while self.cut():
                    pass
                if time.monotonic() >= self.retry_at:
                    self.drain()
            except Exception as e:  # never let the uploader take the training job down
                warn_once("remote-loop:" + self.run_id, "upload to %s failed: %s" % (self.server, e))

    # ------------------------------------------------------------------ the end

    def close(self, timeout: Optional[float] = None) -> bool:
        """Final cut, then upload for at most `timeout` seconds; True when everything reached the server."""
        if self.closed is not None:
            return self.closed
        timeout = finish_timeout() if timeout is None else timeout
        deadline = time.monotonic() + timeout
        self.stop.set()
        self.thread.join(timeout=max(0.1, min(6.0, timeout)))
        while self.cut():
            pass
        done = False
        while True:
            left = deadline - time.monotonic()
            if self.drain(timeout=max(0.5, min(5.0, left))):
                done = True
                break
            if time.monotonic() + 0.25 >= deadline:
                break
            time.sleep(0.25)
        if done:
            shutil.rmtree(self.spool, ignore_errors=True)
            shutil.rmtree(self.run_dir, ignore_errors=True)
        else:
            n = len(_spooled(self.spool))
            sys.stderr.write("runicorn: %d batch(es) of run %s not yet uploaded to %s; they wait in %s and `runicorn sync` will upload them\n"
                             % (n, self.run_id, self.server, self.spool))
            sys.stderr.flush()
        self.closed = done
        return done
