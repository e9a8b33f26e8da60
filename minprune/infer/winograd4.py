"""Winograd's F(4x4, 3x3) for 3x3 stride-1 convolutions on the feature-major layout (C, H,
W, N): a 4x4 block of outputs from a 6x6 tile of the input in 36 multiplications, where the
direct convolution takes 144 (``winograd``'s F(2x2, 3x3) takes 16 for four outputs, 64 for
sixteen). A Numba kernel on SIMD registers (``vec``) and its NumPy twin.

The same three passes as ``winograd`` with larger transforms (Lavin & Gray 2016, the points
0, ±1, ±2 and infinity):

    G = [[1/4, 0, 0], [-1/6, -1/6, -1/6], [-1/6, 1/6, -1/6], [1/24, 1/12, 1/6],
         [1/24, -1/12, 1/6], [0, 0, 1]]
    Bᵀ = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
          [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]
    Aᵀ = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]

The 36 products are ``winograd._products``. The price of fewer multiplications is rounding:
the transforms' larger coefficients make the result differ from the direct sum by some ten
times more than F(2x2, 3x3)'s (still within float32's usual tolerance of a convolution).
"""
from __future__ import annotations

import numpy as np

from ..jit import njit
from .. import vec
from ..autograd.tiles import GROUP
from ..vec import add, fma, sub
from .winograd import SKEW, _products, transformed, twin

G = np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
              [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]])
BT = np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
               [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]])
AT = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
               [0, 1, -1, 8, -8, 1]])
CACHE = 4096     # (input + output channels) x columns per chunk: 36 of each, 1.2 MB float32


def filters(weight, c_in):
    """``winograd.transformed`` by F(4x4, 3x3)'s G in groups of eight: (36, OC / 8, C, 8)."""
    return transformed(weight, c_in, G, GROUP, weight.dtype)


