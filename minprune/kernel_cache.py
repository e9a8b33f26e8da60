"""Numba's cache of minprune's kernels: whether a command's kernels are in it yet, and that
what it holds is compiled from the sources as they are now.

A first run compiles the kernels (the quick demo: 53 s the first time on a 2-core machine, 5 s
once they are cached), and says so rather than pausing in silence (``first_run_note``).

Numba keys a kernel's cache on its own file alone, but a kernel holds a copy of every kernel it
calls: after a change to ``sparse/conv_tiles.py`` the cached sums of ``infer/batch_chain.py``
still ran the old tiles. And the names Numba gives compiled functions count up from one in
every process, so the same kernel, compiled from different sources or as a different function's
callee in two processes, can reach the cache twice under one symbol; a process that loads both
runs whichever came first. That happened here: ``bench latency`` stopped with ``RuntimeError:
In 'NRT_adapt_ndarray_to_python', 'descr' is NULL`` (the sparse pooled convolution's call read
the environment of the batch chain's stale copy of it). So ``stamp_by_package`` keys every
kernel of a package on the hash of all its sources (any change compiles them all again), and
``distinct_ids`` draws the numbers in those names at random, as the Numba issue on caches
written by several processes (numba#10486) suggests. ``minprune.jit``, whose ``njit`` every
kernel module takes, applies both to minprune. Both use Numba's cache machinery as 0.68 has it
and do nothing where it differs.
"""
from __future__ import annotations

import functools
import hashlib
import os
import pathlib
import secrets


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
        return ("(first run, or first since minprune's sources changed: Numba compiles its "
                "kernels, a minute or two; later runs load them from its cache)")
    return None


@functools.lru_cache(maxsize=None)
def package_stamp(root):
    """The SHA-256 of every ``.py`` file under ``root`` (their paths and contents, in order of
    path): what a kernel's cache entry is kept for. Read once per process."""
    digest = hashlib.sha256()
    root = pathlib.Path(root)
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def stamp_by_package(root):
    """Key the cache of every kernel defined under ``root`` on ``package_stamp(root)``, not on
    its own file: Numba's locators (``NUMBA_CACHE_DIR``, the package's ``__pycache__``, the
    user's cache folder), each with the package's stamp, tried first for those files. Call
    before the kernels' modules are imported (a kernel's locator is chosen when it is
    decorated). True where it took (or had), False where Numba has no such machinery."""
    try:
        from numba.core import caching
        impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
        bases = (caching.UserProvidedCacheLocator, caching.InTreeCacheLocator,
                 caching.UserWideCacheLocator)
    except (ImportError, AttributeError):
        return False
    root = str(pathlib.Path(root).resolve())
    if any(getattr(c, "package_root", None) == root for c in impl._locator_classes):
        return True
    impl._locator_classes = [_package_locator(base, root) for base in bases] + list(
        impl._locator_classes)
    return True


def _package_locator(base, root):
    """Numba's locator ``base`` for the files under ``root`` only, with the package's stamp."""
    def get_source_stamp(self):
        return package_stamp(root)

    @classmethod
    def from_function(cls, py_func, py_file):
        if not str(pathlib.Path(py_file).resolve()).startswith(root + os.sep):
            return None
        return super(locator, cls).from_function(py_func, py_file)

    locator = type(f"Package{base.__name__}", (base,), {
        "package_root": root, "get_source_stamp": get_source_stamp,
        "from_function": from_function})
    return locator


class _RandomIds:
    """An endless iterator of random 63-bit numbers (fresh in a forked process too)."""

    def __iter__(self):
        return self

    def __next__(self):
        return secrets.randbits(63)


def distinct_ids():
    """Draw the numbers Numba puts in compiled functions' names at random, not counted from
    one in each process. True where it took, False where Numba has no such counter."""
    try:
        from numba.core.bytecode import FunctionIdentity
    except ImportError:
        return False
    if not hasattr(FunctionIdentity, "_unique_ids"):
        return False
    FunctionIdentity._unique_ids = _RandomIds()
    return True
