"""Checkpoint/log capture: `scan_outputs_once` with state in `.outputs_state.json`."""
from __future__ import annotations

import fnmatch
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from .._io import lock_for, read_json_dict, write_json
from .archive import archive_dir, archive_dir_overwrite, archive_file, archive_file_overwrite, archive_file_overwrite_stat
from .assets_json import update_assets_atomic

DEFAULT_PATTERNS = [p for ext in ("pth", "pt", "ckpt", "onnx", "log", "json", "txt", "csv", "png")
                    for p in ("*." + ext, "**/*." + ext)]
_LOG_SUFFIXES = {".log", ".txt", ".jsonl", ".csv"}


def _match_any(rel: str, patterns: List[str]) -> bool:
    for pat in patterns:
        if pat.startswith("**/") and fnmatch.fnmatchcase(rel, pat[3:]):
            return True
        if fnmatch.fnmatchcase(rel, pat):
            return True
    return False


def _is_log_like(path: Path) -> bool:
    return "tfevents" in path.name or path.suffix.lower() in _LOG_SUFFIXES


def _key_and_display(path: Path, workspace_root: Path) -> Tuple[str, str]:
    try:
        rel = path.resolve().relative_to(workspace_root.resolve()).as_posix()
        return rel, "./" + rel
    except ValueError:
        return path.as_posix(), path.as_posix()


def _upsert(outputs: List[Dict[str, Any]], entry: Dict[str, Any], mode: str) -> None:
    for i, it in enumerate(outputs):
        if it.get("key") == entry["key"]:
            if mode == "overwrite_versions":
                outputs.append(entry)
            else:
                outputs[i] = entry
            return
    outputs.append(entry)


