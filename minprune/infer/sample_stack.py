"""A plain stack's convolutions for one sample in one compiled call, each in the way its step
chose, with the max pooling after it: the fully connected chain's input in one call.

At one sample the feature-major steps run each convolution and pooling from Python, a Numba
dispatch per kernel and a buffer per step between them: LeNet-5's sample took 100-109 us
through the plan that way (its two convolutions and poolings 52 us in their kernels, its fully
connected layers 22-30 in their one call), 84-87 with the convolutions in one call too. Once
the first call has chosen each convolution's way, ``SampleStack`` writes the layers down as
rows of a table and ``run`` carries them out in one call:

- ``SHIFTED``: k shifted copies of the input (``shifted.shift_copies``), each stored weight
  a multiply-add over one run of them (``shifted.conv_shifted``; dense weights store them
  all);
- ``PIXELS``: the padded input (``fm_kernels.pad_into``) in register tiles of output
  channels at eight pixels (``tiles.conv_pixels``), on the dense weight - also the way of a
  convolution whose step chose another (BLAS's products cannot run inside the call);
- ``SPARSE_PIXELS``: the padded input's stored weights along its padded rows
  (``sparse_tiles.conv_sparse_pixels``);

then the max pooling (``fm_kernels.pool_tiled``, or ``pool`` where the windows do not tile
the image). Every buffer lies in one array (``arena``: shifted copies and padded inputs are
zeros but where the image is written, so each has its own place), every weight and bias in
another, every index in a third, at offsets a cache line apart: the call takes six arrays.
``run_numpy`` is the twin. The plan times the call against its steps on the first call and
keeps the faster.
"""
from __future__ import annotations

import math

import numpy as np

from ..jit import njit
from .. import vec
from ..sparse import conv_tiles as CT
from . import fm_kernels as K
from . import shifted as SH
from . import sparse_tiles as S
from . import tiles as T
from .fm_conv import Conv
from .fmajor import PoolStep
from .fm_step import aligned

SHIFTED, PIXELS, SPARSE_PIXELS = range(3)
NAMES = {SHIFTED: "shifted copies", PIXELS: "tiles of pixels",
         SPARSE_PIXELS: "stored weights along the rows"}
# a layer's row: its kind and geometry (input C, H, W; output channels, kernel, stride,
# padding, pooling (1: none), ReLU), then where its arrays start: in the arena its source
# (shifted copies or padded input), its output, the sums along wide rows, its pooled
# output; in ``ints`` its stored weights' row pointers and offsets; in ``weights`` their
# numbers, its filters in tiles of pixels, its bias (and the bias's length)
KIND, C, H, W, OUT, KSIZE, STRIDE, PAD, POOL, RELU, SRC, CONV, WIDE, POOLED, INDPTR, \
    OFFSETS, VALUES, FILTERS, BIAS, N_BIAS = range(20)
FIELDS = 20
ALIGN = 16                                   # numbers between offsets: a cache line or more


