"""Storage and products for N:M and block-sparse weights: the regularity the patterns promise.

``NM`` keeps, for every row and every group of M consecutive columns, exactly N slots: the
values and their offsets within the group (one byte each; a group with fewer kept weights
holds zeros). No row pointers, no column indices: the position of group g is g·M, so a
product reads N values and N small offsets per group - half the values of the dense row at 2:4.

``BSR`` (block sparse rows) stores R x C blocks: one column index per block, then R·C values
contiguous, so the inner loops run over a block's columns (batch 1) or over the batch with a
block's weights in registers.

The products compute ``out = W @ xt`` for ``xt`` of shape (columns, batch). Each kernel has a
plain NumPy twin (``*_numpy``) it is tested against, and runs as Python under
``NUMBA_DISABLE_JIT=1``. The weight's matrix is ``patterns.as_matrix`` of it (conv weights
channels-last, the order of im2col's columns).

Which loop runs was decided by measurement (``minprune bench latency``, one thread, LeNet-300-100
layer 784 -> 300): at batch 1 a 1x4 or 4x1 block is four multiply-adds on four accumulators per
stored index, 1.2x faster than the CSR matrix-vector kernel on the same weights
(``bsr_matvec_1x4`` / ``bsr_matvec_4x1``); the N:M loop (``nm_matmul``), one byte per offset but
a dependent index computation per weight, was 1.9x *slower* than the CSR kernel at batch 1, so
N:M weights, and every batch above 1, run on the tuned CSR kernels of ``kernels.py``
(``product``). ``nm_matmul`` and ``bsr_matmul`` remain as the direct loops, tested like the rest.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from ..prune import patterns


@dataclass
class NM:
    values: np.ndarray       # (rows, groups, n)
    offsets: np.ndarray      # (rows, groups, n) uint8, in [0, m)
    m: int
    shape: tuple             # (rows, columns) of the matrix

    @classmethod
    def from_matrix(cls, w, keep, pattern):
        """From a matrix and its keep mask (which must obey ``pattern``)."""
        n, m = pattern.a, pattern.b
        w, keep = np.asarray(w), np.asarray(keep, dtype=bool)
        if not patterns.satisfies(keep, pattern):
            raise ValueError(f"the weight does not obey {pattern.name}: some group of {m} "
                             f"keeps more than {n}")
        rows, cols = w.shape
        g = -(-cols // m)
        wp = np.zeros((rows, g * m), dtype=w.dtype)
        kp = np.zeros((rows, g * m), dtype=bool)
        wp[:, :cols], kp[:, :cols] = w, keep
        wp, kp = wp.reshape(rows, g, m), kp.reshape(rows, g, m)
        pos = np.argsort(~kp, axis=2, kind="stable")[:, :, :n]     # the kept ones first
        used = np.take_along_axis(kp, pos, axis=2)
        values = np.take_along_axis(wp, pos, axis=2) * used
        # an unused slot points at the group's first column: always inside the matrix
        return cls(np.ascontiguousarray(values), np.where(used, pos, 0).astype(np.uint8), m,
                   (rows, cols))

    def to_dense(self):
        rows, cols = self.shape
        g = self.values.shape[1]
        dense = np.zeros((rows, g * self.m), dtype=self.values.dtype)
        cols_of = (np.arange(g) * self.m)[None, :, None] + self.offsets.astype(np.int64)
        np.add.at(dense, (np.arange(rows)[:, None, None], cols_of), self.values)
        return dense[:, :cols]

    def scaled(self, scale):
        """Row r times scale[r] (a BatchNorm folded in)."""
        return NM((self.values * scale[:, None, None]).astype(self.values.dtype),
                  self.offsets, self.m, self.shape)

    def product(self, xt, out):
        return _csr_product(self, xt, out)


@dataclass
class BSR:
    indptr: np.ndarray       # (block rows + 1,) int64
    indices: np.ndarray      # (blocks,) uint32 block column (unsigned: no wrap-around check)
    values: np.ndarray       # (blocks, r, c)
    shape: tuple             # (rows, columns) of the matrix

    @classmethod
    def from_matrix(cls, w, keep, pattern):
        """From a matrix and its keep mask: a block is stored unless all of it is pruned."""
        r, c = pattern.a, pattern.b
        w, keep = np.asarray(w), np.asarray(keep, dtype=bool)
        rows, cols = w.shape
        br, bc = -(-rows // r), -(-cols // c)
        wp = np.zeros((br * r, bc * c), dtype=w.dtype)
        kp = np.zeros((br * r, bc * c), dtype=bool)
        wp[:rows, :cols], kp[:rows, :cols] = w * keep, keep
        blocks = wp.reshape(br, r, bc, c).transpose(0, 2, 1, 3)
        stored = kp.reshape(br, r, bc, c).any(axis=(1, 3))
        block_row, block_col = np.nonzero(stored)
        indptr = np.zeros(br + 1, dtype=np.int64)
        np.cumsum(np.bincount(block_row, minlength=br), out=indptr[1:])
        return cls(indptr, block_col.astype(np.uint32),
                   np.ascontiguousarray(blocks[block_row, block_col]), (rows, cols))

    def to_dense(self):
        k, r, c = self.values.shape
        br = len(self.indptr) - 1
        bc = -(-self.shape[1] // c) if c else 0
        dense = np.zeros((br, bc, r, c), dtype=self.values.dtype)
        block_row = np.repeat(np.arange(br), np.diff(self.indptr))
        dense[block_row, self.indices] = self.values
        return dense.transpose(0, 2, 1, 3).reshape(br * r, bc * c)[:self.shape[0],
                                                                  :self.shape[1]]

    def scaled(self, scale):
        k, r, _ = self.values.shape
        block_row = np.repeat(np.arange(len(self.indptr) - 1), np.diff(self.indptr))
        rows = np.minimum(block_row[:, None] * r + np.arange(r)[None, :], self.shape[0] - 1)
        return BSR(self.indptr, self.indices,
                   (self.values * scale[rows][:, :, None]).astype(self.values.dtype),
                   self.shape)

    def product(self, xt, out):
        r, c = self.values.shape[1:]
        if xt.shape[1] == 1 and (r, c) in ((1, 4), (4, 1)) and out.size:
            matvec = bsr_matvec_1x4 if c == 4 else bsr_matvec_4x1
            xt = np.ascontiguousarray(xt)
            matvec(self.indptr, self.indices, self.values, xt.reshape(-1),
                   out.reshape(-1), self.values.dtype.type(0))
            return out
        return _csr_product(self, xt, out)


def _csr_product(stored, xt, out):
    """The product through the CSR kernels, the CSR built once from the stored weights."""
    from . import kernels
    from .csr import CSR
    csr = stored.__dict__.get("_csr")
    if csr is None:
        csr = stored.__dict__["_csr"] = CSR.from_dense(stored.to_dense())
    return kernels.matmul(csr.indptr, csr.indices, csr.values, xt, out)


def from_matrix(w, keep, pattern):
    """The storage for a matrix whose keep mask obeys ``pattern`` (a ``patterns.Pattern``)."""
    return (NM if pattern.kind == "nm" else BSR).from_matrix(w, keep, pattern)


@njit(cache=True)
def nm_matmul(values, offsets, m, xt, out):
    """out[r, b] = Σ_g Σ_k values[r, g, k] · xt[g·m + offsets[r, g, k], b]."""
    rows, groups, n = values.shape
    batch = xt.shape[1]
    for r in range(rows):
        if batch == 1:                                  # one sample: a scalar accumulator
            acc = 0.0
            for g in range(groups):
                base = g * m
                for k in range(n):
                    acc += values[r, g, k] * xt[base + offsets[r, g, k], 0]
            out[r, 0] = acc
            continue
        for b in range(batch):
            out[r, b] = 0.0
        for g in range(groups):
            base = g * m
            for k in range(n):
                v = values[r, g, k]
                col = base + offsets[r, g, k]
                for b in range(batch):
                    out[r, b] += v * xt[col, b]
    return out


@njit(cache=True)
def bsr_matmul(indptr, indices, values, n_rows, xt, out):
    """out = W @ xt for W in R x C blocks; rows past ``n_rows`` (edge padding) are skipped."""
    n_blocks, r, c = values.shape
    batch = xt.shape[1]
    n_cols = xt.shape[0]
    out[:, :] = 0.0
    for block_row in range(len(indptr) - 1):
        for k in range(indptr[block_row], indptr[block_row + 1]):
            col0 = indices[k] * c
            for i in range(r):
                row = block_row * r + i
                if row >= n_rows:
                    break
                if batch == 1:
                    acc = 0.0
                    for j in range(min(c, n_cols - col0)):
                        acc += values[k, i, j] * xt[col0 + j, 0]
                    out[row, 0] += acc
                    continue
                for j in range(min(c, n_cols - col0)):
                    v = values[k, i, j]
                    for b in range(batch):
                        out[row, b] += v * xt[col0 + j, b]
    return out


@njit(cache=True)
def bsr_matvec_1x4(indptr, indices, values, x, out, zero):
    """out = W @ x for 1x4 blocks and one sample: four products of contiguous inputs per
    block, on four accumulators."""
    n_rows, n_cols = len(out), len(x)
    for r in range(n_rows):
        a0 = a1 = a2 = a3 = zero
        for k in range(indptr[r], indptr[r + 1]):
            c = np.uint64(indices[k]) * np.uint64(4)
            v = values[k, 0]
            if c + np.uint64(4) <= n_cols:
                a0 += v[0] * x[c]
                a1 += v[1] * x[c + np.uint64(1)]
                a2 += v[2] * x[c + np.uint64(2)]
                a3 += v[3] * x[c + np.uint64(3)]
            else:                                       # the partial block at the edge
                for j in range(n_cols - np.int64(c)):
                    a0 += v[j] * x[np.int64(c) + j]
        out[r] = (a0 + a1) + (a2 + a3)
    return out


@njit(cache=True)
def bsr_matvec_4x1(indptr, indices, values, x, out, zero):
    """out = W @ x for 4x1 blocks and one sample: one input, four rows' accumulators."""
    n_rows = len(out)
    for block_row in range(len(indptr) - 1):
        a0 = a1 = a2 = a3 = zero
        for k in range(indptr[block_row], indptr[block_row + 1]):
            xv = x[np.uint64(indices[k])]
            a0 += values[k, 0, 0] * xv
            a1 += values[k, 1, 0] * xv
            a2 += values[k, 2, 0] * xv
            a3 += values[k, 3, 0] * xv
        r = block_row * 4
        out[r] = a0
        if r + 1 < n_rows:
            out[r + 1] = a1
        if r + 2 < n_rows:
            out[r + 2] = a2
        if r + 3 < n_rows:
            out[r + 3] = a3
    return out


def nm_matmul_numpy(values, offsets, m, xt):
    """The N:M product in NumPy: gather every slot's input, multiply, sum."""
    rows, groups, n = values.shape
    cols = (np.arange(groups) * m)[None, :, None] + offsets.astype(np.int64)
    if xt.shape[1] == 0 or rows == 0:
        return np.zeros((rows, xt.shape[1]), dtype=values.dtype)
    return np.einsum("rgk,rgkb->rb", values, xt[cols])


def bsr_matmul_numpy(matrix, xt):
    """The block product in NumPy: the dense matrix times xt."""
    return matrix.to_dense() @ xt
