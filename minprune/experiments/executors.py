"""Where runs execute: local worker processes (``pool.Pool``) or a Dask distributed cluster (a
running scheduler, or a LocalCluster started here). Executors only submit work and hand back
what ended; the client alone writes results down. Every worker computes on one BLAS and one
Numba thread, so that workers do not fight over the cores.

The protocol, the same for both: ``slots`` (how many tasks to keep in flight: the client holds
no more results than that), ``submit(tag, fn, *args)``, ``wait()`` -> [(tag, value)] of the
tasks that ended (``value`` a ``Lost`` where the worker died), ``share(state, path)`` -> what
a task is handed to reach a dense model shipped once per worker, ``release(shared)``,
``close(now)``.
"""
from __future__ import annotations

from .pool import ONE_THREAD, Died, Pool, on_one_thread


class Lost:
    """A task whose worker died holding it. ``final``: the cluster retried it already (Dask's
    ``allowed-failures``); the sweep records it as failed instead of trying again."""

    def __init__(self, cause, final=False):
        self.cause, self.final = cause, final


class ClusterGone(RuntimeError):
    """The Dask scheduler is gone (the client gave up reconnecting): nothing more can run."""


class LocalExecutor:
    """``jobs`` worker processes on this machine, each on one thread; a dense model reaches
    them as the path of its file in the sweep folder (read once per worker)."""

    def __init__(self, jobs):
        self.jobs = self.slots = jobs
        self.label = f"local:{jobs} processes"
        self.pool = Pool(jobs)

    def submit(self, tag, fn, *args):
        self.pool.submit(tag, fn, *args)

    def wait(self):
        return [(tag, Lost(value.cause) if isinstance(value, Died) else value)
                for tag, value in self.pool.wait()]

    def share(self, state, path):
        return path

    def release(self, shared):
        pass

    def close(self, now=False):
        """Stop the workers: after their running tasks, or, ``now`` (an interrupted sweep),
        at once - their runs are lost, and redone when the sweep resumes."""
        self.pool.close(now)


class DaskExecutor:
    """Dask distributed: ``address`` "tcp://HOST:PORT" of a running scheduler, or None to start
    a LocalCluster of ``workers`` single-threaded worker processes on 127.0.0.1. A task whose
    worker dies is rescheduled by Dask itself, up to the scheduler's ``allowed-failures``
    (``retries`` for the LocalCluster started here, whose workers each hold one task at a
    time, so that a death is charged to the task that died with it). A dense model is held by
    a task of its own that the runs depend on: fetched once per worker, and computed again
    from the scheduler's copy should the workers holding it die (scattered data would be lost
    for good)."""

    def __init__(self, address=None, workers=2, timeout=30, retries=2):
        try:
            import dask
            from distributed import Client, LocalCluster, as_completed
        except ImportError:
            raise ImportError("running on Dask needs the dask extra: "
                              "pip install -e \".[dask]\"") from None
        self.cluster = None
        if address is None:
            with dask.config.set({"distributed.scheduler.allowed-failures": retries,
                                  "distributed.scheduler.worker-saturation": 1.0}):
                self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                                            processes=True, host="127.0.0.1",
                                            dashboard_address=None, env=dict(ONE_THREAD))
            self.client = Client(self.cluster, timeout=timeout)
            self.label = f"dask LocalCluster:{workers} workers"
        else:
            self.client = Client(address, timeout=timeout)
            self.label = f"dask {address}"
        threads = sum(self.client.nthreads().values())
        self.slots = max(16, 4 * threads)
        self.tags = {}                                # future -> tag, while in flight
        self.ended = as_completed([], with_results=False)

    def submit(self, tag, fn, *args):
        future = self.client.submit(on_one_thread, fn, *args, pure=False)
        self.tags[future] = (tag, fn, args)
        self.ended.add(future)

    def wait(self):
        """What ended; a task the cluster cancelled (a scheduler reconnecting) is submitted
        again at no cost to its run; ``ClusterGone`` once the client has given up."""
        from concurrent.futures import CancelledError

        from distributed import KilledWorker
        out = []
        while not out:
            for future in self._ended():
                tag, fn, args = self.tags.pop(future)
                try:
                    out.append((tag, future.result()))
                except KilledWorker as exc:
                    out.append((tag, Lost(f"worker died (Dask gave up: {exc})", final=True)))
                except CancelledError:
                    self._check()
                    self.submit(tag, fn, *args)
                future.release()                      # the result lives on in the store only
        return out

    def _ended(self):
        """The next batch of ended futures; polls (0.5 to 50 ms apart) so that a scheduler
        that is gone is noticed instead of waited on forever."""
        import time
        pause = 0.0005
        while True:
            batch = self.ended.next_batch(block=False)
            if batch:
                return batch
            self._check()
            time.sleep(pause)
            pause = min(2 * pause, 0.05)

    def _check(self):
        if self.client.status not in ("running", "connecting", "newly-created"):
            raise ClusterGone(f"lost the Dask scheduler ({self.label}, client "
                              f"{self.client.status}); every finished run is in "
                              f"results.jsonl: restart the scheduler and its workers and run "
                              f"the same command again")

    def share(self, state, path):
        return self.client.submit(_given, state, pure=False)

    def release(self, shared):
        shared.release()

    def close(self, now=False):
        """Disconnect (and stop the LocalCluster this started); Dask stops its tasks itself."""
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _given(state):
    return state


def make(jobs=1, scheduler=None, retries=2):
    """The executor for ``--jobs N`` or ``--scheduler tcp://HOST:PORT | local:N``."""
    if scheduler is None:
        return LocalExecutor(jobs)
    if scheduler.startswith("local:"):
        n = scheduler.partition(":")[2]
        if not n.isdigit() or int(n) < 1:
            raise ValueError(f"--scheduler local:N needs a positive N, got {scheduler!r}")
        return DaskExecutor(workers=int(n), retries=retries)
    if scheduler.startswith("tcp://"):
        return DaskExecutor(address=scheduler)
    raise ValueError(f"--scheduler must be tcp://HOST:PORT or local:N, got {scheduler!r}")
