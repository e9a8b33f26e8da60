"""How many threads minprune's work may use: one thread unless asked, one pool at a time.

The products of these models take microseconds to milliseconds. On an idle machine a second
BLAS thread gains little there; on a busy one - a laptop running a browser, a shared server -
OpenBLAS's threads spin-wait for cores that other programs hold, and training, lessons and
tests run five to fifty times slower. So ``import minprune`` sets BLAS to one thread (through
threadpoolctl), Numba's parallel kernels stay off unless ``sparse.set_threads(n)`` turns them
on, and worker processes pin both. To ask for more:

    MINPRUNE_THREADS=2 python train.py          # read when minprune is imported
    minprune.threads.set_threads(2)             # at any time
    minprune.threads.set_threads(None)          # hand BLAS back the setting it had

``in_use()`` reads back what the pools really run with; reports and benchmark lines print
``describe()``, never an assumed count. A BLAS library loaded after minprune (SciPy brings its
own) keeps its own setting until ``set_threads`` is called again; ``describe()`` then shows
the largest count in use, so a report never claims one thread it does not have.
"""
from __future__ import annotations

import os

from .checks import integer

# the BLAS limit in force, what set_threads was asked, and the threads of the sparse kernels
# (``sparse.set_threads`` reports here: serial, 1, unless it is called)
_state = {"limiter": None, "asked": None, "kernels": 1, "libraries": None}


def default():
    """The thread count minprune starts with: $MINPRUNE_THREADS, else 1."""
    value = os.environ.get("MINPRUNE_THREADS")
    if value is None:
        return 1
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"MINPRUNE_THREADS must be a positive integer, got {value!r}")
    return n


def set_threads(n):
    """BLAS on ``n`` threads from now on (None: the setting it had before minprune changed
    it). Returns the count read back (None where threadpoolctl is missing or no BLAS is
    loaded)."""
    if n is not None:
        integer("n", n, 1)
    limiter = _state["limiter"]
    _state["libraries"] = None                       # (looked up again: one may be new)
    if limiter is not None:
        limiter.restore_original_limits()
        _state["limiter"] = None
    _state["asked"] = n
    if n is not None:
        try:
            from threadpoolctl import threadpool_limits  # lazy: loads only to set the limit
        except ImportError:
            return None
        _state["limiter"] = threadpool_limits(limits=n, user_api="blas")
    return in_use()["blas"]


def asked():
    """What ``set_threads`` was last given (None: never called, or handed back)."""
    return _state["asked"]


def one_blas_thread():
    """A context in which BLAS runs on one thread (for work that runs its own threads). It
    sets the loaded BLAS libraries' counts directly (a few microseconds; threadpoolctl's
    ``limit`` looks the libraries up anew each time, some twenty), the libraries found once
    and again after each ``set_threads``."""
    return _OneBlasThread()


class _OneBlasThread:
    def __enter__(self):
        self._saved = [(lib, lib.get_num_threads()) for lib in _blas_libraries()]
        for lib, _ in self._saved:
            lib.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        for lib, n in self._saved:
            lib.set_num_threads(n)
        return False


def _blas_libraries():
    """threadpoolctl's controllers of the loaded BLAS libraries (none without it)."""
    libraries = _state["libraries"]
    if libraries is None:
        try:
            from threadpoolctl import ThreadpoolController  # lazy: loads only to pin BLAS
        except ImportError:
            libraries = []
        else:
            libraries = ThreadpoolController().select(user_api="blas").lib_controllers
        _state["libraries"] = libraries
    return libraries


class as_one:
    """A context in which the work runs as on one thread: BLAS on one, and ``asked()`` says 1
    (what the plan runs when it has timed one thread faster than the threads asked)."""

    def __enter__(self):
        self._asked, self._blas = _state["asked"], one_blas_thread()
        self._blas.__enter__()
        _state["asked"] = 1
        return self

    def __exit__(self, *exc):
        _state["asked"] = self._asked
        return self._blas.__exit__(*exc)


def in_use():
    """{"blas": threads of the loaded BLAS libraries (None: unknown - no threadpoolctl, or no
    BLAS loaded), "blas_library": its name, "kernels": threads of minprune's sparse kernels
    (``sparse.set_threads``), "asked": what ``set_threads`` was given}."""
    blas = library = None
    try:
        from threadpoolctl import threadpool_info  # lazy: loads only to read the pools
        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    except ImportError:                                  # unknown: said as None
        pools = []
    if pools:
        blas = max(p["num_threads"] for p in pools)
        library = ", ".join(sorted({p["internal_api"] for p in pools}))
    return {"blas": blas, "blas_library": library, "asked": _state["asked"],
            "kernels": _state["kernels"]}


def note_kernels(n):
    """What ``sparse.set_threads`` set (so that ``in_use`` can say it)."""
    _state["kernels"] = n


def describe():
    """The threads in use, read back, as a report states them: "BLAS 1 (openblas), sparse
    kernels 1"."""
    now = in_use()
    blas = ("unknown (threadpoolctl is missing)" if now["blas"] is None and now["asked"]
            else f"{now['blas']} ({now['blas_library']})" if now["blas"] is not None
            else "none loaded")
    return f"BLAS {blas}, sparse kernels {now['kernels']}"
