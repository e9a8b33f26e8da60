"""Whether the Numba kernels a command runs are already compiled in Numba's cache: a first
run compiles them (the quick demo: 53 s the first time on a 2-core machine, 5 s once they
are cached), and says so rather than pausing in silence."""
from __future__ import annotations


def cached(dispatchers):
    """True where every one of the Numba ``dispatchers`` (``cache=True`` kernels) has code in
    Numba's cache for its source as it is now, False where one has none (never compiled, or
    its source changed since), None where that cannot be told: Numba's JIT turned off
    (``NUMBA_DISABLE_JIT=1``, nothing to compile) or its cache not as this reads it."""
    try:
        return all(bool(d._cache._cache_file._load_index()) for d in dispatchers)
    except (AttributeError, OSError):
        return None


def first_run_note(dispatchers):
    """A line to print before the work where the kernels are not cached yet, else None."""
    if cached(dispatchers) is False:
        return ("(first run: Numba compiles minprune's kernels, a minute or so; later runs "
                "load them from its cache)")
    return None
