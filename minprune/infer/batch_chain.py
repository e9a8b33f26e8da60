"""A plain stack's batch in one compiled call - convolutions (each with the max pooling after
it), then fully connected layers, each dense or sparse (their stored weights in
``conv_tiles``' tiles where they keep few, ``sparse_pooled``'s with a pooling,
``sparse_blocked``'s in the fully connected layers) - split
over Numba's pool on more threads than one: each thread takes its part of the samples
through every layer.

Two threads on one batch can share the work two ways. Each layer's rows split between them
needs a start of the pool per layer, and every layer's input crosses from the core that
wrote half of it to the core that reads all of it: LeNet-300-100 at batch 64 ran 1.34x as
fast on two threads as on one that way. Split by samples, the layers need nothing from each
other's part: one start of the pool, each thread transposing its samples into its own
scratch (feature-major, ``layout.transpose``), running every layer's register tiles on them
(``tiles.conv_tiles``; a convolution and its pooling in one pass, ``pooled``; a fully
connected layer twelve rows at a time, ``linear_rows``), transposing
its outputs back into its rows of the result - the activations never leave the core (1.74x
there). Copies of the plan's steps on Python threads did the same with a thread pool's round
trip (60-85 us on this kind of machine, where Numba's OpenMP pool starts in a few) and the
interpreter's lock handed over between every step. On one thread the same call takes the
whole batch (``chain_whole``): none of the steps' Python between the layers.
"""
from __future__ import annotations

import math

import numpy as np
from numba import prange

from ..jit import njit
from .. import vec
from ..sparse.conv_tiles import conv_sparse_groups, conv_sparse_groups_numpy, grouped_entries
from ..sparse.csr import CSR
from .fm_kernels import pad_into
from .batch_layers import FIELDS, layers
from .fm_step import aligned
from .layout import transpose
from .linear_rows import ROWS, linear_rows, rows12
from .lower import Flatten, Pool, Weighted
from .pooled import conv_tiles_maxpool
from .sparse_pooled import conv_sparse_groups_maxpool
from .sparse_blocked import BLOCK, blocked, linear_sparse_blocked
from .tiles import conv_tiles, conv_tiles_numpy, filters8

# geometry of a convolution, one row each: output channels, kernel, stride, padding, pooling
# (1: none), ReLU (0 or 1)
OUT, K, STRIDE, PAD, POOL, RELU = range(6)


@njit(cache=True, nogil=True)
def _run(x, s0, s1, layers, a, b, wide, pads, out):
    """Samples s0 .. s1 - 1 of x through the ``layers`` (``batch_layers.Layers``), a and b
    their two scratch buffers (wide a third: a grouped sparse convolution's sums before its
    pooling), pads (layers, size) the padded inputs' (zeros but where the image is
    written)."""
    m = s1 - s0
    if m == 0:
        return
    image, geometry, rows = layers.image, layers.geometry, layers.rows
    convs, conv_biases, conv_values = layers.convs, layers.conv_biases, layers.conv_values
    conv_indptrs, conv_offsets = layers.conv_indptrs, layers.conv_offsets
    filters, indptrs, indices, values = (layers.filters, layers.indptrs, layers.indices,
                                         layers.values)
    biases, relus = layers.biases, layers.relus
    c, h, w = image[0], image[1], image[2]
    f = c * h * w
    transpose(x[s0:s1], a[:f * m].reshape(f, m))
    for layer in range(len(geometry)):
        g = geometry[layer]
        p, k, stride = g[PAD], g[K], g[STRIDE]
        xp = a[:f * m].reshape(c, h, w, m)
        if p:
            xp = pad_into(xp, p, pads[layer][:c * (h + 2 * p) * (w + 2 * p) * m].reshape(
                c, h + 2 * p, w + 2 * p, m))
        oh, ow = (h + 2 * p - k) // stride + 1, (w + 2 * p - k) // stride + 1
        c, pool, relu = g[OUT], g[POOL], g[RELU] == 1
        h, w = oh // pool, ow // pool
        y = b[:c * h * w * m].reshape(c, h, w, m)
        indptr, bases, weights = conv_indptrs[layer], conv_offsets[layer], conv_values[layer]
        if len(indptr):                         # a sparse layer: its stored weights' tiles
            offsets = bases * m                 # (flat offsets in this run's padded input)
            if pool > 1:
                sums = wide[:c * h * w * pool * pool * m].reshape(c, h * pool, w * pool, m)
                conv_sparse_groups_maxpool(xp, indptr, offsets, weights, conv_biases[layer],
                                           k, stride, relu, pool, sums, y)
            else:
                conv_sparse_groups(xp, indptr, offsets, weights, conv_biases[layer], stride,
                                   relu, y)
        elif pool > 1:
            conv_tiles_maxpool(xp, convs[layer], conv_biases[layer], stride, relu, pool, y)
        else:
            conv_tiles(xp, convs[layer], conv_biases[layer], stride, relu, y)
        f = c * h * w
        a, b = b, a
    for layer in range(len(rows)):
        r = rows[layer]
        if len(indptrs[layer]):                 # a sparse layer: its stored weights' tiles
            linear_sparse_blocked(indptrs[layer], indices[layer], values[layer],
                                  a[:f * m].reshape(f, m), biases[layer], relus[layer],
                                  b[:r * m].reshape(r, m))
        else:
            linear_rows(a[:f * m].reshape(f, m), filters[layer], biases[layer], relus[layer],
                        b[:r * m].reshape(r, m))
        a, b, f = b, a, r
    transpose(a[:f * m].reshape(f, m), out[s0:s1])


