"""Workspace root: explicit argument, else the nearest ancestor of the CWD holding `.git`, else the CWD."""
from __future__ import annotations

from pathlib import Path
from typing import Optional


def find_git_root(start: Path) -> Optional[Path]:
    """Nearest directory at or above `start` that contains `.git`, or None."""
    for p in [start, *start.parents]:
        if (p / ".git").exists():
            return p
    return None


def get_workspace_root(workspace_root: Optional[str] = None) -> Path:
    """The workspace root used for code snapshots and output keys (meta.workspace_root)."""
    if workspace_root:
        return Path(workspace_root).expanduser().resolve()
    cwd = Path.cwd().resolve()
    return find_git_root(cwd) or cwd
