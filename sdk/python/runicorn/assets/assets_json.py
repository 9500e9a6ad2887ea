"""`assets.json` of a run: skeleton at init, atomic read-modify-write under `assets.json.lock`."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict

from .._io import lock_for, read_json_dict, write_json


def skeleton() -> Dict[str, Any]:
    """The object written at init (key order as the original)."""
    return {"code": {}, "config": {}, "datasets": [], "pretrained": [], "outputs": []}


def ensure_assets_file(path: Path) -> None:
    """Write the skeleton unless the file exists."""
    if not Path(path).exists():
        with lock_for(path):
            if not Path(path).exists():
                write_json(path, skeleton())


def read_assets(path: Path) -> Dict[str, Any]:
    """The current object ({} when missing or torn)."""
    return read_json_dict(path)


def update_assets_atomic(path: Path, updater: Callable[[Dict[str, Any]], Any]) -> Dict[str, Any]:
    """Apply `updater` to the current object under the lock and replace the file atomically."""
    with lock_for(path):
        data = read_json_dict(path)
        new = updater(data)
        data = new if isinstance(new, dict) else data
        write_json(path, data)
        return data
