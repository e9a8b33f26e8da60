"""``minprune bench sweep``: the sweep's own cost per run - submitting, waiting, writing the
fsynced line, progress - measured on trivial runs that do no work, locally (``--jobs 2``) and
on a Dask LocalCluster of two workers, at two sweep sizes to show that it grows linearly.
Starting the workers is not counted (each has run a task before the clock starts); the
dense models' trainings are (one per seed)."""
from __future__ import annotations

import tempfile
import time

from ..tables import table
from ..timing import machine_line


def trivial_dense(c):
    return {"state": {}, "accuracy": 0.0}


def trivial_run(c, dense):
    return {"status": "ok", "result": {"accuracy_finetuned": None}}


def trivial_runs(n, seeds=2):
    """``n`` distinct runs of the tiny MLP config, spread over ``seeds`` dense models."""
    from ..experiments.spec import run_id  # lazy: the sweep loads only for this suite
    base = {"model": "mlp", "hidden": [8], "load": None, "dataset": "spirals", "n_train": 20,
            "n_test": 10, "epochs": 1, "lr": 0.05, "batch_size": 8, "held_out": 512,
            "kind": "prune", "reconstruct": False, "n_calibration": 512,
            "criterion": "magnitude", "granularity": "weight", "scope": "global",
            "schedule": "one-shot", "steps": 1, "finetune_epochs": 0}
    configs = [{**base, "seed": i % seeds, "sparsity": (i + 1) / (n + 1)} for i in range(n)]
    return [{"id": run_id(c), "config": c} for c in configs]


def overhead(backend, n):
    """Seconds for a sweep of ``n`` trivial runs on ``backend`` ("local" or "dask")."""
    from ..experiments.executors import make  # lazy: the sweep loads only for this suite
    from ..experiments.sweep import Sweep  # lazy: the sweep loads only for this suite
    executor = make(jobs=2) if backend == "local" else make(scheduler="local:2")
    try:
        for i in range(4):                             # the workers started and warm
            executor.submit(i, trivial_dense, None)
        warmed = 0
        while warmed < 4:
            warmed += len(executor.wait())
        with tempfile.TemporaryDirectory() as folder:
            sweep = Sweep(trivial_runs(n), folder, log=lambda *a: None, progress=False,
                          tasks=(trivial_dense, trivial_run))
            start = time.perf_counter()
            counts = sweep.execute(executor)
            seconds = time.perf_counter() - start
    finally:
        executor.close()
    assert counts["executed"] == n, counts
    return seconds


def run(quick=False):
    sizes = (200, 1000) if quick else (500, 5000)
    rows = []
    for backend in ("local", "dask"):
        for n in sizes:
            seconds = overhead(backend, n)
            rows.append({"backend": {"local": "--jobs 2", "dask": "LocalCluster, 2 workers"}
                         [backend], "runs": n, "seconds": seconds,
                         "per_run": 1000 * seconds / n})
    print(machine_line(1) + "  (each worker: one thread)")
    print("the sweep's bookkeeping per run (trivial runs; one fsync per batch of results)")
    print(table(rows, [("backend", "executor", "{}"), ("runs", "runs", "{:d}"),
                       ("seconds", "seconds", "{:.1f}"), ("per_run", "ms per run", "{:.2f}")]))
    return rows
