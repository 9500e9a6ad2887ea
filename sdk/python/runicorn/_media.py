"""Turns what people log as images (arrays, tensors, PIL images, matplotlib figures, paths, bytes) into file bytes; PNG via zlib."""
from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path
from typing import Any, Tuple

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels → PNG colour type (grey, grey+alpha, RGB, RGBA)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(raw: bytes, width: int, height: int, channels: int) -> bytes:
    """An 8-bit PNG of `height` rows of `width * channels` bytes each (no filtering, zlib level 6)."""
    stride = width * channels
    if len(raw) != stride * height:
        raise ValueError("pixel data has %d bytes, expected %d" % (len(raw), stride * height))
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        rows += raw[y * stride:(y + 1) * stride]
    ihdr = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPES[channels], 0, 0, 0)
    return _PNG_SIG + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(bytes(rows), 6)) + _chunk(b"IEND", b"")


def _is_tensor(obj: Any) -> bool:
    return hasattr(obj, "detach") and hasattr(obj, "cpu") and hasattr(obj, "numpy")


def _is_array(obj: Any) -> bool:
    return hasattr(obj, "shape") and hasattr(obj, "dtype") and hasattr(obj, "tobytes")


def array_to_png(arr: Any, channels_first: bool = False) -> bytes:
    """A PNG of a numpy array: HW, HWC or CHW with 1, 3 or 4 channels; floats are scaled from [0, 1].

    A 3-d array is CHW when its last axis cannot be channels, or when `channels_first` (torch tensors)
    and its first axis can be.
    """
    import numpy as np  # the caller holds a numpy array, so numpy is installed

    a = np.asarray(arr)
    if a.dtype.kind not in "biuf":
        raise TypeError("log_image: an array of dtype %s is not an image (use numbers)" % a.dtype)
    if a.ndim == 3 and a.shape[0] in (1, 3, 4) and (channels_first or a.shape[2] not in (1, 3, 4)):
        a = np.transpose(a, (1, 2, 0))  # CHW → HWC
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError("log_image: expected an image of shape HxW, HxWxC or CxHxW with C in 1, 3, 4; got %s "
                         "(log one image at a time)" % (tuple(np.shape(arr)),))
    if a.dtype.kind == "f":
        a = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
        a = np.rint(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)
    elif a.dtype.kind == "b":
        a = a.astype(np.uint8) * 255
    elif a.dtype == np.uint16:
        a = (a >> 8).astype(np.uint8)
    elif a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    h, w, c = a.shape
    return encode_png(np.ascontiguousarray(a).tobytes(), w, h, c)


def image_bytes(image: Any, fmt: str, quality: int) -> Tuple[bytes, str]:
    """(file bytes, file extension) for a logged image; TypeError for anything that is not an image."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image), fmt
    if isinstance(image, (str, os.PathLike)):
        src = Path(image)
        if not src.is_file():
            raise FileNotFoundError("Image file not found: %s" % image)
        ext = src.suffix.lower().lstrip(".") or fmt
        return src.read_bytes(), ext
    if hasattr(image, "savefig"):  # a matplotlib Figure
        buf = io.BytesIO()
        image.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue(), "png"
    if hasattr(image, "save") and hasattr(image, "size") and hasattr(image, "mode"):  # a PIL image
        buf = io.BytesIO()
        if fmt in ("jpg", "jpeg"):
            img = image.convert("RGB") if image.mode not in ("RGB", "L") else image
            img.save(buf, format="JPEG", quality=quality)
            return buf.getvalue(), "jpg"
        image.save(buf, format="PNG")
        return buf.getvalue(), "png"
    if _is_tensor(image):
        return array_to_png(image.detach().cpu().numpy(), channels_first=True), "png"
    if _is_array(image):
        return array_to_png(image), "png"
    raise TypeError("log_image: cannot save a %s as an image; pass a numpy array, a torch tensor, a PIL image, a matplotlib "
                    "figure, a file path or PNG/JPEG bytes" % type(image).__name__)


def _media_name(key: str, ext: str) -> str:
    import re
    import time
    import uuid
    safe_key = re.sub(r"[^A-Za-z0-9_.-]", "_", key)[:100]
    return "%d_%s_%s.%s" % (int(time.time() * 1000), uuid.uuid4().hex[:6], safe_key, ext)


def log_media_value(run: Any, key: str, value: Any, step: int) -> None:
    """Saves an rn.Table or rn.Audio logged under `key` into the run's media/ and appends its event line."""
    import json
    import time
    from ._io import warn_once
    from .audio import Audio
    from .table import Image

    media = Path(run.media_dir)
    try:
        media.mkdir(parents=True, exist_ok=True)
        if isinstance(value, Audio):
            name = _media_name(key, value.ext)
            (media / name).write_bytes(value.data)
            data = {"key": key, "path": "media/" + name, "step": step, "sample_rate": value.sample_rate,
                    "duration": value.duration, "caption": value.caption}
            kind = "audio"
        else:
            rows = []
            for r, row in enumerate(value.rows):
                out = []
                for c, cell in enumerate(row):
                    if isinstance(cell, Image):
                        raw, ext = image_bytes(cell.data, "png", 90)
                        iname = _media_name("%s_r%d_c%d" % (key, r, c), ext)
                        (media / iname).write_bytes(raw)
                        cell = {"_type": "image", "path": "media/" + iname, "caption": cell.caption}
                    out.append(cell)
                rows.append(out)
            name = _media_name(key, "table.json")
            body = json.dumps({"columns": value.columns, "rows": rows}, ensure_ascii=False, allow_nan=False)
            (media / name).write_text(body, encoding="utf-8")
            data = {"key": key, "path": "media/" + name, "step": step, "rows": len(rows), "columns": len(value.columns)}
            kind = "table"
    except OSError as e:
        warn_once("media:" + str(run.run_dir), "cannot save %s in %s: %s" % (key, media, e))
        return
    run._emit(json.dumps({"ts": time.time(), "type": kind, "data": data}, ensure_ascii=False) + "\n")