@njit(cache=True)
def work_size(c_in, n_out, n):
    """Numbers of scratch ``conv_winograd4`` needs (as ``winograd.work_size``, 36
    positions)."""
    filters8 = -(-n_out // GROUP) * GROUP
    cols = max(1, CACHE // ((c_in + filters8) * n)) * n
    return 36 * ((c_in + filters8) * cols + 2 * SKEW)


@njit(inline="always")
def _bt(d0, d1, d2, d3, d4, d5):
    """Bᵀ times six registers."""
    return (fma(d0, 4.0, fma(d2, -5.0, d4)), fma(add(d1, d2), -4.0, add(d3, d4)),
            fma(sub(d1, d2), 4.0, sub(d4, d3)), fma(sub(d3, d1), 2.0, sub(d4, d2)),
            fma(sub(d1, d3), 2.0, sub(d4, d2)), fma(d1, 4.0, fma(d3, -5.0, d5)))


@njit(inline="always")
def _at(m0, m1, m2, m3, m4, m5):
    """Aᵀ times six registers."""
    p, q = add(m1, m2), sub(m1, m2)
    r, s = add(m3, m4), sub(m3, m4)
    return (add(add(m0, p), r), fma(s, 2.0, q), fma(r, 4.0, p), add(fma(s, 8.0, q), m5))


@njit(inline="always")
def _row(xf, at, n, m, keep):
    """Bᵀ times the six registers of a tile's input row from flat ``at`` (columns n
    apart), m lanes of each kept one (``keep``: six 1s and 0s)."""
    return _bt(vec.load(xf, at, m * keep[0]), vec.load(xf, at + n, m * keep[1]),
               vec.load(xf, at + 2 * n, m * keep[2]), vec.load(xf, at + 3 * n, m * keep[3]),
               vec.load(xf, at + 4 * n, m * keep[4]), vec.load(xf, at + 5 * n, m * keep[5]))


@njit(inline="always")
def _store6(a, at, step, v, m):
    for i in range(6):
        vec.store(a, at + i * step, v[i], m)


@njit(cache=True, nogil=True)
def _input(xf, vf, c, t0, t1, tw, hp, wp, n, cols, step):
    """V = Bᵀ d B of channel c's tiles t0 .. t1 - 1 into vf: position ξ = 6i + j at ξ·step,
    then channel c's columns ((tile - t0)·n + sample) from c·cols."""
    lanes = vec.width(xf)
    for t in range(t0, t1):
        ty, tx = divmod(t, tw)
        y0, x0 = 4 * ty, 4 * tx
        keep = (1, 1 * (x0 + 1 < wp), 1 * (x0 + 2 < wp), 1 * (x0 + 3 < wp),
                1 * (x0 + 4 < wp), 1 * (x0 + 5 < wp))
        for b0 in range(0, n, lanes):
            m = min(n - b0, lanes)
            at = ((c * hp + y0) * wp + x0) * n + b0
            row = wp * n
            e0 = _row(xf, at, n, m, keep)
            e1 = _row(xf, at + row, n, m * (y0 + 1 < hp), keep)
            e2 = _row(xf, at + 2 * row, n, m * (y0 + 2 < hp), keep)
            e3 = _row(xf, at + 3 * row, n, m * (y0 + 3 < hp), keep)
            e4 = _row(xf, at + 4 * row, n, m * (y0 + 4 < hp), keep)
            e5 = _row(xf, at + 5 * row, n, m * (y0 + 5 < hp), keep)
            to = c * cols + (t - t0) * n + b0
            for j in range(6):
                _store6(vf, to + j * step, 6 * step,
                        _bt(e0[j], e1[j], e2[j], e3[j], e4[j], e5[j]), m)


@njit(cache=True, nogil=True)
def _output(mf, sf, of, o, t0, t1, tw, n, cols, step, oh, ow, b, relu):
    """Y = Aᵀ M A for output channel o at the chunk's tiles, plus the bias and the skip (if
    any), then ReLU, stored where the outputs lie (no lanes for those outside the image)."""
    lanes = vec.width(mf)
    skip = len(sf) > 0
    for t in range(t0, t1):
        ty, tx = divmod(t, tw)
        for b0 in range(0, n, lanes):
            m = min(n - b0, lanes)
            at = o * cols + (t - t0) * n + b0
            f0 = _mrow(mf, at, step, m)
            f1 = _mrow(mf, at + 6 * step, step, m)
            f2 = _mrow(mf, at + 12 * step, step, m)
            f3 = _mrow(mf, at + 18 * step, step, m)
            f4 = _mrow(mf, at + 24 * step, step, m)
            f5 = _mrow(mf, at + 30 * step, step, m)
            for j in range(4):
                y = _at(f0[j], f1[j], f2[j], f3[j], f4[j], f5[j])
                ox = 4 * tx + j
                for i in range(4):
                    oy = 4 * ty + i
                    inside = m * (oy < oh) * (ox < ow)
                    to = ((o * oh + oy) * ow + ox) * n + b0
                    v = add(y[i], vec.load(sf, to, inside * skip))
                    vec.store(of, to, vec.bias_act(v, b, relu), inside)


@njit(inline="always")
def _mrow(mf, at, step, m):
    """Aᵀ times one row of a tile's products (positions ``step`` apart from ``at``)."""
    return _at(vec.load(mf, at, m), vec.load(mf, at + step, m), vec.load(mf, at + 2 * step, m),
               vec.load(mf, at + 3 * step, m), vec.load(mf, at + 4 * step, m),
               vec.load(mf, at + 5 * step, m))


@njit(cache=True, nogil=True)
def conv_winograd4(xp, u, bias, relu, skip, work, out):
    """out (OC, OH, OW, N) = the 3x3 stride-1 convolution of the padded xp (C, OH + 2, OW +
    2, N) by u (36, OC / 8, C, 8) (``filters``), plus bias (if given), plus ``skip`` (OC, OH,
    OW, N) (if not empty), then ReLU. ``work``: scratch of ``work_size(C, OC, N)``
    numbers."""
    c_in, hp, wp, n = xp.shape
    n_out, oh, ow, _ = out.shape
    groups = u.shape[1]
    lanes = vec.width(xp)
    if u.shape[0] != 36 or u.shape[2] != c_in or u.shape[3] != GROUP or groups * GROUP < n_out:
        raise ValueError("conv_winograd4: filters must be (36, OC / 8, C, 8)")
    if hp != oh + 2 or wp != ow + 2 or n < lanes:
        raise ValueError("conv_winograd4: a 3x3 stride-1 convolution of a register of samples")
    filters8 = groups * GROUP
    if len(work) < work_size(c_in, filters8, n):
        raise ValueError("conv_winograd4: work must hold work_size(C, OC, N) numbers")
    if len(skip.reshape(-1)) and skip.shape != out.shape:
        raise ValueError("conv_winograd4: skip must be empty or of the output's shape")
    xf, uf, of, sf = xp.reshape(-1), u.reshape(-1), out.reshape(-1), skip.reshape(-1)
    th, tw = (oh + 3) // 4, (ow + 3) // 4
    tiles = th * tw
    chunk = max(1, CACHE // ((c_in + filters8) * n))
    biases = np.zeros(filters8, xf.dtype)
    biases[:len(bias)] = bias
    taps = np.empty(c_in, np.int64)
    mf = work[36 * (c_in * chunk * n + SKEW):]          # (blocks SKEW longer: see winograd)
    for t0 in range(0, tiles, chunk):
        t1 = min(tiles, t0 + chunk)
        cols = (t1 - t0) * n
        for c in range(c_in):                                   # 1. V = Bᵀ d B
            taps[c] = c * cols
            _input(xf, work, c, t0, t1, tw, hp, wp, n, cols, c_in * cols + SKEW)
        _products(work, uf, mf, 36, groups, c_in, cols, taps)    # 2. M[ξ] = U[ξ] @ V[ξ]
        for o in range(n_out):                                  # 3. Y = Aᵀ M A
            _output(mf, sf, of, o, t0, t1, tw, n, cols, filters8 * cols + SKEW, oh, ow,
                    biases[o], relu)
    return out


def conv_winograd4_numpy(xp, u, bias, relu, skip, out):
    """``conv_winograd4`` in NumPy (``winograd.twin`` with these transforms)."""
    return twin(xp, u, bias, relu, skip, out, G, BT, AT)
