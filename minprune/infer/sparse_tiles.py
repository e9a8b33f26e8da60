"""Sparse register tiles on the feature-major layout: at one sample a convolution's stored
weights along the padded rows, and a fully connected layer's on a batch. Numba kernels on SIMD
registers (``vec``), each with a NumPy twin. The batch's convolution tiles, which training
runs too, are ``sparse.conv_tiles``'.

At one sample (``conv_sparse_pixels``, stride 1) the registers hold pixels: a tile is one
output channel at four registers of pixels along the padded ("wide") rows, where a tap's
window is one contiguous run of the input; per stored weight, four loads and four
multiply-adds.

A fully connected layer's sparse weight is the batch's walk over a 1x1 image
(``linear_sparse_tiles``: one output row at four registers of samples).
"""
from __future__ import annotations

import numpy as np

from ..jit import njit
from .. import vec
from ..sparse.conv_tiles import _four
from ..vec import fma, get


@njit(inline="always")
def _row_sums(xf, offsets, values, e0, e1, at, scale, lanes, m):
    """Four registers of sums along a run of the input: the stored weights e0..e1, weight e
    at flat at + offsets[e]·scale, the first m numbers of the run."""
    z = vec.zero(xf)
    s = (z, z, z, z)
    for e in range(e0, e1):
        x = _four(xf, at + np.int64(get(offsets, e)) * scale, lanes, m, m - lanes,
                  m - 2 * lanes, m - 3 * lanes)
        v = get(values, e)
        s = (fma(x[0], v, s[0]), fma(x[1], v, s[1]), fma(x[2], v, s[2]), fma(x[3], v, s[3]))
    return s


@njit(cache=True, nogil=True)
def conv_sparse_pixels(xp, indptr, offsets, values, bias, relu, wide, out):
    """``conv_sparse_tiles`` for one sample and stride 1: a tile is one output channel at
    four registers of pixels along the *wide* output (every pixel of a padded row, as
    ``direct_dense`` makes it: the window of a tap is then one run of the input), summed in
    registers into ``wide`` (at least (OH - 1)·Wp + OW numbers) and narrowed into out (OC,
    OH, OW, 1) with bias and ReLU."""
    c_in, hp, wp, n = xp.shape
    n_out, oh, ow, _ = out.shape
    xf, of = xp.reshape(-1), out.reshape(-1)
    if n != 1:
        raise ValueError("conv_sparse_pixels: one sample")
    lanes = vec.width(xf)
    span = (oh - 1) * wp + ow
    for o in range(n_out):
        e0, e1 = indptr[o], indptr[o + 1]
        for t0 in range(0, span, 4 * lanes):
            m = span - t0
            if m >= 4 * lanes:                         # whole registers: plain loads
                s = _row_sums(xf, offsets, values, e0, e1, t0, 1, lanes, 4 * lanes)
            else:
                s = _row_sums(xf, offsets, values, e0, e1, t0, 1, lanes, m)
            for r in range(4):
                vec.store(wide, t0 + r * lanes, s[r], m - r * lanes)
        b = bias[o] if len(bias) else 0.0
        for y in range(oh):                    # each row's first OW sums, a register at a time
            src, dst = y * wp, (o * oh + y) * ow
            for x in range(0, ow, lanes):
                vec.store(of, dst + x, vec.bias_act(vec.load(wide, src + x, ow - x), b, relu),
                          ow - x)
    return out


@njit(inline="always")
def _pair_sums(xf, offsets, values, e0, e1, at, scale, lanes, m):
    """``_row_sums`` on two registers: the first m (at most two registers') numbers."""
    z = vec.zero(xf)
    s0, s1 = z, z
    for e in range(e0, e1):
        a = at + np.int64(get(offsets, e)) * scale
        v = get(values, e)
        s0 = fma(vec.load(xf, a, m), v, s0)
        s1 = fma(vec.load(xf, a + lanes, m - lanes), v, s1)
    return s0, s1


@njit(cache=True, nogil=True)
def linear_sparse_tiles(indptr, indices, values, xt, bias, relu, out):
    """out (rows, N) = W @ xt (in, N) for W in CSR, plus bias (if given), then ReLU: a tile is
    one output row at four registers of samples, its sums in registers while the row's
    stored weights stream past (per weight, one number and one index read for four loads of
    inputs and four multiply-adds). Where what is left of the batch fits in two registers,
    the tile is two registers wide (a batch of 32 float32 samples: twice as fast as in a tile
    of four, half of whose loads and multiply-adds had no samples - LeNet-300-100's first
    layer at 90%, 40 against 84 us)."""
    n = xt.shape[1]
    xf, of = xt.reshape(-1), out.reshape(-1)
    lanes = vec.width(xf)
    for o in range(len(indptr) - 1):
        e0, e1 = indptr[o], indptr[o + 1]
        b = bias[o] if len(bias) else 0.0
        for n0 in range(0, n, 4 * lanes):             # (input i's samples: i·N on)
            m = n - n0
            if m <= 2 * lanes:                         # the batch's last two registers
                s0, s1 = _pair_sums(xf, indices, values, e0, e1, n0, n, lanes, m)
                vec.store(of, o * n + n0, vec.bias_act(s0, b, relu), m)
                vec.store(of, o * n + n0 + lanes, vec.bias_act(s1, b, relu), m - lanes)
                continue
            if m >= 4 * lanes:                         # whole registers: plain loads
                s = _row_sums(xf, indices, values, e0, e1, n0, n, lanes, 4 * lanes)
            else:
                s = _row_sums(xf, indices, values, e0, e1, n0, n, lanes, m)
            for r in range(4):
                vec.store(of, o * n + n0 + r * lanes, vec.bias_act(s[r], b, relu),
                          m - r * lanes)
    return out


def linear_sparse_tiles_numpy(indptr, indices, values, xt, bias, relu, out):
    """``linear_sparse_tiles`` in NumPy: the stored weights of each row times their inputs."""
    y = np.zeros(out.shape, dtype=np.result_type(xt, values))
    for o in range(len(indptr) - 1):
        cols = np.asarray(indices[indptr[o]:indptr[o + 1]], dtype=np.int64)
        y[o] = values[indptr[o]:indptr[o + 1]] @ xt[cols]
    if len(bias):
        y += bias[:, None]
    out[...] = np.maximum(y, 0) if relu else y
    return out
