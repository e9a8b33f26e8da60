"""Keep freed array memory in the process for the next array, instead of handing it back.

A training step allocates its activations, columns and gradients afresh - megabytes each -
and frees them when the step ends. glibc's malloc serves large blocks from fresh pages
(``mmap``) and returns freed memory to the kernel (``munmap``, heap trimming), so every step
pays a page fault per 4 KiB it touches first: measured, 3,200 faults and a quarter of
LeNet-5's step at batch 64, 43,000 faults and 37% of resnet8's. Raising the two thresholds
(``mallopt``) keeps the freed blocks in the heap, where the next step's arrays of the same
sizes reuse them without a fault. PyTorch's CPU allocator caches for the same reason.

``import minprune`` does this on Linux with glibc unless ``MINPRUNE_MALLOC=system`` is set
(then malloc is left alone). ``keep_freed(False)`` sets glibc's starting thresholds again, but
fixed: glibc stops adjusting a threshold once a program has set it (measured, that is slower
still than glibc's own rule). Memory a process has used stays reserved for it, up to ``TRIM``
bytes beyond what it holds: the price of the reuse.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3           # glibc's mallopt parameters
MMAP = 1 << 30      # blocks below 1 GiB come from the heap (glibc's default: 128 KiB, rising)
TRIM = 1 << 30      # free memory at the top of the heap kept up to 1 GiB (default: 128 KiB)
DEFAULT_MMAP, DEFAULT_TRIM = 128 * 1024, 128 * 1024

_state = {"kept": False}


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "gnu_get_libc_version") \
            else None
    except OSError:
        return None


def keep_freed(keep=True):
    """Keep freed blocks for reuse (``True``) or restore glibc's thresholds (``False``).
    Returns whether the setting took (False where the C library is not glibc)."""
    libc = _libc()
    if libc is None:
        return False
    mmap, trim = (MMAP, TRIM) if keep else (DEFAULT_MMAP, DEFAULT_TRIM)
    took = bool(libc.mallopt(M_MMAP_THRESHOLD, mmap)) and bool(libc.mallopt(M_TRIM_THRESHOLD,
                                                                           trim))
    _state["kept"] = keep and took
    return took


def kept():
    """Whether freed memory is being kept for reuse."""
    return _state["kept"]


def default():
    """What ``import minprune`` does: keep freed memory unless $MINPRUNE_MALLOC is "system"."""
    value = os.environ.get("MINPRUNE_MALLOC", "keep")
    if value not in ("keep", "system"):
        raise ValueError(f"MINPRUNE_MALLOC must be 'keep' or 'system', got {value!r}")
    return value == "keep"
