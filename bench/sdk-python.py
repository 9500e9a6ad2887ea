"""Benchmark: Python SDK `run.log()` calls/s for a 2-metric dict, with and without a stage (target ≥ 150,000)."""
from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "sdk", "python"))

import runicorn as rn  # noqa: E402

TARGET = 150_000
ORIGINAL = 18_100  # spec §8.3
N = int(os.environ.get("BENCH_N", "200000"))
REPS = int(os.environ.get("BENCH_REPS", "7"))


def one(root: str, stage: bool) -> tuple:
    run = rn.init(path="bench/sdk", storage=root)
    log = run.log
    t0 = time.perf_counter()
    if stage:
        for i in range(N):
            log({"loss": 1.0 / (i + 1), "acc": i * 1e-6}, stage="train")
    else:
        for i in range(N):
            log({"loss": 1.0 / (i + 1), "acc": i * 1e-6})
    t1 = time.perf_counter()
    run.finish()
    t2 = time.perf_counter()
    with open(os.path.join(run.run_dir, "events.jsonl"), "rb") as f:
        lines = sum(1 for _ in f)
    assert lines == N, "expected %d lines on disk, found %d" % (N, lines)
    return N / (t1 - t0), N / (t2 - t0)


def pct(xs: list, p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def main() -> int:
    """Prints each figure next to its target; returns 1 when a median misses it."""
    root = tempfile.mkdtemp(prefix="rn-bench-")
    missed = []
    try:
        print("python %s, N=%d calls x %d repetitions" % (sys.version.split()[0], N, REPS))
        for stage in (False, True):
            calls, e2e = [], []
            for _ in range(REPS):
                c, e = one(root, stage)
                calls.append(c)
                e2e.append(e)
            label = "with stage   " if stage else "without stage"
            # "p95" of a rate = the slow tail: the 5th percentile of calls/s.
            print("log() %s: median %9.0f calls/s  p95 %9.0f calls/s  | incl. finish() flush: median %9.0f  "
                  "(target >= %d, original ~%d)  %s" % (label, statistics.median(calls), pct(calls, 5), statistics.median(e2e), TARGET, ORIGINAL,
                                                       "OK" if statistics.median(calls) >= TARGET else "MISSED"))
            if statistics.median(calls) < TARGET:
                missed.append("log() " + label.strip())
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("all targets met" if not missed else "targets missed: " + "; ".join(missed))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
