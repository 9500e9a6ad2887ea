"""rn.Table and rn.Image: a table of predictions (numbers, strings, bools, None, images) logged at a step, stored as JSON in media/."""
from __future__ import annotations

import math
from typing import Any, List, Optional, Sequence

MAX_ROWS = 10_000
MAX_COLUMNS = 1_000


class Image:
    """An image inside a rn.Table cell: anything `run.log_image` accepts (array, tensor, PIL image, figure, path, bytes).

    Example::

        rn.Table(["input", "label"], [[rn.Image(x[0]), "cat"]])
    """

    __slots__ = ("data", "caption")

    def __init__(self, data: Any, caption: Optional[str] = None) -> None:
        self.data = data
        self.caption = None if caption is None else str(caption)

    def __repr__(self) -> str:
        return "<runicorn.Image %s>" % type(self.data).__name__


def _cell(v: Any, r: int, c: str) -> Any:
    if v is None or isinstance(v, (bool, str, Image)):
        return v
    if getattr(v, "ndim", None) == 0 and hasattr(v, "item"):
        v = v.item()  # numpy scalar or 0-d tensor
        if isinstance(v, bool):
            return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError("Table cell (row %d, column %r) is %r; cells must be finite numbers (use None for missing)" % (r, c, v))
        return v
    raise TypeError("Table cell (row %d, column %r) is a %s; cells are numbers, strings, bools, None or rn.Image"
                    % (r, c, type(v).__name__))


class Table:
    """A table for `run.log({"preds": rn.Table(columns, rows)}, step=...)`.

    Args:
        columns: the column names (unique strings, at most 1,000).
        rows: at most 10,000 rows, each a sequence with one cell per column. A cell is a number (finite),
            a string, a bool, None, or an rn.Image (saved under media/ and shown as a thumbnail).

    Example::

        run.log({"preds": rn.Table(["id", "label", "score"], [[1, "cat", 0.9], [2, "dog", 0.4]])}, step=epoch)

    Stored as ``media/<time>_<id>_<key>.table.json`` plus a ``{"type": "table"}`` line in events.jsonl.
    """

    __slots__ = ("columns", "rows")

    def __init__(self, columns: Sequence[Any], rows: Sequence[Sequence[Any]]) -> None:
        if isinstance(columns, (str, bytes)) or not hasattr(columns, "__iter__"):
            raise TypeError("Table columns must be a list of names, got %s" % type(columns).__name__)
        cols = [c if isinstance(c, str) else str(c) for c in columns]
        if not cols or len(cols) > MAX_COLUMNS:
            raise ValueError("Table needs 1 to %d columns, got %d" % (MAX_COLUMNS, len(cols)))
        if len(set(cols)) != len(cols):
            raise ValueError("Table column names must be unique, got %r" % (cols,))
        if hasattr(rows, "tolist") and hasattr(rows, "shape"):
            rows = rows.tolist()  # numpy 2-d array
        if isinstance(rows, (str, bytes)) or not hasattr(rows, "__len__"):
            raise TypeError("Table rows must be a list of rows, got %s" % type(rows).__name__)
        if len(rows) > MAX_ROWS:
            raise ValueError("Table has %d rows; at most %d are allowed" % (len(rows), MAX_ROWS))
        out: List[List[Any]] = []
        for r, row in enumerate(rows):
            if isinstance(row, (str, bytes, dict)) or not hasattr(row, "__len__"):
                raise ValueError("Table row %d is a %s, not a list of %d cells" % (r, type(row).__name__, len(cols)))
            if len(row) != len(cols):
                raise ValueError("Table row %d has %d cells; the table has %d columns" % (r, len(row), len(cols)))
            out.append([_cell(v, r, cols[i]) for i, v in enumerate(row)])
        self.columns = cols
        self.rows = out

    def __repr__(self) -> str:
        return "<runicorn.Table %d rows x %d columns>" % (len(self.rows), len(self.columns))


__all__: Sequence[str] = ["Table", "Image", "MAX_ROWS"]
