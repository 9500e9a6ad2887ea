"""`from runicorn.tensorboard import SummaryWriter`: PyTorch's SummaryWriter API, writing a Runicorn run instead of event files."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, Optional

from .enabled import NoOpRun
from .histogram import histogram_from
from .sdk import Run, _as_step, init

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-/]+")


def _path_from_log_dir(log_dir: Optional[str], comment: str) -> str:
    """TensorBoard's log_dir as a run path inside the storage root: "runs/exp1" stays "runs/exp1", never a new root."""
    if log_dir is None:
        raw = "runs" + ("/" + comment if comment else "")
    else:
        p = Path(str(log_dir)).expanduser()
        if p.is_absolute():
            try:
                p = p.resolve().relative_to(Path.cwd().resolve())
            except ValueError:
                p = Path(*p.parts[1:])  # outside the working directory: keep its folders, under the storage root
        raw = p.as_posix() + comment
    parts = [_UNSAFE.sub("_", s) for s in raw.replace("\\", "/").split("/") if s not in ("", ".", "..")]
    return "/".join(parts)[:200].strip("/") or "runs"


def _scalar(v: Any) -> Any:
    t = type(v)
    if t is float or t is int:
        return v
    if hasattr(v, "item"):
        return v.item()
    return float(v)


_ORDERS = {"CHW": (1, 2, 0), "HWC": (0, 1, 2), "HW": None, "WH": (1, 0), "HWN": None}


