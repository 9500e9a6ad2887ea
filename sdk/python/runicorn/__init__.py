"""Runicorn SDK (standard library only): `import runicorn as rn; run = rn.init(path="cv/resnet"); run.log({...})`."""
from __future__ import annotations

from .assets import snapshot_workspace
from .enabled import NoOpRun, enabled, is_enabled, reset_enabled, set_enabled
from .audio import Audio
from .histogram import Histogram
from .table import Image, Table
from .registry import get_config
from .rnconfig import get_effective_rnconfig
from .sdk import Run, get_active_run, init

__version__ = "0.7.0"

__all__ = ["Run", "NoOpRun", "Histogram", "Table", "Image", "Audio", "init", "get_active_run", "get_config", "snapshot_workspace", "enabled", "is_enabled",
           "set_enabled", "reset_enabled", "get_effective_rnconfig", "__version__"]
