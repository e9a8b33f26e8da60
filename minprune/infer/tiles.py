"""Direct convolution in register tiles on the feature-major layout (C, H, W, N): any filter
size and stride, no im2col. Numba kernels on SIMD registers (``vec``), each with a NumPy twin.

Eight output channels and two registers of samples (32 float32 samples, 16 float64) make a
tile: its 16 sums stay in registers while the kernel walks the input channels and the
filter's taps. Each step loads the two registers of samples under one tap - one pixel of
the padded input, N numbers contiguous in this layout - and multiplies them by the eight
filters' weights at that tap: 2 loads and 8 numbers read for 16 fused multiply-adds, so the
loop is bound by the multiply-adds alone (as a matrix product's inner kernel is). Only when
a tile is done are its sums written, with the bias and ReLU, once.

Nothing is copied - no columns, as a GEMM needs, and no sums in memory, as the loop-written
``direct_dense`` keeps (it adds one tap's worth into rows of sums in the first-level cache,
per pass). Measured on resnet8's convolutions at batch 64, one thread: 47-56 GMAC/s, where
im2col and OpenBLAS reach 36-44 and ``direct_dense`` 36-41.

The tiles walk the output pixel by pixel and, at each pixel, every group of eight filters,
so the input the pixel reads (C·k·k·N numbers) stays in cache for all of them. The filters
come as (groups of eight, C, k, k, 8) (``filters8``), zero filters past the last; the last
register of a batch that is not a multiple of the register width is loaded and stored in
part (``vec.load``'s lane count). A last group of four filters or fewer runs in tiles of
four filters and four registers of samples (``_four``, the same 16 sums) instead of
multiplying the zero filters: LeNet-5's 20 and 50 filters at batch 64, one thread, each
convolution with its pooling (``pooled``), 447 -> 398 us and 2092 -> 1889 us, the whole
dense plan 2.99 -> 2.76 ms.

At one sample the batch fills no register, and the registers hold output channels instead
(``conv_pixels``): a register of filters at eight output pixels, each pixel's input number
broadcast to all lanes - 1 load of weights and 8 numbers read for 8 multiply-adds - the
sums scattered channel-major when the tile is done (45-51 GMAC/s on resnet8's convolutions
at one sample, against 20-34 for im2col and BLAS). A fully connected layer is a convolution
of a 1x1 image.
"""
from __future__ import annotations

import numpy as np

from ..jit import njit
from .. import vec
from ..autograd.tiles import (GROUP, PIXELS, _eight, _pixel_sums,  # noqa: F401
                              _tap_offsets, _window_starts, filter_groups,
                              filters_lanes)   # (shared with training; filters_lanes: the plan's)
from ..vec import fma, get


def filters8(weight, k, c_in):
    """``filter_groups`` of eight, as ``conv_tiles`` reads them."""
    return filter_groups(weight, k, c_in, GROUP, weight.dtype)


@njit(inline="always")
def _step(x0, x1, w, q, s):
    """The tile's eight pairs of sums ``s`` plus the pair of registers (x0, x1) times the
    eight weights w[q:q + 8]."""
    return ((fma(x0, get(w, q), s[0][0]), fma(x1, get(w, q), s[0][1])),
            (fma(x0, get(w, q + 1), s[1][0]), fma(x1, get(w, q + 1), s[1][1])),
            (fma(x0, get(w, q + 2), s[2][0]), fma(x1, get(w, q + 2), s[2][1])),
            (fma(x0, get(w, q + 3), s[3][0]), fma(x1, get(w, q + 3), s[3][1])),
            (fma(x0, get(w, q + 4), s[4][0]), fma(x1, get(w, q + 4), s[4][1])),
            (fma(x0, get(w, q + 5), s[5][0]), fma(x1, get(w, q + 5), s[5][1])),
            (fma(x0, get(w, q + 6), s[6][0]), fma(x1, get(w, q + 6), s[6][1])),
            (fma(x0, get(w, q + 7), s[7][0]), fma(x1, get(w, q + 7), s[7][1])))


