"""Zip snapshot of the workspace for `snapshot_code=True`."""
from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from .ignore import load_ignore_matcher


def snapshot_workspace(root: Path, out_zip: Path, *, ignore_file: str = ".rnignore", extra_excludes: Optional[List[str]] = None,
                       max_total_bytes: int = 500 * 1024 * 1024, max_files: int = 200_000, force_snapshot: bool = False,
                       exclude_paths: Optional[List[Path]] = None) -> Dict[str, Any]:
    """Zip `root` minus ignored files into `out_zip`; ValueError above the limits unless `force_snapshot`.

    Unlike the original it does not create `.rnignore` in the user's repo (its defaults apply when
    the file is absent) and it skips `exclude_paths` (the storage root and the run
    directory, so that a `./.runicorn` root is never zipped into itself).
    """
    root = Path(root).resolve()
    out_zip = Path(out_zip).resolve()
    matcher = load_ignore_matcher(root, rnignore_name=ignore_file, extra_excludes=extra_excludes)
    skip = {str(Path(p).resolve()) for p in (exclude_paths or [])}
    skip.add(str(out_zip))

    files: List[Tuple[str, str]] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(str(root)):
        rel_dir = os.path.relpath(dirpath, str(root)).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir
        kept = []
        for d in sorted(dirnames):
            rel = rel_dir + "/" + d if rel_dir else d
            if os.path.join(dirpath, d) in skip or matcher.is_ignored(rel, is_dir=True):
                continue
            kept.append(d)
        dirnames[:] = kept
        for fn in sorted(filenames):
            src = os.path.join(dirpath, fn)
            rel = rel_dir + "/" + fn if rel_dir else fn
            if src in skip or matcher.is_ignored(rel, is_dir=False):
                continue
            try:
                size = os.stat(src).st_size
            except OSError:
                continue
            files.append((src, rel))
            total += int(size)
            if not force_snapshot:
                if len(files) > max_files:
                    raise ValueError("code snapshot too large: too many files")
                if total > max_total_bytes:
                    raise ValueError("code snapshot too large: total bytes exceeded")

    out_zip.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(str(out_zip), "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for src, rel in files:
            try:
                zf.write(src, rel)
            except OSError:
                continue
    return {"workspace_root": str(root), "archive_path": str(out_zip), "format": "zip",
            "file_count": len(files), "total_bytes": int(total)}
