"""Initialisers that take an rng; the defaults reproduce PyTorch's layer initialisation."""
from __future__ import annotations

import math

import numpy as np


def as_rng(rng):
    """A Generator from a Generator, a seed, or None (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def uniform(shape, bound, rng, dtype=np.float32):
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def kaiming_uniform(shape, fan_in, rng, a=math.sqrt(5), dtype=np.float32):
    """PyTorch's ``kaiming_uniform_``: bound = gain·√(3 / fan_in), gain = √(2 / (1 + a²)).

    With PyTorch's default a = √5 for Linear and Conv2d this is bound = 1/√fan_in.
    """
    gain = math.sqrt(2.0 / (1 + a * a))
    return uniform(shape, gain * math.sqrt(3.0 / fan_in), rng, dtype)