@njit(inline="always")
def _four(xf, wf, at, q, taps, lanes, m0, m1, m2, m3):
    """The sums of a tile of four filters (the first four of the group at wf[q]) and four
    registers of samples (m0 .. m3 numbers of each): the last group's tile where it holds
    four filters or fewer - 4 loads and 4 numbers read for 16 multiply-adds, where eight
    filters' tile would spend half its multiply-adds on filters that are not there."""
    z = vec.zero(xf)
    s = ((z, z, z, z), (z, z, z, z), (z, z, z, z), (z, z, z, z))
    for t in range(len(taps)):
        a = at + get(taps, t)
        x = (vec.load(xf, a, m0), vec.load(xf, a + lanes, m1),
             vec.load(xf, a + 2 * lanes, m2), vec.load(xf, a + 3 * lanes, m3))
        s = (_fma4(x, get(wf, q), s[0]), _fma4(x, get(wf, q + 1), s[1]),
             _fma4(x, get(wf, q + 2), s[2]), _fma4(x, get(wf, q + 3), s[3]))
        q += GROUP
    return s


@njit(inline="always")
def _four_at(xf, wf, at, q, taps, lanes, m):
    """``_four`` on the first m samples from ``at``: plain loads where they fill the four
    registers, loads of part of a register where they do not."""
    if m >= 4 * lanes:
        return _four(xf, wf, at, q, taps, lanes, lanes, lanes, lanes, lanes)
    return _four(xf, wf, at, q, taps, lanes, m, m - lanes, m - 2 * lanes, m - 3 * lanes)


@njit(inline="always")
def _fma4(x, v, s):
    """Four registers of sums s plus the four registers x times the number v."""
    return fma(x[0], v, s[0]), fma(x[1], v, s[1]), fma(x[2], v, s[2]), fma(x[3], v, s[3])


@njit(inline="always")
def _sums(xf, wf, at, q, taps, lanes, m0, m1):
    """The tile's sums: the filters from wf[q] over the input from flat ``at``, tap t at
    ``taps[t]`` on; m0 + m1 samples in two registers."""
    z = vec.zero(xf)
    s = ((z, z), (z, z), (z, z), (z, z), (z, z), (z, z), (z, z), (z, z))
    for t in range(len(taps)):
        a = at + get(taps, t)
        s = _step(vec.load(xf, a, m0), vec.load(xf, a + lanes, m1), wf, q, s)
        q += GROUP
    return s


@njit(cache=True, nogil=True)
def conv_tiles(xp, w, bias, stride, relu, out):
    """out (OC, OH, OW, N) = the convolution at ``stride`` of the padded xp (C, Hp, Wp, N) by
    the filters w (OC / 8, C, k, k, 8) (``filters8``), plus bias (if given), then ReLU."""
    c_in, hp, wp, n = xp.shape
    n_out, oh, ow, _ = out.shape
    k = w.shape[2]
    if w.shape[1] != c_in or w.shape[4] != GROUP or len(w) * GROUP < n_out:
        raise ValueError("conv_tiles: filters must be (OC / 8, C, k, k, 8)")
    xf, of, wf = xp.reshape(-1), out.reshape(-1), w.reshape(-1)
    lanes = vec.width(xf)
    out_plane = oh * ow * n
    taps = _tap_offsets(c_in, k, hp * wp * n, wp * n, n)
    biases = np.zeros(len(w) * GROUP, xf.dtype)
    biases[:len(bias)] = bias
    for oy in range(oh):
        for ox in range(ow):
            at = (oy * stride * wp + ox * stride) * n
            for g in range(len(w)):
                q = g * len(taps) * GROUP
                if n_out - g * GROUP <= 4:             # the last group, four filters or fewer
                    _store_four(xf, wf, at, q, taps, lanes, n, of, (oy * ow + ox) * n,
                                out_plane, g * GROUP, n_out, biases, relu)
                    continue
                for n0 in range(0, n, 2 * lanes):
                    m0, m1 = n - n0, n - n0 - lanes
                    if m1 >= lanes:                    # whole registers: plain loads
                        s = _sums(xf, wf, at + n0, q, taps, lanes, lanes, lanes)
                    else:                              # the batch's last, partial registers
                        s = _sums(xf, wf, at + n0, q, taps, lanes, m0, m1)
                    to = (oy * ow + ox) * n + n0
                    for t in range(GROUP):
                        o = g * GROUP + t
                        if o < n_out:
                            b = get(biases, o)
                            vec.store(of, o * out_plane + to, vec.bias_act(s[t][0], b, relu), m0)
                            vec.store(of, o * out_plane + to + lanes,
                                      vec.bias_act(s[t][1], b, relu), m1)
    return out


