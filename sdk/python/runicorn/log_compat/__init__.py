"""Drop-in replacements for common ML logging helpers that also log to the active Runicorn run."""
from __future__ import annotations

from .torchvision import MetricLogger, SmoothedValue

TorchvisionMetricLogger = MetricLogger

__all__ = ["MetricLogger", "SmoothedValue", "TorchvisionMetricLogger"]