@njit(cache=True, parallel=True)
def chain_split(x, layers, scratch, pads, out):
    """out (N, rows[-1]) = the ``layers`` (``batch_layers.Layers``; its fields below) applied
    to x (N, C·H·W), ``image`` (C, H, W): first the
    convolutions - layer l the register tiles of ``convs[l]`` (``tiles.filters8``),
    ``conv_biases[l]`` (empty: none), its ``geometry[l]`` (``OUT``, ``K``, ``STRIDE``,
    ``PAD``, ``POOL``, ``RELU``), or where ``conv_indptrs[l]`` (groups, OC + 1) is not
    empty its stored weights in groups of input channels (``conv_tiles.grouped``;
    ``conv_offsets[l]``: each one's offset per sample in the padded input;
    ``conv_values[l]``) in ``conv_tiles``' tiles (``sparse_pooled``'s with a pooling) -
    then the fully connected layers: ``filters[l]`` (``linear_rows.rows12`` of the (rows[l],
    F_l) weight) or, where ``indptrs[l]`` is not empty, the stored weights in blocks of inputs
    (``sparse_blocked.blocked``: ``indptrs[l]`` (blocks, rows + 1), ``indices[l]``,
    ``values[l]``) in ``sparse_blocked``'s tiles, ``biases[l]``, ReLU where ``relus[l]``.
    The samples in len(scratch) runs, one per thread of Numba's pool; ``scratch`` (runs, 3,
    width): each run's two feature-major buffers and its sparse convolutions' sums before
    the pooling; ``pads`` (runs, convolutions, size): its padded inputs,
    zeros where no image is written."""
    n, parts = len(x), len(scratch)
    for p in prange(parts):
        _run(x, p * n // parts, (p + 1) * n // parts, layers, scratch[p, 0], scratch[p, 1],
             scratch[p, 2], pads[p], out)
    return out


@njit(cache=True, nogil=True)
def chain_whole(x, layers, scratch, pads, out):
    """``chain_split`` on the calling thread alone: the whole batch as one run."""
    _run(x, 0, len(x), layers, scratch[0, 0], scratch[0, 1], scratch[0, 2], pads[0], out)
    return out


