"""Benchmark: Python SDK per-call cost of `run.log()` (flat, staged, nested) and `SummaryWriter.add_scalar`; exits 1 on a miss.

The target is checked on the calling thread's CPU time (what a call costs the training loop; the disk
writes run on a background thread), which a busy shared machine distorts far less than wall time;
wall-clock calls/s are printed beside it.
"""
from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "sdk", "python"))
os.environ["RUNICORN_QUIET"] = "1"

import runicorn as rn  # noqa: E402
from runicorn.tensorboard import SummaryWriter  # noqa: E402

ORIGINAL = 18_100  # Runicorn 0.6's log() on the same kind of machine
N = int(os.environ.get("BENCH_N", "200000"))
REPS = int(os.environ.get("BENCH_REPS", "7"))

# (label, calls/s target)
CASES = [
    ("log({loss, acc})", 150_000),
    ("log({loss, acc}, stage=)", 150_000),
    ("log({train: {loss}, val: {acc}}) nested", 80_000),
    ("SummaryWriter.add_scalar", 120_000),
]


def one(root: str, case: int) -> tuple:
    if case == 3:
        w = SummaryWriter("bench/tb", storage=root)
        run = w.run
        add = w.add_scalar
        c0 = time.thread_time()
        t0 = time.perf_counter()
        for i in range(N):
            add("train/loss", 1.0 / (i + 1), i)
        t1 = time.perf_counter()
        c1 = time.thread_time()
        w.close()
    else:
        run = rn.init(path="bench/sdk", storage=root)
        log = run.log
        c0 = time.thread_time()
        t0 = time.perf_counter()
        if case == 0:
            for i in range(N):
                log({"loss": 1.0 / (i + 1), "acc": i * 1e-6})
        elif case == 1:
            for i in range(N):
                log({"loss": 1.0 / (i + 1), "acc": i * 1e-6}, stage="train")
        else:
            for i in range(N):
                log({"train": {"loss": 1.0 / (i + 1)}, "val": {"acc": i * 1e-6}})
        t1 = time.perf_counter()
        c1 = time.thread_time()
        run.finish()
    t2 = time.perf_counter()
    with open(os.path.join(run.run_dir, "events.jsonl"), "rb") as f:
        lines = sum(1 for _ in f)
    assert lines == N, "expected %d lines on disk, found %d" % (N, lines)
    return N / max(c1 - c0, 1e-9), N / (t1 - t0), N / (t2 - t0)


def pct(xs: list, p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def main() -> int:
    """Prints each figure next to its target; returns 1 when a median misses it."""
    root = tempfile.mkdtemp(prefix="rn-bench-")
    missed = []
    try:
        print("python %s, N=%d calls x %d repetitions (original log(): ~%d calls/s)" % (sys.version.split()[0], N, REPS, ORIGINAL))
        for case, (label, target) in enumerate(CASES):
            cpu, calls, e2e = [], [], []
            for _ in range(REPS):
                c, w, e = one(root, case)
                cpu.append(c)
                calls.append(w)
                e2e.append(e)
            med, p95 = statistics.median(cpu), pct(cpu, 5)  # "p95" of a rate = the slow tail: its 5th percentile
            ok = med >= target
            if not ok:
                missed.append(label)
            print("%-42s thread CPU: median %8.0f calls/s (%5.2f us/call)  p95 %8.0f calls/s (%5.2f us)  | wall: median %8.0f calls/s, "
                  "incl. finish() %8.0f  | target >= %d %s" % (label, med, 1e6 / med, p95, 1e6 / p95, statistics.median(calls),
                                                              statistics.median(e2e), target, "ok" if ok else "MISS"))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if missed:
        print("missed: " + ", ".join(missed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
