"""Winograd's F(2x2, 3x3) (``winograd``) for one sample stored channels last (H, W, C): the
registers hold channels. A Numba kernel on SIMD registers (``vec``) and its NumPy twin.

At one sample the batch fills no register; channels do, where a pixel's channels lie
together. The three passes of ``winograd``, a register of channels at a time:

1. each 4x4 tile of the input, V = Bᵀ d B: 16 registers of a pixel's channels loaded, 32
   additions, 16 stores (V: position ξ, tile, channel);
2. for each position ξ, M[ξ] = the products of V[ξ] and U[ξ] summed over input channels:
   ``tiles``' pixel tiles - a register of output channels at eight tiles, each tile's input
   number broadcast to all lanes;
3. each tile, Y = Aᵀ M A for a register of output channels, plus the bias (and a residual
   block's shortcut), ReLU, stored where the four outputs lie.

The filters are those of ``winograd.filters`` grouped a register of output channels at a
time (``filters_lanes``: (16, OC / L, C, L)).
"""
from __future__ import annotations

import numpy as np

from ..jit import njit
from .. import vec
from ..autograd.tiles import PIXELS, _eight, _pixel_sums, _pixel_sums_two
from ..vec import add
from .winograd import AT, BT, G, SKEW, _at, _bt, transformed, twin


def filters_lanes(weight, c_in, dtype):
    """``winograd.transformed`` a register of output channels at a time: (16, OC / L
    rounded up, C, L), L = ``vec.lanes(dtype)``."""
    return transformed(weight, c_in, G, vec.lanes(dtype), dtype)


