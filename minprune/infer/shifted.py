"""One sample's stride-1 convolution over k shifted copies of its input: every tap's window
is one contiguous run, so each stored weight is one multiply-add over whole registers.

A stride-1 convolution of an image (C, H, W) by k x k filters reads, for the tap (c, i, j),
the window x[c, i:i + OH, j:j + OW]: OH runs of OW numbers, one per output row. Copy the
input k times, the j-th copy shifted left by j columns and cut to OW columns
(``shift_copies``: xs[j, c, r, q] = the padded x[c, r, j + q]); then the window of (c, i, j)
is xs[j, c, i:i + OH, :], which is OH·OW numbers *in a row* - exactly the layout of one output
channel's image (OH, OW). k copies, where im2col makes k·k; no throw-away pixels, where the
"wide" rows of ``sparse_tiles.conv_sparse_pixels`` compute Wp - OW of every Wp.

``conv_shifted`` then sums, per output channel, its stored weights times their windows in
registers: a tile is four registers of output pixels, and per stored weight (a number and
the offset of its window, ``entries``) four loads and four multiply-adds, all of them used.
Bias and ReLU are added as the tile is stored. Dense weights run the same kernel with every
weight stored. ``conv_shifted_numpy`` is the twin.
"""
from __future__ import annotations

import numpy as np

from ..jit import njit
from .. import vec
from .sparse_tiles import _row_sums


def copies_shape(c_in, h, w, k, pad):
    """The shape (k, C, Hp, OW) of the shifted copies of a (C, H, W) input."""
    return k, c_in, h + 2 * pad, w + 2 * pad - k + 1


def entries(csr_indices, k, c_in, hp, ow):
    """The flat offset in the copies (k, C, Hp, OW) of each stored weight's window, from its
    column in the lowered (out, k·k·C) weight (columns ordered kh, kw, C)."""
    col = np.asarray(csr_indices, dtype=np.int64)
    tap, c = np.divmod(col, c_in)
    i, j = np.divmod(tap, k)
    return ((j * c_in + c) * hp + i) * ow


@njit(cache=True, nogil=True)
def shift_copies(x, pad, out):
    """out (k, C, Hp, OW)[j, c, r, q] = x (C, H, W) padded by ``pad`` at (c, r, j + q). Only
    the numbers that come from x are written: out must start as zeros (the rest stay so)."""
    k, c_in, hp, ow = out.shape
    h, w = x.shape[1], x.shape[2]
    xf, of = x.reshape(-1), out.reshape(-1)
    lanes = vec.width(xf)
    for j in range(k):
        lo = max(0, pad - j)                  # output columns whose source lies inside x
        hi = min(ow, w + pad - j)
        for c in range(c_in):
            for r in range(h):
                src = (c * h + r) * w + j - pad
                dst = ((j * c_in + c) * hp + r + pad) * ow
                for q in range(lo, hi, lanes):        # a register at a time
                    vec.store(of, dst + q, vec.load(xf, src + q, hi - q), hi - q)
    return out


def shift_copies_numpy(x, pad, out):
    """``shift_copies`` as slices."""
    k, c_in, hp, ow = out.shape
    w = x.shape[2]
    for j in range(k):
        lo, hi = max(0, pad - j), min(ow, w + pad - j)
        out[j, :, pad:pad + x.shape[1], lo:hi] = x[:, :, lo + j - pad:hi + j - pad]
    return out


@njit(cache=True, nogil=True)
def conv_shifted(xs, indptr, offsets, values, bias, relu, out):
    """out (OC, OH, OW) = the stride-1 convolution whose shifted copies are xs (k, C, Hp,
    OW): output channel o's stored weights are values[indptr[o]:indptr[o + 1]], each window
    starting at flat ``offsets`` (``entries``); plus bias (if given), then ReLU."""
    k, _, hp, ow = xs.shape
    if out.shape[1] != hp - k + 1 or out.shape[2] != ow:
        raise ValueError("conv_shifted: out must be (OC, Hp - k + 1, OW) of the copies")
    xf, of = xs.reshape(-1), out.reshape(-1)
    lanes = vec.width(xf)
    n_out = out.shape[0]
    span = of.size // n_out if n_out else 0
    for o in range(n_out):
        e0, e1 = indptr[o], indptr[o + 1]
        b = bias[o] if len(bias) else 0.0
        for t0 in range(0, span, 4 * lanes):
            m = span - t0
            if m >= 4 * lanes:                         # whole registers: plain loads
                s = _row_sums(xf, offsets, values, e0, e1, t0, 1, lanes, 4 * lanes)
            else:
                s = _row_sums(xf, offsets, values, e0, e1, t0, 1, lanes, m)
            for r in range(4):
                vec.store(of, o * span + t0 + r * lanes, vec.bias_act(s[r], b, relu),
                          m - r * lanes)
    return out


def conv_shifted_numpy(xs, indptr, offsets, values, bias, relu, out):
    """``conv_shifted`` in NumPy: each stored weight times its window of the copies."""
    flat = xs.reshape(-1)
    n_out = out.shape[0]
    span = out.size // n_out if n_out else 0
    y = np.zeros((n_out, span), dtype=np.result_type(xs, values))
    for o in range(n_out):
        for e in range(indptr[o], indptr[o + 1]):
            y[o] += values[e] * flat[offsets[e]:offsets[e] + span]
    if len(bias):
        y += bias[:, None]
    out[...] = (np.maximum(y, 0) if relu else y).reshape(out.shape)
    return out
