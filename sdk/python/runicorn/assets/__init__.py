"""Asset helpers: workspace snapshots, the content-addressed blob store and manifests."""
from __future__ import annotations

from .archive import (archive_dir, archive_file, blob_exists, get_blob_path, get_blob_stats, sha256_file,
                      store_blob)
from .snapshot import snapshot_workspace

__all__ = ["snapshot_workspace", "store_blob", "get_blob_path", "blob_exists", "get_blob_stats", "archive_file",
           "archive_dir", "sha256_file"]
