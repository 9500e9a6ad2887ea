"""rn.Audio: sound logged at a step; samples become a 16-bit PCM WAV (stdlib `wave`), audio files are copied as they are."""
from __future__ import annotations

import io
import math
import os
import wave
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

AUDIO_EXTENSIONS = (".wav", ".mp3", ".ogg", ".flac")
MAX_SAMPLE_RATE = 384_000
MAX_CHANNELS = 16


def _frames(samples: Any) -> Tuple[List[List[int]], int]:
    """16-bit frames (one list of channel values per frame) and the channel count."""
    if hasattr(samples, "detach") and hasattr(samples, "cpu"):
        samples = samples.detach().cpu().numpy()
    is_int16 = getattr(getattr(samples, "dtype", None), "name", "") == "int16"
    if hasattr(samples, "tolist") and hasattr(samples, "shape"):
        samples = samples.tolist()
    if isinstance(samples, (str, bytes)) or not hasattr(samples, "__len__"):
        raise TypeError("Audio samples must be a list or array of numbers, got %s" % type(samples).__name__)
    if len(samples) == 0:
        raise ValueError("Audio has no samples")
    two_d = isinstance(samples[0], (list, tuple))
    channels = len(samples[0]) if two_d else 1
    if not 1 <= channels <= MAX_CHANNELS:
        raise ValueError("Audio needs 1 to %d channels (shape (frames,) or (frames, channels)), got %d" % (MAX_CHANNELS, channels))
    all_ints = is_int16
    rows = [list(s) if two_d else [s] for s in samples]
    if not is_int16:
        all_ints = all(isinstance(v, int) and not isinstance(v, bool) for row in rows for v in row) and \
            any(abs(v) > 1 for row in rows for v in row)
    out: List[List[int]] = []
    for i, row in enumerate(rows):
        if len(row) != channels:
            raise ValueError("Audio frame %d has %d channels, the first has %d" % (i, len(row), channels))
        fr: List[int] = []
        for v in row:
            if isinstance(v, (list, tuple)):
                raise ValueError("Audio samples must have shape (frames,) or (frames, channels); got deeper nesting")
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise TypeError("Audio samples must be numbers, got %s" % type(v).__name__)
            if not math.isfinite(v):
                raise ValueError("Audio sample %d is %r; samples must be finite" % (i, v))
            if all_ints:
                if not -32768 <= v <= 32767:
                    raise ValueError("Audio int16 sample %d is %r, outside -32768..32767" % (i, v))
                fr.append(int(v))
            else:
                if not -1.0 <= v <= 1.0:
                    raise ValueError("Audio float sample %d is %r, outside [-1, 1] (scale it, or pass int16)" % (i, v))
                fr.append(int(round(v * 32767)))
        out.append(fr)
    return out, channels


def wav_bytes(frames: List[List[int]], channels: int, sample_rate: int) -> bytes:
    """A 16-bit little-endian PCM WAV of the frames."""
    import array
    flat = array.array("h", (v for fr in frames for v in fr))
    if flat.itemsize != 2:
        raise RuntimeError("array('h') is not 16-bit on this platform")
    import sys
    if sys.byteorder != "little":
        flat.byteswap()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(flat.tobytes())
    return buf.getvalue()


def _numpy_wav(arr: Any, sample_rate: int) -> Tuple[bytes, int]:
    """(WAV bytes, frame count) of a numpy array, vectorised: int16 as is, floats checked to lie in [-1, 1]."""
    import numpy as np

    a = np.asarray(arr)
    if a.ndim not in (1, 2) or a.shape[0] == 0 or (a.ndim == 2 and not 1 <= a.shape[1] <= MAX_CHANNELS):
        raise ValueError("Audio samples must have shape (frames,) or (frames, channels) with 1 to %d channels, got %s"
                         % (MAX_CHANNELS, tuple(a.shape)))
    if a.dtype == np.int16:
        pcm = a
    else:
        f = a.astype(np.float64)
        bad = ~np.isfinite(f)
        if bad.any():
            raise ValueError("Audio sample %d is %r; samples must be finite" % (int(np.argmax(bad.ravel())), float(f.ravel()[np.argmax(bad.ravel())])))
        out = np.abs(f) > 1.0
        if out.any():
            i = int(np.argmax(out.ravel()))
            raise ValueError("Audio float sample %d is %r, outside [-1, 1] (scale it, or pass int16)" % (i, float(f.ravel()[i])))
        pcm = np.rint(f * 32767).astype(np.int16)
    channels = 1 if pcm.ndim == 1 else pcm.shape[1]
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(np.ascontiguousarray(pcm, dtype="<i2").tobytes())
    return buf.getvalue(), int(pcm.shape[0])


class Audio:
    """Sound for `run.log({"sample": rn.Audio(samples, sample_rate=16000)}, step=...)`.

    Args:
        samples_or_path: samples as a list, numpy array or tensor of shape (frames,) or (frames, channels):
            floats in [-1, 1], or int16 values; or the path of a .wav, .mp3, .ogg or .flac file (copied).
        sample_rate: samples per second (1..384,000); required for samples, ignored for files.
        caption: a short text shown with the player.

    Example::

        run.log({"val/sample": rn.Audio(waveform.numpy(), sample_rate=22050, caption="epoch 3")}, step=3)
        run.log({"tts": rn.Audio("out/speech.mp3")})

    Stored as ``media/<time>_<id>_<key>.wav`` (or the file's own extension) plus a ``{"type": "audio"}``
    line in events.jsonl.
    """

    __slots__ = ("data", "ext", "sample_rate", "duration", "caption")

    def __init__(self, samples_or_path: Any, sample_rate: Optional[int] = None, caption: Optional[str] = None) -> None:
        self.caption = None if caption is None else str(caption)
        if isinstance(samples_or_path, (str, os.PathLike)):
            src = Path(samples_or_path)
            ext = src.suffix.lower()
            if ext not in AUDIO_EXTENSIONS:
                raise ValueError("Audio file %s: only %s files are accepted" % (src, ", ".join(AUDIO_EXTENSIONS)))
            if not src.is_file():
                raise FileNotFoundError("Audio file not found: %s" % src)
            self.data = src.read_bytes()
            self.ext = ext[1:]
            self.sample_rate: Optional[int] = None
            self.duration: Optional[float] = None
            if ext == ".wav":
                try:
                    with wave.open(io.BytesIO(self.data), "rb") as w:
                        self.sample_rate = w.getframerate()
                        self.duration = w.getnframes() / float(self.sample_rate)
                except (wave.Error, EOFError) as e:
                    raise ValueError("Audio file %s is not a readable WAV: %s" % (src, e)) from None
            return
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or not 1 <= sample_rate <= MAX_SAMPLE_RATE:
            raise ValueError("Audio sample_rate must be an integer from 1 to %d, got %r" % (MAX_SAMPLE_RATE, sample_rate))
        v = samples_or_path
        if hasattr(v, "detach") and hasattr(v, "cpu"):
            v = v.detach().cpu().numpy()
        if hasattr(v, "dtype") and hasattr(v, "shape") and getattr(v.dtype, "kind", "") in "iuf":
            self.data, n = _numpy_wav(v, sample_rate)
        else:
            frames, channels = _frames(v)
            self.data, n = wav_bytes(frames, channels, sample_rate), len(frames)
        self.ext = "wav"
        self.sample_rate = sample_rate
        self.duration = n / float(sample_rate)

    def __repr__(self) -> str:
        return "<runicorn.Audio %s %d bytes>" % (self.ext, len(self.data))


__all__: Sequence[str] = ["Audio", "AUDIO_EXTENSIONS"]
