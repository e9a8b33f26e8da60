"""Training's fully connected forward in register tiles: y (out, N) = W x + b, x stored
feature-major (in, N), the weight W (out, in) read where it lies.

``ops.linear`` keeps a fully connected layer's activations feature-major (its output is the
transposed view of an (out, N) array), so the forward is W x with the result already in
that layout. Eight rows of W and two registers of samples make a tile, as in the inference
plan's register tiles (``infer.tiles``): its 16 sums stay in registers while the kernel
walks the inputs, each step 2 loads of samples and one number from each of the eight rows
for 16 fused multiply-adds. The plan packs its filters once; a weight in training changes
every step, so here the eight rows are read in place, eight streams along the inputs.
LeNet-300-100's first layer at batch 64, one thread: 176 us, where OpenBLAS's product took
260 (85 against 58 GMAC/s). A Numba kernel and its NumPy twin.
"""
from __future__ import annotations

import numpy as np

from ..jit import njit
from .. import vec
from ..vec import fma, get

GROUP = 8                                   # rows of the result per tile
MAX_BATCH = 128                             # larger batches: BLAS (see ``fits``)


@njit(inline="always")
def _step(x0, x1, wf, q, rows, s):
    """The tile's eight pairs of sums ``s`` plus the registers (x0, x1) times the weights
    wf[rows[t] + q], one from each of the eight rows."""
    return ((fma(x0, get(wf, rows[0] + q), s[0][0]), fma(x1, get(wf, rows[0] + q), s[0][1])),
            (fma(x0, get(wf, rows[1] + q), s[1][0]), fma(x1, get(wf, rows[1] + q), s[1][1])),
            (fma(x0, get(wf, rows[2] + q), s[2][0]), fma(x1, get(wf, rows[2] + q), s[2][1])),
            (fma(x0, get(wf, rows[3] + q), s[3][0]), fma(x1, get(wf, rows[3] + q), s[3][1])),
            (fma(x0, get(wf, rows[4] + q), s[4][0]), fma(x1, get(wf, rows[4] + q), s[4][1])),
            (fma(x0, get(wf, rows[5] + q), s[5][0]), fma(x1, get(wf, rows[5] + q), s[5][1])),
            (fma(x0, get(wf, rows[6] + q), s[6][0]), fma(x1, get(wf, rows[6] + q), s[6][1])),
            (fma(x0, get(wf, rows[7] + q), s[7][0]), fma(x1, get(wf, rows[7] + q), s[7][1])))


@njit(inline="always")
def _sums(xf, wf, rows, inputs, n, n0, lanes, m0, m1):
    """The tile's sums: the samples x[q, n0:] (m0 + m1 of them, two registers) times the
    weights of the eight rows starting at ``rows``, over every input q."""
    z = vec.zero(xf)
    s = ((z, z), (z, z), (z, z), (z, z), (z, z), (z, z), (z, z), (z, z))
    for q in range(inputs):
        at = q * n + n0
        s = _step(vec.load(xf, at, m0), vec.load(xf, at + lanes, m1), wf, q, rows, s)
    return s


@njit(cache=True, nogil=True)
def linear_tiles(x, w, bias, out):
    """out (O, N) = w (O, I) @ x (I, N) + bias (if given); all C-contiguous."""
    n_out, inputs = w.shape
    n = x.shape[1]
    if x.shape[0] != inputs or out.shape[0] != n_out or out.shape[1] != n:
        raise ValueError("linear_tiles: shapes do not fit out = w @ x")
    xf, wf, of = x.reshape(-1), w.reshape(-1), out.reshape(-1)
    lanes = vec.width(xf)
    biases = np.zeros(n_out, xf.dtype)
    biases[:len(bias)] = bias
    last = n_out - 1                    # (a group past the last row reads it again, unstored)
    for g in range(0, n_out, GROUP):
        rows = (min(g, last) * inputs, min(g + 1, last) * inputs,
                min(g + 2, last) * inputs, min(g + 3, last) * inputs,
                min(g + 4, last) * inputs, min(g + 5, last) * inputs,
                min(g + 6, last) * inputs, min(g + 7, last) * inputs)
        for n0 in range(0, n, 2 * lanes):
            m0, m1 = n - n0, n - n0 - lanes
            if m1 >= lanes:                      # whole registers: plain loads
                s = _sums(xf, wf, rows, inputs, n, n0, lanes, lanes, lanes)
            else:                                # the batch's last, partial registers
                s = _sums(xf, wf, rows, inputs, n, n0, lanes, m0, m1)
            for t in range(min(GROUP, n_out - g)):
                b = get(biases, g + t)
                vec.store(of, (g + t) * n + n0, vec.bias_act(s[t][0], b, False), m0)
                vec.store(of, (g + t) * n + n0 + lanes, vec.bias_act(s[t][1], b, False), m1)
    return out


def linear_tiles_numpy(x, w, bias, out):
    """``linear_tiles`` in NumPy: one product."""
    np.matmul(w, x, out=out)
    if len(bias):
        out += bias[:, None]
    return out


def fits(n, dtype):
    """Whether the forward of a batch of ``n`` runs in the tiles: whole registers of samples
    (``vec.lanes``), at most ``MAX_BATCH`` of them (past that OpenBLAS's blocking catches up: 908 us
    against 906 at 256), float32 or float64."""
    if dtype not in (np.float32, np.float64):
        return False
    lanes = vec.lanes(dtype)
    return lanes <= n <= MAX_BATCH and n % lanes == 0
