"""Winograd's F(4x4, 3x3) (``winograd4``) for one sample stored channels last (H, W, C), a
register of channels in every pass, as ``winograd_pixels`` runs F(2x2, 3x3): 6x6 tiles of
the input four pixels apart, 36 products summed over channels (``winograd_pixels._products``),
4x4 blocks of outputs. A Numba kernel on SIMD registers (``vec``) and its NumPy twin."""
from __future__ import annotations

import numpy as np

from ..jit import njit
from .. import vec
from ..vec import add
from .winograd import SKEW, transformed, twin
from .winograd4 import AT, BT, G, _at, _bt
from .winograd_pixels import _products


def filters_lanes(weight, c_in, dtype):
    """``winograd.transformed`` a register of output channels at a time: (36, OC / L
    rounded up, C, L), L = ``vec.lanes(dtype)``."""
    return transformed(weight, c_in, G, vec.lanes(dtype), dtype)


@njit(cache=True)
def work_size(oh, ow, c_in, n_out, lanes):
    """Numbers of scratch ``conv_winograd4_pixels`` needs (as ``winograd_pixels.work_size``,
    36 positions)."""
    tiles = ((oh + 3) // 4) * ((ow + 3) // 4)
    return 36 * (tiles * (c_in + -(-n_out // lanes) * lanes) + 2 * SKEW)


@njit(inline="always")
def _row(xf, at, step, m, keep):
    """Bᵀ times six registers ``step`` apart from ``at``, m lanes of each kept one."""
    return _bt(vec.load(xf, at, m * keep[0]), vec.load(xf, at + step, m * keep[1]),
               vec.load(xf, at + 2 * step, m * keep[2]), vec.load(xf, at + 3 * step, m * keep[3]),
               vec.load(xf, at + 4 * step, m * keep[4]), vec.load(xf, at + 5 * step, m * keep[5]))


@njit(inline="always")
def _mrow(mf, at, step):
    """Aᵀ times one row of a tile's products (positions ``step`` apart from ``at``)."""
    lanes = vec.width(mf)
    return _at(vec.load(mf, at, lanes), vec.load(mf, at + step, lanes),
               vec.load(mf, at + 2 * step, lanes), vec.load(mf, at + 3 * step, lanes),
               vec.load(mf, at + 4 * step, lanes), vec.load(mf, at + 5 * step, lanes))


@njit(cache=True, nogil=True)
def conv_winograd4_pixels(xp, u, bias, relu, skip, work, out):
    """out (OH, OW, OC) = the 3x3 stride-1 convolution of one padded sample xp (OH + 2, OW +
    2, C), channels last, by u (36, OC / L, C, L) (``filters_lanes``), plus bias (if given),
    plus ``skip`` (OH, OW, OC) (if not empty), then ReLU. ``work``: scratch of
    ``work_size(OH, OW, C, OC, L)`` numbers."""
    hp, wp, c_in = xp.shape
    oh, ow, n_out = out.shape
    lanes = vec.width(xp)
    groups = u.shape[1]
    if u.shape[0] != 36 or u.shape[2] != c_in or u.shape[3] != lanes or groups * lanes < n_out:
        raise ValueError("conv_winograd4_pixels: filters must be (36, OC / L, C, L)")
    if hp != oh + 2 or wp != ow + 2:
        raise ValueError("conv_winograd4_pixels: a 3x3 stride-1 convolution of one sample")
    if len(work) < work_size(oh, ow, c_in, n_out, lanes) or (skip.size and skip.shape != out.shape):
        raise ValueError("conv_winograd4_pixels: work of work_size numbers, skip empty or "
                         "of the output's shape")
    xf, uf, of, sf = xp.reshape(-1), u.reshape(-1), out.reshape(-1), skip.reshape(-1)
    th, tw = (oh + 3) // 4, (ow + 3) // 4
    tiles, width = th * tw, groups * lanes
    v_step, m_step = tiles * c_in + SKEW, tiles * width + SKEW
    mf = work[36 * v_step:]
    for t in range(tiles):                                       # 1. V = Bᵀ d B
        ty, tx = divmod(t, tw)
        y0, x0 = 4 * ty, 4 * tx
        keep = (1, 1 * (x0 + 1 < wp), 1 * (x0 + 2 < wp), 1 * (x0 + 3 < wp),
                1 * (x0 + 4 < wp), 1 * (x0 + 5 < wp))
        row = wp * c_in
        for c0 in range(0, c_in, lanes):
            m = min(c_in - c0, lanes)
            at = (y0 * wp + x0) * c_in + c0
            e0 = _row(xf, at, c_in, m, keep)
            e1 = _row(xf, at + row, c_in, m * (y0 + 1 < hp), keep)
            e2 = _row(xf, at + 2 * row, c_in, m * (y0 + 2 < hp), keep)
            e3 = _row(xf, at + 3 * row, c_in, m * (y0 + 3 < hp), keep)
            e4 = _row(xf, at + 4 * row, c_in, m * (y0 + 4 < hp), keep)
            e5 = _row(xf, at + 5 * row, c_in, m * (y0 + 5 < hp), keep)
            to = t * c_in + c0
            for j in range(6):
                v = _bt(e0[j], e1[j], e2[j], e3[j], e4[j], e5[j])
                for i in range(6):
                    vec.store(work, to + (6 * i + j) * v_step, v[i], m)
    _products(work, uf, mf, 36, groups, c_in, tiles, v_step, m_step)  # 2. M[ξ] = V[ξ] U[ξ]
    biases = np.zeros(width, xf.dtype)                           # 3. Y = Aᵀ M A
    biases[:len(bias)] = bias
    has_skip = len(sf) > 0
    for t in range(tiles):
        ty, tx = divmod(t, tw)
        for g in range(groups):
            m = min(n_out - g * lanes, lanes)
            b = vec.load(biases, g * lanes, lanes)
            at = t * width + g * lanes
            f0 = _mrow(mf, at, m_step)
            f1 = _mrow(mf, at + 6 * m_step, m_step)
            f2 = _mrow(mf, at + 12 * m_step, m_step)
            f3 = _mrow(mf, at + 18 * m_step, m_step)
            f4 = _mrow(mf, at + 24 * m_step, m_step)
            f5 = _mrow(mf, at + 30 * m_step, m_step)
            for j in range(4):
                y = _at(f0[j], f1[j], f2[j], f3[j], f4[j], f5[j])
                ox = 4 * tx + j
                for i in range(4):
                    oy = 4 * ty + i
                    inside = m * (oy < oh) * (ox < ow)
                    to = (oy * ow + ox) * n_out + g * lanes
                    v = add(y[i], vec.load(sf, to, inside * has_skip))
                    vec.store(of, to, vec.bias_act(v, b, relu), inside)
    return out


def conv_winograd4_pixels_numpy(xp, u, bias, relu, skip, out):
    """``conv_winograd4_pixels`` in NumPy: ``winograd.twin`` on the sample as (C, H, W, 1)."""
    chw = np.ascontiguousarray(xp.transpose(2, 0, 1))[..., None]
    y = np.empty(out.shape[2:] + out.shape[:2] + (1,), out.dtype)
    no_skip = skip.transpose(2, 0, 1)[..., None] if skip.size else skip
    twin(chw, u, bias, relu, no_skip, y, G, BT, AT)
    out[...] = y[..., 0].transpose(1, 2, 0)
    return out
