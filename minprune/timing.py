"""Timing that can be trusted on a shared machine: thread pools pinned, functions timed in
turns, medians. ``experiments`` and ``bench`` both measure with these."""
from __future__ import annotations

import contextlib
import os
import platform
import time

import numba
import numpy as np

from .threads import describe


@contextlib.contextmanager
def one_thread():
    """BLAS and Numba on one thread for the block (threadpoolctl when it is installed)."""
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        try:
            from threadpoolctl import threadpool_limits     # lazy: an optional dependency
        except ImportError:                        # BLAS threads then follow the environment
            yield
        else:
            with threadpool_limits(limits=1):
                yield
    finally:
        numba.set_num_threads(previous)


def median_time(fn, *, warmup=3, repeat=20, min_time=0.0):
    """Median wall time of ``fn()`` in seconds over ``repeat`` calls after ``warmup`` calls.

    The median, not the mean: these machines are shared, and a neighbour's burst should move
    one sample, not the answer.
    """
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < repeat or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def interleaved_times(fns, *, rounds=30, block=1e-3, warmup=3):
    """{label: median seconds per call} for ``fns`` ({label: callable}), timed in turns
    (``interleaved_rounds``)."""
    return {label: float(np.median(t))
            for label, t in interleaved_rounds(fns, rounds=rounds, block=block,
                                               warmup=warmup).items()}


def interleaved_rounds(fns, *, rounds=30, block=1e-3, warmup=3):
    """{label: [seconds per call, one per round]} for ``fns`` ({label: callable}), timed in
    turns.

    Each round times every function once, in a block of calls that lasts about ``block``
    seconds (long enough for the clock) after one call that is not timed: that one finds the
    caches full of the function before and fills them with its own arrays, as a function
    called again and again finds them. Without it a call longer than the block was all first
    call: LeNet-5 at batch 64 in turns with ONNX Runtime, the dense plan 3.2-3.3 ms and its
    90%-sparse one 1.38-1.44 ms, against 3.03-3.06 and 1.19-1.20 ms after a call. The medians
    over rounds are compared. Timed one after another, each function would meet the machine
    in a different state (a neighbour's burst, the clock); in turns, all of them see the same
    states, and their ratios are what stays put.
    """
    counts = {}
    for label, fn in fns.items():
        for _ in range(warmup):
            fn()
        t0 = time.perf_counter()
        fn()
        counts[label] = max(1, int(block / max(time.perf_counter() - t0, 1e-9)))
    times = {label: [] for label in fns}
    for _ in range(rounds):
        for label, fn in fns.items():
            n = counts[label]
            fn()                                  # (its caches, not the one before's)
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            times[label].append((time.perf_counter() - t0) / n)
    return times


def ratio_interval(base, other):
    """(median, lower quartile, upper quartile) of the per-round ratios base / other: a
    speed-up with its spread, each round's pair measured under the same conditions."""
    ratios = np.asarray(base) / np.asarray(other)
    low, mid, high = np.percentile(ratios, [25, 50, 75])
    return float(mid), float(low), float(high)


def cpu(info="/proc/cpuinfo"):
    """The processor's name and its widest SIMD extension ("AMD EPYC, avx512f"), read from
    /proc/cpuinfo where there is one (the same kernel runs at very different speeds on
    processors of the same architecture), else what ``platform`` knows."""
    try:
        with open(info) as f:
            first = f.read().split("\n\n")[0]           # (the first processor's lines)
    except OSError:
        return platform.processor() or "unknown processor"
    fields = {key.strip(): value.strip() for key, value in
              (line.split(":", 1) for line in first.splitlines() if ":" in line)}
    name = " ".join(fields.get("model name", "unknown processor").split())
    flags = fields.get("flags", "").split()
    simd = next((f for f in ("avx512f", "avx2", "avx", "sse4_2") if f in flags), None)
    return f"{name}, {simd}" if simd else name


def machine_line(threads):
    """One line saying where and how a benchmark ran (quote it with the figures): the
    threads asked for its workers, and those this process runs with, read back."""
    return (f"machine: {platform.machine()} ({cpu()}), {os.cpu_count()} cores, python "
            f"{platform.python_version()}, numpy {np.__version__}, threads {threads} "
            f"(in use here: {describe()}), "
            f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}")
