"""The tracking on/off switch (RUNICORN_ON, set_enabled, `with enabled(False)`) and NoOpRun."""
from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Optional

_ENABLED_OVERRIDE: Optional[bool] = None

_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"0", "false", "no", "n", "off"}


def _parse_bool(s: Optional[str]) -> Optional[bool]:
    v = (s or "").strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    return None


def is_enabled() -> bool:
    """True unless disabled by set_enabled/enabled() or RUNICORN_ON=0/false/no/n/off."""
    if _ENABLED_OVERRIDE is not None:
        return _ENABLED_OVERRIDE
    v = _parse_bool(os.environ.get("RUNICORN_ON"))
    return True if v is None else v


def set_enabled(enabled: bool) -> None:
    """Override RUNICORN_ON for this process."""
    global _ENABLED_OVERRIDE
    _ENABLED_OVERRIDE = bool(enabled)


def reset_enabled() -> None:
    """Drop the override; RUNICORN_ON decides again."""
    global _ENABLED_OVERRIDE
    _ENABLED_OVERRIDE = None


@contextmanager
def enabled(enabled: bool) -> Iterator[None]:
    """`with rn.enabled(False):` — temporarily switch tracking, restoring the previous override."""
    global _ENABLED_OVERRIDE
    prev = _ENABLED_OVERRIDE
    try:
        set_enabled(enabled)
        yield
    finally:
        _ENABLED_OVERRIDE = prev


class NoOpRun:
    """What init() returns while tracking is disabled: every method accepts the Run arguments and does nothing."""

    def __init__(self, path: Optional[str] = None, alias: Optional[str] = None) -> None:
        self.path = path or "default"
        self.alias = alias
        self.id = "disabled"

    def set_primary_metric(self, metric_name: str, mode: str = "max") -> None:
        """No-op."""
        return None

    def log(self, data: Optional[Dict[str, Any]] = None, *, step: Optional[int] = None, stage: Optional[Any] = None, **kwargs: Any) -> None:
        """No-op."""
        return None

    def log_text(self, text: str) -> None:
        """No-op."""
        return None

    def log_image(self, key: str, image: Any, step: Optional[int] = None, caption: Optional[str] = None, format: str = "png", quality: int = 90) -> str:
        """No-op; returns ""."""
        return ""

    def log_config(self, args: Optional[Any] = None, *, extra: Optional[Dict[str, Any]] = None, config_files: Optional[Any] = None) -> None:
        """No-op."""
        return None

    def scan_outputs_once(self, *args: Any, **kwargs: Any) -> Dict[str, Any]:
        """No-op; returns zero counts."""
        return {"scanned": 0, "archived": 0, "changed": 0}

    def watch_outputs(self, *args: Any, **kwargs: Any) -> None:
        """No-op."""
        return None

    def stop_outputs_watch(self) -> None:
        """No-op."""
        return None

    def log_dataset(self, name: str, root_or_uri: Any, *, context: str = "train", save: bool = False, description: Optional[str] = None,
                    force_save: bool = False, max_archive_bytes: int = 0, max_archive_files: int = 0) -> None:
        """No-op."""
        return None

    def log_pretrained(self, name: str, *, path_or_uri: Optional[Any] = None, save: bool = False, source_type: str = "unknown",
                       description: Optional[str] = None, force_save: bool = False, max_archive_bytes: int = 0, max_archive_files: int = 0) -> None:
        """No-op."""
        return None

    def summary(self, update: Dict[str, Any]) -> None:
        """No-op."""
        return None

    def finish(self, status: str = "finished") -> None:
        """No-op."""
        return None

    # Not in the original's NoOpRun; added so that code written for Run keeps working when disabled.
    def get_logging_handler(self, level: int = logging.INFO, fmt: Optional[str] = None) -> logging.Handler:
        """A handler that discards records."""
        return logging.NullHandler()

    def __enter__(self) -> "NoOpRun":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None
