"""Numba's ``njit`` for minprune's kernels, their cache kept for minprune's sources as they are
now: keyed on all of them, under names no other process gives (``kernel_cache``). Every
kernel module takes ``njit`` from here, so this runs before any kernel is decorated."""
import pathlib

from numba import njit

from . import kernel_cache

kernel_cache.stamp_by_package(pathlib.Path(__file__).parent)
kernel_cache.distinct_ids()

__all__ = ["njit"]
