"""NVML through ctypes (libnvidia-ml.so.1, nvml.dll): GPU readings for the system sampler without starting nvidia-smi.

Standard library only. Anything missing (no library, no driver, an old driver without a call) gives None or leaves a
field out; nothing here raises into the sampler.
"""
from __future__ import annotations

import ctypes
import sys
from typing import List, Optional, Sequence, Tuple

NVML_SUCCESS = 0
NVML_ERROR_INSUFFICIENT_SIZE = 7
NVML_TEMPERATURE_GPU = 0
_MIB = 1024.0 * 1024.0

# One GPU as nvidia-smi's --query-gpu=index,uuid,utilization.gpu,memory.used,memory.total,power.draw,temperature.gpu
# prints it: (index, uuid, util %, used MiB, total MiB, power W, temperature °C); None where the GPU cannot tell.
GpuRow = Tuple[str, str, Optional[float], Optional[float], Optional[float], Optional[float], Optional[float]]


class _Utilization(ctypes.Structure):
    _fields_ = [("gpu", ctypes.c_uint), ("memory", ctypes.c_uint)]


class _Memory(ctypes.Structure):
    _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]


class _ProcessInfoV1(ctypes.Structure):  # drivers before R470: nvmlDeviceGetComputeRunningProcesses
    _fields_ = [("pid", ctypes.c_uint), ("usedGpuMemory", ctypes.c_ulonglong)]


class _ProcessInfo(ctypes.Structure):  # _v2 (R470) and _v3 (R510+) share this layout
    _fields_ = [("pid", ctypes.c_uint), ("usedGpuMemory", ctypes.c_ulonglong),
                ("gpuInstanceId", ctypes.c_uint), ("computeInstanceId", ctypes.c_uint)]


def _library_names() -> Sequence[str]:
    if sys.platform.startswith("win"):
        return ("nvml.dll",)
    if sys.platform == "darwin":
        return ()
    return ("libnvidia-ml.so.1", "libnvidia-ml.so")


class Nvml:
    """An initialised NVML library; `load()` returns one, or None where NVML cannot be used."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self._lib = lib
        self._procs = None  # (function, struct) of the newest compute-process call this driver has
        for name, struct in (("nvmlDeviceGetComputeRunningProcesses_v3", _ProcessInfo),
                             ("nvmlDeviceGetComputeRunningProcesses_v2", _ProcessInfo),
                             ("nvmlDeviceGetComputeRunningProcesses", _ProcessInfoV1)):
            fn = getattr(lib, name, None)
            if fn is not None:
                self._procs = (fn, struct)
                break

    @classmethod
    def load(cls, names: Optional[Sequence[str]] = None) -> Optional["Nvml"]:
        """The first library of `names` (default: the platform's NVML) that loads and initialises, else None."""
        for name in names if names is not None else _library_names():
            try:
                lib = ctypes.CDLL(name)
            except OSError:
                continue
            try:
                init = getattr(lib, "nvmlInit_v2", None) or lib.nvmlInit
                if init() != NVML_SUCCESS:
                    return None  # the library is there, the driver is not
                for fn in ("nvmlDeviceGetCount_v2", "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetUUID"):
                    getattr(lib, fn)
            except (AttributeError, OSError):
                return None  # not NVML, or too old
            return cls(lib)
        return None

    def _value(self, fn_name: str, handle: ctypes.c_void_p, *args: object) -> Optional[int]:
        out = ctypes.c_uint(0)
        fn = getattr(self._lib, fn_name, None)
        if fn is None or fn(handle, *args, ctypes.byref(out)) != NVML_SUCCESS:
            return None
        return out.value

    def _processes(self, handle: ctypes.c_void_p) -> List[int]:
        if self._procs is None:
            return []
        fn, struct = self._procs
        count = ctypes.c_uint(0)
        r = fn(handle, ctypes.byref(count), None)
        if r == NVML_SUCCESS or r != NVML_ERROR_INSUFFICIENT_SIZE:
            return []
        for _ in range(3):  # processes may start between the two calls: retry with more room
            size = count.value + 8
            infos = (struct * size)()
            count = ctypes.c_uint(size)
            r = fn(handle, ctypes.byref(count), infos)
            if r == NVML_SUCCESS:
                return [int(infos[i].pid) for i in range(count.value)]
            if r != NVML_ERROR_INSUFFICIENT_SIZE:
                return []
        return []

    def read(self) -> Optional[Tuple[List[GpuRow], List[Tuple[int, str]]]]:
        """(one row per GPU, (pid, uuid) of each compute process), or None when NVML stopped answering."""
        lib = self._lib
        count = ctypes.c_uint(0)
        if lib.nvmlDeviceGetCount_v2(ctypes.byref(count)) != NVML_SUCCESS:
            return None
        rows: List[GpuRow] = []
        apps: List[Tuple[int, str]] = []
        for i in range(count.value):
            h = ctypes.c_void_p()
            if lib.nvmlDeviceGetHandleByIndex_v2(ctypes.c_uint(i), ctypes.byref(h)) != NVML_SUCCESS:
                continue
            buf = ctypes.create_string_buffer(96)
            if lib.nvmlDeviceGetUUID(h, buf, ctypes.c_uint(96)) != NVML_SUCCESS:
                continue
            uuid = buf.value.decode("ascii", "replace")
            util_s = _Utilization()
            util = float(util_s.gpu) if lib.nvmlDeviceGetUtilizationRates(h, ctypes.byref(util_s)) == NVML_SUCCESS else None
            mem = _Memory()
            used = total = None
            if lib.nvmlDeviceGetMemoryInfo(h, ctypes.byref(mem)) == NVML_SUCCESS:
                used, total = round(mem.used / _MIB), round(mem.total / _MIB)  # nvidia-smi prints whole MiB
            mw = self._value("nvmlDeviceGetPowerUsage", h)
            temp = self._value("nvmlDeviceGetTemperature", h, ctypes.c_int(NVML_TEMPERATURE_GPU))
            rows.append((str(i), uuid, util, None if used is None else float(used), None if total is None else float(total),
                         None if mw is None else mw / 1000.0, None if temp is None else float(temp)))
            apps.extend((pid, uuid) for pid in self._processes(h))
        return rows, apps


__all__: Sequence[str] = ["Nvml", "GpuRow"]
