"""Per-run system metrics: a daemon thread samples process, host and GPU figures into the run's system.jsonl."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional, Set, Tuple

DEFAULT_INTERVAL = 10.0
FIRST_SAMPLE_AFTER = 1.0
_GPU_FIELDS = "index,uuid,utilization.gpu,memory.used,memory.total,power.draw,temperature.gpu"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def resolve_interval(enabled: Optional[bool], interval: Optional[float]) -> float:
    """Seconds between samples (0 = off) from init()'s arguments, then RUNICORN_SYSTEM_METRICS / _INTERVAL."""
    if enabled is None:
        env = (os.environ.get("RUNICORN_SYSTEM_METRICS") or "").strip().lower()
        enabled = False if env in _FALSE else True
    if not enabled:
        return 0.0
    if interval is None:
        raw = (os.environ.get("RUNICORN_SYSTEM_INTERVAL") or "").strip()
        try:
            interval = float(raw) if raw else DEFAULT_INTERVAL
        except ValueError:
            interval = DEFAULT_INTERVAL
    try:
        interval = float(interval)
    except (TypeError, ValueError):
        raise TypeError("system_interval must be a number of seconds, got %r" % (interval,))
    if interval != interval or interval < 0:
        raise ValueError("system_interval must be >= 0 seconds (0 turns sampling off), got %r" % (interval,))
    return interval


