"""A fully connected plan's batch in one compiled call, split over Numba's pool: each thread
takes its part of the samples through every layer.

Two threads on one batch can share the work two ways. Each layer's rows split between them
(``tiles.conv_tiles_split``) needs a start of the pool per layer, and every layer's input
crosses from the core that wrote half of it to the core that reads all of it: LeNet-300-100
at batch 64 ran 1.34x as fast on two threads as on one. Split by samples, the layers need
nothing from each other's part: one start of the pool, each thread transposing its samples
into its own scratch (feature-major, ``layout.transpose``), running every layer's register
tiles (``tiles.conv_tiles``) on them and transposing its outputs back into its rows of the
result - each core reads the weights once per call, the activations never leave it. On
one thread the same call takes the whole batch (``chain_whole``): none of the steps' Python
between the layers.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .. import vec
from .fm_step import aligned
from .layout import transpose
from .tiles import conv_tiles, filters8


@njit(cache=True, nogil=True)
def _run(x, s0, s1, filters, biases, relus, rows, a, b, out):
    """Samples s0 .. s1 - 1 of x through the layers, a and b their two scratch buffers."""
    m, f = s1 - s0, x.shape[1]
    if m == 0:
        return
    transpose(x[s0:s1], a[:f * m].reshape(f, m))
    for layer in range(len(filters)):
        r = rows[layer]
        conv_tiles(a[:f * m].reshape(f, 1, 1, m), filters[layer], biases[layer], 1,
                   relus[layer], b[:r * m].reshape(r, 1, 1, m))
        a, b, f = b, a, r
    transpose(a[:f * m].reshape(f, m), out[s0:s1])


@njit(cache=True, parallel=True)
def chain_split(x, filters, biases, relus, rows, scratch, out):
    """out (N, rows[-1]) = the layers applied to x (N, F): layer l the register tiles of
    ``filters[l]`` (``tiles.filters8`` of its (rows[l], F_l) weight), ``biases[l]`` (empty:
    none), then ReLU where ``relus[l]``. The samples in len(scratch) runs, one per thread of
    Numba's pool; ``scratch`` (runs, 2, width): each run's two feature-major buffers, width
    at least the widest layer's features times the longest run."""
    n, parts = len(x), len(scratch)
    for p in prange(parts):
        _run(x, p * n // parts, (p + 1) * n // parts, filters, biases, relus, rows,
             scratch[p, 0], scratch[p, 1], out)
    return out


@njit(cache=True, nogil=True)
def chain_whole(x, filters, biases, relus, rows, scratch, out):
    """``chain_split`` on the calling thread alone: the whole batch as one run."""
    _run(x, 0, len(x), filters, biases, relus, rows, scratch[0, 0], scratch[0, 1], out)
    return out


def chain_split_numpy(x, filters, biases, relus, rows, scratch, out):
    """``chain_split`` (and ``chain_whole``) in NumPy: the layers on the whole batch."""
    h = x.T
    for w8, bias, relu, r in zip(filters, biases, relus, rows):
        w = w8.reshape(len(w8), -1, 8).transpose(0, 2, 1).reshape(-1, w8.shape[1])[:r]
        h = w @ h + (bias[:, None] if len(bias) else 0)
        h = np.maximum(h, 0) if relu else h
    out[...] = h.T
    return out


class SplitChain:
    """Dense fully connected layers [(weight, bias, relu)] (``plan._chain_layers``) run on
    a batch split over threads: ``split(x, parts)`` for x (N, F)."""

    def __init__(self, layers, dtype):
        self.dtype = np.dtype(dtype)
        self.filters = tuple(filters8(np.asarray(w, self.dtype), 1, w.shape[1])
                             for w, _, _ in layers)
        self.biases = tuple(np.zeros(0, self.dtype) if b is None else
                            np.ascontiguousarray(b, self.dtype) for _, b, _ in layers)
        self.relus = np.array([relu for _, _, relu in layers])
        self.rows = np.array([w.shape[0] for w, _, _ in layers])
        self.in_features = layers[0][0].shape[1]
        self.widest = max(self.in_features, *self.rows)
        self._scratch = {}                            # (parts, longest run) -> buffers

    @staticmethod
    def fits(layers):
        """Whether the layers are all dense (what the register tiles take)."""
        return layers is not None and all(isinstance(w, np.ndarray) for w, _, _ in layers)

    def __call__(self, x, parts):
        """x (N, ...) with F numbers per sample -> (N, rows[-1]), a new array: on ``parts``
        threads of Numba's pool, or (1) on the calling thread alone."""
        n = len(x)
        x = np.ascontiguousarray(x, self.dtype).reshape(n, self.in_features)
        longest = -(-n // parts)
        key = (parts, longest)
        scratch = self._scratch.get(key)
        if scratch is None:                           # each run's buffers a cache line apart
            line = vec.lanes(self.dtype)
            width = -(-self.widest * longest // line) * line
            scratch = self._scratch[key] = aligned((parts, 2, width), self.dtype)
        out = np.empty((n, int(self.rows[-1])), self.dtype)
        run = chain_split if parts > 1 else chain_whole
        return run(x, self.filters, self.biases, self.relus, self.rows, scratch, out)

    def __repr__(self):
        return f"SplitChain({len(self.filters)} layers, {self.in_features} -> " \
               f"{' -> '.join(map(str, self.rows))})"