@njit(inline="always")
def _store_four(xf, wf, at, q, taps, lanes, n, of, to, plane, o0, n_out, biases, relu):
    """One pixel of the last group's filters o0 .. n_out - 1 (four or fewer) in tiles of
    ``_four``, each output channel's sums stored at flat ``to`` of its plane with the bias
    and ReLU."""
    for n0 in range(0, n, 4 * lanes):
        m = n - n0
        s = _four_at(xf, wf, at + n0, q, taps, lanes, m)
        for t in range(min(4, n_out - o0)):
            o, b = o0 + t, get(biases, o0 + t)
            for r in range(4):
                vec.store(of, o * plane + to + n0 + r * lanes, vec.bias_act(s[t][r], b, relu),
                          m - r * lanes)


@njit(cache=True, nogil=True)
def conv_pixels(xp, w, bias, stride, relu, out):
    """out (OC, OH, OW, 1) = the convolution at ``stride`` of one padded sample xp (C, Hp,
    Wp, 1) by the filters w (OC / L, C, k, k, L) (``filters_lanes``), plus bias (if given),
    then ReLU: a register of L output channels at eight output pixels per tile."""
    c_in, hp, wp, n = xp.shape
    n_out, oh, ow, _ = out.shape
    k = w.shape[2]
    xf, of, wf = xp.reshape(-1), out.reshape(-1), w.reshape(-1)
    lanes = vec.width(xf)
    if n != 1 or w.shape[1] != c_in or w.shape[4] != lanes or len(w) * lanes < n_out:
        raise ValueError("conv_pixels: one sample, filters (OC / L, C, k, k, L)")
    taps = _tap_offsets(c_in, k, hp * wp, wp, 1)
    pixels = oh * ow
    starts = _window_starts(1, oh, ow, hp, wp, stride, 1, -(-pixels // PIXELS) * PIXELS)
    biases = np.zeros(len(w) * lanes, xf.dtype)
    biases[:len(bias)] = bias
    for g in range(len(w)):
        b = vec.load(biases, g * lanes, lanes)
        for p0 in range(0, pixels, PIXELS):
            p = _eight(starts, p0)
            s = _pixel_sums(xf, wf, g * len(taps) * lanes, taps, lanes, p)
            for r in range(min(PIXELS, pixels - p0)):
                vec.scatter(of, g * lanes * pixels + p0 + r, pixels,
                            vec.bias_act(s[r], b, relu), n_out - g * lanes)
    return out


def conv_tiles_numpy(xp, w, bias, stride, relu, out):
    """``conv_tiles`` in NumPy: one product per tap. ``w`` is (groups, C, k, k, filters per
    group), any number per group."""
    c_in, hp, wp, n = xp.shape
    n_out, oh, ow, _ = out.shape
    k = w.shape[2]
    filt = w.transpose(0, 4, 1, 2, 3).reshape(-1, c_in, k, k)[:n_out]     # (OC, C, k, k)
    y = np.zeros(out.shape, dtype=np.result_type(xp, w))
    for i in range(k):
        for j in range(k):
            window = xp[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
            y += np.tensordot(filt[:, :, i, j], window, axes=(1, 0))
    if len(bias):
        y += bias[:, None, None, None]
    out[...] = np.maximum(y, 0) if relu else y
    return out


def conv_pixels_numpy(xp, w, bias, stride, relu, out):
    """``conv_pixels`` in NumPy (its filters are read as ``conv_tiles_numpy`` reads groups
    of eight: group by group, the last axis the filter)."""
    return conv_tiles_numpy(xp, w, bias, stride, relu, out)
