"""Dense direct convolution on the feature-major layout (C, H, W, N): stride 1, 3x3 or 5x5
filters, no im2col. A Numba kernel and its NumPy twin.

The plan's dense convolutions are otherwise im2col and one BLAS product; where the columns
are many and the product is small (few input channels, or one sample) copying the columns
costs as much as the product. This kernel reads the (padded) input where it lies. As in
``wide_columns``, every output row is computed at all Wp positions of its padded row
("wide"), so that the window of tap (i, j) is one contiguous run of the input, starting
(i·Wp + j)·N numbers on. The output is made in bands of rows (one row of a batch of 64, a
whole image of one sample: about ``BAND`` numbers), whose sums stay in the first-level cache
until they are written out, narrowed (the throw-away pixels dropped), with bias and ReLU.

What makes it fast is what a pass over the output does. A pass takes four output channels
and one input channel, loads the windows of all nine taps of a 3x3 filter (of one row of
five taps of a 5x5 filter) once, and adds 36 (20) multiply-adds per output pixel into the
four rows: per 16 pixels, 13 (9) loads and 4 stores for 36 (20) fused multiply-adds, so the
loop is bound by the multiply-adds, not by memory. The kernel is compiled with
``fastmath={"contract"}`` - a multiply and an add become one fused multiply-add, and nothing
else is reordered - which alone made it 1.6x faster (resnet8's first stage, 28x28 at one
sample: 67 -> 42 us; im2col + GEMM: 78 us). The filters are padded with zero filters to a
multiple of four (``filters``).
"""
from __future__ import annotations

import numpy as np

from ..jit import njit

SIZES = (3, 5)                       # the filter sizes the kernel runs
BAND = 4096                          # numbers of sums per filter and band (16 KB in float32)


