"""Benchmark: Python SDK `run.log()` cost when logging to a server (RUNICORN_SERVER), and the upload's end-to-end time.

Starts `runicorn serve` (from the sources, on a free port, empty temp root), logs N rows per repetition, and prints the
calling thread's CPU per log() call (the target: the same as file mode, since log() only queues) plus the wall time until
finish() returned with everything acknowledged by the server. Exits 1 on a miss. Figures on a shared machine are noisy.
"""
from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(PROJECT, "sdk", "python"))
os.environ["RUNICORN_QUIET"] = "1"

N = int(os.environ.get("BENCH_N", "50000"))
REPS = int(os.environ.get("BENCH_REPS", "3"))
TARGET = 150_000  # calls/s of log({loss, acc}) on the calling thread, as in file mode (bench/sdk-python.py)
UPLOAD_TARGET_S = 10.0  # finish() within its default bound: everything acknowledged


def pct(xs: list, p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def main() -> int:
    tmp = tempfile.mkdtemp(prefix="rn-bench-http-")
    os.environ["XDG_CACHE_HOME"] = os.path.join(tmp, "cache")
    bun = os.path.join(PROJECT, "node_modules", ".bin", "bun")
    srv = subprocess.Popen([bun, os.path.join(PROJECT, "src", "cli", "main.ts"), "serve", "--root", os.path.join(tmp, "root"), "--port", "0",
                            "--log-level", "warn"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                           env={**os.environ, "HOME": os.path.join(tmp, "home")})
    try:
        url = None
        deadline = time.time() + 60
        while time.time() < deadline and url is None:
            line = srv.stdout.readline()
            m = re.search(r"listening on (http://\S+)", line)
            if m:
                url = m.group(1)
        if url is None:
            print("server did not start")
            return 1
        import runicorn as rn
        cpu, e2e = [], []
        for _ in range(REPS):
            run = rn.init(path="bench/http", server=url)
            c0 = time.thread_time()
            t0 = time.perf_counter()
            for i in range(N):
                run.log({"loss": 1.0 / (i + 1), "acc": i * 1e-6})
            c1 = time.thread_time()
            run.finish()
            t2 = time.perf_counter()
            assert run._remote.closed, "finish() returned before the server had everything"
            cpu.append(N / max(c1 - c0, 1e-9))
            e2e.append(t2 - t0)
        med, p95 = statistics.median(cpu), pct(cpu, 5)
        up, up95 = statistics.median(e2e), pct(e2e, 95)
        ok = med >= TARGET and up <= UPLOAD_TARGET_S
        print("N=%d rows x %d reps, server %s" % (N, REPS, url))
        print("log({loss, acc}) over HTTP  thread CPU: median %8.0f calls/s (%5.2f us/call)  p95 %8.0f calls/s  | target >= %d %s"
              % (med, 1e6 / med, p95, TARGET, "ok" if med >= TARGET else "MISS"))
        print("log N rows + finish() with all acknowledged: median %.2f s  p95 %.2f s  | target <= %.0f s %s"
              % (up, up95, UPLOAD_TARGET_S, "ok" if up <= UPLOAD_TARGET_S else "MISS"))
        return 0 if ok else 1
    finally:
        srv.terminate()
        srv.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
