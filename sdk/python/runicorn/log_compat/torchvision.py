"""torchvision/DeiT-compatible MetricLogger and SmoothedValue; works without torch."""
from __future__ import annotations

import datetime
import sys
import time
import warnings
from collections import defaultdict, deque
from typing import Any, Dict, Iterable, Iterator, Optional


def _torch() -> Any:
    # Only use torch when the program already imported it: never pay its import cost ourselves.
    return sys.modules.get("torch")


class SmoothedValue:
    """Track a series of values; windowed median/avg/max plus the global average."""

    def __init__(self, window_size: int = 20, fmt: Optional[str] = None) -> None:
        self.deque: deque = deque(maxlen=window_size)
        self.total = 0.0
        self.count = 0
        self.fmt = fmt if fmt is not None else "{median:.4f} ({global_avg:.4f})"

    def update(self, value: float, n: int = 1) -> None:
        """Add `value` (counted `n` times in the global average)."""
        self.deque.append(value)
        self.count += n
        self.total += value * n

    def synchronize_between_processes(self) -> None:
        """All-reduce count and total across torch.distributed ranks (no-op otherwise; the deque is not synced)."""
        torch = _torch()
        if torch is None:
            return
        try:
            import torch.distributed as dist  # type: ignore
            if not dist.is_available() or not dist.is_initialized():
                return
            t = torch.tensor([self.count, self.total], dtype=torch.float64, device="cuda")
            dist.barrier()
            dist.all_reduce(t)
            vals = t.tolist()
            self.count = int(vals[0])
            self.total = vals[1]
        except Exception:
            pass

    @property
    def median(self) -> float:
        """Median of the window (lower middle for even sizes, like torch.median)."""
        if not self.deque:
            return 0.0
        s = sorted(self.deque)
        return s[(len(s) - 1) // 2]

    @property
    def avg(self) -> float:
        """Mean of the window."""
        return sum(self.deque) / len(self.deque) if self.deque else 0.0

    @property
    def global_avg(self) -> float:
        """Mean over every update."""
        return self.total / self.count if self.count else 0.0

    @property
    def max(self) -> float:
        """Largest value in the window."""
        return max(self.deque) if self.deque else 0.0

    @property
    def value(self) -> float:
        """Most recent value."""
        return self.deque[-1] if self.deque else 0.0

    def __str__(self) -> str:
        return self.fmt.format(median=self.median, avg=self.avg, global_avg=self.global_avg, max=self.max, value=self.value)


class MetricLogger:
    """torchvision MetricLogger whose update() also calls `get_active_run().log(...)` (auto step, no stage)."""

    def __init__(self, delimiter: str = "\t") -> None:
        self.meters: Dict[str, SmoothedValue] = defaultdict(SmoothedValue)
        self.delimiter = delimiter

    def update(self, **kwargs: Any) -> None:
        """Update meters; tensors become numbers via .item(); non-numbers are skipped with a UserWarning."""
        metrics: Dict[str, Any] = {}
        for k, v in kwargs.items():
            if hasattr(v, "item") and not isinstance(v, (int, float)):
                try:
                    v = v.item()
                except Exception:
                    pass
            if not isinstance(v, (int, float)):
                warnings.warn("MetricLogger.update() received non-numeric value for '%s': %s. Skipping this metric."
                              % (k, type(v).__name__), UserWarning, stacklevel=2)
                continue
            self.meters[k].update(v)
            metrics[k] = v
        if metrics:
            from ..sdk import get_active_run
            run = get_active_run()
            if run is not None:
                run.log(metrics)

    def __getattr__(self, attr: str) -> Any:
        meters = self.__dict__.get("meters")
        if meters is not None and attr in meters:
            return meters[attr]
        raise AttributeError("'%s' object has no attribute '%s'" % (type(self).__name__, attr))

    def __str__(self) -> str:
        return self.delimiter.join("%s: %s" % (name, meter) for name, meter in self.meters.items())

    def add_meter(self, name: str, meter: SmoothedValue) -> None:
        """Register a custom meter."""
        self.meters[name] = meter

    def synchronize_between_processes(self) -> None:
        """Synchronise every meter."""
        for m in self.meters.values():
            m.synchronize_between_processes()

    def log_every(self, iterable: Iterable, print_freq: int, header: Optional[str] = None) -> Iterator[Any]:
        """Yield items, printing progress every `print_freq` items and the total time at the end (always)."""
        i = 0
        header = header or ""
        start = end = time.time()
        iter_time = SmoothedValue(fmt="{avg:.4f}")
        data_time = SmoothedValue(fmt="{avg:.4f}")
        try:
            total: Optional[int] = len(iterable)  # type: ignore[arg-type]
            space_fmt = ":" + str(len(str(total))) + "d"
        except (TypeError, AttributeError):
            total, space_fmt = None, ""
        torch = _torch()
        cuda = False
        try:
            cuda = bool(torch is not None and torch.cuda.is_available())
        except Exception:
            cuda = False
        parts = [header, "[{0" + space_fmt + "}" + ("/{1}]" if total else "]"), "eta: {eta}", "{meters}", "time: {time}", "data: {data}"]
        if cuda:
            parts.append("max mem: {memory:.0f}")
        log_msg = self.delimiter.join(parts)
        try:
            for obj in iterable:
                data_time.update(time.time() - end)
                yield obj
                iter_time.update(time.time() - end)
                if i % print_freq == 0 or (total and i == total - 1):
                    eta = iter_time.global_avg * ((total - i) if total else 0)
                    args: Dict[str, Any] = {"eta": str(datetime.timedelta(seconds=int(eta))), "meters": str(self),
                                            "time": str(iter_time), "data": str(data_time)}
                    if cuda:
                        args["memory"] = torch.cuda.max_memory_allocated() / (1024.0 * 1024.0)
                    print(log_msg.format(i, total, **args))
                i += 1
                end = time.time()
        finally:
            total_time = time.time() - start
            print("%s Total time: %s (%.4f s / it)" % (header, datetime.timedelta(seconds=int(total_time)), total_time / max(i, 1)))