@njit(inline="always")
def _geometry(t):
    """(OH, OW, Hp, Wp) of a layer's row."""
    hp, wp = t[H] + 2 * t[PAD], t[W] + 2 * t[PAD]
    return ((hp - t[KSIZE]) // t[STRIDE] + 1, (wp - t[KSIZE]) // t[STRIDE] + 1, hp, wp)


@njit(cache=True, nogil=True)
def run(table, ints, weights, arena, x, out):
    """The layers of ``table`` (see the module docstring) on one sample x (C·H·W numbers,
    channels first): out (F,) the last layer's output, flat in (C, H, W) order."""
    lanes = vec.width(arena)
    cur, size = x, x.size
    for i in range(len(table)):
        t = table[i]
        c, h, w, oc, k, p = t[C], t[H], t[W], t[OUT], t[KSIZE], t[PAD]
        oh, ow, hp, wp = _geometry(t)
        image = cur[:c * h * w].reshape((c, h, w, 1))
        y = arena[t[CONV]:t[CONV] + oc * oh * ow].reshape((oc, oh, ow, 1))
        bias = weights[t[BIAS]:t[BIAS] + t[N_BIAS]]
        relu = t[RELU] == 1
        if t[KIND] == SHIFTED:
            span = w + 2 * p - k + 1
            xs = arena[t[SRC]:t[SRC] + k * c * hp * span].reshape((k, c, hp, span))
            SH.shift_copies(image.reshape((c, h, w)), p, xs)
            e = ints[t[INDPTR] + oc]
            SH.conv_shifted(xs, ints[t[INDPTR]:t[INDPTR] + oc + 1],
                            ints[t[OFFSETS]:t[OFFSETS] + e], weights[t[VALUES]:t[VALUES] + e],
                            bias, relu, y.reshape((oc, oh, ow)))
        else:
            xp = arena[t[SRC]:t[SRC] + c * hp * wp].reshape((c, hp, wp, 1))
            K.pad_into(image, p, xp)
            if t[KIND] == PIXELS:
                g = -(-oc // lanes)
                filters = weights[t[FILTERS]:t[FILTERS] + g * c * k * k * lanes]
                T.conv_pixels(xp, filters.reshape((g, c, k, k, lanes)), bias, t[STRIDE],
                              relu, y)
            else:
                e = ints[t[INDPTR] + oc]
                wide = arena[t[WIDE]:t[WIDE] + oh * wp + 4 * lanes]
                S.conv_sparse_pixels(xp, ints[t[INDPTR]:t[INDPTR] + oc + 1],
                                     ints[t[OFFSETS]:t[OFFSETS] + e],
                                     weights[t[VALUES]:t[VALUES] + e], bias, relu, wide, y)
        q = t[POOL]
        if q > 1:
            pooled = arena[t[POOLED]:t[POOLED] + oc * (oh // q) * (ow // q)].reshape(
                (oc, oh // q, ow // q, 1))
            if oh % q == 0 and ow % q == 0:
                K.pool_tiled(y, q, True, pooled)
            else:
                K.pool(y, q, q, 0, True, pooled)
            cur, size = pooled.reshape(-1), pooled.size
        else:
            cur, size = y.reshape(-1), y.size
    out[:size] = cur[:size]


def run_numpy(table, ints, weights, arena, x, out):
    """``run`` in NumPy: each layer from the same rows as a sum over its taps, then the
    pooling."""
    lanes = vec.lanes(weights.dtype)
    cur = np.asarray(x).reshape(-1)
    for t in table:
        c, h, w, oc, k, p, stride = t[C], t[H], t[W], t[OUT], t[KSIZE], t[PAD], t[STRIDE]
        oh, ow, hp, wp = _geometry(t)
        xp = np.pad(cur[:c * h * w].reshape(c, h, w), ((0, 0), (p, p), (p, p)))
        weight = _dense(t, ints, weights, c, oc, k, hp, wp, lanes)
        y = np.zeros((oc, oh, ow), weights.dtype)
        for ci in range(c):
            for i in range(k):
                for j in range(k):
                    window = xp[ci, i:i + stride * (oh - 1) + 1:stride,
                                j:j + stride * (ow - 1) + 1:stride]
                    y += weight[:, ci, i, j, None, None] * window
        if t[N_BIAS]:
            y += weights[t[BIAS]:t[BIAS] + oc, None, None]
        y = np.maximum(y, 0) if t[RELU] else y
        if t[POOL] > 1:
            y = K.pool_numpy(y[..., None], t[POOL], t[POOL], 0, True)[..., 0]
        cur = y.reshape(-1)
    out[:cur.size] = cur
    return out


def _dense(t, ints, weights, c, oc, k, hp, wp, lanes):
    """A layer's weight (OC, C, k, k) from its row: its tiles of pixels, or its stored weights
    (at their offsets in the shifted copies or the padded input)."""
    if t[KIND] == PIXELS:
        g = -(-oc // lanes)
        tiles = weights[t[FILTERS]:t[FILTERS] + g * c * k * k * lanes].reshape(g, c, k, k, lanes)
        return tiles.transpose(0, 4, 1, 2, 3).reshape(g * lanes, c, k, k)[:oc]
    indptr = ints[t[INDPTR]:t[INDPTR] + oc + 1]
    offsets = ints[t[OFFSETS]:t[OFFSETS] + indptr[-1]]
    values = weights[t[VALUES]:t[VALUES] + indptr[-1]]
    span = t[W] + 2 * t[PAD] - k + 1
    if t[KIND] == SHIFTED:                       # offset ((j·C + c)·Hp + i)·OW
        rest, i = np.divmod(offsets // span, hp)
        j, ci = np.divmod(rest, c)
    else:                                        # offset (c·Hp + i)·Wp + j
        rest, j = np.divmod(offsets, wp)
        ci, i = np.divmod(rest, hp)
    weight = np.zeros((oc, c, k, k), weights.dtype)
    rows = np.repeat(np.arange(oc), np.diff(indptr))
    np.add.at(weight, (rows, ci, i, j), values)
    return weight


class SampleStack:
    """``stack(x)`` for one sample x (1, C, H, W) -> its features (F,) after the
    convolutions (a view of the arena, valid until the next call)."""

    def __init__(self, steps, image, dtype):
        """``steps``: the head's feature-major steps (``fits``), each convolution's way at
        one sample chosen; ``image``: the input's (C, H, W)."""
        self.dtype = np.dtype(dtype)
        rows, ints, weights, sizes = [], [], [], []
        c, h, w = image
        for step in steps:
            if isinstance(step, PoolStep):
                continue                             # (run by the convolution before)
            row, layer_ints, layer_weights, buffers = _layer(step, (c, h, w), self.dtype)
            rows.append(row)
            ints.append(layer_ints)
            weights.append(layer_weights)
            sizes.append(buffers)
            c, h, w = row[OUT], *_pooled(row)
        self.kinds = [row[KIND] for row in rows]
        self.features = c * h * w
        self.table, self.ints, self.weights, self.arena = _pack(rows, ints, weights, sizes,
                                                                self.dtype)
        self._out = aligned((self.features,), self.dtype)

    @staticmethod
    def fits(steps):
        """Whether the steps are convolutions (ReLU or no activation), each followed or not
        by the max pooling it runs."""
        convs = [s for s in steps if isinstance(s, Conv)]
        pools = [s for s in steps if isinstance(s, PoolStep)]
        return (len(convs) + len(pools) == len(steps) and len(convs) > 0
                and all(s.activation in (None, "ReLU") for s in convs)
                and all(s.fused for s in pools))

    def __call__(self, x):
        run(self.table, self.ints, self.weights, self.arena,
            np.ascontiguousarray(x, self.dtype).reshape(-1), self._out)
        return self._out

    def __repr__(self):
        return f"SampleStack({' -> '.join(NAMES[k] for k in self.kinds)})"


def _kind(step):
    """The way a convolution's step runs one sample, as the call can run it."""
    sparse_way = step.ways.get(1) if step.sparse else None
    way = step.bands.get(1) if sparse_way in (None, "gemm") else sparse_way
    if way == "shifted" and step.stride == 1:
        return SHIFTED
    return SPARSE_PIXELS if sparse_way == "pixels" and step.stride == 1 else PIXELS


def _pooled(row):
    oh, ow, _, _ = _geometry(row)
    return oh // row[POOL], ow // row[POOL]


def _layer(step, image, dtype):
    """(row, its ints, its numbers, its buffers' sizes: source, output, wide, pooled)."""
    c, h, w = image
    kind, k, p = _kind(step), step.k, step.pad
    row = np.zeros(FIELDS, np.int64)
    row[[KIND, C, H, W, OUT, KSIZE, STRIDE, PAD, POOL, RELU]] = (
        kind, c, h, w, step.out_channels, k, step.stride, p, max(step.pool, 1), step.relu)
    oh, ow, hp, wp = _geometry(row)
    bias = np.asarray(step.bias, dtype)
    row[N_BIAS] = len(bias)
    indptr, indices, values = step.forms(c)[1]
    if kind == PIXELS:
        weight = step.forms(c)[0] if step.sparse else step.weight
        parts = [np.zeros(0, np.int64)], [np.zeros(0, dtype), T.filters_lanes(
            weight, k, c, dtype).reshape(-1), bias]
        source = c * hp * wp
    else:
        offsets = (SH.entries(indices, k, c, hp, ow) if kind == SHIFTED
                   else CT.entries(indices, k, c, hp, wp, 1))
        parts = ([np.asarray(indptr, np.int64), offsets],
                 [np.asarray(values, dtype), np.zeros(0, dtype), bias])
        source = k * c * hp * ow if kind == SHIFTED else c * hp * wp
    wide = oh * wp + 4 * vec.lanes(dtype) if kind == SPARSE_PIXELS else 0
    pooled = step.out_channels * math.prod(_pooled(row)) if row[POOL] > 1 else 0
    return row, parts[0], parts[1], (source, step.out_channels * oh * ow, wide, pooled)


def _pack(rows, ints, weights, sizes, dtype):
    """(table, ints, weights, arena): each layer's pieces placed ``ALIGN`` apart, the table's
    offset columns filled in."""
    table = np.array(rows, np.int64).reshape(-1, FIELDS)

    def place(groups, columns, flat_dtype, zero=False):
        at, starts = 0, []
        for group in groups:
            starts.append([])
            for piece in group:
                starts[-1].append(at)
                at += -(-max(len(piece) if hasattr(piece, "__len__") else piece, 1)
                        // ALIGN) * ALIGN
        flat = aligned((max(at, 1),), flat_dtype, zero=True)
        for i, group in enumerate(groups):
            for j, piece in enumerate(group):
                table[i, columns[j]] = starts[i][j]
                if hasattr(piece, "__len__"):
                    flat[starts[i][j]:starts[i][j] + len(piece)] = piece
        return flat

    ints_flat = place(ints, (INDPTR, OFFSETS), np.int64)
    weights_flat = place(weights, (VALUES, FILTERS, BIAS), dtype)
    arena = place(sizes, (SRC, CONV, WIDE, POOLED), dtype)
    return table, ints_flat, weights_flat, arena
