"""`rn.get_config(key)`: values from CFG/registry/**.toml, longest existing prefix file wins."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Dict, List, Tuple

from . import _toml
from .config import get_registry_dir

_cache_lock = threading.Lock()
_cache: Dict[Path, Tuple[int, Dict[str, Any]]] = {}


def clear_registry_cache() -> None:
    """Forget parsed files."""
    with _cache_lock:
        _cache.clear()


def _load(path: Path) -> Dict[str, Any]:
    mtime = path.stat().st_mtime_ns
    with _cache_lock:
        hit = _cache.get(path)
        if hit and hit[0] == mtime:
            return hit[1]
    data = _toml.loads(path.read_text(encoding="utf-8"))
    with _cache_lock:
        _cache[path] = (mtime, data)
    return data


def _resolve(key: str, root: Path) -> Tuple[Path, List[str]]:
    parts = [p for p in (key or "").split("/") if p]
    if not parts:
        raise ValueError("key must be non-empty")
    searched = []
    for i in range(len(parts), 0, -1):
        fp = root.joinpath(*parts[:i]).with_suffix(".toml")
        searched.append(fp)
        if fp.exists():
            return fp, parts[i:]
    listing = "\n".join("- %s" % p for p in searched)
    raise KeyError("Registry key not found: '%s'\nRegistry root: %s\nSearched:\n%s\nCreate: %s\n"
                   "Minimal template:\nvalue = \"<YOUR_VALUE>\"\n" % (key, root, listing, root.joinpath(*parts).with_suffix(".toml")))


def get_config(key: str) -> Any:
    """Look `key` ("a/b/c") up in the registry; KeyError with the searched files when missing."""
    root = get_registry_dir()
    path, rest = _resolve(key, root)
    data: Any = _load(path)
    if not rest:
        if "value" not in data:
            raise KeyError("Registry key resolved but missing default field 'value': '%s'\nFile: %s\n"
                           "Add a line like: value = \"<YOUR_VALUE>\"\n" % (key, path))
        return data["value"]
    for k in rest:
        if not isinstance(data, dict) or k not in data:
            raise KeyError("Registry key not found: '%s'\nFile: %s\nMissing subkey: %s" % (key, path, k))
        data = data[k]
    return data
