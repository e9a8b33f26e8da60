"""What every feature-major step shares: output buffers kept per shape, the fused
activation, and the timing that picks the fastest way to run a step on its first call of a
batch size."""
from __future__ import annotations

import math
import time

import numpy as np

NO_BIAS = np.zeros(0, dtype=np.float32)
ALIGN = 64          # bytes: a cache line, and a register (``vec.REGISTER``)


def aligned(shape, dtype, zero=False):
    """An array whose first number starts a cache line (NumPy's own start at 16 bytes): a
    kernel's register loads at multiples of 64 bytes from it then never straddle two lines.
    Measured: LeNet-5's second convolution, sparse register tiles at batch 64, took 0.69 ms
    on an aligned input and 1.35 ms on the same numbers 16 bytes further on."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    raw = (np.zeros if zero else np.empty)(nbytes + ALIGN, np.uint8)
    start = -raw.ctypes.data % ALIGN
    return raw[start:start + nbytes].view(dtype).reshape(shape)


class Step:
    """Output buffers per shape (the first call of a shape allocates) and the fused
    activation."""
    activation = None

    def buffer(self, shape, dtype, use=""):
        """A buffer per shape (and ``use``: two buffers of one shape that must not be one)."""
        buffers = self.__dict__.setdefault("_buffers", {})
        out = buffers.get((use, shape))
        if out is None:
            out = buffers[use, shape] = aligned(shape, dtype)
        return out

    def zeroed(self, shape, dtype, use=""):
        """A buffer per shape (and ``use``) that starts as zeros (a padded input: only its
        middle is written)."""
        zeroed = self.__dict__.setdefault("_zeroed", {})
        out = zeroed.get((use, shape))
        if out is None:
            out = zeroed[use, shape] = aligned(shape, dtype, zero=True)
        return out

    def finish(self, y):
        if self.activation is None:
            return y
        if self.activation == "ReLU":
            return np.maximum(y, 0, out=y)
        if self.activation == "Tanh":
            return np.tanh(y, out=y)
        return np.divide(1.0, 1.0 + np.exp(-y, out=y), out=y)


def bias_of(op):
    """The op's bias, contiguous (empty if it has none: the kernels skip it)."""
    return NO_BIAS.astype(op.dtype) if op.bias is None else np.ascontiguousarray(op.bias)


def act_text(activation):
    """", ReLU" and the like for a step's repr."""
    return "" if activation is None else f", {activation}"


def quickest(options, run, rounds=3):
    """The option for which ``run(option)`` takes least time (``best_times``)."""
    best = best_times(options, run, rounds)
    return min(options, key=best.__getitem__)


def best_times(options, run, rounds=3, keep=min):
    """{option: the least time ``run(option)`` took, or what ``keep`` makes of its times}:
    each run once (a warm-up), then ``rounds`` rounds of all in turns - in turns, so that a
    burst of other work on the machine slows every option, not the one it falls on. ``keep``
    (``min``): ``statistics.median`` for the time a run usually takes, where the least may be
    a lucky one; ``list`` for every round's, to compare round by round."""
    for option in options:
        run(option)
    times = {option: [] for option in options}
    for _ in range(rounds):
        for option in options:
            t0 = time.perf_counter()
            run(option)
            times[option].append(time.perf_counter() - t0)
    return {option: keep(t) for option, t in times.items()}


def fastest(step, ways, *args):
    """Time each way ``step._<way>(*args)``, remember the fastest for this batch size in
    ``step.ways`` and return it."""
    way = quickest(ways, lambda w: getattr(step, f"_{w}")(*args))
    step.ways[args[0].shape[-1]] = way
    return way
