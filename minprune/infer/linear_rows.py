"""A dense fully connected layer on a feature-major batch in register tiles of twelve rows.

``tiles.conv_tiles`` runs a fully connected layer as a convolution of a 1x1 image: eight
output rows at two registers of samples, 16 sums, per input two loads of samples and eight
numbers of weights for 16 multiply-adds. A layer's input at batch 64 is larger than the
first-level cache (LeNet-300-100's first: 784 x 64 numbers, 200 KB), and each tile streams
its registers of it from the second level: the more rows a tile sums, the fewer times the
input is streamed. Here a tile is twelve rows at two registers of samples - 24 sums, two
loads of samples and twelve numbers of weights for 24 multiply-adds, 28 of the 32 registers
in use - and the input is streamed a third fewer times. LeNet-300-100's first layer at batch
64, one thread: 146-165 us in tiles of eight (91-103 GMAC/s), 127-142 in tiles of twelve
(106-119), 10-15% faster; at batch 32 or 37, 83 against 75 us and 186 against 156.

The weights come as (groups of twelve rows, inputs, 12) (``rows12``), zero rows past the
last; a batch that is not a multiple of two registers is loaded and stored in part
(``vec.load``'s lane count). ``linear_rows_numpy`` is the twin.
"""
from __future__ import annotations

import numpy as np

from ..jit import njit
from .. import vec
from ..vec import fma, get

ROWS = 12


def rows12(weight, dtype=None):
    """A (rows, inputs) weight as (groups, inputs, 12): group g's rows 12g .. 12g + 11 side
    by side at each input, zero rows past the last."""
    weight = np.asarray(weight, dtype)
    rows, inputs = weight.shape
    groups = -(-rows // ROWS)
    padded = np.zeros((groups * ROWS, inputs), weight.dtype)
    padded[:rows] = weight
    return np.ascontiguousarray(padded.reshape(groups, ROWS, inputs).transpose(0, 2, 1))


@njit(inline="always")
def _tile(xf, wf, inputs, n, at, q, lanes, m0, m1):
    """A group's 24 sums: twelve rows at the two registers of samples from flat ``at`` (the
    first m0 and m1 numbers of each), the group's weights from flat q. (Named sums, not a
    tuple of them: a tuple of twelve registers carried through the loop went through memory.)"""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = s8 = s9 = s10 = s11 = vec.zero(xf)
    t0 = t1 = t2 = t3 = t4 = t5 = t6 = t7 = t8 = t9 = t10 = t11 = s0
    for _ in range(inputs):
        x, y = vec.load(xf, at, m0), vec.load(xf, at + lanes, m1)
        w = get(wf, q)
        s0, t0 = fma(x, w, s0), fma(y, w, t0)
        w = get(wf, q + 1)
        s1, t1 = fma(x, w, s1), fma(y, w, t1)
        w = get(wf, q + 2)
        s2, t2 = fma(x, w, s2), fma(y, w, t2)
        w = get(wf, q + 3)
        s3, t3 = fma(x, w, s3), fma(y, w, t3)
        w = get(wf, q + 4)
        s4, t4 = fma(x, w, s4), fma(y, w, t4)
        w = get(wf, q + 5)
        s5, t5 = fma(x, w, s5), fma(y, w, t5)
        w = get(wf, q + 6)
        s6, t6 = fma(x, w, s6), fma(y, w, t6)
        w = get(wf, q + 7)
        s7, t7 = fma(x, w, s7), fma(y, w, t7)
        w = get(wf, q + 8)
        s8, t8 = fma(x, w, s8), fma(y, w, t8)
        w = get(wf, q + 9)
        s9, t9 = fma(x, w, s9), fma(y, w, t9)
        w = get(wf, q + 10)
        s10, t10 = fma(x, w, s10), fma(y, w, t10)
        w = get(wf, q + 11)
        s11, t11 = fma(x, w, s11), fma(y, w, t11)
        at += n
        q += ROWS
    return ((s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11),
            (t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11))


@njit(cache=True, nogil=True)
def linear_rows(xt, w12, bias, relu, out):
    """out (rows, N) = W @ xt (inputs, N) for W as ``rows12`` gives it, plus bias (if given),
    then ReLU."""
    inputs, n = xt.shape
    groups, rows = w12.shape[0], out.shape[0]
    if (w12.shape[1] != inputs or w12.shape[2] != ROWS or groups * ROWS < rows
            or out.shape[1] != n or (len(bias) and len(bias) != rows)):
        raise ValueError("linear_rows: weights (groups, inputs, 12) for every output row, "
                         "out (rows, N), a bias per row or none")
    xf, wf, of = xt.reshape(-1), w12.reshape(-1), out.reshape(-1)
    lanes = vec.width(xf)
    for g in range(groups):
        for n0 in range(0, n, 2 * lanes):
            m = n - n0
            if m >= 2 * lanes:                          # whole registers: plain loads
                s, t = _tile(xf, wf, inputs, n, n0, g * inputs * ROWS, lanes, lanes, lanes)
            else:
                s, t = _tile(xf, wf, inputs, n, n0, g * inputs * ROWS, lanes, m, m - lanes)
            for j in range(min(ROWS, rows - g * ROWS)):
                r = g * ROWS + j
                b = bias[r] if len(bias) else 0.0
                vec.store(of, r * n + n0, vec.bias_act(s[j], b, relu), m)
                vec.store(of, r * n + n0 + lanes, vec.bias_act(t[j], b, relu), m - lanes)
    return out


def linear_rows_numpy(xt, w12, bias, relu, out):
    """``linear_rows`` in NumPy: the weight unpacked, one product."""
    rows = out.shape[0]
    weight = w12.transpose(0, 2, 1).reshape(-1, w12.shape[1])[:rows]
    y = weight @ xt + (np.asarray(bias)[:, None] if len(bias) else 0)
    out[...] = np.maximum(y, 0) if relu else y
    return out