def scan_outputs_once(*, run_id: str, run_dir: Path, storage_root: Path, workspace_root: Path,
                      output_dirs: List[Union[str, Path]], assets_path: Path, state_path: Path,
                      patterns: Optional[List[str]] = None, stable_required: int = 2, min_age_sec: float = 1.0,
                      mode: str = "rolling", log_snapshot_interval_sec: float = 60.0,
                      state_gc_after_sec: float = 7 * 24 * 3600) -> Dict[str, Any]:
    """One scan: archive stable outputs and snapshot log-like files; returns counts and the archived entries."""
    pats = patterns or DEFAULT_PATTERNS
    file_pats = [p for p in pats if not p.endswith("/")]
    dir_pats = [p for p in pats if p.endswith("/")]
    archive_root = Path(storage_root) / "archive"
    workspace_root = Path(workspace_root)

    with lock_for(state_path):
        state = read_json_dict(state_path)
        items: Dict[str, Any] = state.setdefault("items", {})
        if not isinstance(items, dict):
            items = state["items"] = {}
        now = time.time()
        scanned = archived_n = changed = 0
        archived_entries: List[Dict[str, Any]] = []

        def record(path: Path, kind: str, archived: Dict[str, Any], entry_mode: str, it: Dict[str, Any], key: str,
                   log_snapshot: bool) -> None:
            nonlocal archived_n, changed
            fp = archived.get("fingerprint")
            if log_snapshot:
                it["last_log_snapshot_at"] = now
            if fp and it.get("last_archived_fingerprint") == fp:
                it.pop("last_error", None)
                return
            it["last_archived_fingerprint"] = fp
            it["last_archived_at"] = now
            if log_snapshot:  # keep the original's key order in the state file
                it["last_log_snapshot_at"] = it.pop("last_log_snapshot_at")
            it.pop("last_error", None)
            _, display = _key_and_display(path, workspace_root)
            entry = {"key": key, "name": Path(display).name, "kind": kind, "path": display, "saved": True,
                     "archive_path": archived.get("archive_path"), "fingerprint_kind": archived.get("fingerprint_kind"),
                     "fingerprint": fp, "mode": entry_mode, "archived_at": int(now)}
            update_assets_atomic(assets_path, lambda a: _upsert(a.setdefault("outputs", []), entry, entry_mode) or a)
            archived_entries.append(entry)
            archived_n += 1
            changed += 1

        for od in output_dirs:
            odir = Path(od).expanduser().resolve()
            if not odir.exists():
                continue
            for dirpath, dirnames, filenames in os.walk(str(odir)):
                dp = Path(dirpath)
                rel_dir = "" if dp == odir else dp.relative_to(odir).as_posix()
                for d in list(dirnames):
                    rel = rel_dir + "/" + d if rel_dir else d
                    if not dir_pats or not _match_any(rel + "/", dir_pats):
                        continue
                    scanned += 1
                    path = dp / d
                    try:
                        st = path.stat()
                    except OSError:
                        continue
                    key, _ = _key_and_display(path, workspace_root)
                    it = items.get(key) or {}
                    cur = int(st.st_mtime_ns)
                    stable = int(it.get("stable_count") or 0) + 1 if it.get("last_mtime_ns") == cur else 1
                    it["last_mtime_ns"] = cur
                    it["stable_count"] = stable
                    it["last_seen_at"] = now
                    items[key] = it
                    if max(0.0, now - st.st_mtime) < min_age_sec or stable < stable_required:
                        continue
                    try:
                        if mode == "rolling":
                            archived = archive_dir_overwrite(path, archive_root, category="outputs", run_id=run_id, key=key)
                        else:
                            archived = archive_dir(path, archive_root, category="outputs")
                    except (OSError, ValueError) as e:
                        it["last_error"] = str(e)
                        continue
                    record(path, "dir", archived, mode, it, key, False)

                for fn in filenames:
                    path = dp / fn
                    rel = path.relative_to(odir).as_posix()
                    if not _match_any(rel, file_pats):
                        continue
                    try:
                        st = path.stat()
                    except OSError:
                        continue
                    scanned += 1
                    key, _ = _key_and_display(path, workspace_root)
                    it = items.get(key) or {}
                    it["last_seen_at"] = now
                    items[key] = it
                    if _is_log_like(path):
                        last = float(it.get("last_log_snapshot_at") or 0.0)
                        if log_snapshot_interval_sec > 0 and now - last < float(log_snapshot_interval_sec):
                            continue
                        try:
                            archived = archive_file_overwrite_stat(path, archive_root, category="outputs", run_id=run_id, key=key)
                        except (OSError, ValueError) as e:
                            it["last_error"] = str(e)
                            continue
                        record(path, "file", archived, "rolling", it, key, True)
                        continue
                    size, mtime_ns = int(st.st_size), int(st.st_mtime_ns)
                    same = it.get("last_size") == size and it.get("last_mtime_ns") == mtime_ns
                    stable = int(it.get("stable_count") or 0) + 1 if same else 1
                    it["last_size"] = size
                    it["last_mtime_ns"] = mtime_ns
                    it["stable_count"] = stable
                    if max(0.0, now - st.st_mtime) < min_age_sec or stable < stable_required:
                        continue
                    try:
                        if mode == "rolling":
                            archived = archive_file_overwrite(path, archive_root, category="outputs", run_id=run_id, key=key)
                        else:
                            archived = archive_file(path, archive_root, category="outputs")
                    except (OSError, ValueError) as e:
                        it["last_error"] = str(e)
                        continue
                    record(path, "file", archived, mode, it, key, False)

        if state_gc_after_sec and state_gc_after_sec > 0:
            cutoff = now - float(state_gc_after_sec)
            for k in list(items):
                v = items.get(k)
                try:
                    if float((v or {}).get("last_seen_at") or 0) < cutoff:
                        items.pop(k, None)
                except (TypeError, ValueError, AttributeError):
                    items.pop(k, None)
        write_json(state_path, state)
    return {"run_id": run_id, "scanned": scanned, "archived": archived_n, "changed": changed,
            "archived_entries": archived_entries}
