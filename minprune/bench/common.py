"""Shared benchmark plumbing: thread-pinned subprocess workers (the timing itself is in
``minprune.timing``)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMBA_NUM_THREADS")


def thread_env(threads):
    """An environment pinning every thread pool (BLAS, OpenMP, Numba) to ``threads``."""
    env = dict(os.environ)
    env.update({name: str(threads) for name in THREAD_VARIABLES})
    env.setdefault("NUMBA_THREADING_LAYER", "workqueue")
    return env


def run_worker(module, args, threads):
    """Run ``python -m module args`` at ``threads`` threads; parse the JSON it prints last."""
    cmd = [sys.executable, "-m", module, *map(str, args)]
    done = subprocess.run(cmd, env=thread_env(threads), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark worker failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
