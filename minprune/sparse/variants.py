"""One kernel's source compiled twice: a copy of a function under another name, with some of
the names it calls bound to other functions.

The batch-1 kernels call their inner loop by name (``slice_fma``); their plain-Numba variants
are the same source with that name bound to the plain loop, and the parallel CSR kernels are
the serial source under another name. The other name matters: Numba's on-disk cache tells
functions apart by module, name and source line - not by compile options or by what a
function calls (numba/numba#6845) - so two variants under one name would load each other's
machine code.
"""
from __future__ import annotations

import types


def variant(fn, suffix, **rebound):
    """``fn`` (a plain Python function) as a new function named ``fn.__name__ + suffix``, in
    which each global name of ``rebound`` means the object given instead."""
    scope = dict(fn.__globals__, **rebound) if rebound else fn.__globals__
    twin = types.FunctionType(fn.__code__, scope, fn.__name__ + suffix, fn.__defaults__,
                              fn.__closure__)
    twin.__qualname__ = fn.__qualname__ + suffix
    twin.__doc__ = fn.__doc__
    return twin
