"""Local worker processes that each hold one task at a time, so that a worker's death is
charged to the one task it held, and that die with the process that started them.

``concurrent.futures.ProcessPoolExecutor`` cannot do either: one dead worker breaks the whole
pool (every pending task fails with it), and its workers outlive a parent killed by SIGKILL.
Here each worker has its own pipe; the parent sends it one task, waits on every pipe and
every worker's exit at once, and starts a new worker in place of a dead one. A worker dies
with its parent through the parent-death signal (Linux) and, everywhere, through a watchdog
thread that sees the parent gone within a second.
"""
from __future__ import annotations

import os
import signal
import threading

ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                     "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")}
_limits = None


def one_thread_worker():
    """Run in a worker process before its tasks: one thread for BLAS (through threadpoolctl,
    once a process) and for Numba (on the calling thread: Numba's count is each thread's
    own, and a Dask worker runs its tasks on a thread of its own). The parent's environment
    is left alone.

    Numba read the environment when the worker imported minprune, and compares it with what
    it read on every compilation: a thread count that changed once its threads run is an
    error (a StructRef built in a run compiles). So it reads the pinned environment again
    while its threads have not started, and where they have, the environment keeps the count
    they run with."""
    global _limits
    import numba
    if _limits is None:
        os.environ.update(ONE_THREAD)
        try:
            numba.config.reload_config()
        except RuntimeError:                                # (its threads run already)
            os.environ["NUMBA_NUM_THREADS"] = str(numba.config.NUMBA_NUM_THREADS)
        from threadpoolctl import threadpool_limits
        _limits = threadpool_limits(limits=1)
    numba.set_num_threads(1)


def on_one_thread(fn, *args):
    """fn(*args) in a worker pinned by ``one_thread_worker`` (a Dask task's wrapper)."""
    one_thread_worker()
    return fn(*args)


class Died:
    """What a task got when its worker died while holding it: ``cause``, in words."""

    def __init__(self, cause):
        self.cause = cause

    def __repr__(self):
        return f"Died({self.cause!r})"


def cause_of(exitcode):
    """A worker's end in words: "worker died: signal 9 (SIGKILL)", "worker died: exit code 3"."""
    if exitcode is not None and exitcode < 0:
        try:
            name = f" ({signal.Signals(-exitcode).name})"
        except ValueError:
            name = ""
        return f"worker died: signal {-exitcode}{name}"
    return f"worker died: exit code {exitcode}"


def _die_with(parent):
    """Make this worker die when ``parent`` does."""
    try:                                              # Linux: the kernel sends SIGKILL
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)                   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:                          # it died before the line above
        os._exit(1)

    def watch():
        while os.getppid() == parent:
            threading.Event().wait(1.0)
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()


def _serve(conn, parent):
    """A worker's life: take a task, send back ("ok", value) or ("raised", exception)."""
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)        # Ctrl-C is the parent's to handle
    one_thread_worker()
    while True:
        try:
            fn, args = conn.recv()
        except (EOFError, OSError):                     # the parent closed the pipe
            return
        try:
            reply = ("ok", fn(*args))
        except BaseException as exc:                    # handed back, raised in the parent
            reply = ("raised", exc)
        conn.send(reply)


class Worker:
    def __init__(self, context):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, os.getpid()), daemon=True)
        self.process.start()
        child.close()
        self.task = None                                # the tag of the task it holds


class Pool:
    """``jobs`` workers; ``submit(tag, fn, *args)`` queues a task, ``wait()`` returns
    [(tag, value)] of the tasks that ended - ``value`` a ``Died`` where the worker died."""

    def __init__(self, jobs):
        import multiprocessing
        self.context = multiprocessing.get_context("spawn")
        self.jobs = jobs
        self.workers = []
        self.queue = []

    def submit(self, tag, fn, *args):
        self.queue.append((tag, fn, args))
        self._dispatch()

    def _dispatch(self):
        for worker in [w for w in self.workers if w.task is None and not w.process.is_alive()]:
            worker.conn.close()                         # died idle: it held nothing
            self.workers.remove(worker)
        while len(self.workers) < self.jobs:
            self.workers.append(Worker(self.context))
        for worker in self.workers:
            if worker.task is None and self.queue:
                tag, fn, args = self.queue[0]
                try:
                    worker.conn.send((fn, args))
                except (BrokenPipeError, ConnectionResetError):   # died just now, idle
                    continue                            # replaced on the next dispatch
                self.queue.pop(0)
                worker.task = tag

    def busy(self):
        return len(self.queue) + sum(w.task is not None for w in self.workers)

    def wait(self, timeout=None):
        """Block until at least one task ends (or ``timeout`` s); return what ended."""
        from multiprocessing.connection import wait
        self._dispatch()                                # workers that died idle replaced
        busy = [w for w in self.workers if w.task is not None]
        if not busy:
            return []
        ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy],
                         timeout))
        ended = []
        for worker in busy:
            if worker.conn in ready:
                try:
                    kind, value = worker.conn.recv()
                except (EOFError, OSError):             # it died while sending
                    ready.add(worker.process.sentinel)
                else:
                    if kind == "raised":
                        raise value
                    ended.append((worker.task, value))
                    worker.task = None
                    continue
            if worker.process.sentinel in ready:
                worker.process.join()
                ended.append((worker.task, Died(cause_of(worker.process.exitcode))))
                worker.conn.close()
                self.workers.remove(worker)
        self._dispatch()
        return ended

    def close(self, now=False):
        """Stop the workers: at once (``now``: SIGTERM, then SIGKILL after 2 s) or after the
        task each one holds."""
        self.queue.clear()
        for worker in self.workers:
            if now:
                worker.process.terminate()
            worker.conn.close()                         # an idle worker's recv ends: it exits
        for worker in self.workers:
            worker.process.join(timeout=2 if now else None)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
        self.workers = []
