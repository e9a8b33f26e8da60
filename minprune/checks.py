"""Argument checks at the public boundary, in one style: the message names the argument, the
value received and what is allowed."""
from __future__ import annotations

import numbers


def one_of(name, value, allowed):
    """``value`` if it is in ``allowed``, else ValueError naming the choices."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(str, allowed))}, got {value!r}")
    return value


def integer(name, value, minimum=None):
    """``value`` if it is an integer (not a bool) of at least ``minimum``."""
    if (not isinstance(value, numbers.Integral) or isinstance(value, bool)
            or (minimum is not None and value < minimum)):
        what = {None: "an integer", 0: "a non-negative integer", 1: "a positive integer"}
        raise ValueError(f"{name} must be {what.get(minimum, f'an integer >= {minimum}')}, "
                         f"got {value!r}")
    return value


def fraction(name, value, *, closed=False):
    """``value`` if it is a real number in [0, 1) (in [0, 1] when ``closed``)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and (
        0 <= value <= 1 if closed else 0 <= value < 1)
    if not ok:
        raise ValueError(f"{name} must be a number in [0, 1{']' if closed else ')'}, "
                         f"got {value!r}")
    return value
