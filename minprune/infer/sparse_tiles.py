"""Sparse direct convolution in register tiles on the feature-major layout (C, H, W, N): only
the stored weights are multiplied, their sums held in registers. Numba kernels on SIMD
registers (``vec``), each with a NumPy twin (one sample's: ``conv_sparse_tiles_numpy``).

Park et al.'s direct sparse convolution (``direct``) applies each stored weight to a shifted
window of the input and adds into rows of sums in memory: per multiply-add a load and a store
of a sum beside the load of the input. Here a tile is one output channel at two output pixels
and four registers of samples (64 float32 samples, 32 float64): its eight sums stay in
registers while the kernel walks the channel's stored weights, each a number and the offset
of its (input channel, tap) in the padded input (the batch's last two registers or fewer in
a tile two registers wide: no loads and multiply-adds of samples that are not there). Per
weight, eight registers of input are loaded (four samples' registers at each pixel) for eight
fused multiply-adds and no store: half the memory traffic of the loop with sums in memory,
and none of it written. The tiles walk the output two pixels at a time and, at each pair,
every output channel, so the windows the pair reads stay in cache for all of them.

A fully connected layer's sparse weight is the same walk over a 1x1 image
(``linear_sparse_tiles``: one output row at four registers of samples).

At one sample (``conv_sparse_pixels``, stride 1) the registers hold pixels instead: a tile
is one output channel at four registers of pixels along the padded ("wide") rows, where a
tap's window is one contiguous run of the input; per stored weight, four loads and four
multiply-adds.

The weights come per output channel in CSR order (``entries``: the offsets depend on the
padded input's shape, so they are made per shape). A batch that is not a multiple of four
registers is loaded and stored in part (``vec.load``'s lane count), an odd last pixel of a row
is computed twice and stored once.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .. import vec
from ..vec import fma, get


def entries(csr_indices, k, c_in, hp, wp, n):
    """The flat offset in the padded input (C, Hp, Wp, N) of each stored weight, from its
    column in the lowered (out, k·k·C) weight (columns ordered kh, kw, C)."""
    col = np.asarray(csr_indices, dtype=np.int64)
    tap, c = np.divmod(col, c_in)
    i, j = np.divmod(tap, k)
    return ((c * hp + i) * wp + j) * n


@njit(inline="always")
def _four(xf, a, lanes, m0, m1, m2, m3):
    return (vec.load(xf, a, m0), vec.load(xf, a + lanes, m1),
            vec.load(xf, a + 2 * lanes, m2), vec.load(xf, a + 3 * lanes, m3))


@njit(inline="always")
def _sums(xf, offsets, values, e0, e1, at, second, lanes, m0, m1, m2, m3):
    """Eight sums: the stored weights e0..e1 at the pixels whose windows start at flat ``at``
    and ``at + second``, four registers of samples each."""
    z = vec.zero(xf)
    s = (z, z, z, z, z, z, z, z)
    for e in range(e0, e1):
        a = at + get(offsets, e)
        v = get(values, e)
        x = _four(xf, a, lanes, m0, m1, m2, m3)
        y = _four(xf, a + second, lanes, m0, m1, m2, m3)
        s = (fma(x[0], v, s[0]), fma(x[1], v, s[1]), fma(x[2], v, s[2]), fma(x[3], v, s[3]),
             fma(y[0], v, s[4]), fma(y[1], v, s[5]), fma(y[2], v, s[6]), fma(y[3], v, s[7]))
    return s


@njit(inline="always")
def _two_pixel_sums(xf, offsets, values, e0, e1, at, second, lanes, m):
    """``_sums`` on two registers of samples (the first m numbers): four sums."""
    z = vec.zero(xf)
    s = (z, z, z, z)
    for e in range(e0, e1):
        a = at + get(offsets, e)
        v = get(values, e)
        s = (fma(vec.load(xf, a, m), v, s[0]), fma(vec.load(xf, a + lanes, m - lanes), v, s[1]),
             fma(vec.load(xf, a + second, m), v, s[2]),
             fma(vec.load(xf, a + second + lanes, m - lanes), v, s[3]))
    return s


@njit(cache=True, nogil=True)
def conv_sparse_tiles(xp, indptr, offsets, values, bias, stride, relu, out):
    """out (OC, OH, OW, N) = the convolution at ``stride`` of the padded xp (C, Hp, Wp, N) by
    the sparse filters: output channel o's stored weights are values[indptr[o]:indptr[o + 1]],
    each at flat input offset ``offsets`` (``entries``); plus bias (if given), then ReLU."""
    c_in, hp, wp, n = xp.shape
    n_out, oh, ow, _ = out.shape
    xf, of = xp.reshape(-1), out.reshape(-1)
    lanes = vec.width(xf)
    plane = oh * ow * n
    for oy in range(oh):
        for ox in range(0, ow, 2):
            at = (oy * stride * wp + ox * stride) * n
            two = ox + 1 < ow
            second = stride * n if two else 0
            for o in range(n_out):
                e0, e1 = indptr[o], indptr[o + 1]
                b = bias[o] if len(bias) else 0.0
                for n0 in range(0, n, 4 * lanes):
                    m = n - n0
                    to = o * plane + (oy * ow + ox) * n + n0
                    if m <= 2 * lanes:                 # the batch's last two registers
                        s2 = _two_pixel_sums(xf, offsets, values, e0, e1, at + n0, second,
                                             lanes, m)
                        for r in range(2 if two else 1):
                            vec.store(of, to + r * n, vec.bias_act(s2[2 * r], b, relu), m)
                            vec.store(of, to + r * n + lanes,
                                      vec.bias_act(s2[2 * r + 1], b, relu), m - lanes)
                        continue
                    if m >= 4 * lanes:                 # whole registers: plain loads
                        s = _sums(xf, offsets, values, e0, e1, at + n0, second, lanes,
                                  lanes, lanes, lanes, lanes)
                    else:
                        s = _sums(xf, offsets, values, e0, e1, at + n0, second, lanes,
                                  m, m - lanes, m - 2 * lanes, m - 3 * lanes)
                    for r in range(4):
                        vec.store(of, to + r * lanes, vec.bias_act(s[r], b, relu), m - r * lanes)
                    if two:
                        for r in range(4):
                            vec.store(of, to + n + r * lanes, vec.bias_act(s[4 + r], b, relu),
                                      m - r * lanes)
    return out


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
        for y in range(oh):
            src, dst = y * wp, (o * oh + y) * ow
            for x in range(ow):
                v = wide[src + x] + b
                of[dst + x] = max(v, 0.0) if relu else v
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


def conv_sparse_tiles_numpy(xp, indptr, offsets, values, bias, stride, relu, out):
    """``conv_sparse_tiles`` in NumPy: each stored weight times its shifted window."""
    c_in, hp, wp, n = xp.shape
    n_out, oh, ow, _ = out.shape
    flat = xp.reshape(-1)
    rows = (np.arange(oh) * stride * wp)[:, None] + np.arange(ow) * stride     # (OH, OW)
    pixel = (rows * n)[..., None] + np.arange(n)                             # (OH, OW, N)
    y = np.zeros(out.shape, dtype=np.result_type(xp, values))
    for o in range(n_out):
        for e in range(indptr[o], indptr[o + 1]):
            y[o] += values[e] * flat[pixel + offsets[e]]
    if len(bias):
        y += bias[:, None, None, None]
    out[...] = np.maximum(y, 0) if relu else y
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
