"""Training's convolutions in register tiles, on the channels-last batch (N, H, W, C) the
autograd keeps: the forward, the input's gradient (a forward by the turned filters) and the
weight's gradient, with no columns. Numba kernels on SIMD registers (``minprune.vec``) and
their NumPy twins. The one-sample pixel tiles of the plan (``infer.tiles``) are built from
the same pieces, kept here: the filters a register at a time (``filters_lanes``), a tile's
sums (``_pixel_sums``), the taps' offsets.

The tiles are ``infer.tiles.conv_pixels``' - a register of output channels at eight output
pixels, here of any sample - and, for the weight's gradient, the same walk the other way
round: a register of input channels at one tap, summed over blocks of pixels for eight
output channels.
"""
from __future__ import annotations

import numpy as np

from ..jit import njit
from .. import vec
from ..vec import fma, get

GROUP = 8                                     # output channels per tile
PIXEL_BLOCK = 128                             # pixels a weight-gradient tile sums at a time


def filter_groups(weight, k, c_in, per, dtype):
    """The lowered (out, k·k·C) weight, columns ordered (kh, kw, C), in groups of ``per``
    filters as the tile kernels read them: (out / per rounded up, C, k, k, per), C-contiguous,
    ``dtype``, the filters past the last zero."""
    n_out = weight.shape[0]
    groups = -(-n_out // per)
    w = np.zeros((groups * per, k, k, c_in), dtype=dtype)
    w[:n_out] = np.asarray(weight).reshape(n_out, k, k, c_in)
    return np.ascontiguousarray(w.reshape(groups, per, k, k, c_in).transpose(0, 4, 2, 3, 1))


def filters_lanes(weight, k, c_in, dtype):
    """``filter_groups`` of a register's worth, ``vec.lanes(dtype)`` filters: as
    ``conv_pixels`` and ``conv_pixels_nhwc`` read them."""
    return filter_groups(weight, k, c_in, vec.lanes(dtype), dtype)


PIXELS = 8                                    # output pixels per one-sample tile


@njit(inline="always")
def _pixel_sums(xf, wf, q, taps, lanes, p):
    """A one-sample tile's sums: the register of filters from wf[q] on, at the eight pixels
    whose windows start at p[0..7]."""
    z = vec.zero(xf)
    s = (z, z, z, z, z, z, z, z)
    for t in range(len(taps)):
        w = vec.load(wf, q, lanes)
        a = get(taps, t)
        s = (fma(w, get(xf, p[0] + a), s[0]), fma(w, get(xf, p[1] + a), s[1]),
             fma(w, get(xf, p[2] + a), s[2]), fma(w, get(xf, p[3] + a), s[3]),
             fma(w, get(xf, p[4] + a), s[4]), fma(w, get(xf, p[5] + a), s[5]),
             fma(w, get(xf, p[6] + a), s[6]), fma(w, get(xf, p[7] + a), s[7]))
        q += lanes
    return s


@njit(inline="always")
def _pixel_sums_two(xf, wf, q, r, taps, lanes, p):
    """``_pixel_sums`` of two registers of filters (from wf[q] and wf[r] on) at once: each
    input number read once for both (sixteen sums)."""
    z = vec.zero(xf)
    s = (z, z, z, z, z, z, z, z)
    u = (z, z, z, z, z, z, z, z)
    for t in range(len(taps)):
        w, v = vec.load(wf, q, lanes), vec.load(wf, r, lanes)
        a = get(taps, t)
        x0, x1, x2, x3 = get(xf, p[0] + a), get(xf, p[1] + a), get(xf, p[2] + a), get(xf, p[3] + a)
        x4, x5, x6, x7 = get(xf, p[4] + a), get(xf, p[5] + a), get(xf, p[6] + a), get(xf, p[7] + a)
        s = (fma(w, x0, s[0]), fma(w, x1, s[1]), fma(w, x2, s[2]), fma(w, x3, s[3]),
             fma(w, x4, s[4]), fma(w, x5, s[5]), fma(w, x6, s[6]), fma(w, x7, s[7]))
        u = (fma(v, x0, u[0]), fma(v, x1, u[1]), fma(v, x2, u[2]), fma(v, x3, u[3]),
             fma(v, x4, u[4]), fma(v, x5, u[5]), fma(v, x6, u[6]), fma(v, x7, u[7]))
        q += lanes
        r += lanes
    return s, u


@njit(inline="always")
def _tap_offsets(c_in, k, channel, row, column):
    """Where each (input channel, tap row, tap column) of a filter reads, from the start of
    its window: channels ``channel`` numbers apart, rows ``row``, columns ``column``."""
    taps = np.empty(c_in * k * k, np.int64)
    for c in range(c_in):
        for i in range(k):
            for j in range(k):
                taps[(c * k + i) * k + j] = c * channel + i * row + j * column
    return taps


@njit(inline="always")
def _window_starts(n, oh, ow, hp, wp, stride, step, length):
    """Where the window of each output pixel (sample, row, column) starts in the padded
    input, pixels ``step`` numbers apart; ``length`` entries, those past the last pixel
    repeating it (a last tile's extra pixels)."""
    starts = np.empty(length, np.int64)
    p = 0
    for sample in range(n):                    # (in loops: no division per pixel)
        for oy in range(oh):
            for ox in range(ow):
                if p < length:
                    starts[p] = ((sample * hp + oy * stride) * wp + ox * stride) * step
                p += 1
    for q in range(p, length):
        starts[q] = starts[p - 1]
    return starts


@njit(inline="always")
def _eight(starts, p0):
    """starts[p0:p0 + 8] as a tuple (eight numbers the compiler keeps in registers)."""
    return (get(starts, p0), get(starts, p0 + 1), get(starts, p0 + 2), get(starts, p0 + 3),
            get(starts, p0 + 4), get(starts, p0 + 5), get(starts, p0 + 6), get(starts, p0 + 7))


@njit(cache=True, nogil=True)
def conv_pixels_nhwc(xp, w, bias, stride, out, relu=False):
    """out (N, OH, OW, OC) = the convolution at ``stride`` of the padded batch xp (N, Hp, Wp,
    C), channels-last as training keeps it, by the filters w (OC / L, C, k, k, L)
    (``filters_lanes``), plus bias (if given), then ReLU (if ``relu``). ``conv_pixels``'
    tiles over every pixel of every sample: a register of L output channels at eight
    pixels, stored where they lie (a pixel's channels are contiguous in this layout)."""
    n, hp, wp, c_in = xp.shape
    _, oh, ow, n_out = out.shape
    k = w.shape[2]
    xf, of, wf = xp.reshape(-1), out.reshape(-1), w.reshape(-1)
    lanes = vec.width(xf)
    if w.shape[1] != c_in or w.shape[4] != lanes or len(w) * lanes < n_out:
        raise ValueError("conv_pixels_nhwc: filters (OC / L, C, k, k, L)")
    taps = _tap_offsets(c_in, k, 1, wp * c_in, c_in)
    pixels = n * oh * ow
    starts = _window_starts(n, oh, ow, hp, wp, stride, c_in, -(-pixels // PIXELS) * PIXELS)
    biases = np.zeros(len(w) * lanes, xf.dtype)
    biases[:len(bias)] = bias
    per = len(taps) * lanes                      # numbers per register of filters
    for p0 in range(0, pixels, PIXELS):
        p = _eight(starts, p0)
        for g in range(0, len(w) - 1, 2):       # the eight pixels' windows stay in cache
            s, u = _pixel_sums_two(xf, wf, g * per, (g + 1) * per, taps, lanes, p)
            _store_pixels(of, s, biases, g, lanes, n_out, p0, pixels, relu)
            _store_pixels(of, u, biases, g + 1, lanes, n_out, p0, pixels, relu)
        if len(w) % 2:                          # (an odd register of filters: alone)
            g = len(w) - 1
            s = _pixel_sums(xf, wf, g * per, taps, lanes, p)
            _store_pixels(of, s, biases, g, lanes, n_out, p0, pixels, relu)
    return out


@njit(inline="always")
def _store_pixels(of, s, biases, g, lanes, n_out, p0, pixels, relu):
    """A tile's sums (register of filters g at pixels p0..p0 + 7) with bias and ReLU into
    the channels-last output, where they lie."""
    b = vec.load(biases, g * lanes, lanes)
    for r in range(min(PIXELS, pixels - p0)):
        vec.store(of, (p0 + r) * n_out + g * lanes, vec.bias_act(s[r], b, relu),
                  n_out - g * lanes)


@njit(cache=True, nogil=True)
def weight_grad_nhwc(xp, g, k, stride, dw):
    """dw (OC, k·k·C) = the weight's gradient of ``conv_pixels_nhwc``: for each output
    channel o and tap (i, j), the sum over every output pixel of g[pixel, o] times the input
    window's channels at that tap - columns (kh, kw, C), as the lowered weight. xp (N, Hp,
    Wp, C) padded, g (N, OH, OW, OC); C a multiple of the register width, OC of eight.

    A tile is eight output channels at one tap and one register of input channels; it sums
    a block of pixels in registers (per pixel, one load of the window and eight of g's
    numbers for eight multiply-adds), then adds into dw. The blocks of pixels keep the
    windows and g's rows they read in cache for every tile."""
    n, hp, wp, c_in = xp.shape
    _, oh, ow, n_out = g.shape
    xf, gf, df = xp.reshape(-1), g.reshape(-1), dw.reshape(-1)
    lanes = vec.width(xf)
    if c_in % lanes or n_out % GROUP or dw.size != n_out * k * k * c_in:
        raise ValueError("weight_grad_nhwc: C a multiple of the register width, OC of 8")
    pixels = n * oh * ow
    starts = _window_starts(n, oh, ow, hp, wp, stride, c_in, pixels)
    df[:] = 0.0
    per_o = k * k * c_in                        # numbers of dw per output channel
    for p0 in range(0, pixels, PIXEL_BLOCK):
        p1 = min(pixels, p0 + PIXEL_BLOCK)
        for i in range(k):
            for j in range(k):
                tap = (i * wp + j) * c_in
                for og in range(0, n_out, GROUP):
                    for c0 in range(0, c_in, lanes):
                        at = og * per_o + (i * k + j) * c_in + c0
                        s = (vec.load(df, at, lanes), vec.load(df, at + per_o, lanes),
                             vec.load(df, at + 2 * per_o, lanes),
                             vec.load(df, at + 3 * per_o, lanes),
                             vec.load(df, at + 4 * per_o, lanes),
                             vec.load(df, at + 5 * per_o, lanes),
                             vec.load(df, at + 6 * per_o, lanes),
                             vec.load(df, at + 7 * per_o, lanes))
                        for p in range(p0, p1):
                            x = vec.load(xf, get(starts, p) + tap + c0, lanes)
                            q = p * n_out + og
                            s = (fma(x, get(gf, q), s[0]), fma(x, get(gf, q + 1), s[1]),
                                 fma(x, get(gf, q + 2), s[2]), fma(x, get(gf, q + 3), s[3]),
                                 fma(x, get(gf, q + 4), s[4]), fma(x, get(gf, q + 5), s[5]),
                                 fma(x, get(gf, q + 6), s[6]), fma(x, get(gf, q + 7), s[7]))
                        for r in range(GROUP):
                            vec.store(df, at + r * per_o, s[r], lanes)
    return dw


def weight_grad_nhwc_numpy(xp, g, k, stride, dw):
    """``weight_grad_nhwc`` in NumPy: one product per tap."""
    _, oh, ow, n_out = g.shape
    c_in = xp.shape[3]
    grads = g.reshape(-1, n_out)
    out = dw.reshape(n_out, k, k, c_in)
    for i in range(k):
        for j in range(k):
            window = xp[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
            out[:, i, j] = grads.T @ window.reshape(-1, c_in)
    return dw


def conv_pixels_nhwc_numpy(xp, w, bias, stride, out):
    """``conv_pixels_nhwc`` in NumPy: one product per tap. ``w`` is (groups, C, k, k,
    filters per group)."""
    c_in, k = w.shape[1], w.shape[2]
    _, oh, ow, n_out = out.shape
    filt = w.transpose(0, 4, 1, 2, 3).reshape(-1, c_in, k, k)[:n_out]     # (OC, C, k, k)
    y = np.zeros(out.shape, dtype=np.result_type(xp, w))
    for i in range(k):
        for j in range(k):
            window = xp[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
            y += window @ filt[:, :, i, j].T
    if len(bias):
        y += bias
    out[...] = y
    return out
