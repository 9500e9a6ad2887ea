"""Content-addressed archive of blobs, directory manifests, per-run rolling copies, fingerprints."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

from .._io import atomic_write_text, dumps_pretty


def sha256_file(path: Path, chunk_size: int = 1024 * 1024) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            h.update(chunk)
    return h.hexdigest()


def stat_fingerprint(path: Path) -> Dict[str, Any]:
    """{"size_bytes", "mtime"} of a file (unarchived dataset/pretrained fingerprint)."""
    st = Path(path).stat()
    return {"size_bytes": int(st.st_size), "mtime": float(st.st_mtime)}


def dir_stat_fingerprint(path: Path) -> Dict[str, Any]:
    """{"mtime", "file_count", "total_size_bytes"} of a directory tree."""
    st = Path(path).stat()
    count = total = 0
    for root, _, files in os.walk(path):
        for fn in files:
            try:
                s = os.stat(os.path.join(root, fn))
            except OSError:
                continue
            count += 1
            total += int(s.st_size)
    return {"mtime": float(st.st_mtime), "file_count": count, "total_size_bytes": total}


def get_blob_path(sha256: str, blob_root: Path) -> Path:
    """Where the blob with this hash lives: blobs/<sha[:2]>/<sha>."""
    return Path(blob_root) / sha256[:2] / sha256


def blob_exists(sha256: str, blob_root: Path) -> bool:
    """Whether the blob is already stored."""
    return get_blob_path(sha256, blob_root).exists()


def _copy_atomic(src: Path, dst: Path, prefix: str) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=str(dst.parent), prefix=prefix, suffix=".tmp")
    os.close(fd)
    try:
        shutil.copy2(str(src), tmp)
        os.replace(tmp, str(dst))
    finally:
        if os.path.exists(tmp):
            try:
                os.unlink(tmp)
            except OSError:
                pass


def store_blob(src_path: Path, blob_root: Path) -> str:
    """Copy a file into the blob store unless an identical blob exists; returns its sha256."""
    src_path = Path(src_path)
    if not src_path.is_file():
        raise ValueError("store_blob expects a file, got: %s" % src_path)
    sha = sha256_file(src_path)
    dst = get_blob_path(sha, blob_root)
    if not dst.exists():
        _copy_atomic(src_path, dst, ".%s_" % sha[:8])
    return sha


def get_blob_stats(blob_root: Path) -> Dict[str, Any]:
    """{"blob_count", "total_size_bytes"} of the blob store."""
    count = total = 0
    root = Path(blob_root)
    if root.is_dir():
        for prefix in root.iterdir():
            if not prefix.is_dir():
                continue
            for b in prefix.iterdir():
                if b.is_file() and not b.name.startswith("."):
                    count += 1
                    try:
                        total += b.stat().st_size
                    except OSError:
                        pass
    return {"blob_count": count, "total_size_bytes": total}


def hash_manifest(entries: List[Tuple[str, str]]) -> str:
    """Directory fingerprint: sha256 over sorted (relpath, sha) pairs, each as rel NUL sha NUL."""
    h = hashlib.sha256()
    for rel, sha in sorted(entries):
        h.update(rel.encode("utf-8"))
        h.update(b"\x00")
        h.update(sha.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def archive_file(src: Path, archive_root: Path, *, category: str) -> Dict[str, Any]:
    """Store one file as a blob; returns fingerprint_kind/fingerprint/archive_path."""
    src = Path(src)
    if not src.is_file():
        raise ValueError("archive_file expects a file, got: %s" % src)
    blob_root = Path(archive_root) / "blobs"
    sha = store_blob(src, blob_root)
    return {"fingerprint_kind": "sha256", "fingerprint": sha, "archive_path": str(get_blob_path(sha, blob_root))}


def archive_dir(src: Path, archive_root: Path, *, category: str) -> Dict[str, Any]:
    """Store every file of a directory as blobs and write its manifest once; returns the asset fields."""
    src = Path(src)
    if not src.is_dir():
        raise ValueError("archive_dir expects a directory, got: %s" % src)
    blob_root = Path(archive_root) / "blobs"
    files: Dict[str, Dict[str, Any]] = {}
    entries: List[Tuple[str, str]] = []
    total = 0
    for dirpath, _, filenames in os.walk(src):
        for fn in filenames:
            fp = Path(dirpath) / fn
            rel = fp.relative_to(src).as_posix()
            try:
                sha = store_blob(fp, blob_root)
                size = fp.stat().st_size
            except (OSError, ValueError):
                continue
            files[rel] = {"sha256": sha, "size_bytes": size}
            entries.append((rel, sha))
            total += size
    fingerprint = hash_manifest(entries)
    manifest_path = Path(archive_root) / "manifests" / category / fingerprint[:2] / ("%s.json" % fingerprint)
    if not manifest_path.exists():
        manifest_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(manifest_path, dumps_pretty({
            "created_at": time.time(),
            "source_path": str(src),
            "fingerprint": fingerprint,
            "total_size_bytes": total,
            "file_count": len(files),
            "files": files,
        }))
    return {
        "fingerprint_kind": "sha256_manifest",
        "fingerprint": fingerprint,
        "archive_path": str(manifest_path),
        "manifest_path": str(manifest_path),
        "file_count": len(files),
        "total_size_bytes": total,
    }


def safe_leaf(name: str) -> str:
    """Filename-safe form: keeps [A-Za-z0-9-_.], replaces the rest with _, at most 80 chars."""
    s = "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "_" for c in (name or ""))
    return s[:80]


def _rolling_dst(archive_root: Path, category: str, run_id: str, key: str, name: str) -> Path:
    hid = hashlib.sha1(key.encode("utf-8")).hexdigest()
    return Path(archive_root) / category / "rolling" / safe_leaf(run_id) / ("%s_%s" % (hid, safe_leaf(name)))


def archive_file_overwrite(src: Path, archive_root: Path, *, category: str, run_id: str, key: str) -> Dict[str, Any]:
    """Rolling copy of a file (per run, overwritten, no dedup) with a sha256 fingerprint."""
    src = Path(src)
    if not src.is_file():
        raise ValueError("archive_file_overwrite expects a file, got: %s" % src)
    sha = sha256_file(src)
    dst = _rolling_dst(archive_root, category, run_id, key, src.name)
    _copy_atomic(src, dst, ".%s_" % dst.name)
    return {"fingerprint_kind": "sha256", "fingerprint": sha, "archive_path": str(dst)}


def archive_file_overwrite_stat(src: Path, archive_root: Path, *, category: str, run_id: str, key: str) -> Dict[str, Any]:
    """Rolling copy of a log-like file with a cheap stat fingerprint (sorted-key JSON of size and mtime)."""
    src = Path(src)
    if not src.is_file():
        raise ValueError("archive_file_overwrite_stat expects a file, got: %s" % src)
    st = src.stat()
    fp = json.dumps({"size_bytes": int(st.st_size), "mtime": float(st.st_mtime)}, ensure_ascii=False, sort_keys=True)
    dst = _rolling_dst(archive_root, category, run_id, key, src.name)
    _copy_atomic(src, dst, ".%s_" % dst.name)
    return {"fingerprint_kind": "stat", "fingerprint": fp, "archive_path": str(dst),
            "size_bytes": int(st.st_size), "mtime": float(st.st_mtime)}


def archive_dir_overwrite(src: Path, archive_root: Path, *, category: str, run_id: str, key: str) -> Dict[str, Any]:
    """Rolling copy of a directory (replaced as a whole, `.complete` marker inside)."""
    src = Path(src)
    if not src.is_dir():
        raise ValueError("archive_dir_overwrite expects a directory, got: %s" % src)
    entries: List[Tuple[str, str]] = []
    total = 0
    for dirpath, _, filenames in os.walk(src):
        for fn in filenames:
            fp = Path(dirpath) / fn
            try:
                sha = sha256_file(fp)
                total += fp.stat().st_size
            except OSError:
                continue
            entries.append((fp.relative_to(src).as_posix(), sha))
    dst = _rolling_dst(archive_root, category, run_id, key, src.name)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(dir=str(dst.parent), prefix=".%s_tmp_" % dst.name))
    try:
        for rel, _ in entries:
            target = tmp_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(str(src / rel), str(target))
        (tmp_dir / ".complete").write_text("ok\n", encoding="utf-8")
        if dst.exists():
            shutil.rmtree(str(dst), ignore_errors=True)
        os.replace(str(tmp_dir), str(dst))
    finally:
        if tmp_dir.exists():
            shutil.rmtree(str(tmp_dir), ignore_errors=True)
    return {"fingerprint_kind": "sha256_manifest", "fingerprint": hash_manifest(entries), "archive_path": str(dst),
            "file_count": len(entries), "total_size_bytes": total}