class SummaryWriter:
    """A drop-in for ``torch.utils.tensorboard.SummaryWriter`` that records into a Runicorn run.

    Change one import and keep your code::

        from runicorn.tensorboard import SummaryWriter
        writer = SummaryWriter("runs/exp1")          # the run's path inside your storage root
        writer.add_scalar("train/loss", loss, global_step=step)
        writer.close()

    Args:
        log_dir: TensorBoard's folder, e.g. "runs/exp1"; it becomes the run's *path* inside the
            configured storage root (RUNICORN_DIR, rn.init(storage=...), or the user root), so all
            writers land in one place. Default: "runs".
        comment: appended to log_dir like TensorBoard does.
        purge_step, max_queue, flush_secs, filename_suffix: accepted for compatibility; Runicorn
            writes in the background at least twice a second and needs none of them.
        run: an existing run to write into instead of starting one.
        **init_kwargs: passed to rn.init (storage=, tags=, notes=, config=, run_id=, resume=, ...).

    global_step=None means "the next step" (one more than the last one this run used).
    """

    def __init__(self, log_dir: Optional[str] = None, comment: str = "", purge_step: Optional[int] = None,
                 max_queue: int = 10, flush_secs: int = 120, filename_suffix: str = "", *, run: Any = None,
                 **init_kwargs: Any) -> None:
        self._owns_run = run is None
        if run is None:
            run = init(path=_path_from_log_dir(log_dir, comment), **init_kwargs)
        self.run = run
        self.log_dir = str(getattr(run, "run_dir", log_dir or ""))
        self._closed = False

    def get_logdir(self) -> str:
        """The run's directory."""
        return self.log_dir

    def add_scalar(self, tag: str, scalar_value: Any, global_step: Optional[int] = None, walltime: Optional[float] = None,
                   new_style: bool = False, double_precision: bool = False) -> None:
        """Log one value: ``writer.add_scalar("loss", 0.42, global_step=10)`` (a tensor is read with .item())."""
        self.run.log({tag: _scalar(scalar_value)}, step=global_step)

    def add_scalars(self, main_tag: str, tag_scalar_dict: Dict[str, Any], global_step: Optional[int] = None,
                    walltime: Optional[float] = None) -> None:
        """Log several values as "main_tag/name": ``writer.add_scalars("loss", {"train": a, "val": b}, 3)``."""
        self.run.log({"%s/%s" % (main_tag, k): _scalar(v) for k, v in tag_scalar_dict.items()}, step=global_step)

    def add_histogram(self, tag: str, values: Any, global_step: Optional[int] = None, bins: Any = "tensorflow",
                      walltime: Optional[float] = None, max_bins: Optional[int] = None) -> None:
        """Log a distribution (kept as bins): ``writer.add_histogram("fc1/weight", model.fc1.weight, epoch)``.

        bins: a number of bins, or TensorBoard's "tensorflow"/"auto"/"fd" (64 bins); max_bins caps it.
        """
        h = histogram_from(values, bins if not max_bins or not isinstance(bins, int) else min(bins, max_bins))
        self.run.log({tag: h}, step=global_step)

    def add_image(self, tag: str, img_tensor: Any, global_step: Optional[int] = None, walltime: Optional[float] = None,
                  dataformats: str = "CHW") -> None:
        """Log an image: ``writer.add_image("sample", img, step)`` with img a CHW tensor/array (floats in [0, 1] or uint8).

        dataformats: "CHW" (default), "HWC", "HW" or "WH".
        """
        img = img_tensor
        if hasattr(img, "detach") and hasattr(img, "cpu"):
            img = img.detach().cpu().numpy()
        fmt = dataformats.upper()
        if fmt not in _ORDERS or fmt == "HWN":
            raise ValueError("add_image: dataformats must be 'CHW', 'HWC', 'HW' or 'WH', got %r" % dataformats)
        order = _ORDERS[fmt]
        if order is not None and hasattr(img, "transpose"):
            if getattr(img, "ndim", len(order)) != len(order):
                raise ValueError("add_image: dataformats=%r needs a %d-d image, got shape %s" % (dataformats, len(order), getattr(img, "shape", "?")))
            img = img.transpose(order)
        self.run.log_image(tag, img, step=None if global_step is None else _as_step(global_step))

    def add_figure(self, tag: str, figure: Any, global_step: Optional[int] = None, close: bool = True,
                   walltime: Optional[float] = None) -> None:
        """Log a matplotlib figure as an image (closed afterwards unless close=False)."""
        self.run.log_image(tag, figure, step=None if global_step is None else _as_step(global_step))
        if close:
            try:
                import matplotlib.pyplot as plt  # type: ignore
                plt.close(figure)
            except ImportError:
                pass

    def add_text(self, tag: str, text_string: str, global_step: Optional[int] = None, walltime: Optional[float] = None) -> None:
        """Write text into the run's log: ``writer.add_text("notes", "lr dropped", 100)`` → "[notes @ 100] lr dropped"."""
        where = tag if global_step is None else "%s @ %s" % (tag, _as_step(global_step))
        self.run.log_text("[%s] %s" % (where, text_string))

    def add_hparams(self, hparam_dict: Dict[str, Any], metric_dict: Dict[str, Any], hparam_domain_discrete: Any = None,
                    run_name: Optional[str] = None, global_step: Optional[int] = None) -> None:
        """Record hyper-parameters (config, under "hparams") and their result metrics (summary, and logged).

        Example: ``writer.add_hparams({"lr": 0.01, "bs": 64}, {"hparam/accuracy": 0.93})``.
        """
        self.run.log_config(extra={"hparams": dict(hparam_dict)})
        metrics = {k: _scalar(v) for k, v in metric_dict.items()}
        self.run.summary(metrics)
        self.run.log(metrics, step=global_step)

    def flush(self) -> None:
        """Write everything logged so far to disk now."""
        flush = getattr(self.run, "flush", None)
        if flush is not None:
            flush()

    def close(self) -> None:
        """Finish the run this writer started (a run passed in with run= stays open)."""
        if self._closed:
            return
        self._closed = True
        if self._owns_run and isinstance(self.run, (Run, NoOpRun)):
            self.run.finish()
        else:
            self.flush()

    def __enter__(self) -> "SummaryWriter":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._owns_run and exc_type is not None and isinstance(self.run, Run):
            self._closed = True
            self.run.finish(status="failed")
        else:
            self.close()


__all__ = ["SummaryWriter"]
