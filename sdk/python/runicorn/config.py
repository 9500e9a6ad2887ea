"""Per-user configuration directory and the order in which the storage root is chosen."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, Optional

from ._io import write_json

DEFAULT_DIRNAME = ".runicorn"


def _config_root_dir() -> Path:
    try:
        if os.name == "nt":
            base = os.environ.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
            return Path(base) / "Runicorn"
        if sys.platform == "darwin":
            return Path.home() / "Library" / "Application Support" / "Runicorn"
        xdg = os.environ.get("XDG_CONFIG_HOME")
        return (Path(xdg) if xdg else Path.home() / ".config") / "runicorn"
    except Exception:
        return Path.home() / ".runicorn_config"


def get_config_dir() -> Path:
    """The per-user configuration directory CFG; not created."""
    return _config_root_dir()


def get_config_file_path() -> Path:
    """Path of CFG/config.json."""
    return _config_root_dir() / "config.json"


def get_rnconfig_file_path() -> Path:
    """Path of CFG/rnconfig.toml."""
    return _config_root_dir() / "rnconfig.toml"


def get_registry_dir() -> Path:
    """CFG/registry, created on demand like the original."""
    path = _config_root_dir() / "registry"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass
    return path


def load_user_config() -> Dict[str, Any]:
    """CFG/config.json as a dict ({} when missing or unreadable)."""
    try:
        data = json.loads(get_config_file_path().read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def save_user_config(update: Dict[str, Any]) -> None:
    """Merge `update` into CFG/config.json (indent 2)."""
    path = get_config_file_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    cur = load_user_config()
    cur.update(update or {})
    write_json(path, cur)


def set_user_root_dir(path_like: str) -> Path:
    """Resolve, create and remember `path_like` as user_root_dir; returns the absolute path."""
    p = Path(path_like).expanduser().resolve()
    p.mkdir(parents=True, exist_ok=True)
    save_user_config({"user_root_dir": str(p)})
    return p


def get_user_root_dir() -> Optional[Path]:
    """user_root_dir from CFG/config.json, resolved, or None."""
    p = load_user_config().get("user_root_dir")
    if not p or not isinstance(p, str):
        return None
    try:
        return Path(p).expanduser().resolve()
    except (OSError, RuntimeError):
        return Path(p)


def resolve_storage_root(storage: Optional[str] = None) -> Path:
    """Storage root by explicit argument, $RUNICORN_DIR, user_root_dir, ./.runicorn."""
    if storage:
        return Path(storage).expanduser().resolve()
    env = os.environ.get("RUNICORN_DIR")
    if env:
        return Path(env).expanduser().resolve()
    cfg = get_user_root_dir()
    if cfg:
        return cfg
    return (Path.cwd() / DEFAULT_DIRNAME).resolve()