def _clk_tck() -> float:
    try:
        return float(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return 100.0


def _page_size() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return 4096


def _read(path: str) -> Optional[str]:
    try:
        with open(path, "r") as f:
            return f.read()
    except OSError:
        return None


def _proc_stat(pid: int) -> Optional[Tuple[float, int]]:
    """(utime + stime in ticks, rss in pages) of a process from /proc/PID/stat."""
    s = _read("/proc/%d/stat" % pid)
    if not s:
        return None
    rest = s[s.rfind(")") + 2:].split()
    try:
        return float(rest[11]) + float(rest[12]), int(rest[21])
    except (IndexError, ValueError):
        return None


def _descendants(pid: int) -> List[int]:
    """The process and its children, grandchildren… (/proc/PID/task/TID/children; a /proc scan if absent)."""
    out = [pid]
    seen: Set[int] = {pid}
    i = 0
    have_children_files = os.path.exists("/proc/%d/task/%d/children" % (pid, pid))
    if not have_children_files:
        parents: Dict[int, List[int]] = {}
        try:
            names = os.listdir("/proc")
        except OSError:
            return out
        for n in names:
            if not n.isdigit():
                continue
            s = _read("/proc/%s/stat" % n)
            if not s:
                continue
            try:
                ppid = int(s[s.rfind(")") + 2:].split()[1])
            except (IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(n))
        while i < len(out):
            for c in parents.get(out[i], []):
                if c not in seen:
                    seen.add(c)
                    out.append(c)
            i += 1
        return out
    while i < len(out):
        p = out[i]
        i += 1
        try:
            tids = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue
        for tid in tids:
            s = _read("/proc/%d/task/%s/children" % (p, tid))
            if not s:
                continue
            for c in s.split():
                try:
                    ci = int(c)
                except ValueError:
                    continue
                if ci not in seen:
                    seen.add(ci)
                    out.append(ci)
    return out


def _num(s: str) -> Optional[float]:
    try:
        v = float(s.strip())
    except ValueError:
        return None  # "[N/A]", "[Not Supported]"
    return v if v == v else None


class SystemSampler:
    """Samples every `interval` seconds from a daemon thread and appends one line per sample to system.jsonl."""

    def __init__(self, path: str, interval: float, pid: Optional[int] = None) -> None:
        self.path = path
        self.interval = interval
        self.pid = pid or os.getpid()
        self.samples = 0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._linux = sys.platform.startswith("linux") and os.path.isdir("/proc/%d" % self.pid)
        self._tck = _clk_tck()
        self._page_mb = _page_size() / (1024.0 * 1024.0)
        self._prev_proc: Optional[Tuple[float, float]] = None  # (wall, cpu seconds)
        self._prev_host: Optional[Tuple[float, float]] = None  # (busy, total) ticks
        self._smi_ok = True
        self._nvml: object = None  # _nvml.Nvml once loaded; False when NVML is not there (nvidia-smi then)
        self._gpu_uuids: Optional[Set[str]] = None  # GPUs this process was seen using

    def start(self) -> None:
        self._proc_cpu()  # first reading: the first sample has a CPU % over [start, sample]
        self._host_cpu()
        t = threading.Thread(target=self._loop, name="runicorn-system", daemon=True)
        self._thread = t
        t.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)

    def _loop(self) -> None:
        wait = min(FIRST_SAMPLE_AFTER, self.interval)
        while not self._stop.wait(wait):
            try:
                self._write(self.sample())
            except Exception:
                pass  # a sampler never disturbs training: a failed sample is skipped
            wait = self.interval

    def _write(self, data: Dict[str, object]) -> None:
        t = time.time()
        data["step"] = int(t * 1000)  # the row key: the sample's time in ms (unique, rising, also across resumes)
        data["time"] = t
        line = json.dumps({"ts": t, "type": "system", "data": data}, allow_nan=False)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
        self.samples += 1

    def sample(self) -> Dict[str, object]:
        """One sample: `sys/…` keys (only what this platform and machine can tell)."""
        out: Dict[str, object] = {}
        pids = _descendants(self.pid) if self._linux else [self.pid]
        stats = [st for st in map(_proc_stat, pids) if st] if self._linux else []  # one read of each /proc/PID/stat
        cpu = self._proc_cpu(stats)
        if cpu is not None:
            out["sys/cpu_percent"] = round(cpu, 2)
        rss = self._proc_rss(stats)
        if rss is not None:
            out["sys/proc_rss_mb"] = round(rss, 2)
        host = self._host_cpu()
        if host is not None:
            out["sys/host_cpu_percent"] = round(host, 2)
        out.update(self._host_mem())
        out.update(self._gpus(pids))
        return out

    def _proc_cpu(self, stats: Optional[List[Tuple[float, int]]] = None) -> Optional[float]:
        now = time.monotonic()
        if self._linux:
            if stats is None:
                stats = [st for st in map(_proc_stat, _descendants(self.pid)) if st]
            total = sum(st[0] for st in stats) / self._tck
        else:
            t = os.times()
            total = t.user + t.system + t.children_user + t.children_system
        prev = self._prev_proc
        self._prev_proc = (now, total)
        if prev is None or now <= prev[0]:
            return None
        return max(0.0, (total - prev[1]) / (now - prev[0]) * 100.0)

    def _proc_rss(self, stats: List[Tuple[float, int]]) -> Optional[float]:
        if self._linux:
            return sum(st[1] for st in stats) * self._page_mb
        try:
            import resource
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # peak, not current: all the stdlib tells
            return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0
        except Exception:
            return None

    def _host_cpu(self) -> Optional[float]:
        s = _read("/proc/stat")
        if not s:
            return None
        try:
            vals = [float(v) for v in s.split("\n", 1)[0].split()[1:]]
        except ValueError:
            return None
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0.0)
        total = sum(vals[:8])
        prev = self._prev_host
        self._prev_host = (total - idle, total)
        if prev is None or total <= prev[1]:
            return None
        return max(0.0, min(100.0, (total - idle - prev[0]) / (total - prev[1]) * 100.0))

    def _host_mem(self) -> Dict[str, float]:
        s = _read("/proc/meminfo")
        if not s:
            return {}
        kb: Dict[str, float] = {}
        for line in s.splitlines():
            parts = line.split()
            if len(parts) >= 2:
                try:
                    kb[parts[0].rstrip(":")] = float(parts[1])
                except ValueError:
                    pass
        total = kb.get("MemTotal")
        avail = kb.get("MemAvailable", kb.get("MemFree"))
        if not total or avail is None:
            return {}
        used = total - avail
        return {"sys/host_mem_used_mb": round(used / 1024.0, 2), "sys/host_mem_percent": round(used / total * 100.0, 2)}

    def _smi(self, args: List[str]) -> Optional[List[List[str]]]:
        try:
            r = subprocess.run(["nvidia-smi"] + args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               stdin=subprocess.DEVNULL, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        if r.returncode != 0:
            return None
        text = r.stdout.decode("utf-8", "replace")
        return [[c.strip() for c in line.split(",")] for line in text.splitlines() if line.strip()]

    def _gpu_readings(self) -> Optional[Tuple[list, List[Tuple[int, str]]]]:
        """(rows, compute apps) from NVML through ctypes when the library is there, else from nvidia-smi; None without either."""
        if self._nvml is None:
            try:
                from ._nvml import Nvml
                self._nvml = Nvml.load() or False
            except Exception:
                self._nvml = False  # ctypes missing or broken: nvidia-smi, as before
        if self._nvml is not False:
            try:
                got = self._nvml.read()  # type: ignore[attr-defined]
            except Exception:
                got = None
            if got is not None:
                return got
            self._nvml = False  # NVML stopped answering: nvidia-smi from now on
        if not self._smi_ok:
            return None
        rows = self._smi(["--query-gpu=" + _GPU_FIELDS, "--format=csv,noheader,nounits"])
        if rows is None:
            self._smi_ok = False  # no nvidia-smi (or no driver): silently no GPU keys from now on
            return None
        apps = self._smi(["--query-compute-apps=pid,gpu_uuid", "--format=csv,noheader,nounits"]) or []
        return ([(r[0], r[1]) + tuple(_num(v) for v in r[2:7]) for r in rows if len(r) >= 7],
                [(int(a[0]), a[1]) for a in apps if len(a) >= 2 and a[0].isdigit()])

    def _gpus(self, pids: List[int]) -> Dict[str, float]:
        got = self._gpu_readings()
        if got is None:
            return {}
        rows, apps = got
        own = set(pids)
        mine = {uuid for pid, uuid in apps if pid in own}
        if mine:
            self._gpu_uuids = (self._gpu_uuids or set()) | mine
        chosen = self._gpu_uuids
        visible = None
        if chosen is None:
            cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
            if cvd is not None and cvd.strip() != "":
                visible = {v.strip() for v in cvd.split(",") if v.strip()}
        out: Dict[str, float] = {}
        for r in rows:
            idx, uuid = r[0], r[1]
            if chosen is not None and uuid not in chosen:
                continue
            if visible is not None and idx not in visible and uuid not in visible:
                continue
            pre = "sys/gpu%s/" % idx
            util, used, total, power, temp = r[2:7]
            if util is not None:
                out[pre + "util"] = util
            if used is not None:
                out[pre + "mem_used_mb"] = used
                if total:
                    out[pre + "mem_percent"] = round(used / total * 100.0, 2)
            if power is not None:
                out[pre + "power_w"] = power
            if temp is not None:
                out[pre + "temp_c"] = temp
        return out