@njit(cache=True)
def work_size(oh, ow, c_in, n_out, lanes):
    """Numbers of scratch ``conv_winograd_pixels`` needs: for each of the 16 positions, the
    tiles' transformed input (tiles x C) and products (tiles x OC rounded up to a register),
    each block ``SKEW`` numbers longer."""
    tiles = ((oh + 1) // 2) * ((ow + 1) // 2)
    return 16 * (tiles * (c_in + -(-n_out // lanes) * lanes) + 2 * SKEW)


@njit(inline="always")
def _load4(xf, at, step, m, keep):
    """Bᵀ times four registers ``step`` apart from ``at``, m lanes of each kept one (keep:
    four 1s and 0s, those past the image's edge 0)."""
    return _bt(vec.load(xf, at, m * keep[0]), vec.load(xf, at + step, m * keep[1]),
               vec.load(xf, at + 2 * step, m * keep[2]), vec.load(xf, at + 3 * step, m * keep[3]))


@njit(inline="always")
def _store4(a, at, step, v, m):
    vec.store(a, at, v[0], m)
    vec.store(a, at + step, v[1], m)
    vec.store(a, at + 2 * step, v[2], m)
    vec.store(a, at + 3 * step, v[3], m)


@njit(cache=True, nogil=True)
def conv_winograd_pixels(xp, u, bias, relu, skip, work, out):
    """out (OH, OW, OC) = the 3x3 stride-1 convolution of one padded sample xp (OH + 2, OW +
    2, C), channels last, by u (16, OC / L, C, L) (``filters_lanes``), plus bias (if given),
    plus ``skip`` (OH, OW, OC) (if not empty), then ReLU. ``work``: scratch of
    ``work_size(OH, OW, C, OC, L)`` numbers."""
    hp, wp, c_in = xp.shape
    oh, ow, n_out = out.shape
    lanes = vec.width(xp)
    groups = u.shape[1]
    if u.shape[0] != 16 or u.shape[2] != c_in or u.shape[3] != lanes or groups * lanes < n_out:
        raise ValueError("conv_winograd_pixels: filters must be (16, OC / L, C, L)")
    if hp != oh + 2 or wp != ow + 2:
        raise ValueError("conv_winograd_pixels: a 3x3 stride-1 convolution of one sample")
    if len(work) < work_size(oh, ow, c_in, n_out, lanes) or (skip.size and skip.shape != out.shape):
        raise ValueError("conv_winograd_pixels: work of work_size numbers, skip empty or "
                         "of the output's shape")
    xf, uf, of, sf = xp.reshape(-1), u.reshape(-1), out.reshape(-1), skip.reshape(-1)
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    tiles, width = th * tw, groups * lanes
    v_step, m_step = tiles * c_in + SKEW, tiles * width + SKEW
    mf = work[16 * v_step:]
    for t in range(tiles):                                       # 1. V = Bᵀ d B
        ty, tx = divmod(t, tw)
        y0, x0 = 2 * ty, 2 * tx
        keep = (1, 1 * (x0 + 1 < wp), 1 * (x0 + 2 < wp), 1 * (x0 + 3 < wp))
        for c0 in range(0, c_in, lanes):
            m = min(c_in - c0, lanes)
            at = (y0 * wp + x0) * c_in + c0
            row = wp * c_in
            d0 = _load4(xf, at, c_in, m, keep)
            d1 = _load4(xf, at + row, c_in, m * (y0 + 1 < hp), keep)
            d2 = _load4(xf, at + 2 * row, c_in, m * (y0 + 2 < hp), keep)
            d3 = _load4(xf, at + 3 * row, c_in, m * (y0 + 3 < hp), keep)
            to = t * c_in + c0
            _store4(work, to, 4 * v_step, _bt(d0[0], d1[0], d2[0], d3[0]), m)
            _store4(work, to + v_step, 4 * v_step, _bt(d0[1], d1[1], d2[1], d3[1]), m)
            _store4(work, to + 2 * v_step, 4 * v_step, _bt(d0[2], d1[2], d2[2], d3[2]), m)
            _store4(work, to + 3 * v_step, 4 * v_step, _bt(d0[3], d1[3], d2[3], d3[3]), m)
    _products(work, uf, mf, 16, groups, c_in, tiles, v_step, m_step)  # 2. M[ξ] = V[ξ] U[ξ]
    biases = np.zeros(width, xf.dtype)                           # 3. Y = Aᵀ M A
    biases[:len(bias)] = bias
    has_skip = len(sf) > 0
    for t in range(tiles):
        ty, tx = divmod(t, tw)
        bottom, right = 1 * (2 * ty + 1 < oh), 1 * (2 * tx + 1 < ow)
        for g in range(groups):
            m = min(n_out - g * lanes, lanes)
            b = vec.load(biases, g * lanes, lanes)
            at = t * width + g * lanes
            r0 = _mrow(mf, at, m_step)
            r1 = _mrow(mf, at + 4 * m_step, m_step)
            r2 = _mrow(mf, at + 8 * m_step, m_step)
            r3 = _mrow(mf, at + 12 * m_step, m_step)
            to = ((2 * ty) * ow + 2 * tx) * n_out + g * lanes
            y = _at(r0[0], r1[0], r2[0], r3[0])
            _put(sf, of, to, y[0], b, relu, m, has_skip)
            _put(sf, of, to + ow * n_out, y[1], b, relu, m * bottom, has_skip)
            y = _at(r0[1], r1[1], r2[1], r3[1])
            _put(sf, of, to + n_out, y[0], b, relu, m * right, has_skip)
            _put(sf, of, to + (ow + 1) * n_out, y[1], b, relu, m * bottom * right, has_skip)
    return out


@njit(cache=True, nogil=True)
def _products(vf, uf, mf, positions, groups, c_in, tiles, v_step, m_step):
    """For each position ξ, M[ξ] (tiles x OC, at mf + ξ·m_step) = V[ξ] (tiles x C, at vf +
    ξ·v_step) @ U[ξ] (C x OC): a register of output channels at eight tiles per tile of the
    registers (``_pixel_sums``; two registers of output channels at once where there are two,
    ``_pixel_sums_two``), the last eight repeating the last tile."""
    lanes = vec.width(vf)
    taps = np.arange(c_in)
    starts = np.empty(-(-tiles // PIXELS) * PIXELS, np.int64)
    for xi in range(positions):
        for p in range(len(starts)):
            starts[p] = xi * v_step + min(p, tiles - 1) * c_in
        for g in range(0, groups, 2):          # (two registers of them where there are two)
            q = (xi * groups + g) * c_in * lanes
            for t0 in range(0, tiles, PIXELS):
                at = xi * m_step + t0 * groups * lanes + g * lanes
                if g + 1 < groups:
                    s, u = _pixel_sums_two(vf, uf, q, q + c_in * lanes, taps, lanes,
                                           _eight(starts, t0))
                    for r in range(min(PIXELS, tiles - t0)):
                        vec.store(mf, at + r * groups * lanes, s[r], lanes)
                        vec.store(mf, at + r * groups * lanes + lanes, u[r], lanes)
                    continue
                s = _pixel_sums(vf, uf, q, taps, lanes, _eight(starts, t0))
                for r in range(min(PIXELS, tiles - t0)):
                    vec.store(mf, at + r * groups * lanes, s[r], lanes)


@njit(inline="always")
def _mrow(mf, at, step):
    """Aᵀ times one row of a tile's products (positions ``step`` apart from ``at``)."""
    lanes = vec.width(mf)
    return _at(vec.load(mf, at, lanes), vec.load(mf, at + step, lanes),
               vec.load(mf, at + 2 * step, lanes), vec.load(mf, at + 3 * step, lanes))


@njit(inline="always")
def _put(sf, of, to, y, b, relu, m, skip):
    """y plus the bias and the skip's register at ``to`` (if ``skip``), then ReLU, into
    of[to:to + m]."""
    vec.store(of, to, vec.bias_act(add(y, vec.load(sf, to, m * skip)), b, relu), m)


def conv_winograd_pixels_numpy(xp, u, bias, relu, skip, out):
    """``conv_winograd_pixels`` in NumPy: ``winograd.twin`` on the sample as (C, H, W, 1)."""
    chw = np.ascontiguousarray(xp.transpose(2, 0, 1))[..., None]
    y = np.empty(out.shape[2:] + out.shape[:2] + (1,), out.dtype)
    no_skip = skip.transpose(2, 0, 1)[..., None] if skip.size else skip
    twin(chw, u, bias, relu, no_skip, y, G, BT, AT)
    out[...] = y[..., 0].transpose(1, 2, 0)
    return out
