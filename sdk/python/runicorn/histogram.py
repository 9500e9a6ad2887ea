"""rn.Histogram: a distribution logged at a step, kept as bins (edges and counts), never as raw values."""
from __future__ import annotations

import math
from typing import Any, List, Optional, Sequence, Tuple

MAX_BINS = 512


def _flat_floats(values: Any) -> List[float]:
    if hasattr(values, "detach") and hasattr(values, "cpu"):  # torch tensor
        values = values.detach().cpu().numpy()
    if hasattr(values, "ravel") and hasattr(values, "dtype"):  # numpy array
        return [float(v) for v in values.ravel().tolist()]
    out: List[float] = []
    stack = [values]
    while stack:
        v = stack.pop()
        if isinstance(v, (list, tuple)):
            stack.extend(reversed(v))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(float(v))
        else:
            raise TypeError("Histogram values must be numbers, got %s" % type(v).__name__)
    return out


class Histogram:
    """A histogram of values for `run.log({"weights": rn.Histogram(values)}, step=...)`.

    Args:
        values_or_counts: the raw values (a list, a numpy array or a torch tensor, any shape), or a
            precomputed ``(counts, edges)`` pair with ``len(edges) == len(counts) + 1``.
        bins: number of equal-width bins between the smallest and largest finite value (1..512);
            ignored for a ``(counts, edges)`` pair.

    Example::

        run.log({"fc1/weight": rn.Histogram(model.fc1.weight, bins=64)}, step=epoch)
        run.log({"latency": rn.Histogram(([3, 10, 2], [0.0, 0.1, 0.2, 0.5]))})

    Only the bins are stored (in ``histograms.jsonl`` beside ``events.jsonl``), with the count, sum,
    minimum and maximum of the values; NaN and infinite values are counted apart, not binned.
    """

    __slots__ = ("edges", "counts", "count", "sum", "min", "max", "nonfinite")

    def __init__(self, values_or_counts: Any, bins: int = 64) -> None:
        if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= MAX_BINS:
            raise ValueError("Histogram bins must be an integer from 1 to %d, got %r" % (MAX_BINS, bins))
        self.nonfinite = 0
        pair = self._as_pair(values_or_counts)
        if pair is not None:
            counts, edges = pair
            self.counts = counts
            self.edges = edges
            self.count = int(sum(counts))
            mids = [(edges[i] + edges[i + 1]) / 2 for i in range(len(counts))]
            self.sum = float(sum(c * m for c, m in zip(counts, mids)))
            self.min = edges[0]
            self.max = edges[-1]
            return
        v = values_or_counts
        if hasattr(v, "detach") and hasattr(v, "cpu"):
            v = v.detach().cpu().numpy()
        if hasattr(v, "ravel") and hasattr(v, "dtype") and getattr(v.dtype, "kind", "") in "biuf":
            self._from_numpy(v, bins)
            return
        vals = _flat_floats(v)
        finite = [v for v in vals if math.isfinite(v)]
        self.nonfinite = len(vals) - len(finite)
        self.count = len(finite)
        if not finite:
            self.edges, self.counts = [], []
            self.sum, self.min, self.max = 0.0, None, None  # type: ignore[assignment]
            return
        lo, hi = min(finite), max(finite)
        self.min, self.max, self.sum = lo, hi, float(math.fsum(finite))
        if hi == lo:
            lo, hi = lo - 0.5, hi + 0.5
            bins = 1
        width = (hi - lo) / bins
        counts = [0] * bins
        for v in finite:
            i = int((v - lo) / width)
            counts[i if i < bins else bins - 1] += 1
        self.edges = [lo + width * i for i in range(bins)] + [hi]
        self.counts = counts

    def _from_numpy(self, arr: Any, bins: int) -> None:
        import numpy as np

        a = np.asarray(arr, dtype=np.float64).ravel()
        ok = np.isfinite(a)
        f = a[ok]
        self.nonfinite = int(a.size - f.size)
        self.count = int(f.size)
        if f.size == 0:
            self.edges, self.counts = [], []
            self.sum, self.min, self.max = 0.0, None, None  # type: ignore[assignment]
            return
        lo, hi = float(f.min()), float(f.max())
        self.min, self.max, self.sum = lo, hi, float(f.sum())
        if hi == lo:
            lo, hi, bins = lo - 0.5, hi + 0.5, 1
        counts, edges = np.histogram(f, bins=bins, range=(lo, hi))
        self.counts = [int(c) for c in counts.tolist()]
        self.edges = [float(e) for e in edges.tolist()]

    @staticmethod
    def _as_pair(v: Any) -> Optional[Tuple[List[int], List[float]]]:
        if not (isinstance(v, tuple) and len(v) == 2):
            return None
        try:
            counts = [int(c) for c in _flat_floats(v[0])]
            edges = _flat_floats(v[1])
        except TypeError:
            return None
        if len(edges) != len(counts) + 1 or not counts:
            raise ValueError("Histogram((counts, edges)) needs len(edges) == len(counts) + 1, got %d and %d" % (len(counts), len(edges)))
        if any(c < 0 for c in counts) or any(not math.isfinite(e) for e in edges) or any(b <= a for a, b in zip(edges, edges[1:])):
            raise ValueError("Histogram((counts, edges)): counts must be >= 0 and edges finite and increasing")
        return counts, edges

    def to_json(self) -> dict:
        """The stored form: edges, counts and the value statistics."""
        out = {"edges": self.edges, "counts": self.counts, "count": self.count, "sum": self.sum, "min": self.min, "max": self.max}
        if self.nonfinite:
            out["nonfinite"] = self.nonfinite
        return out

    def __repr__(self) -> str:
        return "<runicorn.Histogram bins=%d count=%d>" % (len(self.counts), self.count)


def histogram_from(values: Any, bins: Any = 64) -> Histogram:
    """A Histogram from TensorBoard-style arguments: `bins` an int or "tensorflow"/"auto"/"fd" (64 bins)."""
    return Histogram(values, bins=bins if isinstance(bins, int) and not isinstance(bins, bool) else 64)


__all__: Sequence[str] = ["Histogram", "histogram_from"]
