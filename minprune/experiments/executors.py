"""Where runs execute: local worker processes (``concurrent.futures``) or a Dask distributed
cluster (a running scheduler, or a LocalCluster started here). Executors only submit work and
hand back results; the client alone writes them down. Every worker computes on one BLAS and
one Numba thread, so that workers do not fight over the cores."""
from __future__ import annotations

import os

ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                     "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")}


_limits = None


def one_thread_worker():
    """Run in each worker process as it starts: one thread for Numba (loaded later, it reads
    the environment) and for BLAS (through threadpoolctl when it is installed). The parent's
    environment is left alone."""
    global _limits
    os.environ.update(ONE_THREAD)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    _limits = threadpool_limits(limits=1)


class Lost(Exception):
    """A worker died (killed, out of memory) while running the task: run it again."""


class LocalExecutor:
    """``jobs`` worker processes on this machine, each on one thread."""

    def __init__(self, jobs):
        self.jobs = jobs
        self.label = f"local:{jobs} processes"
        self.pool = None
        self.owner = {}                            # future -> the pool that runs it

    def _pool(self):
        if self.pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor
            self.pool = ProcessPoolExecutor(self.jobs, initializer=one_thread_worker,
                                            mp_context=multiprocessing.get_context("spawn"))
        return self.pool

    def submit(self, fn, *args):
        future = self._pool().submit(fn, *args)
        self.owner[future] = self.pool
        return future

    def as_completed(self, futures):
        from concurrent.futures import as_completed
        return as_completed(futures)

    def result(self, future):
        from concurrent.futures.process import BrokenProcessPool
        pool = self.owner.pop(future, None)
        try:
            return future.result()
        except BrokenProcessPool:
            if pool is self.pool and pool is not None:   # a fresh pool for the resubmitted
                pool.shutdown(wait=False, cancel_futures=True)
                self.pool = None
            raise Lost("a worker process died") from None

    def close(self, now=False):
        """Stop the workers: after their running tasks, or, ``now`` (an interrupted sweep),
        at once - their runs are lost, and redone when the sweep resumes. Waiting for them
        after an interrupt was seen to hang the process (a run already handed to a worker
        cannot be cancelled, and the pool's shutdown waited on it for minutes)."""
        if self.pool is None:
            return
        if now:
            # the pool's own processes only (``concurrent.futures`` keeps them in
            # ``_processes``; it has no public way to stop a running task)
            workers = list((getattr(self.pool, "_processes", None) or {}).values())
            self.pool.shutdown(wait=False, cancel_futures=True)
            for process in workers:
                process.terminate()
            for process in workers:          # one that outlives SIGTERM gets SIGKILL
                process.join(timeout=2)
                if process.is_alive():
                    process.kill()
        else:
            self.pool.shutdown(wait=True, cancel_futures=True)
        self.pool = None


class DaskExecutor:
    """Dask distributed: ``address`` "tcp://HOST:PORT" of a running scheduler, or None to start
    a LocalCluster of ``workers`` single-threaded worker processes on 127.0.0.1. A task whose
    worker dies is rescheduled by Dask itself."""

    def __init__(self, address=None, workers=2, timeout=30):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ImportError("running on Dask needs the dask extra: "
                              "pip install -e \".[dask]\"") from None
        self.cluster = None
        if address is None:
            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                                        processes=True, host="127.0.0.1",
                                        dashboard_address=None, env=dict(ONE_THREAD))
            self.client = Client(self.cluster, timeout=timeout)
            self.label = f"dask LocalCluster:{workers} workers"
        else:
            self.client = Client(address, timeout=timeout)
            self.label = f"dask {address}"

    def submit(self, fn, *args):
        return self.client.submit(fn, *args, pure=False)

    def as_completed(self, futures):
        from distributed import as_completed
        return as_completed(futures)

    def result(self, future):
        from distributed import KilledWorker
        try:
            return future.result()
        except KilledWorker as exc:
            raise Lost(str(exc)) from None

    def close(self, now=False):
        """Disconnect (and stop the LocalCluster this started); Dask stops its tasks itself."""
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make(jobs=1, scheduler=None):
    """The executor for ``--jobs N`` or ``--scheduler tcp://HOST:PORT | local:N``."""
    if scheduler is None:
        return LocalExecutor(jobs)
    if scheduler.startswith("local:"):
        n = scheduler.partition(":")[2]
        if not n.isdigit() or int(n) < 1:
            raise ValueError(f"--scheduler local:N needs a positive N, got {scheduler!r}")
        return DaskExecutor(workers=int(n))
    if scheduler.startswith("tcp://"):
        return DaskExecutor(address=scheduler)
    raise ValueError(f"--scheduler must be tcp://HOST:PORT or local:N, got {scheduler!r}")
