"""A sparse fully connected layer on a batch, its inputs taken in blocks that stay in the
first-level cache: ``sparse_tiles.linear_sparse_tiles`` walked block by block.

A tile of ``linear_sparse_tiles`` is one output row at four registers of samples; per stored
weight it loads that input's four registers (256 bytes) from wherever the input lies. A layer's
input at batch 64 is larger than the first-level cache (LeNet-300-100's first: 784 x 64
numbers, 200 KB), and each stored weight's input row comes from the second level: four cache
lines for four multiply-adds, the loads, not the arithmetic, the time. Here the input rows are
taken ``BLOCK`` at a time (96 rows of four registers: 24 KB, half the first-level cache), and
every output row adds what its stored weights in that block give to its sums: the block's
inputs are read from the first level by every output row that needs them, and each output
row's sums are loaded and stored once per block (``blocked`` orders the stored weights by
block, then row). The first block starts the sums, the last adds the bias and ReLU.
"""
from __future__ import annotations

import numpy as np

from ..jit import njit
from .. import vec
from ..sparse.conv_tiles import finish, grouped
from .sparse_tiles import _pair_sums, _row_sums

BLOCK = 96               # input rows per block: 96 x 256 bytes (four registers) = 24 KB


def blocked(indptr, indices, values, n_in, block=BLOCK):
    """A CSR weight (rows, n_in) as (indptr2, indices, values): its stored weights ordered by
    block of ``block`` inputs, then row, then input; indptr2 (blocks, rows + 1) where block
    b's weights of row o are indptr2[b, o]:indptr2[b, o + 1]."""
    indptr2, order = grouped(indptr, indices, block, max(1, -(-n_in // block)))
    return indptr2, np.asarray(indices)[order], np.asarray(values)[order]


@njit(cache=True, nogil=True)
def linear_sparse_blocked(indptr2, indices, values, xt, bias, relu, out):
    """out (rows, N) = W @ xt (in, N) for W as ``blocked`` gives it, plus bias (if given),
    then ReLU. Four registers of samples at a time, through every block; in each, every
    output row's stored weights of the block summed in registers (two registers wide for
    the batch's last two or fewer), added to its sums in out."""
    n = xt.shape[1]
    blocks, rows = indptr2.shape[0], indptr2.shape[1] - 1
    xf, of = xt.reshape(-1), out.reshape(-1)
    lanes = vec.width(xf)
    for n0 in range(0, n, 4 * lanes):
        m = n - n0
        for k in range(blocks):
            first, last = k == 0, k == blocks - 1
            for o in range(rows):
                e0, e1 = indptr2[k, o], indptr2[k, o + 1]
                if e0 == e1 and not first and not last:
                    continue
                b = bias[o] if len(bias) else 0.0
                at = o * n + n0
                if m <= 2 * lanes:
                    s0, s1 = _pair_sums(xf, indices, values, e0, e1, n0, n, lanes, m)
                    finish(s0, of, at, m, first, last, b, relu)
                    finish(s1, of, at + lanes, m - lanes, first, last, b, relu)
                    continue
                w = 4 * lanes if m >= 4 * lanes else m          # (whole: plain loads)
                s = _row_sums(xf, indices, values, e0, e1, n0, n, lanes, w)
                for r in range(4):
                    finish(s[r], of, at + r * lanes, w - r * lanes, first, last, b, relu)
    return out


def linear_sparse_blocked_numpy(indptr2, indices, values, xt, bias, relu, out):
    """``linear_sparse_blocked`` in NumPy: each block's stored weights times their inputs,
    added up."""
    y = np.zeros(out.shape, dtype=np.result_type(xt, values))
    for k in range(indptr2.shape[0]):
        for o in range(indptr2.shape[1] - 1):
            e = slice(indptr2[k, o], indptr2[k, o + 1])
            y[o] += values[e] @ xt[np.asarray(indices[e], dtype=np.int64)]
    if len(bias):
        y += bias[:, None]
    out[...] = np.maximum(y, 0) if relu else y
    return out
