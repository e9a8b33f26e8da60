"""Sparse direct convolution of a batch in register tiles on the feature-major layout (C, H,
W, N): only the stored weights are multiplied, their sums held in registers. A Numba kernel
on SIMD registers (``vec``) and its NumPy twin, which the inference plan runs
(``infer.fm_conv``, ``infer.batch_chain``) and ``SparseConv2d``'s forward in training too.

Park et al.'s direct sparse convolution (``infer.direct``) applies each stored weight to a shifted
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