def filters(weight, k, c_in):
    """The lowered (out, k·k·C) weight, columns ordered (kh, kw, C), as the kernel reads it:
    (out rounded up to four, C, k·k), C-contiguous, the extra filters zero."""
    n_out = weight.shape[0]
    w = np.asarray(weight).reshape(n_out, k * k, c_in).transpose(0, 2, 1)
    out = np.zeros((-(-n_out // 4) * 4, c_in, k * k), dtype=w.dtype)
    out[:n_out] = w
    return out


def band_rows(wp, n):
    """Output rows per band: the band's sums (four filters' worth) stay in the fastest cache
    (at least one row)."""
    return max(1, BAND // (wp * n))


@njit(cache=True, nogil=True, fastmath={"contract"})
def direct_dense(xp, w, bias, relu, rows, acc, out):
    """out (OC, OH, OW, N) = the stride-1 convolution of xp (C, Hp, Wp, N), padded, by the
    filters w (OC4, C, k·k), k = 3 or 5, plus bias (if given), then ReLU. In bands of
    ``rows`` output rows, each summed over wide rows in ``acc`` (4, ((rows - 1)·Wp + OW)·N)
    for four filters at a time, then narrowed into out."""
    c_in, hp, wp, n = xp.shape
    n_out, oh, ow, _ = out.shape
    kk = w.shape[2]
    k = 3 if kk == 9 else 5
    if kk != k * k or len(w) % 4 or len(w) < n_out:
        raise ValueError("direct_dense: filters must be 3x3 or 5x5, a multiple of four")
    xf, of = xp.reshape(-1), out.reshape(-1)
    plane, row, line = hp * wp * n, wp * n, ow * n
    d0, d1, d2, d3 = acc[0], acc[1], acc[2], acc[3]
    for r0 in range(0, oh, rows):
        r1 = min(oh, r0 + rows)
        m = ((r1 - r0 - 1) * wp + ow) * n
        for o in range(0, n_out, 4):
            for t in range(m):
                d0[t] = 0.0
                d1[t] = 0.0
                d2[t] = 0.0
                d3[t] = 0.0
            for c in range(c_in):
                b = c * plane + r0 * row
                if k == 3:
                    _pass9(d0, d1, d2, d3, xf, b, row, n, w[o, c], w[o + 1, c],
                           w[o + 2, c], w[o + 3, c], m)
                else:
                    for i in range(5):
                        _pass5(d0, d1, d2, d3, xf, b + i * row, n, w[o, c, 5 * i:],
                               w[o + 1, c, 5 * i:], w[o + 2, c, 5 * i:],
                               w[o + 3, c, 5 * i:], m)
            for f in range(o, min(o + 4, n_out)):         # narrowed: bias, ReLU
                add = bias[f] if len(bias) else 0.0
                sums = acc[f - o]
                for r in range(r0, r1):
                    s_ = sums[(r - r0) * row:(r - r0) * row + line]
                    d = of[(f * oh + r) * line:(f * oh + r + 1) * line]
                    for t in range(line):
                        v = s_[t] + add
                        d[t] = v if v > 0.0 or not relu else 0.0
    return out


@njit(cache=True, nogil=True, fastmath={"contract"}, inline="always")
def _pass9(d0, d1, d2, d3, xf, b, row, n, w0, w1, w2, w3, m):
    """d0..d3 += the nine taps of four 3x3 filters on one channel (windows from b)."""
    a0, a1, a2 = xf[b:b + m], xf[b + n:b + n + m], xf[b + 2 * n:b + 2 * n + m]
    b += row
    b0, b1, b2 = xf[b:b + m], xf[b + n:b + n + m], xf[b + 2 * n:b + 2 * n + m]
    b += row
    c0, c1, c2 = xf[b:b + m], xf[b + n:b + n + m], xf[b + 2 * n:b + 2 * n + m]
    p0, p1, p2, p3, p4, p5, p6, p7, p8 = w0[0], w0[1], w0[2], w0[3], w0[4], w0[5], w0[6], \
        w0[7], w0[8]
    q0, q1, q2, q3, q4, q5, q6, q7, q8 = w1[0], w1[1], w1[2], w1[3], w1[4], w1[5], w1[6], \
        w1[7], w1[8]
    r0, r1, r2, r3, r4, r5, r6, r7, r8 = w2[0], w2[1], w2[2], w2[3], w2[4], w2[5], w2[6], \
        w2[7], w2[8]
    s0, s1, s2, s3, s4, s5, s6, s7, s8 = w3[0], w3[1], w3[2], w3[3], w3[4], w3[5], w3[6], \
        w3[7], w3[8]
    for t in range(m):
        x0, x1, x2, x3, x4, x5, x6, x7, x8 = a0[t], a1[t], a2[t], b0[t], b1[t], b2[t], \
            c0[t], c1[t], c2[t]
        d0[t] += (p0 * x0 + p1 * x1 + p2 * x2 + p3 * x3 + p4 * x4 + p5 * x5 + p6 * x6
                  + p7 * x7 + p8 * x8)
        d1[t] += (q0 * x0 + q1 * x1 + q2 * x2 + q3 * x3 + q4 * x4 + q5 * x5 + q6 * x6
                  + q7 * x7 + q8 * x8)
        d2[t] += (r0 * x0 + r1 * x1 + r2 * x2 + r3 * x3 + r4 * x4 + r5 * x5 + r6 * x6
                  + r7 * x7 + r8 * x8)
        d3[t] += (s0 * x0 + s1 * x1 + s2 * x2 + s3 * x3 + s4 * x4 + s5 * x5 + s6 * x6
                  + s7 * x7 + s8 * x8)


@njit(cache=True, nogil=True, fastmath={"contract"}, inline="always")
def _pass5(d0, d1, d2, d3, xf, b, n, w0, w1, w2, w3, m):
    """d0..d3 += one row of five taps of four 5x5 filters on one channel (windows from b)."""
    a0, a1, a2 = xf[b:b + m], xf[b + n:b + n + m], xf[b + 2 * n:b + 2 * n + m]
    a3, a4 = xf[b + 3 * n:b + 3 * n + m], xf[b + 4 * n:b + 4 * n + m]
    p0, p1, p2, p3, p4 = w0[0], w0[1], w0[2], w0[3], w0[4]
    q0, q1, q2, q3, q4 = w1[0], w1[1], w1[2], w1[3], w1[4]
    r0, r1, r2, r3, r4 = w2[0], w2[1], w2[2], w2[3], w2[4]
    s0, s1, s2, s3, s4 = w3[0], w3[1], w3[2], w3[3], w3[4]
    for t in range(m):
        x0, x1, x2, x3, x4 = a0[t], a1[t], a2[t], a3[t], a4[t]
        d0[t] += p0 * x0 + p1 * x1 + p2 * x2 + p3 * x3 + p4 * x4
        d1[t] += q0 * x0 + q1 * x1 + q2 * x2 + q3 * x3 + q4 * x4
        d2[t] += r0 * x0 + r1 * x1 + r2 * x2 + r3 * x3 + r4 * x4
        d3[t] += s0 * x0 + s1 * x1 + s2 * x2 + s3 * x3 + s4 * x4


def direct_dense_numpy(xp, w, bias, relu, n_out):
    """``direct_dense`` in NumPy: one product per tap over the shifted flat input, wide, then
    narrowed."""
    c_in, hp, wp, n = xp.shape
    k = int(round(w.shape[2] ** 0.5))
    oh, ow = hp - k + 1, wp - k + 1
    flat = xp.reshape(c_in, -1)
    wide = np.zeros((len(w), oh * wp * n), dtype=np.result_type(xp, w))
    span = ((oh - 1) * wp + ow) * n
    for i in range(k):
        for j in range(k):
            start = (i * wp + j) * n
            wide[:, :span] += w[:, :, i * k + j] @ flat[:, start:start + span]
    y = wide[:n_out].reshape(n_out, oh, wp, n)[:, :, :ow]
    y = y + (bias[:, None, None, None] if len(bias) else 0)
    return np.maximum(y, 0) if relu else y