def chain_split_numpy(x, layers, scratch, pads, out):
    """``chain_split`` (and ``chain_whole``) in NumPy: the layers on the whole batch
    (``layers``: anything with the fields ``batch_layers.FIELDS`` names - a ``BatchChain``;
    the compiled call's StructRef does not show them to Python)."""
    n = len(x)
    (image, convs, conv_biases, geometry, conv_indptrs, conv_offsets, conv_values, filters,
     indptrs, indices, values, biases, relus, rows) = (getattr(layers, f) for f in FIELDS)
    h = x.T.reshape(*image, n)
    for layer, g in enumerate(geometry):
        xp = np.pad(h, ((0, 0), (g[PAD], g[PAD]), (g[PAD], g[PAD]), (0, 0)))
        oh = (xp.shape[1] - g[K]) // g[STRIDE] + 1
        ow = (xp.shape[2] - g[K]) // g[STRIDE] + 1
        y = np.empty((g[OUT], oh, ow, n), x.dtype)
        if len(conv_indptrs[layer]):
            conv_sparse_groups_numpy(xp, conv_indptrs[layer], conv_offsets[layer] * n,
                                     conv_values[layer], conv_biases[layer], g[STRIDE],
                                     g[RELU] == 1, y)
        else:
            conv_tiles_numpy(xp, convs[layer], conv_biases[layer], g[STRIDE], g[RELU] == 1, y)
        q = g[POOL]
        h = y[:, :oh // q * q, :ow // q * q].reshape(
            g[OUT], oh // q, q, ow // q, q, n).max(axis=(2, 4))
    h = h.reshape(math.prod(h.shape[:-1]), n)
    for w12, indptr, cols, vals, bias, relu, r in zip(filters, indptrs, indices, values,
                                                      biases, relus, rows):
        if len(indptr):
            w = np.zeros((r, len(h)), x.dtype)
            for k in range(len(indptr)):
                w[np.repeat(np.arange(r), np.diff(indptr[k])),
                  cols[indptr[k, 0]:indptr[k, -1]]] = vals[indptr[k, 0]:indptr[k, -1]]
        else:
            w = w12.transpose(0, 2, 1).reshape(-1, w12.shape[1])[:r]
        h = w @ h + (bias[:, None] if len(bias) else 0)
        h = np.maximum(h, 0) if relu else h
    out[...] = h.T
    return out


class BatchChain:
    """The lowered ops of a plain stack (``fits``) run on a batch in one compiled call:
    ``chain(x, parts)`` for x (N, ...), on ``parts`` threads of Numba's pool or (1) on the
    calling thread alone."""

    def __init__(self, ops, image, dtype):
        self.dtype = np.dtype(dtype)
        convs, fcs, pools = _layers(ops)
        d = self.dtype
        self.conv_biases = tuple(_bias(op, d) for op in convs)
        self.geometry = np.array([(op.weight.shape[0], *op.conv, pool, op.activation == "ReLU")
                                  for op, pool in zip(convs, pools)], np.int64).reshape(-1, 6)
        self.image = np.array(image, np.int64)         # the input's (C, H, W), or (F, 1, 1)
        shapes = [padded for padded, _ in self._walk()]
        stored = [_sparse(op, CONV_SPARSE_BELOW[pool > 1, shape[0] == 1])
                  for op, pool, shape in zip(convs, pools, shapes)]
        self.convs = tuple(np.zeros((0, 0, 1, 1, 8), d) if csr is not None else
                           filters8(np.asarray(op.dense, d), op.conv[0], shape[0])
                           for op, csr, shape in zip(convs, stored, shapes))
        # stored weights in groups of input channels as large as a whole tile of samples
        # allows, their offsets per sample (the run multiplies them by its batch)
        groups = [None if csr is None else
                  grouped_entries(csr.indptr, csr.indices, op.conv[0], (*shape, 1), op.conv[1],
                                  d, 4 * vec.lanes(d))
                  for op, csr, shape in zip(convs, stored, shapes)]
        self.conv_indptrs = tuple(np.zeros((0, 0), np.int64) if g is None else g[0]
                                  for g in groups)
        self.conv_offsets = tuple(np.zeros(0, np.int64) if g is None else g[1] for g in groups)
        self.conv_values = tuple(np.zeros(0, d) if csr is None else csr.values[g[2]].astype(d)
                                 for csr, g in zip(stored, groups))
        sparse = [_sparse(op, SPARSE_BELOW) for op in fcs]
        wide = any(op.weight.shape[1] > 1 << 16 for op in fcs)
        index = np.int64 if wide else np.uint16
        self.filters = tuple(np.zeros((0, 0, ROWS), d) if csr is not None else
                             rows12(op.dense, d) for op, csr in zip(fcs, sparse))
        stored = [None if csr is None else
                  blocked(csr.indptr, csr.indices.astype(index), csr.values.astype(d),
                          csr.shape[1], _block(csr)) for csr in sparse]
        self.indptrs = tuple(np.zeros((0, 0), np.int64) if s is None else s[0] for s in stored)
        self.indices = tuple(np.zeros(0, index) if s is None else s[1] for s in stored)
        self.values = tuple(np.zeros(0, d) if s is None else s[2] for s in stored)
        self.biases = tuple(_bias(op, d) for op in fcs)
        self.relus = np.array([op.activation == "ReLU" for op in fcs])
        self.rows = np.array([op.weight.shape[0] for op in fcs], np.int64)
        if not self.convs:                         # (Numba's tuples: one of the type at least)
            self.convs, self.conv_biases = (np.zeros((0, 0, 0, 0, 8), d),), (np.zeros(0, d),)
            self.conv_indptrs = (np.zeros((0, 0), np.int64),)
            self.conv_offsets = (np.zeros(0, np.int64),)
            self.conv_values = (np.zeros(0, d),)
        self.in_features = math.prod(image)
        self.layers = layers(*(getattr(self, name) for name in FIELDS))   # (one argument)
        self._width = int(self.rows[-1])
        self._sizes = self._activations()
        self._scratch = {}                            # (parts, batch) -> buffers

    def _walk(self):
        """Per convolution, its padded input (C, Hp, Wp) and its output before the pooling
        (OC, OH, OW)."""
        c, h, w = self.image
        shapes = []
        for out, k, stride, p, pool, _ in self.geometry:
            oh, ow = (h + 2 * p - k) // stride + 1, (w + 2 * p - k) // stride + 1
            shapes.append(((c, h + 2 * p, w + 2 * p), (out, oh, ow)))
            c, h, w = out, oh // pool, ow // pool
        return shapes

    def _activations(self):
        """(the largest activation per sample, each padded input's size per sample)."""
        walk = self._walk()
        largest = max(math.prod(self.image), *(math.prod(out) for _, out in walk), *self.rows)
        pads = [math.prod(padded) if g[PAD] else 0 for (padded, _), g in zip(walk, self.geometry)]
        return largest, pads

    @staticmethod
    def fits(ops):
        """Whether the ops are a plain stack the chain runs: convolutions, dense or sparse
        (ReLU or no activation, no groups), each followed or not by a max pooling of stride
        its size, then Flatten, then fully connected layers, dense or sparse (ReLU or none);
        or fully connected layers alone."""
        try:
            _layers(ops)
        except ValueError:
            return False
        return True

    def __call__(self, x, parts):
        """x (N, ...) -> (N, rows[-1]), a new array."""
        n = len(x)
        x = np.ascontiguousarray(x, self.dtype).reshape(n, self.in_features)
        scratch, pads = self._buffers(parts, n)
        run = chain_split if parts > 1 else chain_whole
        return run(x, self.layers, scratch, pads, np.empty((n, self._width), self.dtype))

    def _buffers(self, parts, n):
        """Each run's scratch, a cache line apart, and its padded inputs: kept per batch
        size, so that what is not image in a padded input is always the zeros it began as."""
        buffers = self._scratch.get((parts, n))
        if buffers is None:
            longest, line = -(-n // parts), vec.lanes(self.dtype)
            largest, pads = self._sizes
            width = -(-largest * longest // line) * line
            pad = max([1, *pads]) * longest
            buffers = self._scratch[parts, n] = (aligned((parts, 3, width), self.dtype),
                                                 aligned((parts, max(len(pads), 1), pad),
                                                         self.dtype, zero=True))
        return buffers

    def __repr__(self):
        return (f"BatchChain({len(self.geometry)} convolutions, {len(self.filters)} fully "
                f"connected layers)")


def _bias(op, dtype):
    return np.zeros(0, dtype) if op.bias is None else np.ascontiguousarray(op.bias, dtype)


SPARSE_BELOW = 0.45    # density under which a fully connected layer runs its stored weights
BLOCKS_FROM = 0.2      # and from which in blocks of inputs (``sparse_blocked``), not at once
# (random weights at batch 64, one thread, against the dense tiles: 784 -> 300 at 10% 47.6 us
# at once, 57.5 in blocks, dense 187; at 30% 154, 128, 179; at 45% 232, 178, 170 - 300 ->
# 100 at 45%: 23, 21, 25. Each stored weight loads its inputs for one row, a dense tile's for
# eight; in blocks they come from the first-level cache, at a cost per block and row. Against
# the twelve-row tiles, ``linear_rows``, in turns: 784 -> 300 in blocks at 30% / 42% / 50%
# 105 / 144 / 174 us, dense 143-149; 300 -> 100 18.3 / 21.2 us at 42% / 50%, dense 20.9)


def _block(csr):
    """Inputs per block for a sparse layer's weights: ``BLOCK`` from ``BLOCKS_FROM`` of the
    weights on, all of them (one block) below."""
    return BLOCK if csr.nnz >= BLOCKS_FROM * math.prod(csr.shape) else max(1, csr.shape[1])


# A convolution runs its stored weights (``conv_tiles``, ``sparse_pooled``) below these
# densities, its dense filters (``tiles``, ``pooled``) above: (with a pooling after it, one
# input channel) -> density. Measured at batch 16 / 32 / 48 / 64, one thread, in turns, on
# random 5 x 5 filters, dense time / sparse time: 20 -> 50 channels at 12 x 12 pooled, 70%
# 1.28 / 1.19 / 0.96 / 1.08, 80% 1.14 / 0.97 / 0.85 / 0.96; 1 -> 20 channels at 28 x 28
# pooled (LeNet-5's first, which keeps 83% at 90% by global magnitude) 80% 1.17 / 1.17 /
# 1.05 / 1.18, 90% 1.08 / 1.05 / 0.97 / 1.07; without the pooling, batch 64, 60% 1.12 / 1.23
# and 70% 0.97 / 1.06 (1 -> 20, 20 -> 50), 6 -> 16 channels at 14 x 14 1.09 and 0.95.
CONV_SPARSE_BELOW = {(True, True): 0.85, (True, False): 0.7, (False, True): 0.65,
                     (False, False): 0.65}


def _sparse(op, below):
    """The op's weight as CSR where it runs as one (keeping under ``below`` of its weights),
    else None (dense, or densified)."""
    if isinstance(op.weight, np.ndarray):
        return None
    csr = op.weight if isinstance(op.weight, CSR) else op.weight.to_csr()
    return csr if len(csr.values) < below * csr.shape[0] * csr.shape[1] else None


def _takes(op, conv):
    """Whether op is a convolution (``conv``) or fully connected layer the chain runs: dense
    or sparse (CSR, N:M - densified where they keep many weights), no groups."""
    return (isinstance(op, Weighted) and op.groups == 1 and (op.conv is not None) == conv
            and op.activation in (None, "ReLU"))


def _layers(ops):
    """(convolutions, fully connected ops, each convolution's pooling (1: none)) of a plain
    stack; ValueError for anything else."""
    convs, pools, i = [], [], 0
    while i < len(ops) and _takes(ops[i], conv=True):
        convs.append(ops[i])
        pool = ops[i + 1] if i + 1 < len(ops) else None
        fused = (isinstance(pool, Pool) and pool.kind == "max" and not pool.padding
                 and pool.stride in (None, pool.kernel_size))
        pools.append(pool.kernel_size if fused else 1)
        i += 2 if fused else 1
    if i < len(ops) and isinstance(ops[i], Flatten):
        i += 1
    elif convs:
        raise ValueError("no Flatten after the convolutions")
    fcs = ops[i:]
    if not fcs or not all(_takes(op, conv=False) for op in fcs):
        raise ValueError("not a plain stack of layers")
    return convs, fcs, pools
