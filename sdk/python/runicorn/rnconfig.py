"""`rn.get_effective_rnconfig()`: CFG/rnconfig.toml deep-merged with <workspace>/rnconfig.toml."""
from __future__ import annotations

import copy
import threading
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from . import _toml
from .config import get_rnconfig_file_path
from .workspace import get_workspace_root

_lock = threading.Lock()
_cache: Dict[Tuple[str, str], Tuple[Tuple[Optional[int], Optional[int]], Dict[str, Any]]] = {}


def _mtime(p: Path) -> Optional[int]:
    try:
        return p.stat().st_mtime_ns
    except OSError:
        return None


def _read(p: Path) -> Dict[str, Any]:
    try:
        return _toml.loads(p.read_text(encoding="utf-8"))
    except OSError:
        return {}


def deep_merge(base: Dict[str, Any], override: Dict[str, Any]) -> Dict[str, Any]:
    """Dicts merge recursively; any other value in `override` replaces."""
    out = copy.deepcopy(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def get_effective_rnconfig(workspace_root: Optional[str] = None) -> Dict[str, Any]:
    """User rnconfig overridden by the project's, cached by the pair of mtimes."""
    user = get_rnconfig_file_path()
    proj = get_workspace_root(workspace_root) / "rnconfig.toml"
    key = (str(user), str(proj))
    stamp = (_mtime(user), _mtime(proj))
    with _lock:
        hit = _cache.get(key)
        if hit and hit[0] == stamp:
            return copy.deepcopy(hit[1])
    merged = deep_merge(_read(user) if stamp[0] is not None else {}, _read(proj) if stamp[1] is not None else {})
    with _lock:
        _cache[key] = (stamp, merged)
    return copy.deepcopy(merged)
